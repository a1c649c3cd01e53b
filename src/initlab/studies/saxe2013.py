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
import time

import numpy as np

from initlab import initializers
from initlab.stats import mean_ci
from initlab.studies.base import Study, StudyResult, Verdict, fmt_ci

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


def run(size: str = "default", seeds: int = 6, rng=0) -> StudyResult:
    t0 = time.perf_counter()
    depths, cap = SIZES[size]["depths"], SIZES[size]["max_steps"]
    steps = {name: np.empty((seeds, len(depths)), dtype=np.int64) for name in INITS}
    curves = {}
    for s, stream in enumerate(np.random.default_rng(rng).spawn(seeds)):
        M = teacher(stream)
        for j, D in enumerate(depths):
            for (name, init), g in zip(INITS.items(), stream.spawn(len(INITS))):
                Ws = np.stack([init((N, N), rng=g) for _ in range(D)])  # (D, N, N), W_1 first
                steps[name][s, j], losses = steps_to_threshold(Ws, M, RATE / D, cap)
                if s == 0:
                    curves[f"{name}/{D}"] = losses
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
    data = {"depths": list(depths), "steps": steps, "curves": curves, "n": N, "max_steps": cap}
    return StudyResult("saxe2013", size, seeds, header, rows, Verdict.all_of(criteria), data, time.perf_counter() - t0)


def figure(result: StudyResult):
    from matplotlib.figure import Figure

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
    ax1.set_ylabel("steps to 1% loss")
    ax1.legend()
    ax2.set_xlabel("step")
    ax2.set_title("loss, seed 0 (darker = deeper)")
    ax2.legend()
    fig.tight_layout()
    return fig


STUDY = Study(
    name="saxe2013",
    paper="Saxe, McClelland & Ganguli 2013, Exact solutions to the nonlinear dynamics of learning in deep linear "
          "neural networks (ICLR 2014)",
    claim="In deep linear nets on a linear teacher with whitened inputs, orthogonal init learns in a roughly "
          "depth-independent number of steps; scaled Gaussian init slows with depth or fails.",
    run=run,
    figure=figure,
    default_seeds={"quick": 5, "default": 8},
    doc=__doc__,
)
