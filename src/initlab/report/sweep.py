"""``initlab report DIR``: a self-contained HTML report of a sweep (images embedded, no script, no network).

Sections: the summary table (mean ± 95 % CI over seeds); loss curves, median over seeds with the
band between the 25th and 75th percentiles, one line per initialization; test accuracy against the
initialization's scale and against depth (the number of blocks for residual nets), where those
vary; the decision boundary of each group's median-seed run (median final loss; two-feature
datasets); and the standard deviation of each layer's activations at initialization and at the
end (diagnostics on; for residual nets, of the trunk h_b after each block,
:class:`initlab.diagnostics.BlockStats`).

:func:`collect` reads the store and reduces it group by group (one group's histories in memory at a
time); :func:`render` draws and writes HTML from that; :func:`write` saves the page with
:func:`initlab.report.write_files` (nothing half-written).
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.ticker import MaxNLocator

from ..network import MLP, layer_views
from ..sweeps.catalogue import DatasetRef, load_data
from ..sweeps.plan import build_net
from ..sweeps.summary import Summary, median_run, seed_band, summarize, summary_rows
from . import figures, html, write_files

__all__ = ["ReportData", "collect", "render", "write"]

MAX_PANELS = 24  # loss-curve panels; beyond, the report says what it left out
MAX_BOUNDARIES = 120  # decision-boundary thumbnails
LOSS_CAP = 10.0  # loss axes end here (and say so)
STD_RANGE = (1e-8, 1e8)  # activation-std axes
MAX_PROFILES = 6  # activation-std figures
DPI = 110  # the figures' resolution: at 90 their 7-point labels were hard to read
OPEN_ROWS = 20  # the summary table is folded when it has more rows


@dataclass(frozen=True)
class Curve:
    labels: dict  # the group's dimensions
    iterations: np.ndarray  # (n_records,)
    median: np.ndarray
    low: np.ndarray
    high: np.ndarray
    seeds: int


@dataclass(frozen=True)
class Boundary:
    labels: dict
    run_name: str
    layers: tuple
    activation: str
    output: str
    theta: np.ndarray  # (P,)
    dataset: dict  # Dataset fields
    train_accuracy: float
    residual: dict | None = None  # a residual run's blocks, branch_depth, norm, scalars (initlab.sweeps.plan.Setup)


@dataclass(frozen=True)
class Profile:
    labels: dict
    a_std_init: np.ndarray  # (L,) median over seeds (a residual net: (B,), the trunk after each block)
    a_std_final: np.ndarray
    residual: bool = False


@dataclass(frozen=True)
class ReportData:
    """Everything the report shows, reduced from the store (no histories of single runs)."""

    name: str
    fingerprint: str
    spec_text: str
    counts: dict
    summary: Summary
    numbers: dict  # group key -> {"scale", "depth", "blocks" (None: plain), "init_name"}: the plots' axes
    curves: tuple[Curve, ...]
    boundaries: tuple[Boundary, ...]
    profiles: tuple[Profile, ...]
    train_seconds: float


def _group_key(labels: dict) -> str:
    return json.dumps({k: v for k, v in labels.items() if k != "seed"}, sort_keys=True)


def collect(store) -> ReportData:
    """Read a sweep's store (:class:`initlab.sweeps.Store`) and reduce it for the report."""
    spec = store.spec()
    summary = summarize(store.finished_runs(), threshold=spec.loss_threshold)
    groups: dict[str, list] = {}
    for row in store.runs(status="done"):
        groups.setdefault(_group_key(row.labels), []).append(row)
    numbers, curves, boundaries, profiles = {}, [], [], []
    train_seconds = 0.0
    for key, rows in groups.items():
        first = rows[0]
        c = first.config
        residual = c.get("residual")  # absent from plain runs (and from stores made before residual nets)
        numbers[key] = {"scale": c["scale"], "depth": c["depth"], "blocks": residual["blocks"] if residual else None,
                        "init_name": c["init"] + _options(c["init_options"])}  # fmt: skip
        train_seconds += sum(r.train_seconds + r.init_seconds for r in rows)
        losses = store.losses([r.id for r in rows])
        median, low, high = seed_band(np.stack([losses[r.id] for r in rows]))
        labels = {k: v for k, v in first.labels.items() if k != "seed"}
        curves.append(Curve(labels, first.record_iterations, median, low, high, len(rows)))
        mid = median_run(rows)
        if len(c["layers"]) and c["layers"][0] == 2:
            boundaries.append(Boundary(labels, mid.name, tuple(c["layers"]), c["activation"], c["output"],
                                       store.params(mid.id), c["dataset"], mid.train_accuracy, residual))  # fmt: skip
        if c["diagnostics"]:
            diag = store.diagnostics([r.id for r in rows])
            a_std = store.diagnostic_fields().index("a_std")
            stacks = {
                stage: np.stack([diag[r.id][stage][a_std] for r in rows if r.id in diag]) for stage in ("init", "final")
            }
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # every seed diverged: nan
                profiles.append(Profile(labels, np.nanmedian(stacks["init"], axis=0),
                                        np.nanmedian(stacks["final"], axis=0), residual is not None))  # fmt: skip
    meta = store.meta()
    return ReportData(spec.name, meta["fingerprint"], meta["spec_text"], store.counts(), summary, numbers, tuple(curves),
                      tuple(boundaries), tuple(profiles), train_seconds)  # fmt: skip


def _without_blocks(network: str) -> str:
    """A residual net's label without its block count: ``"2-16-1 res B=4 LN"`` -> ``"2-16-1 res LN"``."""
    return " ".join(w for w in network.split(" ") if not w.startswith("B="))


#: x-axis titles of the accuracy figures.
AXIS_TITLES = {"scale": "weight scale", "depth": "depth (weight layers)", "blocks": "residual blocks"}


def _options(options: dict) -> str:
    return "(" + ", ".join(f"{k}={v}" for k, v in sorted(options.items())) + ")" if options else ""


# --------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------
def _colors(names: Sequence[str]) -> dict[str, str]:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if len(names) <= 10 else "tab20"]
    return {n: cmap(i % cmap.N) for i, n in enumerate(dict.fromkeys(names))}


def _legend_outside(fig, axes) -> None:
    """One legend for all panels, right of them (never over a curve); labels in first-seen order."""
    fig.tight_layout()
    entries: dict[str, object] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            entries.setdefault(label, handle)
    if entries:
        right = max(ax.get_position().x1 for ax in axes)
        fig.legend(list(entries.values()), list(entries), loc="upper left", bbox_to_anchor=(right + 0.01, 0.97),
                   fontsize=8, frameon=False)  # fmt: skip


def _panel_grid(n: int, *, width: float = 4.2, height: float = 3.2, max_cols: int = 3):
    from matplotlib.figure import Figure

    cols = min(max_cols, n)
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(width * cols, height * rows))
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n]


def _split(items, labels_of, varying: Sequence[str], line_dims: Sequence[str], drop: Sequence[str] = ()):
    """Panels (by the varying dimensions not in ``line_dims``/``drop``) of lines (by ``line_dims``)."""
    panel_dims = [d for d in varying if d not in line_dims and d not in drop]
    panels: dict[str, list] = {}
    for item in items:
        lab = labels_of(item)
        title = ", ".join(lab[d] for d in panel_dims)
        line = ", ".join(lab[d] for d in line_dims if d in varying) or lab.get("init", "")
        panels.setdefault(title, []).append((line, item))
    return panels


def _loss_figure(data: ReportData) -> tuple[bytes | None, str]:
    varying = data.summary.varying
    line_dims = ["init"] if "init" in varying else list(varying[-1:])
    panels = _split(data.curves, lambda c: c.labels, varying, line_dims)
    note = ""
    if len(panels) > MAX_PANELS:
        note = f"Showing the first {MAX_PANELS} of {len(panels)} panels; see `initlab sweep export` for all curves."
        panels = dict(list(panels.items())[:MAX_PANELS])
    colors = _colors([line for lines in panels.values() for line, _ in lines])
    fig, axes = _panel_grid(len(panels))
    for ax, (title, lines) in zip(axes, panels.items()):
        for line, curve in lines:
            ax.plot(curve.iterations, figures.log_safe(curve.median), color=colors[line], lw=1.4, label=line)
            low, high = figures.log_safe(curve.low), figures.log_safe(curve.high)
            band = np.isfinite(low) & np.isfinite(high)
            ax.fill_between(curve.iterations, low, high, where=band, color=colors[line], alpha=0.2, lw=0)
        ax.set_yscale("log")
        bottom, top = ax.get_ylim()
        ax.set_ylim(bottom, min(top, LOSS_CAP))  # the first losses of huge weights would squash the rest
        ax.axhline(math.log(2), color="k", lw=0.5, ls=":")
        ax.set_title(title or data.name, fontsize=10)
        ax.set_xlabel("iteration", fontsize=9)
        ax.set_ylabel("training loss", fontsize=9)
        ax.grid(True, which="both", alpha=0.2)
        ax.tick_params(labelsize=8)
    _legend_outside(fig, axes)
    return figures.png_bytes(fig, dpi=DPI), note


def _accuracy_figure(data: ReportData, axis: str) -> bytes | None:
    """Test accuracy (mean ± 95 % CI over seeds) against ``axis`` ("scale", "depth" or "blocks"), panels per dataset.

    "depth" plots the plain MLPs, "blocks" the residual nets.
    """
    summary = data.summary
    points = []
    for g in summary.groups:
        n = data.numbers.get(_group_key(g.labels))
        if n is None or g.runs == 0 or (axis != "scale" and (n.get("blocks") is None) != (axis == "depth")):
            continue
        points.append((g, n))
    if axis == "scale":
        by_init: dict[str, set] = {}
        for _, n in points:
            by_init.setdefault(n["init_name"], set()).add(n["scale"])
        scaled = {name for name, scales in by_init.items() if len(scales) > 1}
        points = [(g, n) for g, n in points if n["init_name"] in scaled]

        def line_of(g, n):
            return ", ".join([n["init_name"]] + [g.labels[d] for d in summary.varying if d not in ("dataset", "init")])
    else:
        if len({n[axis] for _, n in points}) < 2:
            return None

        # residual nets differing in more than their blocks (branch depth, norm) get a line each
        shapes = {_without_blocks(g.labels["network"]) for g, _ in points} if axis == "blocks" else set()

        def line_of(g, n):
            parts = [g.labels[d] for d in summary.varying if d not in ("dataset", "network")]
            if len(shapes) > 1:
                parts.append(_without_blocks(g.labels["network"]))
            return ", ".join(parts) or g.labels["init"]

    if not points:
        return None
    panels: dict[str, dict[str, list]] = {}
    for g, n in points:
        panels.setdefault(g.labels["dataset"], {}).setdefault(line_of(g, n), []).append((n[axis], g.test_accuracy))
    colors = _colors([line for lines in panels.values() for line in lines])
    fig, axes = _panel_grid(len(panels), width=5.0, height=3.6, max_cols=2)
    for ax, (title, lines) in zip(axes, panels.items()):
        for line, pts in lines.items():
            pts.sort(key=lambda p: p[0])
            x = np.array([p[0] for p in pts], dtype=float)
            y = np.array([p[1].mean for p in pts])
            err = np.array([p[1].half_width if math.isfinite(p[1].half_width) else 0.0 for p in pts])
            ax.errorbar(x, y, yerr=err, marker="o", ms=3.5, lw=1.3, capsize=2.5, color=colors[line], label=line)
        if axis == "scale":
            ax.set_xscale("log")
        ax.set_ylim(0.3, 1.02)
        ax.axhline(0.5, color="k", lw=0.5, ls=":")
        if axis != "scale":
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(title, fontsize=10)
        ax.set_xlabel(AXIS_TITLES[axis], fontsize=9)
        ax.set_ylabel("test accuracy", fontsize=9)
        ax.grid(True, alpha=0.25)
        ax.tick_params(labelsize=8)
    _legend_outside(fig, axes)
    return figures.png_bytes(fig, dpi=DPI)


def _boundary_figure(b: Boundary, data_cache: dict) -> bytes:
    """A thumbnail: the plane coloured by the predicted class, with the training points."""
    from matplotlib.figure import Figure

    key = json.dumps(b.dataset, sort_keys=True)
    if key not in data_cache:
        data_cache[key] = load_data(DatasetRef(**b.dataset))
    d = data_cache[key]
    X, Y = d.X_train, d.Y_train
    net = build_net(b.layers, b.activation, b.output, b.residual)
    if isinstance(net, MLP):
        Ws, bs = layer_views(b.theta[np.newaxis], net.layers)
        params = {f"{p}{l + 1}": a for l in range(net.n_layers) for p, a in (("W", Ws[l]), ("b", bs[l]))}
    else:
        params = net.params_dict(b.theta[np.newaxis])
    lo, hi = X.min(axis=1) - 0.5, X.max(axis=1) + 0.5
    xx, yy = np.meshgrid(np.linspace(lo[0], hi[0], 120), np.linspace(lo[1], hi[1], 120))
    with np.errstate(all="ignore"):
        Z = net.predict(params, np.vstack([xx.ravel(), yy.ravel()]))[0, 0].reshape(xx.shape)
    fig = Figure(figsize=(1.6, 1.6))
    ax = fig.add_axes((0, 0, 1, 1))
    C = max(2, d.n_classes)
    ax.contourf(xx, yy, Z, levels=np.arange(C + 1) - 0.5, cmap="Spectral", vmin=0, vmax=C - 1)
    ax.scatter(X[0], X[1], c=np.ravel(Y), cmap="Spectral", vmin=0, vmax=C - 1, s=3, edgecolors="k", linewidths=0.15)
    ax.set_axis_off()
    return figures.png_bytes(fig, dpi=80)


def _boundaries_html(data: ReportData) -> str:
    """Per dataset, a grid of thumbnails: a row per initialization, a column per other setting."""
    varying = data.summary.varying
    shown = data.boundaries[:MAX_BOUNDARIES]
    cache: dict = {}
    parts = []
    by_dataset: dict[str, list[Boundary]] = {}
    for b in shown:
        by_dataset.setdefault(b.labels["dataset"], []).append(b)
    for dataset, items in by_dataset.items():
        col_dims = [d for d in varying if d not in ("dataset", "init")]
        cols = list(dict.fromkeys(", ".join(b.labels[d] for d in col_dims) for b in items))
        rows: dict[str, dict[str, Boundary]] = {}
        for b in items:
            rows.setdefault(b.labels["init"], {})[", ".join(b.labels[d] for d in col_dims)] = b
        head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
        body = []
        for init, cells in rows.items():
            tds = []
            for c in cols:
                b = cells.get(c)
                tds.append("<td></td>" if b is None else
                           f'<td class="thumb" title="{html.escape(b.run_name)}">{html.image(_boundary_figure(b, cache), b.run_name)}'
                           f"<br>{b.train_accuracy:.0%}</td>")  # fmt: skip
            body.append(f"<tr><th>{html.escape(init)}</th>{''.join(tds)}</tr>")
        parts.append(f"<h3>{html.escape(dataset)}</h3><table class=\"boundaries\"><thead><tr><th></th>{head}</tr></thead>"
                     f"<tbody>{''.join(body)}</tbody></table>")  # fmt: skip
    if len(data.boundaries) > len(shown):
        parts.append(f'<p class="note">Showing {len(shown)} of {len(data.boundaries)} groups.</p>')
    return "\n".join(parts)


def _profile_figures(data: ReportData) -> list[tuple[str, bytes]]:
    """a_std per layer at initialization and at the end; per (dataset, activation), the deepest network."""
    from matplotlib.figure import Figure

    varying = data.summary.varying
    chosen: dict[tuple, list[Profile]] = {}
    for p in data.profiles:
        combo = (p.labels["dataset"], p.labels["activation"])
        current = chosen.get(combo)
        if current is None or p.a_std_init.size > current[0].a_std_init.size:
            chosen[combo] = [p]
        elif p.a_std_init.size == current[0].a_std_init.size:
            current.append(p)
    out = []
    for (dataset, activation), profiles in list(chosen.items())[:MAX_PROFILES]:
        lines = [", ".join(p.labels[d] for d in varying if d not in ("dataset", "activation", "network")) or p.labels["init"]
                 for p in profiles]  # fmt: skip
        colors = _colors(lines)
        fig = Figure(figsize=(10.0, 3.8))
        axes = fig.subplots(1, 2, sharey=True)
        for ax, stage in zip(axes, ("init", "final")):
            for line, p in zip(lines, profiles):
                y = p.a_std_init if stage == "init" else p.a_std_final
                layers = np.arange(1, y.size + 1)
                ax.plot(layers, figures.log_safe(y), marker="o", ms=3, lw=1.3, color=colors[line], label=line)
            ax.set_yscale("log")
            ax.set_ylim(*STD_RANGE)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_title(f"{'at initialization' if stage == 'init' else 'after training'}", fontsize=10)
            ax.set_xlabel("block b" if profiles[0].residual else "layer l", fontsize=9)
            ax.grid(True, which="both", alpha=0.2)
            ax.tick_params(labelsize=8)
        axes[0].set_ylabel("std of the trunk h_b" if profiles[0].residual else "std of activations A[l]", fontsize=9)
        _legend_outside(fig, axes)
        network = profiles[0].labels["network"]
        out.append((f"{dataset}, {activation}, {network}", figures.png_bytes(fig, dpi=DPI)))
    return out


# --------------------------------------------------------------------------------------------
# The page
# --------------------------------------------------------------------------------------------
def _collapsible(title: str, body: str, rows: int) -> str:
    """``body`` in a <details> block, folded when it has more than ``OPEN_ROWS`` rows."""
    state = " open" if rows <= OPEN_ROWS else ""
    return f"<details{state}><summary>{html.escape(title)} (click to fold or unfold)</summary>{body}</details>"


def render(data: ReportData) -> str:
    """The report page (HTML) for ``data``."""
    c = data.counts
    total = sum(c.values())
    header, rows = summary_rows(data.summary)
    numeric = {i for i, h in enumerate(header) if i >= len(data.summary.varying or ["init"])}
    parts = [
        f"<h1>initlab sweep: {html.escape(data.name)}</h1>",
        f'<p class="meta">{c["done"]} of {total} runs done'
        + (f", {c['failed']} failed" if c["failed"] else "")
        + (f", {c['pending']} not yet run (resume with the same `initlab sweep run` command)" if c["pending"] else "")
        + f"; spec {data.fingerprint[:12]}; {data.train_seconds:.0f} s of training in total. Made by initlab.</p>",
        "<h2>Summary</h2>",
        "<p>Per group of runs that differ only in their seed: mean ± 95% confidence interval (Student's t) over "
        "seeds. Final loss over the runs that did not diverge; iterations to the threshold over the runs that reached "
        "it (how many did is in brackets).</p>",
        _collapsible(f"{len(rows)} groups", html.table(header, rows, numeric=numeric, id="summary"), len(rows)),
    ]
    if data.curves:
        png, note = _loss_figure(data)
        parts += ["<h2>Loss during training</h2>",
                  "<p>Median over seeds, with the band from the 25th to the 75th percentile. The dotted line is ln 2 "
                  f"(predicting 0.5 everywhere); the axes stop at {LOSS_CAP:g}.</p>", html.image(png, "loss curves")]  # fmt: skip
        if note:
            parts.append(f'<p class="note">{html.escape(note)}</p>')
    for axis, title in (
        ("scale", "Test accuracy against the initialization's scale"),
        ("depth", "Test accuracy against depth"),
        ("blocks", "Test accuracy against the number of residual blocks"),
    ):
        png = _accuracy_figure(data, axis)
        if png is not None:
            parts += [f"<h2>{title}</h2>", "<p>Mean ± 95% confidence interval over seeds.</p>", html.image(png, title)]
    if data.boundaries:
        parts += ["<h2>Decision boundaries</h2>",
                  "<p>Of each group's median-seed run (median final training loss), on its training data, with its "
                  "training accuracy; hover for the run's name.</p>", _boundaries_html(data)]  # fmt: skip
    profiles = _profile_figures(data)
    if profiles:
        parts += ["<h2>Activations by layer</h2>",
                  "<p>Standard deviation of each layer's activations over units and examples (median over seeds), at "
                  "initialization and after training; for each dataset and activation, the deepest network. Vanishing "
                  f"signals fall towards 0, exploding ones grow with depth. The axes span {STD_RANGE[0]:g} to "
                  f"{STD_RANGE[1]:g}; a standard deviation of 0 (zeros initialization) is not drawn. For residual nets, "
                  "the trunk h_b after each block b, for the net with the most blocks.</p>"]  # fmt: skip
        for title, png in profiles:
            parts += [f"<h3>{html.escape(title)}</h3>", html.image(png, title)]
    parts += ["<h2>Spec</h2>", f"<pre>{html.escape(data.spec_text)}</pre>"]
    style = (
        "<style>table.boundaries td.thumb{padding:2px;text-align:center;font-size:.8em}"
        "table.boundaries img{width:110px;height:110px;display:block}</style>"
    )
    return html.page(f"initlab sweep: {data.name}", style + "\n".join(parts))


def write(store, out) -> Path:
    """Collect and render the report of ``store`` into ``out/report.html``; the file appears only when complete."""
    return write_files({"report.html": render(collect(store)).encode()}, out)["report.html"]
