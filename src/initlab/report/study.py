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

from ..studies.base import Study, StudyResult, result_dict
from . import html, write_files
from .figures import COLORS, png_bytes  # first: selects the Agg backend

import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

__all__ = ["FIGURES", "files", "figure", "index_html", "study_folders", "write", "write_index", "write_result"]

LN2 = math.log(2.0)


def figure(result: StudyResult) -> Figure:
    """The figure of ``result``'s study."""
    return FIGURES[result.study](result)


def files(study: Study, result: StudyResult) -> dict[str, bytes]:
    """``figure.png``, ``result.json`` and a self-contained ``report.html`` (the figure embedded)."""
    png = png_bytes(figure(result))
    body = (
        f"<h1>{html.escape(study.name)}</h1><p class=\"meta\">{html.escape(study.paper)}</p>"
        f"<p><b>Claim.</b> {html.escape(study.claim)}</p>"
        f"<p class=\"note\" id=\"verdict\"><b>Verdict:</b> {html.escape(str(result.verdict))}</p>"
        + html.table(result.header, result.rows, id="evidence")
        + html.image(png, study.name)
        + f"<p class=\"meta\">size {result.size}, {result.seeds} seeds, {result.wall_time:.1f} s of compute</p>"
        + f"<h2>Setup</h2><pre>{html.escape(_setup(study.doc))}</pre>"
    )
    return {
        "figure.png": png,
        "result.json": json.dumps(result_dict(study, result), indent=2).encode(),
        "report.html": html.page(f"initlab study {study.name}", body).encode(),
    }


def _setup(doc: str) -> str:
    """The Setup and Verdict sections of a study's docstring."""
    start = doc.find("Setup\n-----")
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
                rows.append([f"{study.name} ({s['size']})", study.paper, "unfinished", "", str(s["seeds"]), "", sub.name])
                cards.append(f'<div class="card"><h3>{html.escape(study.name)}</h3><p class="note">{html.escape(str(exc))}</p></div>')
                continue
        word = "SUPPORTED" if result.verdict.supported else "NOT SUPPORTED"
        rows.append([f"{study.name} ({s['size']})", study.paper, word, f"{result.verdict.margin:+.3g}", str(result.seeds),
                     f"{result.wall_time:.0f} s", page])
        png = (sub / "figure.png").read_bytes() if (sub / "figure.png").is_file() else png_bytes(figure(result))
        cards.append(
            f'<div class="card" id="card-{html.escape(sub.name)}"><h3><a href="{html.escape(page)}">'
            f"{html.escape(study.name)}</a> <span class=\"meta\">({html.escape(s['size'])})</span></h3>"
            f"<p><b>{word}</b> (margin {result.verdict.margin:+.3g}). {html.escape(study.claim)}</p>"
            + html.image(png, study.name) + "</div>"
        )
    body = (
        "<h1>initlab studies</h1><p class=\"meta\">Published claims on initialization, each run over several seeds "
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
        ax1.scatter([i], [acc[d["notebook_seed"]]], s=80, facecolor="none", edgecolor="k", label=f"seed {d['notebook_seed']}" if i == 0 else None)
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
    """Activation and gradient std per layer (unit-variance inputs), and both ratios against the input scale."""
    d = result.data
    fig = Figure(figsize=(14, 3.8))
    ax1, ax2, ax3 = fig.subplots(1, 3)
    layers = np.arange(1, d["hidden"] + 1)
    for name, color in (("standard", "C3"), ("xavier", "C0")):
        for ax, key in ((ax1, "a_std"), (ax2, "dz_std")):
            v = np.asarray(d[name][key])
            ax.plot(layers, v.T, color=color, alpha=0.25, lw=0.8)
            ax.plot(layers, v.mean(axis=0), "o-", color=color, lw=2, label=name)
        scan = np.asarray(d["scan"], dtype=float)
        for key, ls, what in (("act_log2_ratio", "o-", "activations A5/A1"), ("grad_log2_ratio", "s--", "gradients dZ1/dZ5")):
            ratio = [2 ** d[f"{name}/{x:g}"][key]["mean"] for x in scan]
            ax3.plot(scan, ratio, ls, color=color, label=f"{name}: {what}")
    ax1.set_title(f"activation std per layer (tanh, width {d['width']})")
    ax2.set_title("back-propagated gradient std dL/dz")
    for ax in (ax1, ax2):
        ax.set_yscale("log")
        ax.set_xlabel("hidden layer")
        ax.set_xticks(layers)
        ax.legend()
    ax3.axhspan(0.5, 2.0, color="0.9", zorder=0, label="roughly flat: [1/2, 2]")
    ax3.axvline(d["input_std"], color="k", ls=":", lw=0.8)
    ax3.set(xscale="log", yscale="log", xlabel="input std (the verdict's: dotted)", title="ratio over 5 layers vs input scale")
    ax3.legend(fontsize=7)
    fig.tight_layout()
    return fig


def he2015(result: StudyResult) -> Figure:
    """Var Z per layer at initialization, and the training loss of every seed, per depth and init."""
    d = result.data
    fig = Figure(figsize=(11, 3.8))
    ax1, ax2 = fig.subplots(1, 2)
    for depth, ls in zip(d["depths"], ("--", "-")):
        for init, color in zip(d["inits"], ("C0", "C3")):
            e = d[f"{depth}/{init}"]
            z = np.asarray(e["z_std"], dtype=float) ** 2
            layers = np.arange(1, z.shape[1] + 1)
            ax1.semilogy(layers, np.exp(np.log(z).mean(axis=0)), ls, color=color, label=f"{init}, {depth} layers")
            loss = np.asarray(e["loss"], dtype=float)
            ax2.plot(e["iterations"], loss.T, ls, color=color, alpha=0.5, lw=0.9)
            ax2.plot([], [], ls, color=color, label=f"{init}, {depth} layers")
    ax1.set_xlabel("layer")
    ax1.set_title("Var Z at initialization (geometric mean over seeds)")
    ax1.legend(fontsize=8)
    ax2.axhline(LN2, color="gray", lw=0.8)
    ax2.set_xlabel("iteration")
    ax2.set_title(f"training loss, ReLU width {d['width']}, lr {d['learning_rate']}")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    return fig


def saxe2013(result: StudyResult) -> Figure:
    """Steps to the loss threshold against depth (every seed and the median), and seed 0's loss curves."""
    d = result.data
    fig = Figure(figsize=(11, 3.8))
    ax1, ax2 = fig.subplots(1, 2)
    depths = np.asarray(d["depths"])
    for (name, color) in (("orthogonal", "C0"), ("gaussian", "C3")):
        st = np.asarray(d["steps"][name], dtype=float)
        ax1.plot(depths, st.T, color=color, alpha=0.3, lw=0.8)
        ax1.plot(depths, np.median(st, axis=0), "o-", color=color, lw=2, label=f"{name} (median)")
        for D in depths:
            loss = np.asarray(d["curves"][f"{name}/{D}"], dtype=float)
            ax2.semilogy(loss, color=color, alpha=0.3 + 0.7 * D / depths.max(), lw=1)
        ax2.plot([], [], color=color, label=name)
    ax1.axhline(d["max_steps"], color="gray", ls=":", lw=0.8, label="cap")
    ax1.set_xscale("log", base=2)
    ax1.set_yscale("log")
    ax1.set_xlabel("depth D")
    ax1.set_ylabel(f"steps to {d['threshold']:.0%} of the zero map's loss")
    ax1.legend()
    ax2.set_xlabel("step")
    ax2.set_title("loss, seed 0 (darker = deeper)")
    ax2.legend()
    fig.tight_layout()
    return fig


def lsuv(result: StudyResult) -> Figure:
    """Var Z per layer under orthogonal init and after LSUV, and the ReLU net's training loss."""
    d = result.data
    fig = Figure(figsize=(11, 3.8))
    ax1, ax2 = fig.subplots(1, 2)
    for activation, ls in (("relu", "-"), ("tanh", "--")):
        for name, color in (("orthogonal", "C3"), ("lsuv", "C2")):
            var = np.asarray(d[f"{activation}/{name}"]["var"], dtype=float)
            ax1.semilogy(np.arange(1, var.shape[1] + 1), np.median(var, axis=0), ls, color=color,
                         label=f"{activation}, {name}")
    ax1.set_xlabel("layer")
    ax1.set_title(f"Var Z at initialization (median over seeds), width {d['width']}")
    ax1.legend(fontsize=8)
    for name, color in (("orthogonal", "C3"), ("lsuv", "C2")):
        e = d[f"relu/{name}"]
        ax2.plot(e["iterations"], np.asarray(e["loss"], dtype=float).T, color=color, alpha=0.5, lw=0.9)
        ax2.plot([], [], color=color, label=name)
    ax2.axhline(LN2, color="gray", lw=0.8)
    ax2.set_xlabel("iteration")
    ax2.set_title(f"training loss, ReLU, {d['depth']} layers, lr {d['learning_rate']}")
    ax2.legend()
    fig.tight_layout()
    return fig


FIGURES = {
    "notebook-seeds": notebook_seeds,
    "edge-of-chaos": edge_of_chaos,
    "glorot2010": glorot2010,
    "he2015": he2015,
    "saxe2013": saxe2013,
    "lsuv": lsuv,
}
