r"""saxe2013: Saxe, McClelland & Ganguli 2013, "Exact solutions to the nonlinear dynamics of learning in deep linear neural networks".

Claim
-----
In deep linear networks, random orthogonal initialization gives learning times that are roughly
independent of depth, while scaled Gaussian initialization (variance :math:`1/n`, which preserves
the norm only on average) slows down with depth, or fails: the product of many Gaussian matrices
has exponentially spread singular values, so some directions start near zero and learn slowly.

Setup
-----
A linear teacher :math:`Y = M X` on whitened inputs (:math:`XX^T/m = I`), :math:`M = U\,
\mathrm{diag}(s) V^T` with random orthogonal :math:`U, V` and singular values :math:`s` evenly
spaced in [1, 3], n = 16. The student is a product of D square layers
:math:`P = W_D \cdots W_1`; with whitened inputs the mean squared error is exactly
:math:`\ell = \frac{1}{2n}\|P - M\|_F^2`, and full-batch gradient descent uses its exact
gradient :math:`\partial\ell/\partial W_l = \frac1n (W_D\cdots W_{l+1})^T (P - M) (W_{l-1}\cdots W_1)^T`.
Learning rate :math:`1 / D` per layer (the product moves about D times as fast as one layer,
so this keeps its step the same at every depth, as in the paper's depth comparisons). Depths 4,
16, 48 (quick) or 4, 8, 16, 32, 64 (default). Steps until :math:`\ell` falls below 5 % of the
loss of the zero map :math:`\|M\|_F^2/(2n)` (from a random rotation every init meets a plateau
near 2.5 %, where the reflections of P relative to M are undone), capped at 1000 (quick) or 2000
steps (a capped run counts as the cap, so failures make the slowdown look smaller, never larger).
Initializers: ``orthogonal`` and ``normal(std=1/sqrt(n))`` from :mod:`initlab.initializers`.
Seed s's teacher comes from ``seed_stream(root, 0, s)`` and its networks at depth D from
``seed_stream(root, 1 + i, D, s)`` (i = 0 orthogonal, 1 Gaussian).

Verdict
-------
Per seed, the least-squares slope of :math:`\log_2` steps against :math:`\log_2 D` (steps
grow like :math:`D^{slope}`). SUPPORTED when the 95 % interval (over seeds) of the slope is inside
(-0.5, 0.5) for orthogonal ("roughly depth-independent"), and for Gaussian the interval of
:math:`\log_2` (steps at the deepest / at the shallowest depth) is above 1 ("slows by more than
2x, or fails": a capped run makes this a lower bound; a slope would be bounded by the cap).
Margins: slope units for orthogonal, doublings for Gaussian.
"""

from __future__ import annotations

import math

import numpy as np

from initlab import initializers
from initlab.stats import mean_ci
from initlab.studies.base import Measured, Study, StudyResult, Unit, Verdict, chunks, fmt_ci, seed_stream

N = 16
RATE = 1.0  # per-layer learning rate times depth
THRESHOLD = 0.05  # of the zero map's loss
SIZES = {"quick": dict(depths=(4, 16, 48), max_steps=1000), "default": dict(depths=(4, 8, 16, 32, 64), max_steps=2000)}
SLOPE = 0.5  # |d log steps / d log depth| below: roughly depth-independent; above: slows with depth
INITS = {"orthogonal": initializers.get("orthogonal"), "gaussian": initializers.get("normal", std=1.0 / math.sqrt(N))}


def teacher(rng: np.random.Generator) -> np.ndarray:
    """M = U diag(s) V^T, s evenly spaced in [1, 3]: (N, N)."""
    U = initializers.get("orthogonal")((N, N), rng=rng)
    V = initializers.get("orthogonal")((N, N), rng=rng)
    return U @ np.diag(np.linspace(1.0, 3.0, N)) @ V.T


def steps_to_threshold(Ws: np.ndarray, M: np.ndarray, learning_rate: float, max_steps: int) -> tuple[int, np.ndarray]:
    """Gradient descent on ``l = ||W_D ... W_1 - M||^2 / (2N)`` until ``l < THRESHOLD * ||M||^2 / (2N)``.

    Parameters
    ----------
    Ws : (D, N, N) layers, W_1 first (modified in place)
    M : (N, N)

    Returns
    -------
    steps : int, ``max_steps`` when not reached; losses : (steps + 1,) the loss before each step
    """
    target = THRESHOLD * (M**2).sum() / (2 * N)
    losses = []
    with np.errstate(over="ignore", invalid="ignore"):  # a diverging product ends the run (loss not finite)
        return _descend(Ws, M, learning_rate, max_steps, target, losses)


def _descend(Ws, M, learning_rate, max_steps, target, losses):
    """The loop of :func:`steps_to_threshold`; appends to ``losses``."""
    D = Ws.shape[0]
    eye = np.eye(N)
    for step in range(max_steps + 1):
        prefix = [eye]  # prefix[l] = W_l ... W_1 (prefix[0] = I)
        for W in Ws:
            prefix.append(W @ prefix[-1])
        E = prefix[-1] - M  # (N, N)
        loss = (E**2).sum() / (2 * N)
        losses.append(loss)
        if not math.isfinite(loss) or loss < target or step == max_steps:
            break
        suffix = eye  # W_D ... W_{l+1}
        for l in range(D - 1, -1, -1):
            grad = suffix.T @ E @ prefix[l].T / N
            suffix = suffix @ Ws[l]
            Ws[l] -= learning_rate * grad
    reached = math.isfinite(losses[-1]) and losses[-1] < target
    return (len(losses) - 1 if reached else max_steps), np.array(losses)


CHUNK = 4  # seeds per unit


def plan(size: str, seeds: int) -> list[Unit]:
    """One unit per depth and chunk of seeds (deepest first: they take longest)."""
    return chunks(({"depth": D} for D in sorted(SIZES[size]["depths"], reverse=True)), seeds, CHUNK)


def measure(size: str, unit: Unit, root: int) -> dict:
    """Seed s: teacher from ``seed_stream(root, 0, s)``; init i's D layers from ``seed_stream(root, 1 + i, D, s)``.

    Returns ``{init}/steps`` (K,) and ``{init}/losses`` (K, max_steps + 1), nan-padded after the run ends.
    """
    D, cap = unit.config["depth"], SIZES[size]["max_steps"]
    numbers = {f"{name}/{what}": [] for name in INITS for what in ("steps", "losses")}
    for s in unit.seeds:
        M = teacher(np.random.default_rng(seed_stream(root, 0, s)))
        for i, (name, init) in enumerate(INITS.items()):
            g = np.random.default_rng(seed_stream(root, 1 + i, D, s))
            Ws = np.stack([init((N, N), rng=g) for _ in range(D)])  # (D, N, N), W_1 first
            steps, losses = steps_to_threshold(Ws, M, RATE / D, cap)
            padded = np.full(cap + 1, np.nan)
            padded[: losses.size] = losses
            numbers[f"{name}/steps"].append(steps)
            numbers[f"{name}/losses"].append(padded)
    return {key: np.array(v) for key, v in numbers.items()}


def reduce(size: str, seeds: int, measured: Measured) -> StudyResult:
    depths, cap = SIZES[size]["depths"], SIZES[size]["max_steps"]
    steps = {name: np.stack([measured[{"depth": D}][f"{name}/steps"] for D in depths], axis=1) for name in INITS}
    curves = {}  # seed 0's loss curves
    for D in depths:
        for name in INITS:
            losses = measured[{"depth": D}][f"{name}/losses"][0]
            curves[f"{name}/{D}"] = losses[np.isfinite(losses)]
    header = ["init", *(f"D={D}" for D in depths), "slope of log steps vs log depth (95% CI)"]
    rows, criteria = [], []
    for name in INITS:
        st = steps[name]
        x = np.log2(np.asarray(depths, dtype=float))
        slopes = np.polyfit(x, np.log2(st.T.astype(float)), 1)[0]  # (seeds,) least-squares slope per seed
        slope = mean_ci(slopes)
        rows.append([name, *(f"{np.median(st[:, j]):.0f}" + (f" ({(st[:, j] >= cap).sum()} capped)"
                                                            if (st[:, j] >= cap).any() else "")
                             for j in range(len(depths))), fmt_ci(slope)])
        if name == "orthogonal":
            criteria.append((f"orthogonal: slope CI [{slope.low:.3f}, {slope.high:.3f}] inside (-{SLOPE}, {SLOPE})",
                             SLOPE - max(abs(slope.low), abs(slope.high))))
        else:
            slows = mean_ci(np.log2(st[:, -1] / st[:, 0]))  # doublings from the shallowest to the deepest
            criteria.append((f"gaussian: steps deepest/shallowest lower CI {2**slows.low:.3g} > 2", slows.low - 1.0))
    data = {"depths": list(depths), "steps": steps, "curves": curves, "n": N, "max_steps": cap, "threshold": THRESHOLD}
    return StudyResult("saxe2013", size, seeds, header, rows, Verdict.all_of(criteria), data)


STUDY = Study(
    name="saxe2013",
    paper="Saxe, McClelland & Ganguli 2013, Exact solutions to the nonlinear dynamics of learning in deep linear "
          "neural networks (ICLR 2014)",
    claim="In deep linear nets on a linear teacher with whitened inputs, orthogonal init learns in a roughly "
          "depth-independent number of steps; scaled Gaussian init slows with depth or fails.",
    plan=plan,
    measure=measure,
    reduce=reduce,
    default_seeds={"quick": 5, "default": 8},
    doc=__doc__,
)
