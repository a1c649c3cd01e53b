r"""mup-lr-transfer: Yang, Hu et al. 2022, "Tensor Programs V: Tuning Large Neural Networks via Zero-Shot Hyperparameter Transfer".

Claim
-----
Under the maximal update parametrization (muP, :mod:`initlab.parametrization`) the learning rate
that trains a network best stays put as the network is made wider, so it can be tuned on a narrow
net and reused on a wide one ("muTransfer"); under the standard parametrization (SP: He init, one
learning rate for every parameter) it shifts, to smaller rates at larger widths. With SGD the
reason is the output layer (and every layer fed by a width-n vector): a step changes the logits by
about :math:`\eta \lVert h \rVert^2 \propto \eta\, n`, so SP's largest stable rate, and with it the
best one after a fixed budget, falls like :math:`1/n`, one step of :math:`\log_2 \eta` per
doubling of the width; muP's per-layer scalings (TP5's Table 3) make that change independent of n.

Setup (the paper's, scaled to a CPU)
------------------------------------
*The paper.* TP5 shows the transfer for Transformers trained with Adam (its Figure 1) and for
MLPs trained with SGD on CIFAR-10 (the ``mup`` package's ``examples/MLP/main.py``, "the script we
use in the MLP experiment in our paper": 3072 -> n -> n -> 10, two hidden ReLU (or tanh) layers,
no biases, the readout zero-initialized, ``MuSGD`` with momentum 0.9, batch 64, 20 epochs, widths
64 to 8192 with base width 64), the training loss against :math:`\log_2` of the learning rate,
one curve per width: the SP curves' minima move left as the width grows, the muP ones line up.

*Here.* scikit-learn's 8x8 ``digits`` (1,347 training images, pixels standardized; the split
drawn from ``seeding.stream(root, 2)``), networks 64 -> n -> n -> 10 (two hidden ReLU layers,
softmax), ``he_normal`` weights and zero biases (SP's init; muP rescales the readout's,
:meth:`initlab.network.MLP.initialize`), muP relative to ``base_width`` = :data:`BASE_WIDTH` (the
narrowest width, where muP *is* SP: muTransfer tunes on the small model). Plain minibatch SGD
(batch :data:`BATCH`, no momentum: TP5's Table 3 SGD column, which ``gd``, ``sgd`` and ``momentum``
share), a fixed budget of ``steps`` updates, on the numpy engine (the setting was fixed before the compiled
engine took muP and minibatches; at width 256, Adam on minibatches of 64, it is no faster: 0.86-0.96x the numpy engine,
``benchmarks/bench_parametrization.py``). The learning rate on a :math:`\log_2` grid :data:`LOG2_LRS` (-12 to 0,
step 1); every rate of the grid for one seed is one model of a single :func:`initlab.training.train`
call (the model axis), sharing that seed's initial network and minibatch order (common random
numbers: the curves differ by the rate, not by the draw), and SP and muP share them too. Seed s at
width n draws its network from ``seeding.stream(root, 0, n, s)`` and its minibatches from
``seeding.stream(root, 1, n, s)``.

=========  =====================  =====  =========================
size       widths                 seeds  steps (epochs)
=========  =====================  =====  =========================
quick      32, 64, 128, 256       2      200 (4.8)
default    32, 64, 128, 256, 512  3      400 (9.5)
=========  =====================  =====  =========================

What differs and why: widths 32-512 instead of 64-8192 (a 16x range instead of 128x: the cost of
a step grows like :math:`n^2`, and 512 is what a CPU affords for 13 rates x 3 seeds x 2
parametrizations), digits instead of CIFAR-10, batch 32 and about 10 epochs instead of 64 and 20,
plain SGD instead of momentum, He-initialized readout and trained biases (the paper's script has
none and a zero readout). The theory's shift under SP over 32 -> 512 is 4 grid steps (3 at quick's
32 -> 256); narrower widths are further from the infinite-width limit muP is derived for, which
can only make the muP side harder.

*The measure*, decided before the first run: the training loss (the mean cross-entropy over the
whole training set) after the budget, per (parametrization, width, rate, seed); a model that
diverged (:attr:`initlab.training.History.diverged`, or a non-finite loss) counts as
:math:`+\infty`. Per (parametrization, width) the *best rate* is the grid point with the lowest
mean over seeds (ties to the smaller rate; a rate where any seed diverged cannot be best). The argmin on the
grid, not a fitted parabola: the loss rises steeply into divergence just right of the optimum,
where a parabola in :math:`\log \eta` does not fit.

Verdict
-------
Lines fixed as module constants before the first run (from the claim and the theory, never
moved after seeing numbers); every quantity is an integer number of grid steps, so each line sits
half-way between two integers and no result lands on it:

1. *muP transfers*: under muP the best :math:`\log_2 \eta` spans at most one grid step across all
   widths, range < :data:`MUP_RANGE_CEILING` (1.5 steps);
2. *SP shifts*: under SP the best :math:`\log_2 \eta` of the narrowest width minus that of the widest
   is at least 2 steps (half the theory's 4 at default size), > :data:`SP_SHIFT_LINE` (1.5; a shift
   the wrong way, to larger rates, is negative and fails);
3. *the grid brackets the optimum*: every best rate, under both, lies at least one step inside the
   grid, distance to the nearer end > :data:`EDGE_LINE` (0.5 steps); an optimum at the grid's end
   is only a bound, and a bound can fake or hide a shift.

The margin is the smallest slack of the three, in grid steps (:math:`\log_2` units).

Reported, not judged (a column added after the first run, quick at root 0, had been seen; the
measure, the lines and the setting are unchanged): the smallest :math:`\log_2 \eta` at which a
curve's seed-mean loss comes down to :data:`REACH_LEVEL` (0.1), linear in log loss between grid
points. It follows the curve's left flank, where a rate is too small for the budget: the width's
effective rate shows there even where the optimum sits against the rate at which training breaks.

What the runs found (written after them; nothing above was changed): NOT SUPPORTED at ``--quick``
and at default size under root seeds 0, 1 and 2, on line 2 alone. muP's best rate stays put
(2^-1 at every width at default size), but so, nearly, does SP's: it moves 0 or 1 step, not 2.
Every curve's optimum sits one step below 2^0, where training breaks for every width and both
parametrizations; that wall does not move with the width under SP in this setting (cross-entropy on
an easy task, where the loss after the budget reaches 10^-3), so the :math:`1/n` of the largest
stable rate the argument above predicts does not show over 32-512. The curves' left flanks do
move: the reported rate reaching loss 0.1 falls by 2.1-2.3 steps under SP from width 32 to 512
and by 0.7-0.9 under muP.
"""

from __future__ import annotations

import numpy as np
from threadpoolctl import threadpool_limits

from initlab import datasets, seeding
from initlab.network import MLP
from initlab.studies.base import Measured, Study, StudyResult, Unit, Verdict, against, chunks
from initlab.training import train

PARAMETRIZATIONS = ("standard", "mup")
BASE_WIDTH = 32  # muP's base model: the narrowest width (there muP is SP)
LOG2_LRS = tuple(range(-12, 1))  # the learning-rate grid, log2 eta = -12 .. 0
BATCH = 32
MUP_RANGE_CEILING = 1.5  # (1) muP: best log2 lr spans at most 1 grid step across widths
SP_SHIFT_LINE = 1.5  # (2) SP: best log2 lr falls by at least 2 steps from the narrowest to the widest
EDGE_LINE = 0.5  # (3) every best lr at least 1 step inside the grid
SIZES = {
    "quick": dict(widths=(32, 64, 128, 256), steps=200),
    "default": dict(widths=(32, 64, 128, 256, 512), steps=400),
}
REACH_LEVEL = 0.1  # reported, not judged: the rate at which the seed-mean loss first comes down to this
CHUNK = 1  # seeds per unit (a unit trains len(LOG2_LRS) models)


def network(width: int, parametrization: str) -> MLP:
    """64 inputs, two ReLU layers of ``width``, 10 softmax outputs; muP relative to :data:`BASE_WIDTH`."""
    base = BASE_WIDTH if parametrization == "mup" else None
    return MLP((64, width, width, 10), output="softmax", parametrization=parametrization, base_width=base)


def learning_rates() -> np.ndarray:
    """The learning rates ``2 ** LOG2_LRS``, (R,) float64."""
    return np.exp2(np.asarray(LOG2_LRS, dtype=np.float64))


def plan(size: str, seeds: int) -> list[Unit]:
    """One unit per (parametrization, width) and seed, the widest first (they take longest)."""
    widths = sorted(SIZES[size]["widths"], reverse=True)
    return chunks(({"parametrization": p, "width": n} for n in widths for p in PARAMETRIZATIONS), seeds, CHUNK)


def measure(size: str, unit: Unit, root: int, *, dtype: str = "float64") -> dict:
    """Train every rate of the grid for the unit's seeds; the final training loss.

    Returns (S = the unit's seeds, R = len(LOG2_LRS)) ``loss`` (S, R), the training-set loss after
    the budget (nan where diverged), and ``diverged`` (S, R) bool.
    """
    p, width = unit.config["parametrization"], unit.config["width"]
    data = datasets.load("digits", rng=seeding.stream(root, 2))
    net = network(width, p)
    R = len(LOG2_LRS)
    init = seeding.streams(root, unit.seeds, 0, width)
    order = seeding.streams(root, unit.seeds, 1, width)
    with threadpool_limits(limits=1, user_api="blas"):  # narrow matrices: one thread (40x on a busy machine)
        P = {k: np.repeat(v, R, axis=0) for k, v in net.initialize("he_normal", rng=init).items()}
        hist = train(net, P, data.X_train, data.Y_train, learning_rate=np.tile(learning_rates(), len(init)),
                     iterations=SIZES[size]["steps"], record_every=SIZES[size]["steps"], optimizer="sgd",
                     batch_size=BATCH, rng=[s for s in order for _ in range(R)], dtype=dtype)  # fmt: skip
    shape = (len(init), R)
    return {"loss": hist.final_loss.reshape(shape), "diverged": hist.diverged.reshape(shape)}


def seed_mean(loss: np.ndarray, diverged: np.ndarray) -> np.ndarray:
    """(R,) the mean over seeds of (S, R) losses, a diverged or non-finite one counting as +inf."""
    loss = np.where(np.asarray(diverged, dtype=bool) | ~np.isfinite(loss), np.inf, loss)
    return loss.mean(axis=0)


def best_index(mean: np.ndarray) -> int | None:
    """The grid index of the lowest seed-mean loss (the first of ties, the smaller rate); None if none is finite."""
    return int(np.argmin(mean)) if np.isfinite(mean).any() else None


def reach_log2_lr(mean: np.ndarray, level: float = REACH_LEVEL) -> float | None:
    """The smallest :math:`\\log_2 \\eta` at which the seed-mean loss (R,) comes down to ``level``: the curve's
    left flank, linear in log loss between grid points (reported, not judged); None if it never does."""
    below = np.flatnonzero(np.isfinite(mean) & (mean <= level))
    if below.size == 0:
        return None
    i = int(below[0])
    if i == 0:
        return float(LOG2_LRS[0])
    hi, lo = np.log(mean[i - 1]), np.log(mean[i])  # hi > log(level) >= lo
    return float(LOG2_LRS[i - 1] + (hi - np.log(level)) / (hi - lo))


def reduce(size: str, seeds: int, measured: Measured) -> StudyResult:
    widths = list(SIZES[size]["widths"])
    R = len(LOG2_LRS)
    means, best, seed_loss = {}, {}, {}
    for p in PARAMETRIZATIONS:
        for n in widths:
            m = measured[{"parametrization": p, "width": n}]
            means[p, n] = seed_mean(m["loss"], m["diverged"])
            best[p, n] = best_index(means[p, n])
            seed_loss[p, n] = np.where(m["diverged"], np.nan, m["loss"])
    header = ["parametrization", "width", "best log2 η", "loss at best (seed mean)",
              f"loss at width {widths[0]}'s best η", f"rates diverged (of {R})",
              f"log2 η reaching loss {REACH_LEVEL:g} (reported)"]  # fmt: skip
    rows = []
    for p in PARAMETRIZATIONS:
        transfer = best[p, widths[0]]
        for n in widths:
            b = best[p, n]
            rows.append([p, str(n), "none" if b is None else str(LOG2_LRS[b]),
                         "-" if b is None else f"{means[p, n][b]:.4g}",
                         "-" if transfer is None else f"{means[p, n][transfer]:.4g}",
                         str(int(np.isinf(means[p, n]).sum())), _fmt(reach_log2_lr(means[p, n]))])  # fmt: skip
    data = {
        "log2_lrs": list(LOG2_LRS), "widths": widths, "parametrizations": list(PARAMETRIZATIONS),
        "base_width": BASE_WIDTH, "batch": BATCH, "steps": SIZES[size]["steps"],
        "mean_loss": {f"{p}/{n}": means[p, n] for p, n in means},
        "seed_loss": {f"{p}/{n}": seed_loss[p, n] for p, n in seed_loss},
        "best_log2_lr": {f"{p}/{n}": (None if b is None else LOG2_LRS[b]) for (p, n), b in best.items()},
        "reach_level": REACH_LEVEL, "reach_log2_lr": {f"{p}/{n}": reach_log2_lr(m) for (p, n), m in means.items()},
        "lines": {"mup_range_ceiling": MUP_RANGE_CEILING, "sp_shift_line": SP_SHIFT_LINE, "edge_line": EDGE_LINE},
    }  # fmt: skip
    return StudyResult("mup-lr-transfer", size, seeds, header, rows, Verdict.all_of(criteria(best, widths)), data)


def _fmt(x: float | None) -> str:
    return "never" if x is None else f"{x:.1f}"


def criteria(best: dict, widths: list[int]) -> list[tuple[str, float]]:
    """The three lines of the module docstring, as ``(sentence, margin in grid steps)``."""
    if any(b is None for b in best.values()):
        missing = ", ".join(f"{p} width {n}" for (p, n), b in best.items() if b is None)
        return [(f"every rate diverged for {missing}: no best rate", -np.inf)]
    R = len(LOG2_LRS)
    mup = [LOG2_LRS[best["mup", n]] for n in widths]
    spread = max(mup) - min(mup)
    shift = LOG2_LRS[best["standard", widths[0]]] - LOG2_LRS[best["standard", widths[-1]]]
    edge = min(min(b, R - 1 - b) for b in best.values())
    return [
        (against(f"(1) muP: range of the best log2 η over widths {widths[0]}-{widths[-1]} (steps)", spread,
                 MUP_RANGE_CEILING, above=False, fmt=".1f"), MUP_RANGE_CEILING - spread),
        (against(f"(2) SP: best log2 η at width {widths[0]} minus at width {widths[-1]} (steps)", shift,
                 SP_SHIFT_LINE, fmt=".1f"), shift - SP_SHIFT_LINE),
        (against("(3) the nearest best rate's distance from the grid's ends (steps)", edge, EDGE_LINE, fmt=".1f"),
         edge - EDGE_LINE),
    ]  # fmt: skip


STUDY = Study(
    name="mup-lr-transfer",
    paper="Yang, Hu, Babuschkin, Sidor, Liu, Farhi, Ryder, Pachocki, Chen & Gao 2022, Tensor Programs V: Tuning "
    "Large Neural Networks via Zero-Shot Hyperparameter Transfer (arXiv:2203.03466)",
    claim="Under muP the best learning rate of an MLP (over a log2 grid, several seeds) stays put across widths; "
    "under the standard parametrization it shifts to smaller rates as the width grows.",
    plan=plan,
    measure=measure,
    reduce=reduce,
    default_seeds={"quick": 2, "default": 3},
    doc=__doc__,
    dtypes=("float64", "float32"),  # its training (initlab.training.train's dtype)
)
