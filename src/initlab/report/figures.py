"""Figures as matplotlib ``Figure`` objects (Agg backend; never shown) and PNG bytes."""

from __future__ import annotations

import io
import math

import matplotlib

matplotlib.use("Agg", force=False)
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

__all__ = ["cost_curves", "decision_boundary", "png_bytes", "COLORS"]

#: One colour per initialization, shared by every figure and the HTML report.
COLORS = {"zeros": "#7f7f7f", "random": "#d62728", "he": "#1f77b4"}


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
    fig = Figure(figsize=(7.0, 4.0))
    ax = fig.subplots()
    for name, (it, cost) in curves.items():
        it = np.asarray(it)
        cost = np.asarray(cost, dtype=float)
        finite = np.isfinite(cost)
        ax.plot(it[finite], cost[finite], label=name, color=COLORS.get(name), lw=1.6)
        if (~finite).any():
            top = np.nanmax(cost[finite]) if finite.any() else 1.0
            ax.plot(it[~finite], np.full((~finite).sum(), top), marker="^", ls="none", color=COLORS.get(name),
                    label=f"{name}: cost inf (log 0)")  # fmt: skip
    ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel("cost (cross-entropy)")
    ax.axhline(math.log(2), color="k", lw=0.6, ls=":", label="ln 2 (predict 0.5 everywhere)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(fontsize=8)
    return fig


def decision_boundary(predict, X, Y, *, title: str, lim: float = 1.5, step: float = 0.01) -> Figure:
    """The plane coloured by ``predict`` (maps (N, 2) points to N labels) with the points of ``X``.

    The same picture as the notebook's ``plot_decision_boundary`` cells (axes [-1.5, 1.5]^2,
    Spectral colours). ``X`` is (2, m), ``Y`` is (1, m) or (m,).
    """
    fig = Figure(figsize=(4.2, 4.0))
    ax = fig.subplots()
    grid = np.arange(-lim - 1.0, lim + 1.0, step)
    xx, yy = np.meshgrid(grid, grid)
    Z = np.asarray(predict(np.c_[xx.ravel(), yy.ravel()]), dtype=float).reshape(xx.shape)
    # Fixed levels and norm: class 0 is always red and class 1 blue, even when one class fills the plane.
    ax.contourf(xx, yy, Z, cmap="Spectral", levels=[-0.5, 0.5, 1.5], vmin=0, vmax=1)
    ax.scatter(X[0], X[1], c=np.ravel(Y), cmap="Spectral", vmin=0, vmax=1, s=14, edgecolors="k", linewidths=0.3)
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_xlabel("x1")
    ax.set_ylabel("x2")
    ax.set_title(title)
    ax.set_aspect("equal")
    return fig
