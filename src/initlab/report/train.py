r"""Outputs of ``initlab train``: the summary table, ``results.json`` (also the ``--json`` object) and figures.

The statistics over seeds are the mean with a 95 % confidence interval of Student's t,

.. math:: \bar x \pm t_{0.975,\,n-1}\, s / \sqrt{n}, \qquad s^2 = \tfrac{1}{n-1}\sum_i (x_i - \bar x)^2,

and no interval for one seed. :func:`write` is the only function here that touches the file
system (through :func:`initlab.report.write_files`: nothing half-written).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..datasets import Dataset
from ..jsonable import jsonable
from ..network import MLP
from ..residual import ResidualMLP
from ..stats import mean_ci
from ..training import History
from . import write_files

__all__ = [
    "TrainRun",
    "architecture",
    "layers",
    "median_seed",
    "parametrization_config",
    "render",
    "residual_config",
    "summary_rows",
    "title",
    "to_json",
    "write",
    "SUMMARY_HEADER",
]

SUMMARY_HEADER = ["Seed", "Train accuracy", "Test accuracy", "Final loss", "Diverged at"]


@dataclass(frozen=True)
class TrainRun:
    """One ``initlab train``: what was asked, the data, the network and what training returned.

    Attributes
    ----------
    config : dict
        The options as run (JSON-ready): layers, activation, init, init_options, optimizer,
        learning_rate, batch_size, iterations, record_every, seeds, seed, ...
    data : Dataset
    net : MLP or ResidualMLP
    history : History
        K = ``config["seeds"]`` models along the model axis. Per-layer ``diagnostics`` only for an
        MLP (a residual net's run has none: its report leaves that part out).
    """

    config: dict
    data: Dataset
    net: MLP | ResidualMLP
    history: History


def layers(net: MLP | ResidualMLP) -> tuple[int, ...]:
    """The sizes ``--layers`` gives: an MLP's ``layers``; a residual net's ``(n_in, width, n_out)``."""
    return net.layers if isinstance(net, MLP) else (net.n_in, net.width, net.n_out)


def residual_config(net: MLP | ResidualMLP) -> dict:
    """A residual net's structure, ``{"blocks", "branch_depth", "norm", "scalars"}`` (all None for an MLP)."""
    if isinstance(net, MLP):
        return {"blocks": None, "branch_depth": None, "norm": None, "scalars": None}
    return {"blocks": net.blocks, "branch_depth": net.branch_depth, "norm": net.norm, "scalars": net.scalars}


def parametrization_config(net: MLP | ResidualMLP) -> dict:
    """``{"parametrization", "base_width"}`` of the net (:mod:`initlab.parametrization`): a residual net's is standard, None."""
    if not isinstance(net, MLP):
        return {"parametrization": "standard", "base_width": None}
    base = net.base_width
    return {"parametrization": net.parametrization, "base_width": list(base) if isinstance(base, tuple) else base}


def architecture(net: MLP | ResidualMLP, activation: str | None = None) -> str:
    """``"2-10-5-1"``, or for a residual net ``"2-16-1 residual, 8 blocks x 2 layers, pre-LN"`` (width 16);
    ``activation`` goes after the sizes: ``"2-16-1 relu, residual, 8 blocks x 2 layers"``."""
    sizes = "-".join(map(str, layers(net))) + ("" if activation is None else f" {activation}")
    if isinstance(net, MLP):
        return sizes
    B, m = net.blocks, net.branch_depth
    norm = ", pre-LN" if net.norm == "layer" else ""
    return f"{sizes}{',' if activation else ''} residual, {B} block{'s' * (B > 1)} x {m} layer{'s' * (m > 1)}{norm}"


def median_seed(history: History) -> int:
    """Index of the seed with the median final loss (the lower one of two; a diverged seed counts as +inf)."""
    key = np.where(history.diverged | ~np.isfinite(history.final_loss), np.inf, history.final_loss)
    order = np.lexsort((np.arange(key.size), key))
    return int(order[(key.size - 1) // 2])


def _percent(x: float) -> str:
    return f"{x:.2%}" if math.isfinite(x) else "-"


def _estimate(values, percent: bool) -> str:
    est = mean_ci(values)
    mean, half = est.mean, est.half_width
    fmt = (lambda v: f"{100 * v:.2f}%") if percent else (lambda v: f"{v:.4g}")
    if not math.isfinite(mean):
        return "-"
    return fmt(mean) + (f" ± {fmt(half)}" if math.isfinite(half) else " (one seed: no interval)")


def summary_rows(run: TrainRun) -> list[list[str]]:
    """One row per seed, then the mean ± 95 % CI over seeds (of the final loss: over the seeds that did not diverge)."""
    h = run.history
    test = h.test_accuracy if h.test_accuracy is not None else np.full(h.train_accuracy.shape, np.nan)
    rows = []
    for k in range(h.train_accuracy.size):
        rows.append([str(k), _percent(h.train_accuracy[k]), _percent(test[k]), f"{h.final_loss[k]:.4g}",
                     str(h.diverged_at[k]) if h.diverged[k] else "no"])  # fmt: skip
    diverged = int(h.diverged.sum())
    rows.append(["mean ± 95% CI", _estimate(h.train_accuracy, True), _estimate(test, True),
                 _estimate(h.final_loss[~h.diverged], False), f"{diverged} of {h.diverged.size}"])  # fmt: skip
    return rows


def title(run: TrainRun) -> str:
    """One line saying what was trained."""
    c = run.config
    opt = c["optimizer"] + (f", batch {c['batch_size']}" if c["batch_size"] else "")
    options = "".join(f" {k}={v}" for k, v in c["init_options"].items())
    scaling = parametrization_config(run.net)
    if scaling["parametrization"] != "standard":
        base = scaling["base_width"]
        options += f", {scaling['parametrization']}" + ("" if base is None else f" (base width {base})")
    return (f"{run.data.name}: {architecture(run.net, c['activation'])}, init {c['init']}{options}, "
            f"{opt} lr {c['learning_rate']:g}, {c['iterations']:,} iterations, {c['seeds']} seeds")  # fmt: skip


def _floats(a) -> np.ndarray:
    """``a`` as a float64 array: written as floats (an integer count too), nan and inf as null by :func:`jsonable`."""
    return np.asarray(a, dtype=np.float64)


def _diagnostics(history: History) -> dict:
    """Per-layer statistics at initialization and after training, one list of L values per seed."""
    if not history.diagnostics:
        return {}
    fields = ("z_std", "a_std", "grad_W_norm", "dead_fraction", "saturated_fraction", "distinct_units")
    first, last = history.diagnostics[0], history.diagnostics[-1]
    return {
        "iterations": [int(history.diagnostics_iterations[0]), int(history.diagnostics_iterations[-1])],
        "units": [int(u) for u in first.units],
        "initial": {f: _floats(getattr(first, f)) for f in fields},
        "final": {f: _floats(getattr(last, f)) for f in fields},
    }


def to_json(run: TrainRun) -> dict:
    """Everything about the run as a JSON-ready dict (non-finite numbers as null: :mod:`initlab.jsonable`)."""
    h, d = run.history, run.data
    test = h.test_accuracy if h.test_accuracy is not None else np.full(h.train_accuracy.shape, np.nan)
    summary = {}
    for name, values in (
        ("train_accuracy", h.train_accuracy),
        ("test_accuracy", test),
        ("final_loss", h.final_loss[~h.diverged]),
    ):
        est = mean_ci(values)
        summary[name] = {"mean": float(est.mean), "ci95_half_width": float(est.half_width), "n": est.n}
    return jsonable({
        "initlab": "train",
        "config": {**run.config, "layers": list(layers(run.net)), **residual_config(run.net), **parametrization_config(run.net), "output": run.net.output, "optimizer_repr": h.optimizer},
        "data": {"name": d.name, "description": d.description, "n_features": d.n_features, "n_classes": d.n_classes,
                 "class_names": list(d.class_names), "n_train": int(d.X_train.shape[1]), "n_test": int(d.X_test.shape[1])},
        "record_iterations": [int(i) for i in h.record_iterations],
        "loss": _floats(h.loss),
        "final_loss": _floats(h.final_loss),
        "train_accuracy": _floats(h.train_accuracy),
        "test_accuracy": _floats(test),
        "diverged": [bool(v) for v in h.diverged],
        "diverged_at": [int(v) for v in h.diverged_at],
        "summary": summary,
        "diagnostics": _diagnostics(h),
        "wall_time": h.wall_time,
    })  # fmt: skip


def render(run: TrainRun) -> dict[str, bytes]:
    """Every output file's name and content: ``loss_curves.png``, ``decision_boundary.png`` (2-D data) and ``results.json``."""
    from . import figures  # matplotlib only when figures are made

    h, d = run.history, run.data
    files = {"loss_curves.png": figures.png_bytes(figures.loss_band(h.record_iterations, h.loss, title=title(run)))}
    if d.n_features == 2:
        k = median_seed(h)
        params = {key: v[k] for key, v in h.params.items()}
        fig = figures.decision_regions(
            lambda points: run.net.predict(params, points.T)[0], d.X_train, d.Y_train, n_classes=d.n_classes,
            class_names=d.class_names,
            title=f"{d.name}, seed {k} (median final loss): train {h.train_accuracy[k]:.1%}",
        )  # fmt: skip
        files["decision_boundary.png"] = figures.png_bytes(fig)
    files["results.json"] = (json.dumps(to_json(run), indent=1) + "\n").encode()
    return files


def write(run: TrainRun, out) -> dict[str, Path]:
    """Write every output into folder ``out`` (created if needed); all files appear only once all are made."""
    return write_files(render(run), out)
