r"""trainability-depth: Schoenholz, Gilmer, Ganguli & Sohl-Dickstein 2017, "Deep Information Propagation", sec. 5.

Claim
-----
Random tanh networks (:math:`\sigma_b^2 = 0.05`) can be trained only as deep as information
propagates through them at initialization: the trainable depth is set by the mean-field
correlation depth scale :math:`\xi_c(\sigma_w^2)` (:mod:`initlab.meanfield`), networks deeper than
about :math:`6\xi_c` do not train (the paper's figs. 5 and 6: the white line :math:`6\xi_c`, e.g.
about 36 layers at :math:`\sigma_w^2 = 1.2`, :math:`\xi_c = 5.94`, and 54 at 3.0,
:math:`\xi_c = 9.05`), and because :math:`\xi_c` diverges at the order-to-chaos transition
(:math:`\sigma_w^2 = 1.761`) only networks near it train deep. The theory half (the critical point,
:math:`\xi_c`, the correlation map) is the study ``edge-of-chaos``; this one tests the trainability.

Setup
-----
*The paper* (sec. 5, figs. 5-6): fully connected tanh networks, :math:`\sigma_w^2 \in [1, 4]`,
:math:`\sigma_b^2 = 0.05`, depths up to a few hundred layers, trained on MNIST and CIFAR-10 with
SGD and RMSProp for a fixed number of steps; the accuracy as a heat map over
:math:`(\sigma_w^2, L)` is high below :math:`6\xi_c` and at chance above. Fig. 6 shows MNIST's
training accuracy after increasing numbers of SGD steps (tens to about :math:`10^4`): the
trainable region grows with the number of steps, its edge approaching :math:`6\xi_c`.

*Here*, scaled to a CPU: scikit-learn's 8x8 ``digits`` (1,347 training images, 450 held out,
pixels standardized; the split drawn from the root seed), networks 64 → L tanh layers of width
32 → 10 (softmax), all weights :math:`N(0, \sigma_w^2/n_{in})` (``variance_scaling(σw², "fan_in",
"normal")``) and all biases :math:`N(0, \sigma_b^2)`, the paper's ensemble. Minibatch SGD
(batch 128, learning rate 0.03, fixed for every cell as in the paper) for 500 steps (about 47
epochs), on the numpy engine (fixed when the compiled engine trained full-batch only, and kept so
that stored verdicts stay comparable). A grid of :math:`\sigma_w^2` (1, 2, 4 quick; 1, 1.25, 1.5, 2, 3, 4
default) by L (4 and 24 quick; 4, 12, 24, 32, 48 default), 3 seeds quick and 4 default; seed s
of cell :math:`(\sigma_w^2, L)` draws its network from ``seeding.stream(root, 0, 1000 σw², L, s)`` and its
minibatches from ``seeding.stream(root, 1, 1000 σw², L, s)``.

What differs and why. Width 32 and depth at most 48 (the paper's networks were wider and went to
hundreds of layers): 500 steps of a 48-layer net of width 32 is what a CPU affords per cell; L/N ≤ 1.5
keeps the networks where finite-width corrections to the mean-field theory (of order L/N) are
moderate (at width 32 the correlation of two digits at initialization follows the mean-field map
about as at width 512: 1 - c = 0.002 after 24 layers at :math:`\sigma_w^2 = 1`). The line
:math:`6\xi_c` is then inside the grid on both sides of the transition: 22 layers at
:math:`\sigma_w^2 = 1`, 41 at 1.25, 42 at 4 (54 at 3 is beyond it). 500 steps is a short budget:
the paper's fig. 6 shows that after fewer steps the trainable edge lies inside :math:`6\xi_c`, so
the claim below asks for training only up to :math:`2\xi_c`. The learning rate, the batch and the
threshold were fixed before the grid was run, on the critical point itself
(:math:`\sigma_w^2 = 1.761`, not on the grid: there :math:`\xi_c = \infty` and the theory sets no
depth limit): of learning rates 0.003, 0.01, 0.03 (batch 128, 500 steps) the one at which 32- and
48-layer critical networks learned most (held-out accuracy 0.88-0.92 and 0.78-0.91 over 4
seeds; 0.40-0.58 at 0.003), so that the budget does train the deepest networks of the grid
where the theory allows it.

A network *trains* when its held-out accuracy after the budget is at least 0.3 (three times
chance; the training accuracy is kept in the result's data). Held-out, not training accuracy:
with 33 readout weights per class a network whose last layer carries little information about
the input can still fit part of the training set through the readout alone.

Verdict
-------
Lines fixed before the run. A cell :math:`(\sigma_w^2, L)` *trains* when more than half of its
seeds train. SUPPORTED when (a) every cell with :math:`L \le 2\xi_c(\sigma_w^2)` trains, and (b)
no cell with :math:`L \ge 6\xi_c(\sigma_w^2)` does (at most half of its seeds reach 0.3). Because
both kinds of cell occur at the same depths (24 to 48 layers must train at
:math:`\sigma_w^2 = 2` and must not at 1; 48 layers must not at 1.25 and 4), the two lines
together say that what decides is the depth in units of :math:`\xi_c`, not the depth. Cells
between :math:`2\xi_c` and :math:`6\xi_c` are not judged (the edge there moves with the
budget). The margin is the smallest slack, in fractions of seeds: for (a) the trained fraction
minus 1/2, for (b) 1/2 minus it. The table marks the cells judged by (a) and (b) and gives, per
:math:`\sigma_w^2`, the deepest depth at which the cell and all shallower ones train, in units
of :math:`\xi_c` (reported, not judged: it depends on the budget).
"""

from __future__ import annotations

import math

import numpy as np

from initlab import datasets, initializers, seeding
from initlab import meanfield as mf
from initlab.network import MLP
from initlab.studies.base import Measured, Study, StudyResult, Unit, Verdict, against, chunks
from initlab.training import train

SIGMA_B2 = 0.05
WIDTH = 32
BATCH = 128
LEARNING_RATE = 0.03
STEPS = 500
RECORD_EVERY = 50
THRESHOLD = 0.3  # held-out accuracy that counts as trained (chance: 0.1)
SHARE = f"share of seeds reaching {THRESHOLD}"  # the verdict's words for a cell's trained fraction
TRAINS, FAILS = 2.0, 6.0  # the lines: L <= 2 xi_c trains, L >= 6 xi_c does not
SIZES = {
    "quick": dict(sigma_w2=(1.0, 2.0, 4.0), depths=(4, 24)),
    "default": dict(sigma_w2=(1.0, 1.25, 1.5, 2.0, 3.0, 4.0), depths=(4, 12, 24, 32, 48)),
}
CHUNK = 4  # seeds per unit


def _key(sigma_w2: float) -> int:
    """sigma_w^2 in thousandths: the integer that names the cell's seed streams."""
    return round(1000 * sigma_w2)


def network(depth: int) -> MLP:
    """64 inputs, ``depth`` tanh layers of width :data:`WIDTH`, 10 softmax outputs."""
    return MLP((64,) + (WIDTH,) * depth + (10,), activation="tanh", output="softmax")


def initialize(net: MLP, sigma_w2: float, streams: list) -> dict:
    r"""The paper's ensemble, one model per stream: every :math:`W \sim N(0, \sigma_w^2 / n_{in})`, every
    :math:`b \sim N(0, \sigma_b^2)`."""
    # a callable: MLP.initialize's own `scale` multiplies the weights, it is not variance_scaling's variance
    weights = initializers.variance_scaling(sigma_w2, "fan_in", "normal")
    return net.initialize(weights, bias_init=initializers.normal(std=math.sqrt(SIGMA_B2)), rng=streams)


def plan(size: str, seeds: int) -> list[Unit]:
    """One unit per cell (sigma_w^2, depth) and chunk of seeds, the deepest first (they take longest)."""
    cfg = SIZES[size]
    cells = ({"sigma_w2": s, "depth": d} for d in sorted(cfg["depths"], reverse=True) for s in cfg["sigma_w2"])
    return chunks(cells, seeds, CHUNK)


def measure(size: str, unit: Unit, root: int, *, dtype: str = "float64") -> dict:
    """Train the unit's seeds of one cell for the fixed budget; their held-out and training accuracy.

    Returns (K = the unit's seeds) ``test_accuracy``, ``train_accuracy``, ``final_loss`` (K,),
    ``diverged`` (K,) bool and ``loss`` (K, STEPS / RECORD_EVERY), the training-set loss.
    """
    s2, depth = unit.config["sigma_w2"], unit.config["depth"]
    data = datasets.load("digits", rng=seeding.stream(root, 2))
    net = network(depth)
    P = initialize(net, s2, seeding.streams(root, unit.seeds, 0, _key(s2), depth))
    hist = train(
        net,
        P,
        data.X_train,
        data.Y_train,
        learning_rate=LEARNING_RATE,
        iterations=STEPS,
        record_every=RECORD_EVERY,
        optimizer="sgd",
        batch_size=BATCH,
        rng=seeding.streams(root, unit.seeds, 1, _key(s2), depth),
        X_test=data.X_test,
        Y_test=data.Y_test,
        dtype=dtype,
    )
    return {
        "test_accuracy": hist.test_accuracy,
        "train_accuracy": hist.train_accuracy,
        "final_loss": hist.final_loss,
        "diverged": hist.diverged,
        "loss": hist.loss,
    }


def trained(test_accuracy: np.ndarray, diverged: np.ndarray) -> np.ndarray:
    """Which seeds trained: held-out accuracy at least :data:`THRESHOLD` and no divergence."""
    return (np.asarray(test_accuracy) >= THRESHOLD) & ~np.asarray(diverged, dtype=bool)


def reduce(size: str, seeds: int, measured: Measured) -> StudyResult:
    cfg = SIZES[size]
    grid, depths = list(cfg["sigma_w2"]), list(cfg["depths"])
    xi = np.array([mf.xi_c(s, SIGMA_B2) for s in grid])
    acc = np.empty((len(grid), len(depths), seeds))  # held-out accuracy per cell and seed
    train_acc = np.empty_like(acc)
    ok = np.empty(acc.shape, dtype=bool)
    for i, s2 in enumerate(grid):
        for j, depth in enumerate(depths):
            m = measured[{"sigma_w2": s2, "depth": depth}]
            acc[i, j], train_acc[i, j] = m["test_accuracy"], m["train_accuracy"]
            ok[i, j] = trained(m["test_accuracy"], m["diverged"])
    fraction = ok.mean(axis=2)  # (sigma_w2, depth)

    header = ["σw²", "ξc", "6ξc"] + [f"L={d}: test acc (trained)" for d in depths] + ["deepest trained L (L/ξc)"]
    rows, edge = [], []
    for i, s2 in enumerate(grid):
        cells = [
            f"{acc[i, j].mean():.2f} ({ok[i, j].sum()}/{seeds}){_mark(depth, xi[i])}" for j, depth in enumerate(depths)
        ]
        deepest = 0
        for j, depth in enumerate(depths):
            if fraction[i, j] <= 0.5:
                break
            deepest = depth
        edge.append(deepest)
        rows.append(
            [
                f"{s2:g}",
                f"{xi[i]:.2f}",
                f"{FAILS * xi[i]:.1f}",
                *cells,
                f"{deepest} ({deepest / xi[i]:.1f} ξc)" if deepest else "none",
            ]
        )

    criteria = []
    a = [
        (fraction[i, j], grid[i], depths[j])
        for i in range(len(grid))
        for j in range(len(depths))
        if depths[j] <= TRAINS * xi[i]
    ]
    b = [
        (fraction[i, j], grid[i], depths[j])
        for i in range(len(grid))
        for j in range(len(depths))
        if depths[j] >= FAILS * xi[i]
    ]
    if a:
        f, s2, d = min(a)
        text = f"(a) cells with L <= {TRAINS:g} ξc should train ({len(a)} cells); the least: σw²={s2:g}, L={d}"
        criteria.append((against(f"{text}: {SHARE}", f, 0.5, fmt=".2f"), f - 0.5))
    if b:
        f, s2, d = max(b)
        text = f"(b) cells with L >= {FAILS:g} ξc should not train ({len(b)} cells); the most: σw²={s2:g}, L={d}"
        criteria.append((against(f"{text}: {SHARE}", f, 0.5, above=False, fmt=".2f"), 0.5 - f))
    if not (a and b):
        criteria.append(("the grid has cells on both sides of the lines", -math.inf))
    fine = np.linspace(1.0, 4.0, 41)
    data = {
        "sigma_b2": SIGMA_B2,
        "sigma_w2": grid,
        "depths": depths,
        "xi_c": xi,
        "test_accuracy": acc,
        "train_accuracy": train_acc,
        "trained_fraction": fraction,
        "deepest_trained": edge,
        "curve_sigma_w2": fine,
        "curve_xi_c": [mf.xi_c(s, SIGMA_B2) for s in fine],
        "critical_sigma_w2": mf.critical_sigma_w2(SIGMA_B2),
        "lines": [TRAINS, FAILS],
        "threshold": THRESHOLD,
        "width": WIDTH,
        "batch": BATCH,
        "learning_rate": LEARNING_RATE,
        "steps": STEPS,
    }
    return StudyResult("trainability-depth", size, seeds, header, rows, Verdict.all_of(criteria), data)


def _mark(depth: int, xi: float) -> str:
    """Which line a cell is judged by: ' a' (must train), ' b' (must not), '' (between, not judged)."""
    return " a" if depth <= TRAINS * xi else " b" if depth >= FAILS * xi else ""


STUDY = Study(
    name="trainability-depth",
    paper="Schoenholz, Gilmer, Ganguli & Sohl-Dickstein 2017, Deep Information Propagation (ICLR), sec. 5",
    claim="Random tanh networks (σb² = 0.05) train only as deep as the mean-field depth scale ξc allows: within "
    "2ξc they train after a short SGD budget, beyond 6ξc they do not, at the same depths.",
    plan=plan,
    measure=measure,
    reduce=reduce,
    default_seeds={"quick": 3, "default": 4},
    doc=__doc__,
    dtypes=("float64", "float32"),  # its training (initlab.training.train's dtype)
)
