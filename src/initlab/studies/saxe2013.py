r"""saxe2013: Saxe, McClelland & Ganguli 2013, "Exact solutions to the nonlinear dynamics of learning in deep linear neural networks" (sec. 3, Fig. 6).

Claim
-----
In deep linear networks trained on MNIST, random orthogonal weights give learning times that do
not grow with depth, while scaled random Gaussian weights (i.i.d. :math:`N(0, 1/N)`, which
preserve the norm of a vector on average) learn more and more slowly as depth grows (Fig. 6A left,
each point the fastest of a grid of learning rates: "the learning time with depth ... grows with
depth", the orthogonal curve lies on the depth-independent pretraining one). The reason (Fig. 6B,
sec. 3): a product of D Gaussian :math:`N \times N` matrices keeps :math:`E\,\sigma^2 = 1` but its
singular values spread with depth ("most ... become vanishingly small, while a long tail of very
large singular values remain"), while a product of orthogonal matrices is orthogonal, every
singular value exactly 1 ("dynamical isometry").

Setup
-----
What the paper did (sec. 2 and 3, Appendix C): deep linear nets ``784 -> 1000 x (N_l - 2) -> 10``
on the 50,000 MNIST training images with one-hot targets, squared error, full-batch gradient
descent through eq. (13), which needs only the input and input-output correlations
:math:`\Sigma^{11}, \Sigma^{31}`; depths :math:`N_l` = 3 to 100 (:math:`N_l - 1` weight matrices);
learning time = the iteration at which the training error falls below a fixed threshold
("nearly complete learning", 1.3e4 on their summed error); for each depth and init the fastest
of twenty learning rates logarithmically spaced over three decades (a factor 1.44 apart), the
range chosen so the best is inside it. Gaussian init: i.i.d. :math:`N(0, 1/N)` for an
:math:`N \times N` matrix (sec. 3's text; Fig. 6's caption speaks of Glorot's scaled uniform
weights); orthogonal: random orthogonal matrices from a QR factorization; a third arm, greedy
layer-wise pretraining. Fig. 6B: histograms of the singular values of products of
:math:`N_l - 1` Gaussian :math:`N(0, 1/N)` matrices, N = 1000, 500 realizations each.

What we do, on a CPU, and why. Data: scikit-learn's 8x8 ``digits`` (``initlab.datasets``, pixels
standardized), seed s's training split (1,347 images), one-hot targets: the nearest real
classification set to MNIST here. Nets ``64 -> 256 x (D - 1) -> 10`` with D = 2, 8, 32 (quick)
or 2, 4, 8, 16, 32 (default) weight matrices (the paper's :math:`N_l = D + 1`), no biases; the loss
:math:`\ell(P) = \frac{1}{2m}\sum_\mu \|y_\mu - P x_\mu\|^2` of the end-to-end map
:math:`P = W_D \cdots W_1`, descended through eq. (13) with :math:`\Sigma^{11} = XX^T/m`,
:math:`\Sigma^{31} = YX^T/m`, as the paper did (exact for a linear net; every product carries the
10 output columns, not the 1,347 images). Width 256, not 1000, and depth 32, not 100: a step costs
:math:`\propto D N^2`, 50x ours at the paper's size, and the Gaussian nets need more steps the
deeper they are. Our deepest net has the depth/width ratio of the paper's deepest (1/8 vs 1/10);
as :math:`N \to \infty` the spread of a product's singular values depends on D alone (below), so
our deepest product spreads as the paper's depth-32 one does, a third of its deepest.
Learning time: steps until :math:`\ell - \ell^*` falls below 10 % of :math:`\ell(0) - \ell^*`,
:math:`\ell^*` the least-squares optimum over linear maps (the paper's absolute threshold means
nothing on other data; "nearly complete" read as 90 % of what a linear map can learn). Learning
rates :math:`\eta_k = \sqrt2^{\,k} / D`, k any integer (about the paper's spacing; the optimal rate
falls as 1/D, its eq. 42 and Fig. 4 right, so the grid moves with D and needs no edges): walked
down from k = 0, and up if k = 0 is the best, until two rates in a row are no faster than the
best so far, and a run stops as soon as it cannot beat the best (branch and bound). That finds the
fastest rate of the grid when the learning time is unimodal in the rate (below the optimum it
grows as :math:`1/\eta`, gradient flow; tested against the whole grid on a small net). A run that
diverges (loss not finite, or above 1000x its first value) has no learning time; if no rate
reaches the threshold within 500 (quick) or 1000 steps the time counts as that cap, a lower
bound, so a failure makes a slowdown look smaller, never larger. Initializers ``orthogonal``
(semi-orthogonal first and last layers) and ``lecun_normal`` (:math:`N(0, 1/\mathrm{fan\_in})`,
the paper's :math:`N(0, 1/N)` on the square layers); no pretraining arm (not part of the claim
tested). The engine's ``train`` is not used: it takes one learning rate per model, but trains
cross-entropy through a sigmoid or softmax output, not squared error.

Fig. 6B: per seed and depth, 4 products of D Gaussian :math:`N(0, 1/N)` matrices and one of D
orthogonal ones, N = 256 (the nets' width). With :math:`G = W^T W` for the last factor and
:math:`B = QQ^T` for the product Q of the others,
:math:`E\,\mathrm{tr}\,GBGB = (1 + 1/N)\,\mathrm{tr}\,B^2 + (\mathrm{tr}\,B)^2/N` and
:math:`E(\mathrm{tr}\,GB)^2 = (\mathrm{tr}\,B)^2 + 2\,\mathrm{tr}\,B^2/N`, so the squared singular
values of the product have :math:`E\,\overline{\sigma^2} = 1` and :math:`E\,\overline{\sigma^4} = a_D`
exactly, :math:`a_D = (1 + 1/N)\,a_{D-1} + b_{D-1}`, :math:`b_D = b_{D-1} + 2 a_{D-1}/N^2`,
:math:`a_0 = b_0 = 1` (:func:`product_moments`; the bar is the mean over the N singular values).
As :math:`N \to \infty`, :math:`a_D \to D + 1`, the second moment of the Fuss-Catalan law of free
probability: the variance of :math:`\sigma^2` grows as D while its mean stays 1. The figure's
histograms pool every seed's first product; below ~1e-13 a product's singular values are lost to
float64 rounding (at D = 32 more than a tenth of them), which the moments do not feel (they are
carried by the large ones).

Seed s's training split comes from ``seeding.stream(root, 0, s)``, its nets at depth D from
``seeding.stream(root, 1 + i, D, s)`` (i = 0 orthogonal, 1 Gaussian; the same draw for every rate),
its Gaussian products from ``seeding.stream(root, 3, D, s)`` and its orthogonal one from
``seeding.stream(root, 4, D, s)``.

Verdict
-------
Lines fixed before the run. Fig. 6A: per seed, the least-squares slope of :math:`\log_2` (best
learning time) against :math:`\log_2 D`. Orthogonal: the 95 % interval (over seeds) of the slope
inside (-0.25, 0.25), i.e. less than a factor 2 either way over the 16x depth range ("depth
independent", with room for the finite delay of the paper's eq. 45). Gaussian: the interval above
0.25, i.e. slower by more than 2x over that range (the paper's text: the learning time grows with
depth, the gap to orthogonal is "modest" at depth ~6 and "magnified at larger depths"). Fig. 6B,
at every depth: orthogonal products, every :math:`|\sigma - 1| < 10^{-10}`; Gaussian products,
the 95 % interval of :math:`\overline{\sigma^2}` inside [0.8, 1.25] of its exact mean 1 (the
norm is preserved on average) and that of :math:`(\overline{\sigma^4} - 1) / (a_D - 1)`, the
variance of :math:`\sigma^2` over its exact value, inside [0.8, 1.25] (the spread grows with depth
as computed). The variance estimate takes :math:`\overline{\sigma^2}` (exact mean 1) as a control
variate, its coefficient fitted over all seeds' products at that depth: the fourth moment is
heavy tailed (at D = 32 a single product's :math:`\overline{\sigma^4}` scatters by ~40 %), and
this cuts the interval 2-3x; at D = 32 the estimate still runs a few % low, as the mean of a
right-skewed sample mostly does. Margins: slope units (6A), decades (orthogonal products), ratio
units (Gaussian products).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from initlab import datasets, initializers, seeding
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

WIDTH = 256  # hidden units per layer (the paper: 1000)
THRESHOLD = 0.1  # learning time: steps until the excess loss is below this fraction of the zero map's
RATE_STEP = math.sqrt(2.0)  # learning-rate grid spacing (the paper's: 10**(3/19) = 1.44)
PATIENCE = 2  # stop walking the grid after this many rates in a row no faster than the best
DIVERGED = 1e3  # a loss above this multiple of the run's first loss ends it as diverged
PRODUCTS = 4  # Gaussian products per seed and depth (Fig. 6B)
SIZES = {"quick": {"depths": (2, 8, 32), "max_steps": 500}, "default": {"depths": (2, 4, 8, 16, 32), "max_steps": 1000}}
SLOPE = 0.25  # |d log2 time / d log2 depth| below: depth independent; above: grows with depth
EXACT = 1e-10  # orthogonal products: every singular value within this of 1
BAND = (0.8, 1.25)  # Gaussian products: the moments' intervals over their exact values
INITS = {"orthogonal": initializers.get("orthogonal"), "gaussian": initializers.get("lecun_normal")}
CHUNK = 4  # seeds per unit


@dataclass(frozen=True)
class Task:
    r"""The squared-error regression a linear net learns, through its correlations (the paper's eq. 13).

    :math:`\ell(P) = \tfrac12 \mathrm{tr}(P \Sigma^{11} P^T) - \mathrm{tr}(P {\Sigma^{31}}^T) + c`
    equals :math:`\frac{1}{2m}\sum_\mu \|y_\mu - P x_\mu\|^2`.

    Attributes
    ----------
    s11 : (n_in, n_in), :math:`XX^T/m`
    s31 : (n_out, n_in), :math:`YX^T/m`
    const : float, :math:`\mathrm{tr}(YY^T)/(2m)`, the loss of the zero map
    best : float, :math:`\ell^*`, the least-squares optimum over all linear maps
    """

    s11: np.ndarray
    s31: np.ndarray
    const: float
    best: float

    @classmethod
    def from_data(cls, X: np.ndarray, Y: np.ndarray) -> Task:
        """From inputs X (n_in, m) and targets Y (n_out, m)."""
        m = X.shape[1]
        s11, s31 = X @ X.T / m, Y @ X.T / m
        const = float((Y**2).sum() / (2 * m))
        P = np.linalg.lstsq(s11, s31.T, rcond=None)[0].T  # (n_out, n_in) normal equations P s11 = s31
        task = cls(s11, s31, const, 0.0)
        return cls(s11, s31, const, task.loss(P))

    def loss(self, P: np.ndarray) -> float:
        """:math:`\\ell(P)` for the end-to-end map P (n_out, n_in)."""
        return float(0.5 * np.sum((P @ self.s11) * P) - np.sum(P * self.s31) + self.const)

    def target(self) -> float:
        """The loss below which the task counts as learned: :math:`\\ell^* + \\theta(\\ell(0) - \\ell^*)`."""
        return self.best + THRESHOLD * (self.const - self.best)


def digits_task(rng) -> Task:
    """The training split of ``datasets.load("digits", rng=rng)``, one-hot targets: X (64, 1347), Y (10, 1347)."""
    data = datasets.load("digits", rng=rng)
    Y = np.eye(10)[:, data.Y_train[0]]
    return Task.from_data(data.X_train, Y)


def network(init, depth: int, n_in: int, n_out: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Layers ``W_1 .. W_D`` of a linear net ``n_in -> WIDTH x (depth - 1) -> n_out``.

    Shapes (WIDTH, n_in), (WIDTH, WIDTH) x (depth - 2), (n_out, WIDTH); each drawn by ``init``.
    """
    shapes = [(WIDTH, n_in)] + [(WIDTH, WIDTH)] * (depth - 2) + [(n_out, WIDTH)]
    return [init(shape, rng=rng) for shape in shapes]


def descend(Ws: list[np.ndarray], task: Task, rate: float, limit: int) -> tuple[int | None, bool]:
    r"""Full-batch gradient descent on :math:`\ell(W_D \cdots W_1)` until the loss is below ``task.target()``.

    The gradient of layer l (the paper's eq. 13) is
    :math:`S_l^T (P\Sigma^{11} - \Sigma^{31}) H_l^T` with :math:`S_l = W_D \cdots W_{l+1}` (n_out, n_l)
    and :math:`H_l = W_{l-1} \cdots W_1` (n_{l-1}, n_in); computed as :math:`S_l^T (H_l G^T)^T`
    with :math:`G = P\Sigma^{11} - \Sigma^{31}` (n_out, n_in), so that every product carries n_out
    columns. Every layer steps from the same weights (simultaneous update).

    Parameters
    ----------
    Ws : list of D arrays, W_1 first (modified in place)
    rate : learning rate
    limit : the most steps to take

    Returns
    -------
    steps : int, the steps taken when the loss first fell below the target, or None (not within ``limit``)
    diverged : bool, the loss left every bound (not finite, or above ``DIVERGED`` x its first value)
    """
    D, target = len(Ws), task.target()
    n_out = Ws[-1].shape[0]
    first = None
    for step in range(limit + 1):
        S = [np.eye(n_out)] * D  # S[l] = W_D ... W_{l+2} (0-based: the layers above layer l)
        for l in range(D - 1, 0, -1):
            S[l - 1] = S[l] @ Ws[l]  # (n_out, n_l)
        P = S[0] @ Ws[0]  # (n_out, n_in)
        loss = task.loss(P)
        first = loss if first is None else first
        if not math.isfinite(loss) or loss > DIVERGED * first:
            return None, True
        if loss < target:
            return step, False
        if step == limit:
            return None, False
        H = (P @ task.s11 - task.s31).T  # (n_in, n_out): G^T, then W_l ... W_1 G^T going up
        for l in range(D):
            above = Ws[l] @ H  # (n_l, n_out), with the weights before this step
            Ws[l] -= rate * (S[l].T @ H.T)  # (n_l, n_{l-1})
            H = above
    return None, False  # not reached (limit < 0)


def fastest(Ws: list[np.ndarray], task: Task, max_steps: int) -> tuple[int, float]:
    r"""The fewest steps to the target over the rates :math:`\eta_k = \sqrt2^{\,k}/D`, and the best :math:`\eta D`.

    Walks k = 0, -1, -2, ... and then 1, 2, ..., each way until ``PATIENCE`` rates in a row are no
    faster than the best so far (diverged, or not below the target in fewer steps); a run stops as
    soon as it cannot beat the best. Going down, rates that diverge before any has reached the
    target do not count (the stable rates are below them).

    Parameters
    ----------
    Ws : the initial layers (not modified; every rate starts from them)
    max_steps : the most steps of one run

    Returns
    -------
    steps : int, ``max_steps`` if no rate reached the target within it
    rate_times_depth : float, :math:`\eta D` of the fastest rate (nan if none reached)
    """
    D = len(Ws)
    best_steps, best_k = max_steps + 1, None
    for direction in (-1, 1):
        if direction > 0 and best_k != 0:  # going up only if the start is the best so far
            break
        k, misses = (0 if direction < 0 else 1), 0
        while misses < PATIENCE and -40 <= k <= 40:
            steps, diverged = descend([W.copy() for W in Ws], task, RATE_STEP**k / D, best_steps - 1)
            if steps is not None:
                best_steps, best_k, misses = steps, k, 0
            elif best_k is not None or not diverged:
                misses += 1
            k += direction
    if best_k is None:
        return max_steps, float("nan")
    return best_steps, RATE_STEP**best_k


def product_moments(depth: int, n: int) -> tuple[float, float]:
    r"""Exact :math:`E\,\overline{\sigma^4}` and :math:`E\,(\overline{\sigma^2})^2` of a product of D Gaussian matrices.

    :math:`P = W_D \cdots W_1`, :math:`W_l` i.i.d. (n, n) with i.i.d. :math:`N(0, 1/n)` entries;
    :math:`\overline{f(\sigma)} = \frac1n \sum_i f(\sigma_i(P))`. With :math:`a_D = E\frac1n\mathrm{tr}(P^TP)^2`,
    :math:`b_D = E(\frac1n\mathrm{tr}\,P^TP)^2`:
    :math:`a_D = (1 + 1/n) a_{D-1} + b_{D-1}`, :math:`b_D = b_{D-1} + 2a_{D-1}/n^2`, :math:`a_0 = b_0 = 1`
    (from :math:`E\,\mathrm{tr}\,GBGB = (1 + 1/n)\mathrm{tr}B^2 + (\mathrm{tr}B)^2/n` and
    :math:`E(\mathrm{tr}\,GB)^2 = (\mathrm{tr}B)^2 + 2\,\mathrm{tr}B^2/n` for :math:`G = W^TW`).
    D = 1: :math:`a_1 = 2 + 1/n` (Wishart). :math:`n \to \infty`: :math:`a_D \to D + 1`, :math:`b_D \to 1`.

    Returns
    -------
    a_D, b_D : float
    """
    a, b = 1.0, 1.0
    for _ in range(depth):
        a, b = (1.0 + 1.0 / n) * a + b, b + 2.0 * a / n**2
    return a, b


def product_singular_values(init, depth: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """Singular values (n,), descending, of ``W_depth ... W_1``, each ``init((n, n), rng=rng)``."""
    P = init((n, n), rng=rng)
    for _ in range(depth - 1):
        P = init((n, n), rng=rng) @ P
    return np.linalg.svd(P, compute_uv=False)


def plan(size: str, seeds: int) -> list[Unit]:
    """One unit per depth and chunk of seeds (deepest first: they take longest)."""
    return chunks(({"depth": D} for D in sorted(SIZES[size]["depths"], reverse=True)), seeds, CHUNK)


def measure(size: str, unit: Unit, root: int) -> dict:
    """Fig. 6A's learning times and Fig. 6B's products at one depth, for the unit's seeds (see the module docstring).

    Returns ``{init}/steps`` (K,), ``{init}/rate`` (K,) the best rate times D; ``gaussian/m2``,
    ``gaussian/m4`` (K, PRODUCTS), the means of sigma^2 and sigma^4 of each Gaussian product;
    ``gaussian/sv`` (K, WIDTH) the first product's singular values; ``orthogonal/deviation`` (K,),
    max |sigma - 1| of the orthogonal product.
    """
    D, cap = unit.config["depth"], SIZES[size]["max_steps"]
    out = {key: [] for key in ("orthogonal/steps", "orthogonal/rate", "gaussian/steps", "gaussian/rate",
                               "gaussian/m2", "gaussian/m4", "gaussian/sv", "orthogonal/deviation")}  # fmt: skip
    # single-threaded BLAS: the products here are skinny ((256, 256) by (256, 10)), threads only add overhead
    with threadpool_limits(limits=1, user_api="blas"), np.errstate(over="ignore", invalid="ignore"):
        for s in unit.seeds:
            task = digits_task(np.random.default_rng(seeding.stream(root, 0, s)))
            n_out, n_in = task.s31.shape
            for i, (name, init) in enumerate(INITS.items()):
                Ws = network(init, D, n_in, n_out, np.random.default_rng(seeding.stream(root, 1 + i, D, s)))
                steps, rate = fastest(Ws, task, cap)
                out[f"{name}/steps"].append(steps)
                out[f"{name}/rate"].append(rate)
            g = np.random.default_rng(seeding.stream(root, 3, D, s))
            svs = [product_singular_values(INITS["gaussian"], D, WIDTH, g) for _ in range(PRODUCTS)]
            out["gaussian/m2"].append([np.mean(sv**2) for sv in svs])
            out["gaussian/m4"].append([np.mean(sv**4) for sv in svs])
            out["gaussian/sv"].append(svs[0])
            g = np.random.default_rng(seeding.stream(root, 4, D, s))
            sv = product_singular_values(INITS["orthogonal"], D, WIDTH, g)
            out["orthogonal/deviation"].append(np.abs(sv - 1.0).max())
    return {key: np.array(v) for key, v in out.items()}


def spread_ratio(m2: np.ndarray, m4: np.ndarray, depth: int, n: int) -> np.ndarray:
    r"""Per seed, the variance of :math:`\sigma^2` over its exact value :math:`a_D - 1`, with a control variate.

    :math:`\overline{\sigma^4} - 1 - \hat\beta(\overline{\sigma^2} - 1)`, averaged over the seed's
    products, with :math:`\hat\beta` the least-squares slope of :math:`\overline{\sigma^4}` on
    :math:`\overline{\sigma^2}` over all seeds' products (:math:`E\,\overline{\sigma^2} = 1` exactly,
    so the term has mean 0 and takes out the fluctuation the two share).

    Parameters
    ----------
    m2, m4 : (seeds, products)

    Returns
    -------
    (seeds,)
    """
    x, y = m2.ravel(), m4.ravel()
    beta = np.cov(x, y)[0, 1] / np.var(x, ddof=1) if x.size > 1 and np.var(x) > 0 else 0.0
    a, _ = product_moments(depth, n)
    return (m4.mean(axis=1) - 1.0 - beta * (m2.mean(axis=1) - 1.0)) / (a - 1.0)


def _band_margin(est) -> float:
    """Distance of an interval from the edges of ``BAND`` (positive: inside)."""
    return min(est.low - BAND[0], BAND[1] - est.high)


def _learning_times(depths, cap, by_depth, rows, criteria, data) -> None:
    """Fig. 6A: per init, the best learning time and rate per depth, and the slope criterion."""
    x = np.log2(np.asarray(depths, dtype=float))
    for name in INITS:
        st = np.stack([m[f"{name}/steps"] for m in by_depth], axis=1)  # (seeds, depths)
        rate = np.stack([m[f"{name}/rate"] for m in by_depth], axis=1)  # (seeds, depths), nan: none reached
        slopes = np.polyfit(x, np.log2(st.T.astype(float)), 1)[0]  # (seeds,) least-squares slope per seed
        slope = mean_ci(slopes)
        times = [f"{np.median(c):.0f}" + (f" ({(c >= cap).sum()} capped)" if (c >= cap).any() else "") for c in st.T]
        rates = [f"{np.nanmedian(col):.3g}" if np.isfinite(col).any() else "none" for col in rate.T]
        rows.append([f"{name}: learning time, steps (median)", *times, f"slope {fmt_ci(slope)}"])
        rows.append([f"{name}: best rate x D (median)", *rates, ""])
        data[name] = {"steps": st, "rate": rate, "slopes": slopes, "slope": [slope.mean, slope.half_width]}
        if name == "orthogonal":
            criteria.append((inside("6A orthogonal: slope of log2 time vs log2 depth CI", slope.low, slope.high,
                                    -SLOPE, SLOPE, fmt=".3f"),
                             SLOPE - max(abs(slope.low), abs(slope.high))))  # fmt: skip
        else:
            criteria.append((against("6A gaussian: slope lower CI", slope.low, SLOPE, fmt=".3f"), slope.low - SLOPE))


def _products(depths, by_depth, rows, criteria, data) -> None:
    """Fig. 6B: Gaussian products' mean and variance of sigma^2 against exact values; orthogonal's max |sigma - 1|."""
    exact = [product_moments(D, WIDTH)[0] - 1.0 for D in depths]
    means = [mean_ci(m["gaussian/m2"].mean(axis=1)) for m in by_depth]
    spreads = [mean_ci(spread_ratio(m["gaussian/m2"], m["gaussian/m4"], D, WIDTH)) for m, D in zip(by_depth, depths)]
    deviation = np.array([m["orthogonal/deviation"].max() for m in by_depth])
    sv = [m["gaussian/sv"] for m in by_depth]  # (seeds, WIDTH) each
    median = [np.median(v**2) for v in sv]
    isometric = [np.mean((v**2 >= 0.5) & (v**2 <= 2.0)) for v in sv]
    band = f"line {BAND[0]}..{BAND[1]}"
    rows.append(["gaussian product: mean σ²", *(fmt_ci(e) for e in means), band])
    rows.append(["gaussian product: Var σ², exact (a_D - 1)", *(f"{v:.3g}" for v in exact), "free probability: ~D"])
    rows.append(["gaussian product: Var σ² / exact", *(fmt_ci(e) for e in spreads), band])
    rows.append(["gaussian product: median σ²", *(f"{v:.2g}" for v in median), "most become vanishingly small"])
    rows.append(["gaussian product: share of σ² in [1/2, 2]", *(f"{v:.0%}" for v in isometric), "orthogonal: 100%"])
    rows.append(["orthogonal product: max |σ - 1|", *(f"{v:.1e}" for v in deviation), f"line {EXACT:.0e}"])
    worst = deviation.max()
    criteria.append((against("6B orthogonal: max |σ - 1|", worst, EXACT, above=False, fmt=".1e"),
                     math.log10(EXACT) - math.log10(max(worst, 1e-300))))  # fmt: skip
    for what, estimates in (("mean σ²", means), ("Var σ² / exact", spreads)):
        j = int(np.argmin([_band_margin(e) for e in estimates]))
        text = inside(
            f"6B gaussian: {what} CI at the worst depth D={depths[j]}",
            estimates[j].low,
            estimates[j].high,
            *BAND,
            fmt=".3f",
        )
        criteria.append((text, _band_margin(estimates[j])))
    data["products"] = {"exact_var": exact, "mean_sigma2": [[e.mean, e.half_width] for e in means],
                        "var_ratio": [[e.mean, e.half_width] for e in spreads], "max_deviation": deviation,
                        "median_sigma2": median, "isometric": isometric, "sv": sv}  # fmt: skip


def reduce(size: str, seeds: int, measured: Measured) -> StudyResult:
    depths, cap = SIZES[size]["depths"], SIZES[size]["max_steps"]
    by_depth = [measured[{"depth": D}] for D in depths]
    header = ["quantity", *(f"D={D}" for D in depths), "95% CI"]
    rows, criteria = [], []
    data = {"depths": list(depths), "width": WIDTH, "max_steps": cap, "threshold": THRESHOLD, "slope_line": SLOPE,
            "band": list(BAND), "exact": EXACT}  # fmt: skip
    _learning_times(depths, cap, by_depth, rows, criteria, data)
    _products(depths, by_depth, rows, criteria, data)
    return StudyResult("saxe2013", size, seeds, header, rows, Verdict.all_of(criteria), data)


STUDY = Study(
    name="saxe2013",
    paper="Saxe, McClelland & Ganguli 2013, Exact solutions to the nonlinear dynamics of learning in deep linear "
    "neural networks (ICLR 2014)",
    claim="Deep linear nets on digits (width 256, depth 2 to 32, the fastest of a learning-rate grid per init and "
    "depth): orthogonal init learns in a depth-independent number of steps, scaled Gaussian N(0, 1/N) slows "
    "with depth (Fig. 6A); products of D Gaussian matrices keep mean σ² = 1 while the variance of σ² grows "
    "with D as free probability says, orthogonal products keep every σ at 1 (Fig. 6B).",
    plan=plan,
    measure=measure,
    reduce=reduce,
    default_seeds={"quick": 5, "default": 8},
    doc=__doc__,
)
