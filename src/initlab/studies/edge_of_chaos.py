r"""edge-of-chaos: Schoenholz, Gilmer, Ganguli & Sohl-Dickstein 2017, "Deep Information Propagation".

Claim
-----
For tanh networks with :math:`\sigma_b^2 = 0.05`, mean-field theory puts the order-to-chaos
transition (:math:`\chi_1 = 1`) at :math:`\sigma_w^2 \approx 1.76`, where the correlation depth
scale :math:`\xi_c` diverges; and the correlation of two inputs' representations in wide random
networks follows the mean-field correlation map layer by layer (to 1 in the ordered phase, to
:math:`c^* < 1` in the chaotic one).

Setup
-----
:mod:`initlab.meanfield` computes :math:`q^*`, :math:`\chi_1`, :math:`\xi_c` on a grid of
:math:`\sigma_w^2 \in [1, 4]` and the critical :math:`\sigma_w^2` by root-finding. Empirically:
random tanh networks of width N (1000 quick, 2000 default; at 400 finite-width
fluctuations alone reach the tolerance in the chaotic phase), :math:`W \sim N(0, \sigma_w^2/N)`,
:math:`b \sim N(0, \sigma_b^2)`, 16 pairs of inputs with correlation 0.6; the correlation
:math:`c^l = \langle h_1, h_2\rangle / (|h_1| |h_2|)` of their pre-activations at every layer, for
an ordered (1.2), the critical and a chaotic (3.0) :math:`\sigma_w^2`, over several seeds,
against :func:`initlab.meanfield.propagate` started from each network's measured layer-1 moments.

Verdict
-------
SUPPORTED when (1) the computed critical point is within 0.02 of the published 1.76, (2) the
largest :math:`\xi_c` of the grid sits at the grid point nearest the critical point and (3) for
each :math:`\sigma_w^2` the mean-field curve is an unbiased description of the networks: the
95 % interval (over seeds) of the signed deviation :math:`\overline{c^l_{emp} - c^l_{MF}}`
(averaged over layers) lies within ±0.05, and the last layer's mean correlation moved from the
inputs' 0.6 the way the theory says (up in the ordered phase, down in the chaotic one). (A
per-network absolute deviation would measure finite-width noise, about
:math:`(1 - c^2)/\sqrt{N}` per layer, not the theory.) The margin is the smallest
slack of the three, in their own units.
"""

from __future__ import annotations

import math
import time

import numpy as np

from initlab import meanfield as mf
from initlab.stats import mean_ci
from initlab.studies.base import Study, StudyResult, Verdict, fmt_ci

SIGMA_B2 = 0.05
PUBLISHED_CRITICAL = 1.76
TOLERANCE = 0.02  # on the critical sigma_w^2
MAX_BIAS = 0.05  # |mean over seeds of the layer-averaged c_emp - c_MF|
START_CORRELATION = 0.6
PAIRS = 16  # input pairs per network
SIZES = {"quick": dict(grid_points=13, width=1000, depth=15), "default": dict(grid_points=31, width=2000, depth=30)}


def empirical_correlations(sigma_w2: float, sigma_b2: float, *, width: int, depth: int, seeds: int, rng,
                           pairs: int = PAIRS) -> tuple[np.ndarray, np.ndarray]:
    """Correlations of two inputs' pre-activations per layer in ``seeds`` random tanh nets, and the mean-field prediction.

    Each network carries ``pairs`` independent input pairs (unit variance per coordinate,
    correlation ``START_CORRELATION``); a network's correlation at a layer is the mean over its
    pairs, which averages out most of the finite-width noise at no extra cost (drawing the
    weights is the cost). The prediction starts from the network's measured layer-1 moments.

    Returns
    -------
    emp, pred : (seeds, depth) arrays; column l is layer l + 1.
    """
    rng = np.random.default_rng(rng)
    N = width
    U, _ = np.linalg.qr(rng.standard_normal((N, 2 * pairs)))  # orthonormal directions, (N, 2P)
    U *= math.sqrt(N)  # unit variance per coordinate
    first, second = U[:, 0::2], U[:, 1::2]
    X = np.empty((N, 2 * pairs))
    X[:, 0::2] = first
    X[:, 1::2] = START_CORRELATION * first + math.sqrt(1 - START_CORRELATION**2) * second
    emp = np.empty((seeds, depth))
    pred = np.empty((seeds, depth))
    for s, stream in enumerate(rng.spawn(seeds)):
        A = X
        for l in range(depth):
            # float32: drawing the N x N weights is the cost; the correlations need no more precision.
            W = stream.standard_normal((N, N), dtype=np.float32) * np.float32(math.sqrt(sigma_w2 / N))
            b = stream.standard_normal((N, 1)) * math.sqrt(sigma_b2)
            H = (W @ A.astype(np.float32)).astype(np.float64) + b  # (N, 2P) pre-activations of layer l + 1
            q11 = (H[:, 0::2] ** 2).mean(axis=0)  # (P,) empirical second moments
            q22 = (H[:, 1::2] ** 2).mean(axis=0)
            q12 = (H[:, 0::2] * H[:, 1::2]).mean(axis=0)
            emp[s, l] = np.mean(q12 / np.sqrt(q11 * q22))
            if l == 0:
                pred[s] = mf.propagate(q11.mean(), q22.mean(), emp[s, 0], depth - 1, sigma_w2, sigma_b2, "tanh").c
            A = np.tanh(H)
    return emp, pred


def run(size: str = "default", seeds: int = 10, rng=0) -> StudyResult:
    t0 = time.perf_counter()
    cfg = SIZES[size]
    grid = np.linspace(1.0, 4.0, cfg["grid_points"])
    q = np.array([mf.q_star(s, SIGMA_B2) for s in grid])
    chi = np.array([mf.chi1(s, SIGMA_B2) for s in grid])
    xi = np.array([mf.xi_c(s, SIGMA_B2) for s in grid])
    critical = mf.critical_sigma_w2(SIGMA_B2)
    nearest = float(grid[np.argmin(np.abs(grid - critical))])
    peak = float(grid[np.nanargmax(np.where(np.isfinite(xi), xi, np.inf))])

    header = ["sigma_w^2", "phase", "q*", "chi_1", "xi_c", "mean c_emp - c_MF (95% CI)", "c at last layer: emp / MF"]
    rows, criteria, empirical = [], [], {}
    streams = np.random.SeedSequence(rng).spawn(3)
    for label, s2, stream in zip(("ordered", "critical", "chaotic"), (1.2, critical, 3.0), streams):
        emp, pred = empirical_correlations(s2, SIGMA_B2, width=cfg["width"], depth=cfg["depth"], seeds=seeds, rng=stream)
        dev = mean_ci((emp - pred).mean(axis=1))
        empirical[label] = {"sigma_w2": s2, "emp": emp, "pred": pred}
        rows.append([f"{s2:.3f}", label, f"{mf.q_star(s2, SIGMA_B2):.4f}", f"{mf.chi1(s2, SIGMA_B2):.4f}",
                     f"{mf.xi_c(s2, SIGMA_B2):.3g}", fmt_ci(dev), f"{emp[:, -1].mean():.3f} / {pred[:, -1].mean():.3f}"])
        worst = max(abs(dev.low), abs(dev.high))
        criteria.append((f"{label}: 95% CI of the mean deviation [{dev.low:+.3f}, {dev.high:+.3f}] within ±{MAX_BIAS}",
                         MAX_BIAS - worst))
        if label != "critical":
            sign = 1.0 if label == "ordered" else -1.0
            moved = sign * (emp[:, -1].mean() - START_CORRELATION)
            criteria.append((f"{label}: last-layer correlation moved {'up' if sign > 0 else 'down'} from "
                             f"{START_CORRELATION} to {emp[:, -1].mean():.3f}", moved))
    criteria.insert(0, (f"critical sigma_w^2 {critical:.4f} within {TOLERANCE} of {PUBLISHED_CRITICAL}",
                        TOLERANCE - abs(critical - PUBLISHED_CRITICAL)))
    step = grid[1] - grid[0]
    criteria.insert(1, (f"xi_c peaks at {peak:.3f}, the grid point nearest the critical one ({nearest:.3f})",
                        step / 2 - abs(peak - nearest)))
    data = {"sigma_b2": SIGMA_B2, "grid": grid, "q_star": q, "chi1": chi, "xi_c": xi, "critical_sigma_w2": critical,
            "empirical": empirical, **cfg}
    return StudyResult("edge-of-chaos", size, seeds, header, rows, Verdict.all_of(criteria), data,
                       time.perf_counter() - t0)


def figure(result: StudyResult):
    from matplotlib.figure import Figure

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


STUDY = Study(
    name="edge-of-chaos",
    paper="Schoenholz, Gilmer, Ganguli & Sohl-Dickstein 2017, Deep Information Propagation (ICLR)",
    claim="For tanh at σb² = 0.05 the order-to-chaos transition (χ1 = 1) is at σw² ≈ 1.76, where ξc diverges, "
          "and two inputs' correlation in wide random nets follows the mean-field map layer by layer.",
    run=run,
    figure=figure,
    default_seeds={"quick": 4, "default": 10},
    doc=__doc__,
)
