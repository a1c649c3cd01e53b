"""Figures as matplotlib ``Figure`` objects (Agg backend; never shown) and PNG bytes."""

from __future__ import annotations

import io
import math
import warnings

import matplotlib

matplotlib.use("Agg", force=False)
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

__all__ = [
    "block_panels",
    "cost_curves",
    "decision_boundary",
    "decision_regions",
    "log_histograms",
    "log_safe",
    "loss_band",
    "png_bytes",
    "COLORS",
]

#: One colour per initialization, shared by every figure and the HTML report.
COLORS = {"zeros": "#7f7f7f", "random": "#d62728", "he": "#1f77b4"}
#: Decision regions are drawn light and the points full colour with dark edges, so that a point
#: stays visible on a region of its own class's colour.
REGION_ALPHA = 0.35
POINT_STYLE = {"s": 18, "edgecolors": "#1a1a1a", "linewidths": 0.7}


def png_bytes(fig: Figure, dpi: int = 110) -> bytes:
    """Render ``fig`` to PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return buf.getvalue()


def cost_curves(curves: dict, *, title: str = "Training cost") -> Figure:
    """Cost against iteration, one line per entry of ``curves`` (name -> (iterations, cost)).

    The y axis is logarithmic (costs span ln 2 down to a few hundredths); a non-finite cost (the
    notebook's ``inf`` at iteration 0 under x10 random init) is marked with a triangle at the top.
    """
    fig = Figure(figsize=(10.0, 3.8))
    ax = fig.subplots()
    for name, (it, cost) in curves.items():
        it = np.asarray(it)
        cost = np.asarray(cost, dtype=float)
        finite = np.isfinite(cost)
        ax.plot(it, log_safe(cost), label=name, color=COLORS.get(name), lw=1.6)
        if (~finite).any():
            top = np.nanmax(cost[finite]) if finite.any() else 1.0
            ax.plot(it[~finite], np.full((~finite).sum(), top), marker="^", ls="none", color=COLORS.get(name),
                    label=f"{name}: cost inf (log 0)")  # fmt: skip
    _loss_axes(ax, title, "iteration", "cost (cross-entropy)")
    return fig


def log_safe(values) -> np.ndarray:
    """``values`` as floats with the points a log axis cannot show (<= 0, nan, inf) set to nan.

    Matplotlib breaks a line at nan; dropping such points instead would join their neighbours with a
    straight segment, and clipping them would draw a vertical line to the axis edge.
    """
    v = np.asarray(values, dtype=float)
    return np.where(np.isfinite(v) & (v > 0), v, np.nan)


def _predict(predict, points: np.ndarray, batch: int = 2048) -> np.ndarray:
    """``predict`` over (N, 2) ``points``, ``batch`` at a time: a wide network's activations for a whole
    300 x 300 grid at once would take GBs (a width-20000 layer: 14 GB), a batch's take MBs."""
    return np.concatenate(
        [np.asarray(predict(points[i : i + batch]), dtype=float).ravel() for i in range(0, len(points), batch)]
    )


def decision_boundary(predict, X, Y, *, title: str, lim: float = 1.5, step: float = 0.01) -> Figure:
    """The plane coloured by ``predict`` (maps (N, 2) points to N labels) with the points of ``X``.

    The same picture as the notebook's ``plot_decision_boundary`` cells (axes [-1.5, 1.5]^2,
    Spectral colours). ``X`` is (2, m), ``Y`` is (1, m) or (m,).
    """
    fig = Figure(figsize=(4.2, 4.0))
    ax = fig.subplots()
    grid = np.arange(-lim - 1.0, lim + 1.0, step)
    xx, yy = np.meshgrid(grid, grid)
    Z = _predict(predict, np.c_[xx.ravel(), yy.ravel()]).reshape(xx.shape)
    # Fixed levels and norm: class 0 is always red and class 1 blue, even when one class fills the plane.
    ax.contourf(xx, yy, Z, cmap="Spectral", levels=[-0.5, 0.5, 1.5], vmin=0, vmax=1, alpha=REGION_ALPHA)
    points = ax.scatter(X[0], X[1], c=np.ravel(Y), cmap="Spectral", vmin=0, vmax=1, **POINT_STYLE)
    _class_legend(ax, points, np.ravel(Y), ["0 (red)", "1 (blue)"])
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_xlabel("x1")
    ax.set_ylabel("x2")
    ax.set_title(title)
    ax.set_aspect("equal")
    return fig


def loss_band(iterations, losses, *, title: str, labels=None) -> Figure:
    """Training loss of K seeds: one thin line per seed, their median bold, the band from the lowest to the highest.

    ``iterations`` is (n,), ``losses`` (K, n); a diverged seed's nan points are left out (and the
    band and median use the seeds still finite there). Log y axis, ln 2 marked, as :func:`cost_curves`.
    """
    it = np.asarray(iterations)
    losses = np.atleast_2d(np.asarray(losses, dtype=float))
    fig = Figure(figsize=(7.0, 4.0))
    ax = fig.subplots()
    finite = np.where(np.isfinite(losses), losses, np.nan)
    for k, row in enumerate(finite):
        ax.plot(it, row, lw=0.7, alpha=0.45, color="#1f77b4", label=None if labels is None else labels[k])
    seen = np.isfinite(finite).any(axis=0)
    if seen.any():
        low = np.nanmin(finite[:, seen], axis=0)
        high = np.nanmax(finite[:, seen], axis=0)
        median = np.nanmedian(finite[:, seen], axis=0)
        ax.fill_between(
            it[seen], low, high, color="#1f77b4", alpha=0.18, lw=0, label=f"lowest to highest of {len(losses)} seeds"
        )
        ax.plot(it[seen], median, color="#08306b", lw=2.0, label="median over seeds")
    _loss_axes(ax, title, "iteration (parameter updates)", "training loss (cross-entropy)")
    return fig


def decision_regions(predict, X, Y, *, n_classes: int, title: str, class_names=None, resolution: int = 300) -> Figure:
    """The plane coloured by ``predict`` (maps (N, 2) points to N int labels), with the points of ``X``.

    Any number of classes and any data range: the axes span the data plus a margin of 10 %.
    Two classes keep :func:`decision_boundary`'s colours (class 0 red, class 1 blue); more use
    ``tab10``. ``X`` is (2, m), ``Y`` is (1, m) or (m,) labels in ``[0, n_classes)``.
    """
    X = np.asarray(X, dtype=float)
    y = np.ravel(Y)
    lo, hi = X.min(axis=1), X.max(axis=1)
    pad = 0.1 * np.maximum(hi - lo, 1e-9)
    g0 = np.linspace(lo[0] - pad[0], hi[0] + pad[0], resolution)
    g1 = np.linspace(lo[1] - pad[1], hi[1] + pad[1], resolution)
    xx, yy = np.meshgrid(g0, g1)
    Z = _predict(predict, np.c_[xx.ravel(), yy.ravel()]).reshape(xx.shape)
    cmap = "Spectral" if n_classes == 2 else "tab10"
    vmax = 1 if n_classes == 2 else 9
    fig = Figure(figsize=(4.8, 4.4))
    ax = fig.subplots()
    levels = np.arange(n_classes + 1) - 0.5
    ax.contourf(xx, yy, Z, cmap=cmap, levels=levels, vmin=0, vmax=vmax, alpha=REGION_ALPHA)
    points = ax.scatter(X[0], X[1], c=y, cmap=cmap, vmin=0, vmax=vmax, **POINT_STYLE)
    if n_classes <= 10:
        names = class_names if class_names is not None else [str(c) for c in range(n_classes)]
        _class_legend(ax, points, y, [str(n) for n in names])
    ax.set_xlabel("x1")
    ax.set_ylabel("x2")
    ax.set_title(title)
    return fig


def _class_legend(ax, points, y: np.ndarray, names: list[str]) -> None:
    """A legend of the classes present in ``y`` (``names[c]`` for class ``c``), outside the plane on the right."""
    handles, _ = points.legend_elements()
    present = sorted(set(np.asarray(y).astype(int).tolist()))
    ax.legend(handles, [names[c] for c in present], fontsize=7, title="class", title_fontsize=7,
              loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)  # fmt: skip


def _loss_axes(ax, title: str, xlabel: str, ylabel: str) -> None:
    """Log-scale loss axes with the ln 2 line (the loss of predicting 0.5 everywhere), grid and legend."""
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.axhline(math.log(2), color="k", lw=0.6, ls=":", label="ln 2 (predict 0.5 everywhere)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(fontsize=8)


def singular_value_histogram(s, *, title: str) -> Figure:
    """The Jacobian's singular values ``s`` (K, e, r) of K models, pooled, on a log axis with the line at 1.

    Values under 1e-6 (rank lost: dead ReLUs, saturated units) are piled at the left edge and counted
    in the legend.
    """
    s = np.asarray(s, dtype=float).ravel()
    fig = Figure(figsize=(7.0, 3.6))
    ax = fig.subplots()
    low = 1e-6
    top = max(10.0, float(np.nanmax(s)) * 1.5) if s.size else 10.0
    bins = np.logspace(np.log10(low), np.log10(top), 61)
    tiny = int(np.sum(s < low))
    ax.hist(np.clip(s, low, top), bins=bins, color="#1f77b4", alpha=0.85, label=f"{s.size} singular values")
    ax.axvline(1.0, color="k", lw=1.0, label="1 (isometry)")
    if tiny:
        ax.plot([], [], " ", label=f"{tiny} below 1e-6, at the left edge")
    ax.set(xscale="log", xlabel="singular value s of the Jacobian", ylabel="count", title=title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def coord_check_panels(widths, rows: dict, layers, *, title: str, ylabel: str = "mean |activation|") -> Figure:
    """A coordinate check (:mod:`initlab.coordcheck`): one panel per layer (and the output), one row per entry of ``rows``.

    ``rows`` maps a label (e.g. a parametrization) to an array (W, T + 1, L, K): each panel draws,
    on log-log axes against width, one line per step t (the seeds' mean) with the seeds' range as a band.
    """
    from matplotlib import ticker

    widths = np.asarray(widths, dtype=float)
    fig = Figure(figsize=(2.6 * len(layers) + 0.6, 2.5 * len(rows) + 0.7))
    axes = np.atleast_2d(fig.subplots(len(rows), len(layers), squeeze=False))
    for r, (label, values) in enumerate(rows.items()):
        values = log_safe(values)
        for j, name in enumerate(layers):
            ax = axes[r, j]
            for t in range(values.shape[1]):
                v = values[:, t, j, :]  # (W, K)
                color = matplotlib.colormaps["viridis"](t / max(values.shape[1] - 1, 1))
                with np.errstate(all="ignore"):
                    ax.plot(widths, np.nanmean(v, axis=1), "o-", ms=3, color=color, label=f"t = {t}")
                    ax.fill_between(widths, np.nanmin(v, axis=1), np.nanmax(v, axis=1), color=color, alpha=0.2, lw=0)
            ax.set(xscale="log", yscale="log")
            _at_least_a_decade(ax, values[:, :, j, :])
            ax.set_xticks(widths, [str(int(w)) for w in widths], fontsize=6)
            ax.xaxis.set_minor_locator(ticker.NullLocator())
            ax.tick_params(labelsize=7)
            ax.grid(True, which="both", alpha=0.25)
            ax.set_title(f"{label}: {name}", fontsize=8)
            if r == len(rows) - 1:
                ax.set_xlabel("width", fontsize=8)
            if j == 0:
                ax.set_ylabel(ylabel, fontsize=8)
    axes[0, -1].legend(fontsize=7, title="after step", title_fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def _at_least_a_decade(ax, values) -> None:
    """Log y-limits spanning at least a factor 10 around ``values`` (a flat curve must look flat), labelled 1-2-5."""
    from matplotlib import ticker

    finite = values[np.isfinite(values)]
    if not finite.size:
        return
    lo, hi = float(finite.min()), float(finite.max())
    if hi / lo < 10:
        mid = math.sqrt(lo * hi)
        lo, hi = mid / math.sqrt(10), mid * math.sqrt(10)
    ax.set_ylim(lo / 1.15, hi * 1.15)
    ax.yaxis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(ticker.FormatStrFormatter("%g"))
    ax.yaxis.set_minor_locator(ticker.NullLocator())


def log_histograms(hists: dict, *, title: str, floor: float = 0.0) -> Figure:
    """Histograms from :func:`initlab.spectra.log_histogram` (label -> its dict), as steps on a log x axis with the line at 1.

    Each is drawn over its own log10 edges; values at or below ``floor`` (the histograms' own: 0 has no place on
    a log axis) are counted in its legend entry.
    """
    fig = Figure(figsize=(7.0, 3.6))
    ax = fig.subplots()
    colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"]
    for i, (label, h) in enumerate(hists.items()):
        if not h["counts"]:
            continue
        edges = 10.0 ** np.linspace(h["lo"], h["hi"], len(h["counts"]) + 1)
        near = "" if h["near_one"] is None else f", {h['near_one']:.0%} within 2x of 1"
        zeros = (f", {h['zeros']} at {'0' if floor == 0 else f'or below {floor:g}'} (rank lost, not drawn)"
                 if h["zeros"] else "")  # fmt: skip
        ax.stairs(h["counts"], edges, color=colors[i % len(colors)], lw=1.6, label=f"{label}{near}{zeros}")
    ax.axvline(1.0, color="k", lw=1.0, label="1 (isometry)")
    ax.axvspan(0.5, 2.0, color="#999999", alpha=0.12, lw=0, label="within 2x of 1")
    ax.set(xscale="log", xlabel="singular value s of the Jacobian", ylabel="count", title=title)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def block_panels(diagnostics: dict, *, title: str, diverged=None) -> Figure:
    """A residual net's per-block statistics (``initlab.report.train``'s ``diagnostics``, ``"per": "block"``).

    Three panels against the block index b = 1..B: the standard deviation of the trunk :math:`h_b`
    (solid) and of the branch :math:`r_b` (dashed); the same for the gradients along them; the effective
    residual scale :math:`\\|r_b\\| / \\|h_{b-1}\\|` (symmetric-log axis, so that Fixup's and ReZero's
    exact 0 shows). One colour per time (initialization, end of training), the seeds' median as the
    line and their lowest to highest as the band. Seeds that ``diverged`` (K,) are left out of the
    end-of-training curves (their last finite parameters would set the axes), and the legend says how many.
    """
    times = {"initial": "#1f77b4", "final": "#d62728"}
    its = diagnostics["iterations"]
    K = len(np.asarray(diagnostics["initial"]["a_std"]))
    drawn = {
        "initial": np.ones(K, bool),
        "final": ~np.asarray(diverged, bool) if diverged is not None else np.ones(K, bool),
    }
    left_out = int(K - drawn["final"].sum())
    labels = {"initial": f"iteration {its[0]:,}",
              "final": f"iteration {its[-1]:,}" + (f" ({left_out} of {K} diverged, not drawn)" if left_out else "")}  # fmt: skip
    blocks = np.arange(1, len(diagnostics["units"]) + 1)
    panels = [
        ("activation std", (("a_std", "-", "trunk h"), ("z_std", "--", "branch r")), "log"),
        (
            "gradient std",
            (("trunk_grad_std", "-", "trunk dL/dh"), ("branch_grad_std", "--", "through the branch")),
            "log",
        ),
        ("effective residual scale |r_b| / |h_(b-1)|", (("residual_scale", "-", "scale"),), "symlog"),
    ]
    fig = Figure(figsize=(13.0, 3.8))
    axes = fig.subplots(1, 3)
    for ax, (ylabel, series, scale) in zip(axes, panels):
        for when, color in times.items():
            if not drawn[when].any():  # every seed diverged: say so in the legend, draw nothing
                ax.plot([], [], "-", color=color, label=f"{labels['final'].split(' (')[0]}: all {K} seeds diverged")
                continue
            for field, style, name in series:
                v = np.asarray(diagnostics[when][field], dtype=float)[drawn[when]]  # (K_drawn, B)
                v = log_safe(v) if scale == "log" else np.where(np.isfinite(v), v, np.nan)
                with warnings.catch_warnings():  # an all-nan column (a zero or diverged block) has no median
                    warnings.simplefilter("ignore", RuntimeWarning)
                    ax.fill_between(blocks, np.nanmin(v, axis=0), np.nanmax(v, axis=0), color=color, alpha=0.15, lw=0)
                    ax.plot(blocks, np.nanmedian(v, axis=0), style, color=color, lw=1.6, marker="o", ms=3,
                            label=f"{name}, {labels[when]}")  # fmt: skip
        ax.set(xlabel="block b", ylabel=ylabel)
        if scale == "log":
            ax.set_yscale("log")
        else:
            ax.set_yscale("symlog", linthresh=1e-2)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(True, which="both", alpha=0.25)
        ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
