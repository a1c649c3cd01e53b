"""The studies' figures and pages: ``initlab study NAME`` and ``initlab report DIR`` on a study's folder.

One figure function per study (named as its module in :mod:`initlab.studies`), drawn from the
result's ``data`` alone. :func:`files` makes ``figure.png``, ``result.json`` and a self-contained
``report.html``; :func:`write` reads a study's store and writes them (nothing half-written).
:func:`write_index` writes ``index.html`` over a folder of study folders (``initlab study all``).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from ..studies.base import Study, StudyResult, result_dict
from . import html, write_files
from .figures import COLORS, png_bytes  # first: selects the Agg backend

__all__ = ["FIGURES", "files", "figure", "index_html", "study_folders", "write", "write_index", "write_result"]

LN2 = math.log(2.0)


def figure(result: StudyResult) -> Figure:
    """The figure of ``result``'s study."""
    return FIGURES[result.study](result)


def files(study: Study, result: StudyResult) -> dict[str, bytes]:
    """``figure.png``, ``result.json`` and a self-contained ``report.html`` (the figure embedded)."""
    png = png_bytes(figure(result))
    body = (
        f'<h1>{html.escape(study.name)}</h1><p class="meta">{html.escape(study.paper)}</p>'
        f"<p><b>Claim.</b> {html.escape(study.claim)}</p>"
        f'<p class="note" id="verdict"><b>Verdict:</b> {html.escape(str(result.verdict))}</p>'
        + html.table(result.header, result.rows, id="evidence")
        + html.image(png, study.name)
        + f'<p class="meta">size {result.size}, {result.seeds} seeds, {result.wall_time:.1f} s of compute</p>'
        + f'<div id="setup">{html.rst(_setup(study.doc))}</div>'
    )
    return {
        "figure.png": png,
        "result.json": json.dumps(result_dict(study, result), indent=2).encode(),
        "report.html": html.page(f"initlab study {study.name}", body).encode(),
    }


def _setup(doc: str) -> str:
    """The docstring's sections from Claim on (Claim, Setup, Verdict); its first line is the page's title."""
    start = doc.find("Claim\n-----")
    return doc[start:].strip() if start >= 0 else doc.strip()


def write(store, out=None) -> dict[str, Path]:
    """Write ``figure.png``, ``result.json`` and ``report.html`` of the study in ``store`` into ``out``
    (default: the store's folder); return name -> path.

    Raises
    ------
    ValueError
        The study in the store is unfinished (the message says how to finish it).
    """
    from .. import studies

    result = studies.reduce_store(store)
    return write_result(studies.get(result.study), result, store.path.parent if out is None else out)


def write_result(study: Study, result: StudyResult, out) -> dict[str, Path]:
    """Write :func:`files` into folder ``out``; return name -> path."""
    return write_files(files(study, result), out)


# --------------------------------------------------------------------------------------------
# The index of a folder of studies (`initlab study all`, `initlab report BASE`)
# --------------------------------------------------------------------------------------------
INDEX = "index.html"


def study_folders(base) -> list[Path]:
    """The subfolders of ``base`` holding a study store, in registry order, default size before quick."""
    from .. import studies
    from ..studies.store import STORE_NAME, StudyMissing, StudyStore

    order = {name: i for i, name in enumerate(studies.available())}
    found = []
    for sub in sorted(Path(base).iterdir()) if Path(base).is_dir() else []:
        if (sub / STORE_NAME).is_file():
            try:
                with StudyStore.open(sub) as store:
                    s = store.settings()
            except (StudyMissing, KeyError):
                continue
            found.append(((order.get(s["study"], len(order)), s["size"] != "default", sub.name), sub))
    return [sub for _, sub in sorted(found)]


def index_html(base, at=None) -> str:
    """One self-contained page over every study folder in ``base``: the verdicts in a table, then each
    figure with its claim; unfinished studies say how far they got. Links to the studies' pages are
    relative to folder ``at`` (default ``base``), where the page will be."""
    from .. import studies
    from ..studies.store import StudyStore

    rows, cards = [], []
    at = Path(base if at is None else at).resolve()
    for sub in study_folders(base):
        page = Path(os.path.relpath(Path(sub).resolve() / "report.html", at)).as_posix()
        with StudyStore.open(sub) as store:
            s = store.settings()
            study = studies.get(s["study"])
            try:
                result = studies.reduce_store(store)
            except ValueError as exc:  # unfinished
                rows.append(
                    [f"{study.name} ({s['size']})", study.paper, "unfinished", "", str(s["seeds"]), "", sub.name]
                )
                cards.append(
                    f'<div class="card"><h3>{html.escape(study.name)}</h3><p class="note">{html.escape(str(exc))}</p></div>'
                )
                continue
        word = "SUPPORTED" if result.verdict.supported else "NOT SUPPORTED"
        rows.append(
            [
                f"{study.name} ({s['size']})",
                study.paper,
                word,
                f"{result.verdict.margin:+.3g}",
                str(result.seeds),
                f"{result.wall_time:.0f} s",
                page,
            ]
        )
        png = (sub / "figure.png").read_bytes() if (sub / "figure.png").is_file() else png_bytes(figure(result))
        cards.append(
            f'<div class="card" id="card-{html.escape(sub.name)}"><h3><a href="{html.escape(page)}">'
            f'{html.escape(study.name)}</a> <span class="meta">({html.escape(s["size"])})</span></h3>'
            f"<p><b>{word}</b> (margin {result.verdict.margin:+.3g}). {html.escape(study.claim)}</p>"
            + html.image(png, study.name)
            + "</div>"
        )
    body = (
        '<h1>initlab studies</h1><p class="meta">Published claims on initialization, each run over several seeds '
        "and decided by 95% intervals against lines fixed before the run. Each study's own page has the evidence "
        "table, the criteria with their margins and the setup.</p>"
        + html.table(["study", "paper", "verdict", "margin", "seeds", "compute", "page"], rows, id="studies")
        + "".join(f'<div class="row">{c}</div>' for c in cards)
    )
    return html.page("initlab studies", body)


def write_index(base, out=None) -> Path:
    """Write ``index.html`` (:func:`index_html`) of the studies in ``base`` into ``out`` (default ``base``); return its path."""
    out = base if out is None else out
    Path(out).mkdir(parents=True, exist_ok=True)
    return write_files({INDEX: index_html(base, out).encode()}, out)[INDEX]


def notebook_seeds(result: StudyResult) -> Figure:
    """Test accuracy of every seed per init (seed 3 circled), and every seed's training loss."""
    d = result.data
    fig = Figure(figsize=(11, 3.8))
    ax1, ax2 = fig.subplots(1, 2)
    inits = list(d["inits"])
    for i, name in enumerate(inits):
        acc = np.asarray(d[name]["test_accuracy"], dtype=float)
        jitter = np.linspace(-0.15, 0.15, acc.size)
        ax1.scatter(i + jitter, acc, s=12, color=COLORS[name], alpha=0.6)
        ax1.scatter(
            [i],
            [acc[d["notebook_seed"]]],
            s=80,
            facecolor="none",
            edgecolor="k",
            label=f"seed {d['notebook_seed']}" if i == 0 else None,
        )
        loss = np.asarray(d[name]["loss"], dtype=float)
        ax2.semilogy(d[name]["record_iterations"], loss.T, color=COLORS[name], alpha=0.3, lw=0.8)
        ax2.plot([], [], color=COLORS[name], label=name)
    ax1.set_xticks(range(len(inits)), inits)
    ax1.set_ylabel("test accuracy")
    ax1.set_title(f"{d['seeds']} seeds (circle: the notebook's seed 3)")
    ax1.legend()
    ax2.set_xlabel("iteration")
    ax2.set_title("training loss (stable), every seed")
    ax2.legend()
    fig.tight_layout()
    return fig


def edge_of_chaos(result: StudyResult) -> Figure:
    """q* and chi_1 against sigma_w^2, the depth scale xi_c, and measured vs mean-field correlations per layer."""
    d = result.data
    fig = Figure(figsize=(13, 3.8))
    ax1, ax2, ax3 = fig.subplots(1, 3)
    grid = np.asarray(d["grid"], dtype=float)
    ax1.plot(grid, d["q_star"], label="q*")
    ax1.plot(grid, d["chi1"], label="χ1")
    ax1.axhline(1.0, color="gray", lw=0.8)
    for ax in (ax1, ax2):
        ax.axvline(d["critical_sigma_w2"], color="k", ls="--", lw=0.8, label=f"critical {d['critical_sigma_w2']:.3f}")
        ax.set_xlabel("σw²")
    ax1.set_title(f"tanh, σb² = {d['sigma_b2']}")
    ax1.legend()
    xi = np.asarray(d["xi_c"], dtype=float)
    ax2.semilogy(grid[np.isfinite(xi)], xi[np.isfinite(xi)], "o-", ms=3)
    ax2.set_title("correlation depth scale ξc")
    for (label, e), color in zip(d["empirical"].items(), ("C0", "C1", "C3")):
        emp, pred = np.asarray(e["emp"]), np.asarray(e["pred"])
        layers = np.arange(1, emp.shape[1] + 1)
        ax3.plot(layers, emp.T, color=color, alpha=0.25, lw=0.8)
        ax3.plot(layers, pred.mean(axis=0), color=color, lw=2, label=f"{label} (σw²={e['sigma_w2']:.2f}) mean field")
    ax3.set_xlabel("layer")
    ax3.set_ylabel("correlation c of two inputs")
    ax3.set_title(f"width {d['width']}: seeds (thin) vs theory (thick)")
    ax3.legend(fontsize=8)
    fig.tight_layout()
    return fig


def glorot2010(result: StudyResult) -> Figure:
    """Figs 6-8 of the paper as per-layer profiles (activations, dL/dz, dL/dW), the Jacobians' mean
    singular values, Xavier's ratios against the inputs' scale, and examples of the inputs."""
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    from initlab import datasets

    d = result.data
    fig = Figure(figsize=(14, 7.6))
    axes = fig.subplots(2, 3)
    (ax_a, ax_z, ax_w), (ax_s, ax_r, ax_x) = axes
    layers = np.arange(1, d["hidden"] + 1)
    inits = (("standard", "C3"), ("xavier", "C0"))
    for name, color in inits:
        for ax, key in ((ax_a, "a_std"), (ax_z, "dz_std"), (ax_w, "dw_std")):
            v = np.asarray(d[name][key], dtype=float)
            ax.plot(layers, v.T, color=color, alpha=0.25, lw=0.8)
            ax.plot(layers, v.mean(axis=0), "o-", color=color, lw=2, label=name)
        sv = np.asarray(d[name]["sv"], dtype=float)
        square = np.arange(2, 2 + sv.shape[1])
        target, tol = d["sv_target"][name], d["sv_tolerance"]
        ax_s.axhspan(target - tol, target + tol, color=color, alpha=0.12, lw=0)
        ax_s.plot(square, sv.T, color=color, alpha=0.25, lw=0.8)
        ax_s.plot(square, sv.mean(axis=0), "o-", color=color, lw=2, label=f"{name} (line: {target:g} ± {tol:g})")
    titles = {ax_a: "activation std per layer (Fig. 6)", ax_z: "back-propagated gradient std dL/dz (Fig. 7)",
              ax_w: "weight gradient std dL/dW (Fig. 8)"}  # fmt: skip
    for ax, title in titles.items():
        ax.set_yscale("log")
        ax.set(xlabel="hidden layer", xticks=layers, title=title)
        ax.legend(fontsize=8)
    ax_a.set_ylabel(f"Shapeset-3x2, tanh {d['hidden']} x {d['width']}, at initialization")
    ax_s.set(xlabel="hidden layer (Jacobian from the layer below)", xticks=square, ylim=(0.3, 1.0),
             title="mean singular value of the layer Jacobians (sec. 4.2.2)")  # fmt: skip
    ax_s.legend(fontsize=8, loc="lower right")

    # Xavier's two ratios against the inputs' root mean square: Gaussian inputs (lines), Shapeset (stars)
    ax_r.axhspan(0.5, 2.0, color="0.92", zorder=0, label="about the same: [1/2, 2]")
    ratios = (("act_log2_ratio", "o", "activations A5/A1", "C0"), ("grad_log2_ratio", "s", "gradients dZ1/dZ5", "C2"))
    styles = {d["verdict_input"]: {"marker": "*", "ms": 13, "mec": "k"},
              "shapeset [-1, 1]": {"marker": "o", "ms": 9, "mfc": "none"}}  # fmt: skip
    for key, marker, what, color in ratios:
        gauss = [d[f"xavier/gaussian {x:g}"] for x in d["scan"]]
        ax_r.plot([np.mean(g["rms"]) for g in gauss], [2 ** g[key]["mean"] for g in gauss], marker + "-", color=color,
                  ms=4, label=f"xavier, {what}: Gaussian inputs")  # fmt: skip
        for kind, style in styles.items():
            e = d[f"xavier/{kind}"]
            ax_r.plot(np.mean(e["rms"]), 2 ** e[key]["mean"], ls="none", color=color, mew=0.8, **style,
                      label=f"xavier, {what}: {kind}")  # fmt: skip
    ax_r.axhline(0.5, color="k", lw=0.6, ls=":")
    ax_r.set(xscale="log", yscale="log", xlabel="root mean square of the inputs", ylabel="ratio over the 5 layers",
             ylim=(0.2, 2.5), title="Xavier: flat only near tanh's linear regime")  # fmt: skip
    ax_r.yaxis.set_major_formatter(ScalarFormatter())
    ax_r.yaxis.set_minor_formatter(NullFormatter())
    ax_r.set_yticks([0.25, 0.5, 1.0, 2.0])
    ax_r.legend(fontsize=6.5, loc="lower left")

    X, Y = datasets.shapeset(9, rng=0)  # one image of each class
    side = datasets.SHAPESET_SIDE
    tiles = np.ones((3 * side + 4, 3 * side + 4))
    for k in range(9):
        r, c = divmod(k, 3)
        tiles[r * (side + 2) : r * (side + 2) + side, c * (side + 2) : c * (side + 2) + side] = X[:, k].reshape(
            side, side
        )
        ax_x.text(c * (side + 2) + side / 2, r * (side + 2) + side - 1.5, datasets.SHAPESET_CLASSES[Y[0, k]],
                  ha="center", va="bottom", fontsize=6.5, color="C1")  # fmt: skip
    ax_x.imshow(tiles, cmap="gray", vmin=0.0, vmax=1.0)
    ax_x.set_axis_off()
    ax_x.set_title(f"the inputs: Shapeset-3x2 (m = {d['m']} per seed)")
    fig.tight_layout()
    return fig


def he2015(result: StudyResult) -> Figure:
    """Sec. 2.2 at initialization (Var Z and mean dZ^2 per layer, with the claimed slopes) and Figs 2-3 as
    training loss curves of every seed, with the verdict's lines."""
    d = result.data
    fig = Figure(figsize=(15, 4.4))
    ax_f, ax_b, ax_l = fig.subplots(1, 3)
    colors = {init: ("C3" if init == d["xavier"] else "C0") for init in d["inits"]}
    styles = {depth: "-" if depth == max(d["depths"]) else "--" for depth in d["depths"]}
    for depth in d["depths"]:
        ls = styles[depth]
        for init in d["inits"]:
            e, color = d[f"{depth}/{init}"], colors[init]
            label = f"{d['labels'][init]}, {depth} layers"
            var = np.exp(np.log(np.asarray(e["z_std"], dtype=float) ** 2).mean(axis=0))  # geometric mean over seeds
            dz2 = np.exp(np.log(np.asarray(e["dz_ms"], dtype=float)).mean(axis=0))
            layers = np.arange(1, var.size + 1)
            hidden = layers[1:-1]  # forward: layers 2 .. L-1 (the ratios tested)
            factor = 0.5 if init == d["xavier"] else 1.0
            ax_f.semilogy(hidden, var[1:-1], ls, color=color, label=label)
            ax_f.semilogy(hidden, var[1] * factor ** (hidden - 2), ":", color="gray", lw=1)
            back = layers[:-1]  # backward: layers 1 .. L-1
            ax_b.semilogy(back, dz2[:-1], ls, color=color, label=label)
            ax_b.semilogy(back, dz2[-2] * factor ** (back[-1] - back), ":", color="gray", lw=1)
            loss = np.asarray(e["loss"], dtype=float)
            ax_l.plot(e["iterations"], loss.T, ls, color=color, alpha=0.45, lw=0.9)
            ax_l.plot([], [], ls, color=color, label=label)
    ax_f.plot([], [], ":", color="gray", lw=1, label="claimed: x1 (he), x1/2 (xavier) per layer")
    ax_f.set(xlabel="layer", title="forward: Var Z at initialization (geometric mean over seeds)")
    ratios = "\n".join(
        f"{depth} layers: {r['dZ1'][0]:.2f} (line {r['predicted']:g} ± {r['band']:g})"
        for depth in d["depths"]
        for r in [d[f"{depth}/log2_ratio"]]
    )
    ax_b.set(xlabel="layer", title="backward: mean dZ² at initialization")
    ax_b.text(
        0.97, 0.04, f"log2 |dZ1| xavier / he\n{ratios}", transform=ax_b.transAxes, fontsize=8, ha="right", va="bottom"
    )
    ax_l.axhspan(
        LN2 - d["stall"],
        LN2 + d["stall"],
        color="gray",
        alpha=0.25,
        lw=0,
        label=f"ln 2 ± {d['stall']:g}: xavier's stall tolerance",
    )
    ax_l.axhline(LN2 - d["gap"], color="k", lw=0.8, ls=":", label=f"ln 2 - {d['gap']:g}: he must get below")
    ax_l.set(
        xlabel="update",
        ylabel="training loss (every seed)",
        title=f"training: ReLU width {d['width']}, momentum {d['momentum']}, batch {d['batch_size']}",
    )
    handles, labels = ax_f.get_legend_handles_labels()
    more = ax_l.get_legend_handles_labels()
    fig.legend(handles + more[0][-2:], labels + more[1][-2:], loc="lower center", ncol=4, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.11, 1, 1))
    return fig


def saxe2013(result: StudyResult) -> Figure:
    """Fig. 6A (learning time and fastest rate against depth), Fig. 6B (singular values of products of D matrices)."""
    from matplotlib import colormaps

    d, p = result.data, result.data["products"]
    fig = Figure(figsize=(12, 8))
    (ax_t, ax_r), (ax_h, ax_v) = fig.subplots(2, 2)
    depths = np.asarray(d["depths"], dtype=float)
    line, (lo, hi) = d["slope_line"], d["band"]
    for name, color in (("orthogonal", "C0"), ("gaussian", "C3")):
        st = np.asarray(d[name]["steps"], dtype=float)  # (seeds, depths)
        ax_t.plot(depths, st.T, color=color, alpha=0.25, lw=0.8)
        mean, half = d[name]["slope"]
        label = f"{name}: slope {mean:.2f} ± {half:.2f}"
        ax_t.plot(depths, np.median(st, axis=0), "o-", color=color, lw=2, label=label)
        start = np.exp(np.log(st[:, 0]).mean())  # the verdict's lines, slope +-0.25 from the shallowest depth
        for sign in (1, -1) if name == "orthogonal" else (1,):
            ax_t.plot(depths, start * (depths / depths[0]) ** (sign * line), ":", color=color, lw=1.2)
        rate = np.asarray(d[name]["rate"], dtype=float) / depths  # (seeds, depths), the learning rate itself
        ax_r.plot(depths, rate.T, ".", color=color, alpha=0.35)
        ax_r.plot(depths, np.nanmedian(rate, axis=0), "o-", color=color, lw=2, label=name)
    ax_t.plot([], [], ":", color="k", lw=1.2, label=f"verdict lines: slope ±{line}")
    ax_t.axhline(d["max_steps"], color="gray", ls="--", lw=0.8, label="cap")
    ax_t.set(yscale="log", ylabel=f"steps to {1 - d['threshold']:.0%} of the learnable loss",
             title=f"6A: learning time, digits, width {d['width']} (fastest rate of the grid)")  # fmt: skip
    ax_t.legend(fontsize=8, loc="upper left")
    ax_r.plot(depths, 1.0 / depths, color="gray", lw=0.8, ls="--", label="1/D")
    ax_r.set(yscale="log", ylabel="learning rate", title="6A: the fastest learning rate of the grid")
    ax_r.legend(fontsize=8)
    for ax in (ax_t, ax_r, ax_v):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("depth D (weight matrices)")

    bins = np.linspace(-16, 2, 73)
    shades = colormaps["Reds"](np.linspace(0.35, 1.0, len(depths)))  # deeper = darker
    for sv, D, color in zip(p["sv"], d["depths"], shades):
        sv = np.asarray(sv, dtype=float).ravel()  # every seed's first product
        ax_h.hist(np.log10(np.maximum(sv, 1e-16)), bins=bins, histtype="step", color=color, lw=1.5, density=True,
                  label=f"gaussian, D={D}")  # fmt: skip
    ax_h.axvline(0.0, color="C0", lw=2.5, label="orthogonal, every D: σ = 1")
    ax_h.axvspan(-16, -13, color="0.9", zorder=0, label="float64 rounding of the product")
    ax_h.set(xlabel="log10 σ", ylabel="density",
             title=f"6B: singular values of a product of D N(0, 1/N) matrices, N = {d['width']}")  # fmt: skip
    ax_h.legend(fontsize=8, loc="upper left")

    exact = np.asarray(p["exact_var"], dtype=float)
    ratio, mean = np.asarray(p["var_ratio"], dtype=float), np.asarray(p["mean_sigma2"], dtype=float)
    ax_v.fill_between(depths, lo * exact, hi * exact, color="C3", alpha=0.12, lw=0, label=f"verdict band [{lo}, {hi}]")
    ax_v.plot(depths, exact, "-", color="C3", lw=1.2, label="exact Var σ² (a_D - 1)")
    ax_v.plot(depths, depths, ":", color="k", lw=1, label="free probability, N → ∞: D")
    ax_v.errorbar(depths, ratio[:, 0] * exact, yerr=ratio[:, 1] * exact, fmt="o", color="C3", capsize=3,
                  label="measured Var σ² (95% CI)")  # fmt: skip
    ax_v.fill_between(depths, lo, hi, color="C2", alpha=0.12, lw=0)
    ax_v.errorbar(depths, mean[:, 0], yerr=mean[:, 1], fmt="s-", color="C2", capsize=3,
                  label="measured mean σ² (exact: 1)")  # fmt: skip
    worst = np.max(np.asarray(p["max_deviation"], dtype=float))
    ax_v.set(yscale="log", title=f"6B: Gaussian products spread; orthogonal: max |σ - 1| = {worst:.0e}")
    ax_v.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig


def lsuv(result: StudyResult) -> Figure:
    """Held-out Var Z per layer at initialization, held-out accuracy per seed with the verdict's lines, and the
    training loss (median over seeds), for ReLU (claim 1) and GELU (claim 2) under he, orthonorm_msra and LSUV."""
    from ..stats import mean_ci

    d = result.data
    inits, colors = ("he", "orthonorm_msra", "lsuv"), {"he": "C0", "orthonorm_msra": "C1", "lsuv": "C2"}
    styles = {"relu": "-", "gelu": "--"}
    fig = Figure(figsize=(15, 4.4))
    ax1, ax2, ax3 = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1.1, 1, 1]})
    tol, delta = d["tol"], d["delta"]
    for activation, ls in styles.items():
        for init in inits:
            var = np.asarray(d[activation][init]["var"], dtype=float)
            ax1.semilogy(np.arange(1, var.shape[1] + 1), np.median(var, axis=0), ls, color=colors[init], lw=1.4)
    ax1.axhspan(1 - tol, 1 + tol, color="C2", alpha=0.15, lw=0, label=f"1 ± {tol:g} (LSUV's tolerance)")
    for y in (0.5, 2.0):
        ax1.axhline(y, color="gray", ls=":", lw=0.8)
    for init in inits:
        ax1.plot([], [], color=colors[init], label=init)
    for activation, ls in styles.items():
        ax1.plot([], [], ls, color="k", label=activation)
    ax1.set(xlabel="layer", ylabel="Var Z on held-out inputs (median over seeds)", xticks=np.arange(1, d["layers"] + 1, 3),
            title=f"at initialization, {d['layers']} layers of width {d['width']}")  # fmt: skip
    ax1.legend(fontsize=7, ncol=2, loc="lower left")
    rng = np.random.default_rng(0)  # jitter only
    ticks, labels = [], []
    for g, activation in enumerate(styles):
        e = d[activation]
        for j, init in enumerate(inits):
            x = 4 * g + j
            acc = np.asarray(e[init]["accuracy"], dtype=float)
            ax2.scatter(x + rng.uniform(-0.15, 0.15, acc.size), acc, s=10, color=colors[init], alpha=0.6)
            est = mean_ci(acc)
            ax2.errorbar(x + 0.3, est.mean, yerr=est.half_width, fmt="o", color=colors[init], capsize=3, ms=4)
            ticks.append(x)
            labels.append(f"{activation}\n{init.replace('orthonorm_msra', 'ortho-MSRA')}")
        best_mean = float(np.mean(np.asarray(e[e["best"]]["accuracy"], dtype=float)))
        line = best_mean - delta if activation == "relu" else best_mean
        text = f"relu: best's mean - {delta:g} point" if g == 0 else "gelu: best's mean"
        ax2.hlines(line, 4 * g - 0.4, 4 * g + 2.6, colors="k", linestyles="--" if g == 0 else ":", lw=1, label=text)
    ax2.set_xticks(ticks, labels, fontsize=7)
    low = min(np.nanmin(np.asarray(d[a][i]["accuracy"], dtype=float)) for a in styles for i in inits)
    ax2.set_ylim(max(low - 2, 0), 100)
    ax2.set(ylabel="held-out accuracy % (mean, 95% CI)",
            title="after training (verdict: paired CI of LSUV - best)")  # fmt: skip
    ax2.legend(fontsize=7, loc="lower center")
    for activation, ls in styles.items():
        for init in inits:
            e = d[activation][init]
            loss = np.asarray(e["loss"], dtype=float)
            ax3.semilogy(np.asarray(e["iterations"], dtype=float), np.nanmedian(loss, axis=0), ls, color=colors[init],
                         lw=1.4)  # fmt: skip
    ax3.axhline(LN2, color="gray", lw=0.8, label="ln 2")
    (lr, first), (lr2, _) = d["schedule"]
    ax3.axvline(first, color="gray", ls=":", lw=0.8)
    for activation, ls in styles.items():
        ax3.plot([], [], ls, color="k", label=activation)
    ax3.set(xlabel="iteration", ylabel="training loss (median over seeds)",
            title=f"full-batch gradient descent, lr {lr:g}, then {lr2:g} from iteration {first:g}")  # fmt: skip
    ax3.legend(fontsize=7)
    fig.tight_layout()
    return fig


def trainability_depth(result: StudyResult) -> Figure:
    """Held-out accuracy over (sigma_w^2, depth) with the 2 xi_c and 6 xi_c lines (the paper's fig. 6), and
    every network's accuracy against its depth in units of xi_c."""
    d = result.data
    fig = Figure(figsize=(13, 4.6))
    ax1, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.15, 1]})
    s2, depths = np.asarray(d["sigma_w2"], dtype=float), np.asarray(d["depths"], dtype=float)
    acc = np.asarray(d["test_accuracy"], dtype=float)  # (sigma_w2, depth, seed)
    frac = np.asarray(d["trained_fraction"], dtype=float)

    def edges(v, low):
        """Cell edges halfway between the grid values, the outer ones as far out (not below ``low``)."""
        mid = (v[1:] + v[:-1]) / 2 if v.size > 1 else v + 0.5
        return np.concatenate([[max(low, 2 * v[0] - mid[0])], mid if v.size > 1 else [], [2 * v[-1] - mid[-1]]])

    x_edges, y_edges = edges(s2, 0.8), edges(depths, 0.0)
    mesh = ax1.pcolormesh(x_edges, y_edges, acc.mean(axis=2).T, cmap="viridis", vmin=0.0, vmax=1.0)
    fig.colorbar(mesh, ax=ax1, label="held-out accuracy (mean over seeds)")
    seeds = acc.shape[2]
    for i, x in enumerate(s2):
        for j, y in enumerate(depths):
            ax1.text(
                x,
                y,
                f"{round(frac[i, j] * seeds)}/{seeds}",
                ha="center",
                va="center",
                fontsize=7,
                color="white" if acc[i, j].mean() < 0.6 else "black",
            )
    fine, xi = np.asarray(d["curve_sigma_w2"], dtype=float), np.asarray(d["curve_xi_c"], dtype=float)
    top = y_edges[-1]
    for n, style in zip(d["lines"], ("--", "-")):
        ax1.plot(fine, np.minimum(n * xi, 10 * top), style, color="w", lw=2, label=f"{n:g} ξc (mean field)")
    ax1.axvline(d["critical_sigma_w2"], color="w", ls=":", lw=1, label=f"critical σw² {d['critical_sigma_w2']:.3f}")
    ax1.set(
        xlim=(x_edges[0], x_edges[-1]),
        ylim=(y_edges[0], top),
        xlabel="σw²",
        ylabel="depth L (tanh layers)",
        title=f"after {d['steps']} SGD steps; cells: seeds ≥ {d['threshold']} held out",
    )
    ax1.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=3, fontsize=8, facecolor="0.75")

    xi_grid = np.asarray(d["xi_c"], dtype=float)
    from matplotlib import colormaps

    colors = colormaps["plasma"](np.linspace(0.0, 0.85, s2.size))  # ordered (dark) to chaotic (light)
    for i, x in enumerate(s2):
        ratio = np.repeat(depths / xi_grid[i], seeds).reshape(len(depths), seeds)
        ax2.scatter(ratio.ravel(), acc[i].ravel(), s=14, alpha=0.7, color=colors[i], label=f"σw² = {x:g}")
        ax2.plot(depths / xi_grid[i], acc[i].mean(axis=1), color=colors[i], lw=1, alpha=0.8)
    for n, style in zip(d["lines"], ("--", "-")):
        ax2.axvline(n, color="k", ls=style, lw=1)
    ax2.axhline(d["threshold"], color="gray", ls=":", lw=1, label=f"trained: ≥ {d['threshold']}")
    ax2.axhline(0.1, color="gray", lw=0.6)
    ax2.set(
        xscale="log",
        xlabel="L / ξc   (lines: 2 ξc must train, 6 ξc must not)",
        ylabel="held-out accuracy",
        title=f"every network (width {d['width']}, lr {d['learning_rate']}, batch {d['batch']})",
        ylim=(0, 1),
    )
    ticks = [t for t in (0.1, 0.25, 0.5, 1, 2, 4, 6, 10, 20) if ax2.get_xlim()[0] <= t <= ax2.get_xlim()[1]]
    ax2.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax2.minorticks_off()
    ax2.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    return fig


def rezero(result: StudyResult) -> Figure:
    """Training loss of the plain residual net and ReZero (median and range over seeds) with the threshold,
    and every seed's speedup (steps to the threshold, plain / ReZero) against the verdict's factor."""
    d = result.data
    fig = Figure(figsize=(13, 4.6))
    ax1, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.3, 1]})
    colors = {"he_normal": "C3", "rezero": "C0"}
    styles = {b: "-" if b == max(d["blocks"]) else "--" for b in d["blocks"]}
    it = np.asarray(d["iterations"], dtype=float)
    for b in d["blocks"]:
        e = d["by_blocks"][str(b)]
        for arm in d["arms"]:
            loss = np.asarray(e["loss"][arm], dtype=float)
            ax1.fill_between(it, np.nanmin(loss, axis=0), np.nanmax(loss, axis=0), color=colors[arm], alpha=0.15, lw=0)
            ax1.plot(it, np.nanmedian(loss, axis=0), styles[b], color=colors[arm], lw=1.5,
                     label=f"{d['labels'][arm]}, {b} blocks")  # fmt: skip
    ax1.axhline(d["threshold"], color="k", ls=":", lw=1, label=f"threshold {d['threshold']:g}")
    ax1.axhline(d["chance"], color="gray", lw=0.8, label="ln 10 (chance)")
    ax1.set(yscale="log", xlabel="Adam step", ylabel="training loss (median, range over seeds)",
            title=f"digits, width {d['width']}, branches of {d['branch_depth']} layers, lr {d['learning_rate']:g}, "
                  f"batch {d['batch']}")  # fmt: skip
    ax1.legend(fontsize=7, loc="upper right")
    rng = np.random.default_rng(0)  # jitter only
    for i, b in enumerate(d["blocks"]):
        e = d["by_blocks"][str(b)]
        ratio = np.asarray(e["speedup"], dtype=float)
        censored = np.asarray(e["plain_censored"], dtype=bool)
        x = i + rng.uniform(-0.12, 0.12, ratio.size)
        ax2.scatter(x[~censored], ratio[~censored], s=22, color="C0", label="reached by both" if i == 0 else None)
        ax2.scatter(x[censored], ratio[censored], s=30, marker="^", facecolors="none", edgecolors="C0",
                    label=f"plain never reached it: ≥ ({d['steps']} steps / ReZero's)" if i == 0 else None)  # fmt: skip
    ax2.axhline(d["factor"], color="k", ls="--", lw=1, label=f"the line: {d['factor']:g}x")
    ax2.axhline(15.0, color="gray", ls=":", lw=1, label='paper (v1 abstract): "1,500% faster", ~15x')
    ax2.axhline(1.0, color="gray", lw=0.6)
    ax2.set_xticks(range(len(d["blocks"])), [f"{b} blocks" for b in d["blocks"]])
    ax2.set(yscale="log", xlim=(-0.6, len(d["blocks"]) - 0.4), ylabel=f"steps to loss ≤ {d['threshold']:g}: plain / ReZero",
            title="speedup per seed (paired: same matrices, same minibatches)")  # fmt: skip
    ax2.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


def fixup(result: StudyResult) -> Figure:
    """At initialization, the trunk's second moment per block and the first-layer gradient per depth (he, fixup,
    layernorm, with the closed forms), and the held-out accuracy of every trained seed with the verdict's lines."""
    from ..stats import mean_ci

    d = result.data
    nets, colors = d["nets"], {"he": "C3", "fixup": "C2", "layernorm": "C0"}
    fig = Figure(figsize=(15, 4.4))
    ax1, ax2, ax3 = fig.subplots(1, 3)
    for name in nets:
        q = np.asarray(d[f"init/{name}"]["q"], dtype=float)  # (seeds, B + 1)
        blocks = np.arange(q.shape[1])
        ax1.semilogy(blocks, np.median(q, axis=0), color=colors[name], lw=1.6, label=name)
        ax1.fill_between(blocks, q.min(axis=0), q.max(axis=0), color=colors[name], alpha=0.15, lw=0)
    q0 = float(np.median(np.asarray(d["init/he"]["q"], dtype=float)[:, 0]))
    blocks = np.arange(max(d["init_blocks"]) + 1)
    ax1.semilogy(blocks, q0 * 3.0**blocks, "k--", lw=0.8, label="E q_b = 3^b q_0 (he)")
    ax1.semilogy(blocks, q0 + 2.0 * blocks, "k:", lw=0.8, label="E q_b = q_0 + 2b (pre-LN)")
    ax1.set(xlabel="block b", ylabel="trunk second moment q_b (median, range over seeds)",
            title=f"at initialization: width {d['width']}, branches of {d['branch_depth']} layers")  # fmt: skip
    ax1.legend(fontsize=8)
    for name in nets:
        grad = np.asarray(d[f"init/{name}"]["grad"], dtype=float)  # (seeds, depths)
        ax2.semilogy(d["init_blocks"], np.median(grad, axis=0), "o-", color=colors[name], ms=4, lw=1.4, label=name)
    ax2.set(xlabel="blocks B (a net per point)", ylabel="mean square of dW_in (median over seeds)",
            title="first-layer gradient at initialization")  # fmt: skip
    ax2.text(0.98, 0.45, "fixup: with the head its stream drew\n(its own zero head passes no gradient)",
             transform=ax2.transAxes, ha="right", va="center", fontsize=7)  # fmt: skip
    ax2.legend(fontsize=8)
    rng = np.random.default_rng(0)  # jitter only
    ticks, labels = [], []
    for g, blocks in enumerate(d["train_blocks"]):
        for j, name in enumerate(nets):
            e = d[f"train/{blocks}/{name}"]
            acc, x = np.asarray(e["test_accuracy"], dtype=float), 4 * g + j
            ax3.scatter(x + rng.uniform(-0.15, 0.15, acc.size), acc, s=12, color=colors[name], alpha=0.7)
            est = mean_ci(acc)
            ax3.errorbar(x + 0.3, est.mean, yerr=est.half_width, fmt="o", color=colors[name], capsize=3, ms=4)
            ticks.append(x)
            diverged = int(np.sum(np.asarray(e["diverged"], dtype=bool)))
            labels.append(f"{name}\nB={blocks}" + (f"\n{diverged} div." if diverged else ""))
        ln = float(np.mean(np.asarray(d[f"train/{blocks}/layernorm"]["test_accuracy"], dtype=float)))
        ax3.hlines(ln - d["delta"], 4 * g - 0.4, 4 * g + 2.6, colors="k", linestyles="--", lw=1,
                   label=f"layernorm's mean - {d['delta']:g} points" if g == 0 else None)  # fmt: skip
    ax3.axhline(100 * d["trained"], color="gray", ls=":", lw=0.8, label=f"trained: ≥ {100 * d['trained']:g}%")
    ax3.axhline(10, color="gray", lw=0.6)
    ax3.set_xticks(ticks, labels, fontsize=7)
    ax3.set(ylim=(0, 100), ylabel="held-out accuracy % (mean, 95% CI)",
            title=f"momentum {d['momentum']:g}, lr {d['learning_rate']:g}, {d['steps']} updates of {d['batch']}")  # fmt: skip
    ax3.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


def dynamical_isometry(result: StudyResult) -> Figure:
    """The singular values of the Jacobian at every depth (histograms, log axis, the line at 1) for the four
    kinds, and their relative spread against depth with the paper's infinite-width line."""
    d = result.data
    kinds, depths = d["kinds"], d["depths"]
    fig = Figure(figsize=(14, 6.4))
    grid = fig.add_gridspec(2, len(kinds) + 1, width_ratios=[1] * len(kinds) + [1.4])
    bins = np.logspace(-4, 2, 61)
    for i, kind in enumerate(kinds):
        for row, depth in enumerate((depths[0], depths[-1])):
            ax = fig.add_subplot(grid[row, i])
            s = np.asarray(d["spectra"][f"{kind}/{depth}"], dtype=float)
            ax.hist(np.clip(s, bins[0], bins[-1]), bins=bins, color=f"C{i}", alpha=0.85)
            ax.axvline(1.0, color="k", lw=0.8)
            ax.set_xscale("log")
            ax.set_title(f"{kind}, depth {depth}", fontsize=9)
            ax.tick_params(labelsize=7)
            if row == 1:
                ax.set_xlabel("singular value s of J", fontsize=8)
    ax = fig.add_subplot(grid[:, -1])
    for i, kind in enumerate(kinds):
        color = f"C{i}"
        spread = [np.asarray(d["spread"][f"{kind}/{L}"], dtype=float) for L in depths]
        ax.plot(depths, [x.mean() for x in spread], "o-", color=color, label=kind)
        ax.fill_between(depths, [x.min() for x in spread], [x.max() for x in spread], color=color, alpha=0.15, lw=0)
        ax.plot(depths, [max(d["theory"][f"{kind}/{L}"], 1e-3) for L in depths], ":", color=color, lw=1)
    ax.axhline(d["width"] - 1, color="gray", lw=0.8, ls="--", label=f"cap N - 1 = {d['width'] - 1}")
    ax.set(xscale="log", yscale="log", xlabel="depth L", ylabel="Var(λ)/⟨λ⟩², λ = s²",
           title=f"spread, width {d['width']} (dotted: theory, N → ∞)")  # fmt: skip
    ax.set_xticks(depths, [str(L) for L in depths])
    ax.minorticks_off()
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def mup_lr_transfer(result: StudyResult) -> Figure:
    """Training loss after the budget against log2 of the learning rate, one curve per width (seed mean; the
    seeds as dots), standard | muP side by side, each width's best rate marked (TP5's MLP figure), the dotted
    line at the reported left-flank level."""
    d = result.data
    x = np.asarray(d["log2_lrs"], dtype=float)
    widths = d["widths"]
    colors = [f"C{i}" for i in range(len(widths))]
    fig = Figure(figsize=(12, 4.6))
    axes = fig.subplots(1, 2, sharey=True)
    for ax, p in zip(axes, d["parametrizations"]):
        for n, color in zip(widths, colors):
            mean = np.asarray([np.nan if v is None else v for v in d["mean_loss"][f"{p}/{n}"]], dtype=float)
            mean[~np.isfinite(mean)] = np.nan  # a diverged seed: no point
            seeds = np.asarray(d["seed_loss"][f"{p}/{n}"], dtype=float)
            for row in seeds:
                ax.plot(x, row, ".", color=color, ms=3, alpha=0.5)
            ax.plot(x, mean, "-", color=color, lw=1.6, label=f"width {n}")
            best = d["best_log2_lr"][f"{p}/{n}"]
            if best is not None:
                ax.plot([best], [mean[list(x).index(best)]], "*", color=color, ms=14, mec="k", mew=0.6)
        ax.axhline(d["reach_level"], color="gray", ls=":", lw=1)  # the reported left-flank level
        name = "standard (SP)" if p == "standard" else f"muP (base width {d['base_width']})"
        ax.set(xlabel="log2 learning rate", yscale="log", title=f"{name}: {d['steps']} SGD steps, batch {d['batch']}")
        ax.set_xticks(x[::2])
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("training loss after the budget (★ best per width)")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    return fig


def mup_coord_check(result: StudyResult) -> Figure:
    """TP5's coordinate check: mean |activation| of every layer and of the logits against width (log-log), one line
    per step (seeds as bands), standard above, muP below."""
    from .figures import coord_check_panels

    d = result.data
    rows = {("standard" if p == "standard" else f"muP (base {d['base_width']})"): np.asarray(d["size"][p], dtype=float)
            for p in d["parametrizations"]}  # fmt: skip
    title = (f"Coordinate check: {d['optimizer']} lr {d['learning_rate']:g}, {len(d['layers']) - 1} hidden ReLU layers, "
             f"{result.seeds} seeds (flat: width-independent; slope > 0: blows up with width)")  # fmt: skip
    return coord_check_panels(d["widths"], rows, d["layers"], title=title)


def hanin_rolnick(result: StudyResult) -> Figure:
    """Var(log ||h_L||^2) against beta, one marker per width with its 95 % interval, the 5 beta line and
    each width's exact finite-width line; the distributions at the largest beta; the training curves."""
    d = result.data
    betas, widths = [float(b) for b in d["betas"]], d["widths"]
    fig = Figure(figsize=(15, 4.6))
    ax1, ax2, ax3 = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1.1, 1, 1.1]})
    fine = np.linspace(0.0, max(betas) * 1.05, 50)
    ax1.plot(fine, 5 * fine, "k-", lw=1, label="5β (infinite width)")
    for i, n in enumerate(widths):
        keys = [f"{n}/{b:g}" for b in betas]
        v = np.array([d["variance"][k] for k in keys], dtype=float)
        err = 1.96 * np.array([d["variance_se"][k] for k in keys], dtype=float)
        ax1.errorbar(betas, v, yerr=err, fmt="os^D"[i % 4], color=f"C{i}", ms=6, capsize=3,
                     label=f"width {n} (depths {', '.join(str(round(b * n)) for b in betas)})")  # fmt: skip
        ax1.plot(betas, [d["theory"][k] for k in keys], ":", color=f"C{i}", lw=1)
    ax1.set(xlabel="β = Σ_l 1/n_l", ylabel="Var over nets of log ‖h_L‖²",
            title="He ReLU nets, one input (dotted: exact theory)")  # fmt: skip
    ax1.legend(fontsize=8)
    top = f"{max(betas):g}"
    for i, n in enumerate(widths):
        x = np.asarray(d["log_sq"][f"{n}/{top}"], dtype=float)
        x = x[np.isfinite(x)]
        ax2.hist(x - x.mean(), bins=60, histtype="step", density=True, color=f"C{i}", lw=1.4,
                 label=f"width {n}, depth {round(max(betas) * n)}")  # fmt: skip
    ax2.set(xlabel="log ‖h_L‖² minus its mean", ylabel="density", title=f"β = {top}: one distribution")
    ax2.legend(fontsize=8)
    every = int(d["record_every"])
    for j, b in enumerate(d["train_betas"]):
        loss = np.asarray(d["train_loss"][f"{b:g}"], dtype=float)  # (seeds, records + 1)
        steps = np.append(np.arange(loss.shape[1] - 1) * every, d["updates"])
        depth = round(float(b) * d["train_width"])
        for k, row in enumerate(loss):
            ax3.plot(steps, row, color=f"C{j + 3}", lw=0.8, alpha=0.6,
                     label=f"β = {b:g} (depth {depth}, width {d['train_width']})" if k == 0 else None)  # fmt: skip
    ax3.axhline(LN2, color="gray", ls="--", lw=0.8, label="ln 2")
    ax3.set(yscale="log", xlabel="update", ylabel="training loss (circles)", title="training, one line per seed")
    ax3.legend(fontsize=8)
    fig.tight_layout()
    return fig


FIGURES = {
    "notebook-seeds": notebook_seeds,
    "edge-of-chaos": edge_of_chaos,
    "glorot2010": glorot2010,
    "he2015": he2015,
    "saxe2013": saxe2013,
    "lsuv": lsuv,
    "trainability-depth": trainability_depth,
    "fixup": fixup,
    "rezero": rezero,
    "dynamical-isometry": dynamical_isometry,
    "hanin-rolnick": hanin_rolnick,
    "mup-coord-check": mup_coord_check,
    "mup-lr-transfer": mup_lr_transfer,
}
