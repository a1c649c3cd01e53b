r"""Outputs of ``initlab train``: the summary table, ``results.json`` (also the ``--json`` object), figures and
a self-contained ``report.html``.

The statistics over seeds are the mean with a 95 % confidence interval of Student's t,

.. math:: \bar x \pm t_{0.975,\,n-1}\, s / \sqrt{n}, \qquad s^2 = \tfrac{1}{n-1}\sum_i (x_i - \bar x)^2,

and no interval for one seed. :func:`write` is the only function here that touches the file
system (through :func:`initlab.report.write_files`: nothing half-written).

Views beyond the loss (in ``results.json`` and ``report.html``):

* **per layer** (a plain MLP; ``diagnostics``): the statistics of :mod:`initlab.diagnostics` at
  initialization and after training, one list of L values per seed;
* **per block** (a residual net; ``diagnostics`` with ``"per": "block"``): the same record with the
  block index ``b = 1..B`` in place of the layer's (:class:`initlab.diagnostics.BlockStats`: ``a_*``
  the trunk :math:`h_b`, ``z_*`` the branch :math:`r_b = \alpha_b F_b(h_{b-1})`) and the residual
  fields, among them the effective residual scale :math:`\|r_b\| / \|h_{b-1}\|`; drawn in
  ``blocks.png`` (median over seeds, lowest to highest as a band);
* **Jacobian spectrum** (a plain MLP; ``jacobian``): the singular values of every model's Jacobian
  :math:`\partial A^{[L-1]} / \partial x` (input to last hidden layer, what the playground shows;
  :func:`initlab.spectra.at_spread_examples` at :data:`JACOBIAN_EXAMPLES` training inputs spread over
  the set) at initialization and after training, as :func:`initlab.spectra.log_histogram` bins with
  :func:`initlab.spectra.summarize` and :func:`initlab.spectra.reading`; drawn in ``jacobian.png``
  against the line at 1. A residual net has none (:mod:`initlab.spectra` differentiates an MLP's
  layer stack): the JSON and the page say so.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import spectra
from ..datasets import Dataset
from ..diagnostics import BlockStats
from ..jsonable import jsonable
from ..network import MLP
from ..residual import ResidualMLP
from ..stats import mean_ci
from ..training import History
from . import write_files

__all__ = [
    "TrainRun",
    "architecture",
    "block_reading",
    "jacobian",
    "layers",
    "median_seed",
    "page",
    "parametrization_config",
    "render",
    "residual_config",
    "summary_rows",
    "title",
    "to_json",
    "write",
    "JACOBIAN_BINS",
    "JACOBIAN_EXAMPLES",
    "JACOBIAN_FLOOR",
    "SUMMARY_HEADER",
]

SUMMARY_HEADER = ["Seed", "Train accuracy", "Test accuracy", "Final loss", "Diverged at"]
JACOBIAN_EXAMPLES = 16  # training inputs the Jacobians are taken at, per model (the playground's number)
JACOBIAN_BINS = 30  # equal bins in log10 s
#: Singular values at or below this are "rank lost" (a dead ReLU's 0, or rounding at 1e-16): counted, not drawn.
JACOBIAN_FLOOR = 1e-10
#: The columns of the per-block table of report.html (the seeds' medians) and the fields they show.
BLOCK_HEADER = ["iteration", "block", "trunk std", "branch std", "trunk gradient std", "branch gradient std",
                "residual scale"]  # fmt: skip
_BLOCK_COLUMNS = ("a_std", "z_std", "trunk_grad_std", "branch_grad_std", "residual_scale")
#: A residual net's statistics per block, beyond the fields named as a layer's (diagnostics module docstring).
BLOCK_FIELDS = ("a_mean", "trunk_mean_abs", "branch_mean_abs", "residual_scale", "trunk_grad_std", "branch_grad_std",
                "grad_alpha")  # fmt: skip


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
        K = ``config["seeds"]`` models along the model axis; ``diagnostics`` per layer (an MLP) or per
        block (a residual net), or none (the report then leaves those views out).
    initial_params : dict, optional
        The K models' parameters before training (with the model axis): the Jacobian at initialization
        (a plain MLP). Without them the report has the trained Jacobian only.
    """

    config: dict
    data: Dataset
    net: MLP | ResidualMLP
    history: History
    initial_params: dict | None = None


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
    """Per-layer (per-block) statistics at initialization and after training, one list of L (B) values per seed."""
    if not history.diagnostics:
        return {}
    fields = ("z_std", "a_std", "grad_W_norm", "dead_fraction", "saturated_fraction", "distinct_units")
    first, last = history.diagnostics[0], history.diagnostics[-1]
    per_block = isinstance(first, BlockStats)
    if per_block:
        fields += BLOCK_FIELDS
    return {
        **({"per": "block"} if per_block else {}),
        "iterations": [int(history.diagnostics_iterations[0]), int(history.diagnostics_iterations[-1])],
        "units": [int(u) for u in first.units],
        "initial": {f: _floats(getattr(first, f)) for f in fields},
        "final": {f: _floats(getattr(last, f)) for f in fields},
    }


def block_reading(diagnostics: dict, when: str = "initial") -> str:
    r"""A residual run's per-block numbers (``to_json(run)["diagnostics"]``) in words: how the trunk's
    standard deviation changes per block (the seeds' median of :math:`(\sigma_B / \sigma_1)^{1/(B-1)}`)
    and the median effective residual scale."""
    with np.errstate(all="ignore"):
        trunk = np.asarray(diagnostics[when]["a_std"], dtype=float)  # (K, B)
        scale = float(np.nanmedian(np.asarray(diagnostics[when]["residual_scale"], dtype=float)))
        B = trunk.shape[1]
        factor = float(np.nanmedian((trunk[:, -1] / trunk[:, 0]) ** (1.0 / max(B - 1, 1))))
    at = "at initialization" if when == "initial" else f"after {diagnostics['iterations'][-1]:,} iterations"
    if B < 2 or not math.isfinite(factor):
        shape = "one block: no growth to read" if B < 2 else "not finite (diverged)"
    elif factor > 1.05:
        shape = f"grows x{factor:.3g} per block: exponential in depth, x{factor ** (B - 1):.3g} over {B} blocks"
    elif factor < 1 / 1.05:
        shape = f"shrinks x{factor:.3g} per block"
    else:
        shape = f"stays flat (x{factor:.3g} per block)"
    return (f"{at}, the trunk's standard deviation {shape}; the median effective residual scale "
            f"|alpha F(x)|/|x| is {scale:.3g}" + (" (the branches add nothing yet)" if scale == 0 else ""))  # fmt: skip


def jacobian(run: TrainRun) -> dict:
    """The Jacobian spectra of a plain MLP's K models at initialization (given ``initial_params``) and after
    training (module docstring), or ``{"note": ...}`` saying why there are none."""
    if not isinstance(run.net, MLP):
        return {"note": "The Jacobian spectrum is for plain MLPs (initlab.spectra differentiates an MLP's layer "
                        "stack); this is a residual net: see the per-block view."}  # fmt: skip
    stop = max(1, run.net.n_layers - 1)
    out = {"stop": stop, "examples": int(spectra.spread_columns(run.data.X_train.shape[1], JACOBIAN_EXAMPLES).size)}
    times = {"initial": (0, run.initial_params), "final": (run.history.iterations, run.history.params)}
    for when, (iteration, params) in times.items():
        if params is None:
            continue
        try:
            s, kept = spectra.at_spread_examples(
                run.net, params, run.data.X_train, examples=JACOBIAN_EXAMPLES, stop=stop
            )
        except ValueError as exc:  # too large for this machine: the rest of the report still stands
            out[when] = {"iteration": iteration, "skipped": str(exc)}
            continue
        entry = {"iteration": iteration, "models": [int(k) for k in np.flatnonzero(kept)],
                 "histogram": spectra.log_histogram(s, bins=JACOBIAN_BINS, floor=JACOBIAN_FLOOR)}  # fmt: skip
        if s.shape[0]:
            summary = spectra.summarize(s)
            entry |= {f: _floats(getattr(summary, f)) for f in ("mean_squared", "max", "relative_spread", "near_one")}
            entry["reading"] = spectra.reading(summary)
        out[when] = entry
    return out


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
        "jacobian": jacobian(run),
        "wall_time": h.wall_time,
    })  # fmt: skip


def render(run: TrainRun) -> dict[str, bytes]:
    """Every output file's name and content: ``loss_curves.png``, ``decision_boundary.png`` (2-D data),
    ``blocks.png`` (a residual net's per-block view) or ``jacobian.png`` (a plain MLP's spectra),
    ``report.html`` (all of them on one self-contained page) and ``results.json``."""
    from . import figures  # matplotlib only when figures are made

    h, d = run.history, run.data
    numbers = to_json(run)
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
    diag, jac = numbers["diagnostics"], numbers["jacobian"]
    if diag.get("per") == "block":
        fig = figures.block_panels(diag, title=title(run), diverged=h.diverged)
        files["blocks.png"] = figures.png_bytes(fig)
    spectra_drawn = {w: jac[w]["histogram"] for w in ("initial", "final") if "histogram" in jac.get(w, {})}
    if spectra_drawn:
        labels = {"initial": "at initialization", "final": f"after {h.iterations:,} iterations"}
        hists = {f"{labels[w]}: {jac[w]['histogram']['values']} values": v for w, v in spectra_drawn.items()}
        fig = figures.log_histograms(
            hists, title=f"Jacobian dA[{jac['stop']}]/dx of {len(h.final_loss)} models", floor=JACOBIAN_FLOOR
        )
        files["jacobian.png"] = figures.png_bytes(fig)
    files["report.html"] = page(run, numbers, files).encode()
    files["results.json"] = (json.dumps(numbers, indent=1) + "\n").encode()
    return files


def page(run: TrainRun, numbers: dict, files: dict[str, bytes]) -> str:
    """``report.html``: the title, the table, every figure of ``files`` embedded, the per-block and Jacobian views in words."""
    from . import html

    parts = [f"<h1>initlab train</h1><p>{html.escape(title(run))}</p>", f"<p class='meta'>data: {html.escape(run.data.description)}</p>",
             html.table(SUMMARY_HEADER, summary_rows(run), numeric={1, 2, 3}), "<h2>Training loss</h2>",
             html.image(files["loss_curves.png"], "training loss of every seed")]  # fmt: skip
    if "decision_boundary.png" in files:
        parts += ["<h2>Decision boundary</h2>", html.image(files["decision_boundary.png"], "decision regions")]
    if "blocks.png" in files:
        parts += _blocks_section(numbers["diagnostics"], files["blocks.png"])
    parts += _jacobian_section(numbers["jacobian"], files.get("jacobian.png"))
    return html.page(title(run), "\n".join(parts))


def _blocks_section(diag: dict, png: bytes) -> list[str]:
    """The per-block view: the figure, the readings at both times and the seeds' medians per block."""
    from . import html

    rows = []
    with np.errstate(all="ignore"):
        for when in ("initial", "final"):
            d = {f: np.nanmedian(np.asarray(diag[when][f], dtype=float), axis=0) for f in _BLOCK_COLUMNS}
            for b in range(len(diag["units"])):
                it = diag["iterations"][when == "final"]
                rows.append([f"{it:,}", b + 1, *(f"{d[f][b]:.4g}" for f in _BLOCK_COLUMNS)])
    return [
        "<h2>Per block</h2>",
        "<p>Block b computes h<sub>b</sub> = h<sub>b-1</sub> + r<sub>b</sub>, r<sub>b</sub> = α<sub>b</sub> F<sub>b</sub>"
        "(h<sub>b-1</sub>): the trunk h and the branch r, their standard deviations over units and examples, the "
        "gradients along them, and the effective residual scale |r<sub>b</sub>|/|h<sub>b-1</sub>| "
        "(initlab.diagnostics.BlockStats). Medians over seeds; a value exactly 0 (a zero branch) has no place on a "
        "log axis and is left out there.</p>",
        f"<ul><li>{html.escape(block_reading(diag, 'initial'))}</li><li>{html.escape(block_reading(diag, 'final'))}</li></ul>",
        html.image(png, "per-block statistics"),
        "<details><summary>The numbers (medians over seeds)</summary>"
        + html.table(BLOCK_HEADER, rows, numeric={0, 1, 2, 3, 4, 5, 6}, id="blocks")
        + "</details>",
    ]


def _jacobian_section(jac: dict, png: bytes | None) -> list[str]:
    """The Jacobian view: the histogram against the line at 1 and, per time, the share within 2x of 1 and the reading."""
    from . import html

    parts = ["<h2>Jacobian spectrum</h2>"]
    if "note" in jac:
        return parts + [f"<p class='note'>{html.escape(jac['note'])}</p>"]
    parts.append(f"<p>The singular values s of every model's Jacobian dA<sup>[{jac['stop']}]</sup>/dx (input to the "
                 f"last hidden layer) at {jac['examples']} training inputs spread over the set; an isometry has every "
                 "s at 1 (the vertical line).</p>")  # fmt: skip
    if png is not None:
        parts.append(html.image(png, "histogram of the Jacobian's singular values, log axis, line at 1"))
    items = []
    for when, label in (("initial", "At initialization"), ("final", "After training")):
        entry = jac.get(when)
        if entry is None:
            continue
        if "skipped" in entry:
            items.append(f"{label}: not computed: {entry['skipped']}")
        elif entry["histogram"]["near_one"] is None:
            items.append(f"{label}: no finite Jacobian (every model diverged) or every s is 0")
        else:
            hist = entry["histogram"]
            lost = f" ({hist['zeros']} at or below {JACOBIAN_FLOOR:g}: rank lost)" if hist["zeros"] else ""
            items.append(f"{label}: {hist['near_one']:.1%} of the {hist['values']} singular values (the models pooled) "
                         f"lie within 2x of 1{lost}; per model, medians: " + entry.get("reading", ""))  # fmt: skip
    return parts + ["<ul>" + "".join(f"<li>{html.escape(i)}</li>" for i in items) + "</ul>"]


def write(run: TrainRun, out) -> dict[str, Path]:
    """Write every output into folder ``out`` (created if needed); all files appear only once all are made."""
    return write_files(render(run), out)
