"""Outputs of ``initlab reproduce``: figures, ``results.json`` and a self-contained ``report.html``.

:func:`write` is the only function here that touches the file system; it hands the rendered files
to :func:`initlab.report.write_files`, which leaves nothing half-written.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from .. import course
from ..diagnostics import distinct_units
from ..jsonable import jsonable
from ..reproduce import NOTEBOOK_TABLE, ReproduceResult
from . import figures, html, write_files

__all__ = ["write", "summary_rows", "explanations", "SUMMARY_HEADER"]

TITLES = {"zeros": "Zeros initialization", "random": "Large random initialization (x10)", "he": "He initialization"}
SUMMARY_HEADER = [
    "Initialization",
    "Train accuracy",
    "Test accuracy",
    "Final cost",
    "Notebook (seed 3)",
    "Problem/Comment",
]


def summary_rows(result: ReproduceResult) -> list[list[str]]:
    """The notebook's conclusion table with measured numbers, one row per initialization."""
    rows = []
    for kind, r in result.results.items():
        model_name, nb_train, comment = NOTEBOOK_TABLE[kind]
        rows.append([model_name, f"{r.train_accuracy:.2%}", f"{r.test_accuracy:.2%}", f"{r.final_cost:.6g}",
                     f"{nb_train:.0%} train", comment])  # fmt: skip
    return rows


def _layer_distinct_units(params: dict, layer: int) -> int:
    """The symmetry count of layer ``layer`` of one notebook model (:func:`initlab.diagnostics.distinct_units`)."""
    W, b = params[f"W{layer}"], params[f"b{layer}"]  # (n_l, n_{l-1}), (n_l, 1)
    return int(distinct_units(W[None], b[None])[0])


def explanations(result: ReproduceResult) -> dict[str, str]:
    """Two sentences per initialization on what happened, built from the measured numbers."""
    n = result.config.iterations
    out = {}
    z = result.results["zeros"]
    out["zeros"] = (
        f"Every weight starts at 0, so every hidden unit computes the same function and receives the same "
        f"gradient: after {n:,} iterations layer 1 has {_layer_distinct_units(z.parameters, 1)} distinct unit(s) "
        f"of 10 and layer 2 has {_layer_distinct_units(z.parameters, 2)} of 5, and the cost is {z.final_cost:.4f} "
        f"(ln 2 = {math.log(2):.4f}). The network never breaks symmetry and predicts one class everywhere "
        f"({z.train_accuracy:.0%} train, {z.test_accuracy:.0%} test)."
    )
    r = result.results["random"]
    first = r.cost[0]
    start = ("inf: some sigmoid outputs round to exactly 0 or 1 on a wrong label and the notebook's loss takes "
             f"log 0 (computed from the logits it is {r.stable_initial_cost:.4g})") if math.isinf(first) else (
             f"{first:.4g} (from the logits: {r.stable_initial_cost:.4g})")  # fmt: skip
    out["random"] = (
        f"Weights of standard deviation 10 saturate the output sigmoid, so the first cost is {start}. "
        f"Gradient descent escapes only slowly: after {n:,} iterations the cost is {r.final_cost:.4f}, with "
        f"{r.train_accuracy:.0%} train and {r.test_accuracy:.0%} test accuracy."
    )
    h = result.results["he"]
    out["he"] = (
        f"Variance 2/n_in keeps the ReLU signal at the same scale from layer to layer, so training starts at a "
        f"moderate cost ({h.cost[0]:.4f}) and makes steady progress. After {n:,} iterations the cost is "
        f"{h.final_cost:.4f}, with {h.train_accuracy:.1%} train and {h.test_accuracy:.0%} test accuracy."
    )
    return out


def _results_json(result: ReproduceResult) -> dict:
    """``results.json``: the settings, each model's costs and parameters, the timings.

    Non-finite numbers (the notebook's cost can be inf) are written as null (:mod:`initlab.jsonable`).
    """
    cfg = result.config
    return jsonable({
        "initlab": "reproduce",
        "config": {"iterations": cfg.iterations, "learning_rate": cfg.learning_rate, "seed": cfg.seed,
                   "record_every": cfg.record_every, "layers": list(course.NOTEBOOK_LAYERS),
                   "arithmetic_requested": cfg.arithmetic, "arithmetic_used": result.arithmetic,
                   "data": "course.load_dataset(): make_circles 300 train (seed 1) / 100 test (seed 2), noise 0.05"},
        "nonfinite_costs_as": None,
        "models": {
            kind: {
                "train_accuracy": r.train_accuracy,
                "test_accuracy": r.test_accuracy,
                "final_cost": r.final_cost,
                "stable_initial_cost": r.stable_initial_cost,
                "printed_costs": r.printed_costs,
                "cost_iterations": r.cost_iterations,
                "cost": r.cost,
                "parameters": r.parameters,
                "training_seconds": r.seconds,
            }
            for kind, r in result.results.items()
        },
        "timings": {"wall_seconds": result.wall_seconds,
                    "training_seconds": {k: r.seconds for k, r in result.results.items()}},
    })  # fmt: skip


def _report_html(result: ReproduceResult, images: dict[str, bytes]) -> str:
    cfg = result.config
    notes = explanations(result)
    parts = [
        "<h1>initlab reproduce: the Initialization notebook</h1>",
        f'<p class="meta">2-10-5-1 ReLU network, sigmoid output, full-batch gradient descent, learning rate '
        f"{cfg.learning_rate:g}, {cfg.iterations:,} iterations, initializer seed {cfg.seed}, "
        f"{result.arithmetic} arithmetic; circles data from the notebook (300 train, 100 test).</p>",
    ]
    if not cfg.is_notebook_default:
        parts.append(
            '<p class="note">These settings differ from the notebook\'s (seed 3, learning rate 0.01, 15,000 '
            "iterations), so the numbers differ from its table: the table depends on the seed and on the "
            "settings. One run proves little; compare many seeds before trusting a difference.</p>"
        )
    parts += ["<h2>Results</h2>", html.table(SUMMARY_HEADER, summary_rows(result), numeric={1, 2, 3}, id="summary")]
    parts += [
        "<h2>Cost during training</h2>",
        f'<div class="wide">{html.image(images["cost_curves.png"], "cost curves")}</div>',
    ]
    parts.append('<h2>Decision boundaries</h2><div class="row">')
    for kind in result.results:
        parts.append(
            f'<div class="card" id="card-{kind}">{html.image(images[f"boundary_{kind}.png"], TITLES[kind])}'
            f"<h3>{html.escape(TITLES[kind])}</h3><p>{html.escape(notes[kind])}</p></div>"
        )
    parts.append("</div>")
    parts.append(
        '<p class="meta">Training time per model: '
        + ", ".join(f"{k} {r.seconds:.2f} s" for k, r in result.results.items())
        + f"; whole run {result.wall_seconds:.1f} s. Made by initlab.</p>"
    )
    return html.page("initlab reproduce", "\n".join(parts))


def render(result: ReproduceResult) -> dict[str, bytes]:
    """Every output file's name and content."""
    train_X, train_Y = result.data[0], result.data[1]
    curves = {k: (r.cost_iterations, r.cost) for k, r in result.results.items()}
    images = {"cost_curves.png": figures.png_bytes(figures.cost_curves(
        curves, title=f"Cost, learning rate {result.config.learning_rate:g}, seed {result.config.seed}"))}  # fmt: skip
    for kind, r in result.results.items():
        # x10 weights overflow exp in the notebook's sigmoid far from the data: harmless (it gives 0 or 1)
        with np.errstate(over="ignore"):
            fig = figures.decision_boundary(lambda x, p=r.parameters: course.predict_dec(p, x.T), train_X, train_Y,
                                            title=f"Model with {TITLES[kind].replace('Zeros', 'zeros').replace('Large', 'large')}")  # fmt: skip
        images[f"boundary_{kind}.png"] = figures.png_bytes(fig)
    files = dict(images)
    files["results.json"] = (json.dumps(_results_json(result), indent=1) + "\n").encode()
    files["report.html"] = _report_html(result, images).encode()
    return files


def write(result: ReproduceResult, out: Path) -> dict[str, Path]:
    """Write every output into ``out`` (created if needed); all files appear only once all are made."""
    return write_files(render(result), out)
