r"""edge-of-chaos: Schoenholz, Gilmer, Ganguli & Sohl-Dickstein 2017, "Deep Information Propagation".

Claim
-----
For tanh networks with :math:`\sigma_b^2 = 0.05`, mean-field theory puts the order-to-chaos
transition (:math:`\chi_1 = 1`) at :math:`\sigma_w^2 \approx 1.76`, where the correlation depth
scale :math:`\xi_c` diverges; and the correlation of two inputs' representations in wide random
networks follows the mean-field correlation map layer by layer (to 1 in the ordered phase, to
:math:`c^* < 1` in the chaotic one).

This is the theory half of the paper (its secs. 2-3 and fig. 1, with Poole et al. 2016): the
depth scale at initialization. The paper's main empirical claim, that networks train only where
their depth is below about :math:`6\xi_c` (its sec. 5, figs. 5-6), is the study
``trainability-depth``.

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

import functools
import math

import numpy as np

from initlab import meanfield as mf
from initlab import seeding
from initlab.stats import mean_ci
from initlab.studies.base import (
    Measured,
    Study,
    StudyResult,
    Unit,
    Verdict,
    against,
    chunks,
    fmt_ci,
    inside,
)

SIGMA_B2 = 0.05
PUBLISHED_CRITICAL = 1.76
TOLERANCE = 0.02  # on the critical sigma_w^2
MAX_BIAS = 0.05  # |mean over seeds of the layer-averaged c_emp - c_MF|
START_CORRELATION = 0.6
PAIRS = 16  # input pairs per network
SIZES = {"quick": dict(grid_points=13, width=1000, depth=15), "default": dict(grid_points=31, width=2000, depth=30)}


PHASES = ("ordered", "critical", "chaotic")
CHUNK = 2  # seeds per unit


def sigma_w2_of(phase: str) -> float:
    """The weight variance measured in each phase: 1.2, the critical point, 3.0."""
    return {"ordered": 1.2, "chaotic": 3.0}.get(phase) or _critical()


@functools.lru_cache(maxsize=1)
def _critical() -> float:
    """The critical sigma_w^2 at SIGMA_B2 (a root-finding, ~0.3 s): once per process, not once per unit."""
    return mf.critical_sigma_w2(SIGMA_B2)


def input_pairs(width: int, rng, pairs: int = PAIRS) -> np.ndarray:
    """``pairs`` input pairs, (width, 2 * pairs): unit variance per coordinate, correlation ``START_CORRELATION``."""
    rng = np.random.default_rng(rng)
    U, _ = np.linalg.qr(rng.standard_normal((width, 2 * pairs)))  # orthonormal directions, (N, 2P)
    U *= math.sqrt(width)  # unit variance per coordinate
    first, second = U[:, 0::2], U[:, 1::2]
    X = np.empty((width, 2 * pairs))
    X[:, 0::2] = first
    X[:, 1::2] = START_CORRELATION * first + math.sqrt(1 - START_CORRELATION**2) * second
    return X


def empirical_correlations(
    sigma_w2: float, sigma_b2: float, X: np.ndarray, *, depth: int, streams: list
) -> tuple[np.ndarray, np.ndarray]:
    """Correlations of two inputs' pre-activations per layer in random tanh nets, and the mean-field prediction.

    Each network carries the input pairs ``X`` (:func:`input_pairs`); a network's correlation at
    a layer is the mean over its pairs, which averages out most of the finite-width noise at no
    extra cost (drawing the weights is the cost). The prediction starts from the network's
    measured layer-1 moments.

    Parameters
    ----------
    X : (N, 2P) input pairs, the width N being the network's
    streams : one seed stream per network (K)

    Returns
    -------
    emp, pred : (K, depth) arrays; column l is layer l + 1.
    """
    N = X.shape[0]
    emp = np.empty((len(streams), depth))
    pred = np.empty((len(streams), depth))
    for s, stream in enumerate(streams):
        stream = np.random.default_rng(stream)
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


def plan(size: str, seeds: int) -> list[Unit]:
    return chunks(({"phase": p} for p in PHASES), seeds, CHUNK)


def measure(size: str, unit: Unit, root: int) -> dict:
    """The inputs come from ``seeding.stream(root, 0)``; seed s's network in phase i from ``seeding.stream(root, 1 + i, s)``."""
    cfg = SIZES[size]
    phase = unit.config["phase"]
    X = input_pairs(cfg["width"], seeding.stream(root, 0))
    streams = seeding.streams(root, unit.seeds, 1 + PHASES.index(phase))
    emp, pred = empirical_correlations(sigma_w2_of(phase), SIGMA_B2, X, depth=cfg["depth"], streams=streams)
    return {"emp": emp, "pred": pred}


def reduce(size: str, seeds: int, measured: Measured) -> StudyResult:
    cfg = SIZES[size]
    grid = np.linspace(1.0, 4.0, cfg["grid_points"])
    q = np.array([mf.q_star(s, SIGMA_B2) for s in grid])
    chi = np.array([mf.chi1(s, SIGMA_B2) for s in grid])
    xi = np.array([mf.xi_c(s, SIGMA_B2) for s in grid])
    critical = _critical()
    nearest = float(grid[np.argmin(np.abs(grid - critical))])
    peak = float(grid[np.nanargmax(np.where(np.isfinite(xi), xi, np.inf))])

    header = ["sigma_w^2", "phase", "q*", "chi_1", "xi_c", "mean c_emp - c_MF (95% CI)", "c at last layer: emp / MF"]
    rows, criteria, empirical = [], [], {}
    for label in PHASES:
        s2 = sigma_w2_of(label)
        emp, pred = (measured[{"phase": label}][k] for k in ("emp", "pred"))
        dev = mean_ci((emp - pred).mean(axis=1))
        empirical[label] = {"sigma_w2": s2, "emp": emp, "pred": pred}
        rows.append(
            [
                f"{s2:.3f}",
                label,
                f"{mf.q_star(s2, SIGMA_B2):.4f}",
                f"{mf.chi1(s2, SIGMA_B2):.4f}",
                f"{mf.xi_c(s2, SIGMA_B2):.3g}",
                fmt_ci(dev),
                f"{emp[:, -1].mean():.3f} / {pred[:, -1].mean():.3f}",
            ]
        )
        worst = max(abs(dev.low), abs(dev.high))
        criteria.append(
            (
                inside(f"{label}: 95% CI of the mean deviation", dev.low, dev.high, -MAX_BIAS, MAX_BIAS, fmt="+.3f"),
                MAX_BIAS - worst,
            )
        )
        if label != "critical":
            sign = 1.0 if label == "ordered" else -1.0
            moved = sign * (emp[:, -1].mean() - START_CORRELATION)
            criteria.append(
                (
                    against(
                        f"{label}: last-layer correlation",
                        emp[:, -1].mean(),
                        START_CORRELATION,
                        above=sign > 0,
                        fmt=".3f",
                        name=f"start ({'up' if sign > 0 else 'down'})",
                    ),
                    moved,
                )
            )
    criteria[:0] = _theory_criteria(critical, peak, nearest, grid[1] - grid[0])
    data = {
        "sigma_b2": SIGMA_B2,
        "grid": grid,
        "q_star": q,
        "chi1": chi,
        "xi_c": xi,
        "critical_sigma_w2": critical,
        "empirical": empirical,
        **cfg,
    }
    return StudyResult("edge-of-chaos", size, seeds, header, rows, Verdict.all_of(criteria), data)


def _theory_criteria(critical: float, peak: float, nearest: float, step: float) -> list[tuple[str, float]]:
    """Criteria (1) and (2): the critical point against the published one; the xi_c peak against the grid point."""
    return [
        (
            against(f"critical sigma_w^2 {critical:.4f} is off the published {PUBLISHED_CRITICAL} by",
                    abs(critical - PUBLISHED_CRITICAL), TOLERANCE, above=False, fmt=".4f"),
            TOLERANCE - abs(critical - PUBLISHED_CRITICAL),
        ),
        (
            against(f"xi_c peaks at {peak:.3f}, off the grid point nearest the critical one ({nearest:.3f}) by",
                    abs(peak - nearest), step / 2, above=False, fmt=".3f", name="ceiling (half a grid step)"),
            step / 2 - abs(peak - nearest),
        ),
    ]  # fmt: skip


STUDY = Study(
    name="edge-of-chaos",
    paper="Schoenholz, Gilmer, Ganguli & Sohl-Dickstein 2017, Deep Information Propagation (ICLR)",
    claim="For tanh at σb² = 0.05 the order-to-chaos transition (χ1 = 1) is at σw² ≈ 1.76, where ξc diverges, "
    "and two inputs' correlation in wide random nets follows the mean-field map layer by layer.",
    plan=plan,
    measure=measure,
    reduce=reduce,
    default_seeds={"quick": 4, "default": 10},
    doc=__doc__,
)
