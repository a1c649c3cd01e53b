r"""Coordinate check: how big every layer's activations are after a few training steps, as the width grows.

Yang & Hu et al. 2022 ("Tensor Programs V", arXiv:2203.03466, section 7 and figure 5; the ``mup``
package's ``get_coord_data``) check a parametrization by training nets of growing width for a few
steps on one fixed batch and watching the typical size of a coordinate of every layer. In a
parametrization that has a limit as width :math:`n \to \infty` every curve is flat in :math:`n`;
one that blows up shows a line of positive slope on log-log axes. Standard parametrization with a
width-independent learning rate blows up: with Adam, the first update of a hidden weight matrix is
:math:`\Delta W = -\eta\, \operatorname{sign}(g)` (Adam's first step is the sign of the gradient),
entries of size :math:`\eta` that are correlated with the incoming activations :math:`h`, so
:math:`\Delta W h` sums :math:`n` aligned terms and grows like :math:`\eta\, n` (slope 1); muP
scales that layer's rate by :math:`1/n` and the growth is gone (:mod:`initlab.parametrization`).

What is recorded
----------------
For every width :math:`n` of ``widths``, K nets (one per seed) of ``depth`` hidden layers of
:math:`n` units are trained together (K models at once, :class:`initlab.state.TrainingState`, the
numpy engine) on one batch ``X`` (full batch, as the package's ``fix_data``). After
:math:`t = 0, 1, \ldots, T` updates (:math:`t = 0`: at initialization) the forward pass on ``X``
gives, per model, the *size* (nan from the step where the model diverges, :mod:`initlab.state`'s rule)

.. math::

    \text{size}_{t,l} = \frac{1}{n_l\, m} \sum_{i, j} |A^{[l]}_{ij}| \quad (l = 1..L-1),
    \qquad \text{size}_{t,\text{output}} = \frac{1}{n_L\, m} \sum_{i, j} |Z^{[L]}_{ij}| \;\text{(the logits)},

and the *change* from initialization, the same mean of :math:`|A^{[l]}_t - A^{[l]}_0|` (the
package's coord checks of :math:`x_t - x_0`). The arrays are ``(W, T + 1, L, K)``: width, step,
layer (hidden layers, then the output), seed.

Slopes and readings
-------------------
Per seed, layer and step, the least-squares slope of :math:`\log \text{size}` against
:math:`\log n` over the widths (:func:`fit_slopes`): the exponent :math:`s` of
:math:`\text{size} \propto n^s`. :meth:`CoordCheck.readings` says it in words per layer: flat
(:math:`|s| \le` :data:`FLAT`, at most :math:`32^{0.1} = 1.4\times` over 64..2048), grows slowly
(up to :data:`BLOWUP`), blows up as the net widens (:math:`s \ge` :data:`BLOWUP`), or shrinks (the
layer's update vanishes with width).

Cost
----
Checked before any work (:func:`check_cost`): the memory of the widest run
(:func:`initlab.budget.training_bytes` plus the activations kept for the change) against the
machine's, and the time (multiply-adds of all steps at :data:`FLOP_RATE`) against
:data:`MAX_SECONDS`. BLAS runs on one thread throughout (:func:`initlab.state.engine_context`):
measured on this 2-core machine shared with other work, K = 4 products ``(n, n) @ (n, 128)``
ran at 34/18 GFLOP/s (one/two threads) at n = 256, 27/8 at 512, 35/22 at 1024, 38/27 at 2048:
two threads were slower at every width.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from initlab import budget, optimizers, seeding
from initlab.network import MLP, flatten_params, forward_pass, logits_sound
from initlab.parametrization import PARAMETRIZATIONS
from initlab.state import TrainingState, engine_context
from initlab.validation import check_choice, check_int, check_real

__all__ = [
    "BLOWUP",
    "DEFAULT_WIDTHS",
    "FLAT",
    "FLOP_RATE",
    "KINDS",
    "MAX_SECONDS",
    "MAX_STEPS",
    "CoordCheck",
    "check_cost",
    "coord_check",
    "digits_batch",
    "fit_slopes",
    "layer_names",
]

#: The widths of the check (TP5's figures use 2^7..2^13; 4096 where it fits, pass it).
DEFAULT_WIDTHS = (64, 128, 256, 512, 1024, 2048)
#: A slope this small in absolute value reads "flat": at most 1.4x over the 32x from 64 to 2048.
FLAT = 0.1
#: A slope at least this large reads "blows up" (3.5x or more over 64..2048); between FLAT and it, "grows slowly".
BLOWUP = 0.5
#: Multiply-adds per second assumed by the time estimate: under the one-thread rate measured here (module docstring).
FLOP_RATE = 1.0e10
#: The longest estimated run accepted; more is refused with what to change.
MAX_SECONDS = 1800.0
#: The most training steps: a coordinate check looks at the first few.
MAX_STEPS = 5
#: What the numbers are: ``"size"`` mean |h_t|, ``"change"`` mean |h_t - h_0|.
KINDS = ("size", "change")


def layer_names(depth: int) -> tuple[str, ...]:
    """``("layer 1", ..., "layer depth", "output")``: the hidden layers' activations, then the logits."""
    return (*(f"layer {l}" for l in range(1, depth + 1)), "output")


def fit_slopes(widths, values: np.ndarray) -> np.ndarray:
    r"""Least-squares slope of :math:`\log v` against :math:`\log n` along the first axis.

    Parameters
    ----------
    widths : (W,) the widths n
    values : (W, ...) positive values

    Returns
    -------
    (...) slopes; nan where a value along the width axis is not positive or not finite.
    """
    x = np.log(np.asarray(widths, dtype=float))
    x = x - x.mean()
    v = np.asarray(values, dtype=float)
    shape = (-1,) + (1,) * (v.ndim - 1)
    with np.errstate(all="ignore"):  # a nan or inf anywhere along the widths gives nan, below
        y = np.log(np.where(v > 0, v, np.nan))
        slope = np.sum(x.reshape(shape) * (y - y.mean(axis=0)), axis=0) / np.sum(x**2)
    return np.where(np.isfinite(y).all(axis=0), slope, np.nan)


@dataclass(frozen=True)
class CoordCheck:
    """What :func:`coord_check` measured.

    Attributes
    ----------
    widths : (W,) the hidden widths, ascending
    layers : (L,) names, :func:`layer_names`
    size : (W, T + 1, L, K) mean |activation| after t steps (output: the logits); nan after divergence
    change : (W, T + 1, L, K) mean |activation_t - activation_0|
    parametrization, optimizer, learning_rate, activation, init, base_width : the setting
    seeds : K
    wall_time : seconds of training and recording
    estimate : (bytes, seconds) planned before the run (:func:`check_cost`)
    """

    widths: tuple[int, ...]
    layers: tuple[str, ...]
    size: np.ndarray
    change: np.ndarray
    parametrization: str
    optimizer: str
    learning_rate: float
    activation: str
    init: str
    base_width: int | None
    seeds: int
    wall_time: float
    estimate: tuple[int, float]

    @property
    def steps(self) -> int:
        return self.size.shape[1] - 1

    def values(self, kind: str = "size") -> np.ndarray:
        """``size`` or ``change`` (W, T + 1, L, K)."""
        return getattr(self, check_choice("kind", kind, KINDS))

    def slopes(self, kind: str = "size") -> np.ndarray:
        """(T + 1, L, K) the log-log slope against width per step, layer and seed (:func:`fit_slopes`)."""
        return fit_slopes(self.widths, self.values(kind))

    def slope_summary(self, kind: str = "size") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(mean, min, max)`` of the slopes over the seeds, each (T + 1, L); nan where no seed has one."""
        s = self.slopes(kind)
        some = np.isfinite(s).any(axis=-1)
        filled = np.where(np.isfinite(s), s, 0.0)
        count = np.maximum(np.isfinite(s).sum(axis=-1), 1)
        mean = np.where(some, filled.sum(axis=-1) / count, np.nan)
        lo = np.where(some, np.where(np.isfinite(s), s, np.inf).min(axis=-1), np.nan)
        hi = np.where(some, np.where(np.isfinite(s), s, -np.inf).max(axis=-1), np.nan)
        return mean, lo, hi

    def readings(self, kind: str = "size") -> list[str]:
        """One sentence per layer: flat, grows like width^s or shrinks like width^s after the steps (module docstring)."""
        mean, lo, hi = self.slope_summary(kind)
        return [_reading(name, mean[:, j], lo[:, j], hi[:, j], self.parametrization, kind)
                for j, name in enumerate(self.layers)]  # fmt: skip


def _reading(name: str, mean: np.ndarray, low: np.ndarray, high: np.ndarray, parametrization: str, kind: str) -> str:
    """The sentence of one layer from its slopes' seed mean, min and max, each (T + 1,)."""
    trained = mean[1:]
    if not np.isfinite(trained).any():
        return f"{name}: no slope (a model diverged or a value was 0 at some width)"
    t = 1 + int(np.nanargmax(np.abs(trained)))
    s, lo, hi = mean[t], low[t], high[t]
    at_init = ""
    if kind == "size" and np.isfinite(mean[0]) and abs(mean[0]) > FLAT:
        at_init = f"; at initialization already width^{mean[0]:.2f}"
    steps = "step 1" if len(trained) == 1 else f"steps 1-{len(trained)}"
    if abs(s) <= FLAT:
        return f"{name}: flat after {steps} (largest |slope| {abs(s):.2f} at step {t}): width-independent{at_init}"
    seeds = f" (seeds {lo:.2f} to {hi:.2f})" if hi > lo else ""
    if s >= BLOWUP:
        return (f"{name} grows like width^{s:.2f} after step {t}{seeds}: {parametrization} parametrization "
                f"blows up here{at_init}")  # fmt: skip
    if s > 0:
        return (f"{name} grows slowly, like width^{s:.2f} after step {t}{seeds}: a drift that may be a "
                f"finite-width effect; check wider widths{at_init}")  # fmt: skip
    return (f"{name} shrinks like width^{s:.2f} after step {t}{seeds}: its updates vanish as the net widens "
            f"({parametrization} parametrization){at_init}")  # fmt: skip


def digits_batch(examples: int = 128, rng=0) -> tuple[np.ndarray, np.ndarray]:
    """``(X, Y)``: the first ``examples`` training examples of scikit-learn's digits (64 standardized pixels, 10 classes).

    The fixed batch of a coordinate check: a real data set with inputs of finite dimension.
    Returns ``X`` (64, examples) and ``Y`` (1, examples) int labels.
    """
    from initlab import datasets

    examples = check_int("examples", examples, min_value=1, max_value=1347)
    data = datasets.load("digits", rng=rng)
    return data.X_train[:, :examples], data.Y_train[:, :examples]


def _shapes(X: np.ndarray, Y: np.ndarray, widths, depth: int):
    """The layers of each width's net and its output: ``([(n_0, n, ..., n, n_L)], output)``."""
    classes = int(np.max(Y)) + 1 if Y.size else 2
    output, n_out = ("softmax", classes) if classes > 2 else ("sigmoid", 1)
    return [(X.shape[0], *(n,) * depth, n_out) for n in widths], output


def check_cost(layers: Sequence[tuple[int, ...]], seeds: int, m: int, steps: int) -> tuple[int, float]:
    """``(bytes, seconds)`` of a check over nets ``layers`` (one per width), or a ValueError saying what to change.

    Bytes: the widest net's training arrays (:func:`initlab.budget.training_bytes`) and the
    activations kept at step 0 for the change (``K m sum(n_l)`` floats; widths run one after
    another). Seconds: each step's forward and backward pass (3 products of every weight matrix
    with the batch) and the ``T + 1`` recording passes, ``2 K m P`` multiply-adds per pass-product,
    at :data:`FLOP_RATE`.
    """
    need, flops = 0, 0.0
    for shape in layers:
        kept = 8 * seeds * m * sum(shape[1:])
        need = max(need, budget.training_bytes(shape, seeds, m) + kept)
        weights = sum(a * b for a, b in zip(shape[1:], shape[:-1]))
        flops += 2.0 * seeds * m * weights * (3 * steps + steps + 1)
    fix = "Drop the widest widths (--widths), or use fewer seeds (--seeds)."
    budget.check_memory(need, f"A coordinate check up to width {max(s[1] for s in layers)} with {seeds} seeds", fix)
    seconds = flops / FLOP_RATE
    if seconds > MAX_SECONDS:
        raise ValueError(
            f"A coordinate check up to width {max(s[1] for s in layers)} with {seeds} seeds and {steps} steps needs about "
            f"{seconds / 60:.0f} minutes here (at most {MAX_SECONDS / 60:.0f} are accepted). {fix}"
        )
    return need, seconds


def _check_widths(widths) -> tuple[int, ...]:
    example = "e.g. 64,128,256,512"
    if isinstance(widths, (str, bytes)) or not isinstance(widths, Sequence):
        raise TypeError(f"The 'widths' parameter must be a sequence of integers, {example}. Got {widths!r} instead.")
    values = tuple(check_int("widths", w, min_value=1) for w in widths)
    if len(set(values)) < 2:
        raise ValueError(
            f"The 'widths' parameter needs at least two different widths to fit a slope, {example}. Got {widths!r} instead."
        )
    return tuple(sorted(set(values)))


def coord_check(
    X,
    Y,
    *,
    widths=DEFAULT_WIDTHS,
    depth: int = 3,
    activation: str = "relu",
    parametrization: str = "standard",
    base_width: int | None = None,
    init: str = "he_normal",
    optimizer: str = "adam",
    learning_rate: float = 0.01,
    steps: int = 3,
    seeds: int = 4,
    rng=0,
) -> CoordCheck:
    r"""Train K nets per width for ``steps`` full-batch updates on ``(X, Y)`` and record every layer's size after each.

    Parameters
    ----------
    X : (n_0, m) the fixed batch (e.g. :func:`digits_batch`)
    Y : (1, m) int labels; 2 classes train a sigmoid output, more a softmax
    widths : sequence of >= 2 different ints, the hidden width n (sorted)
    depth : int >= 1, hidden layers of n units
    activation : hidden activation (:mod:`initlab.activations`)
    parametrization : {"standard", "ntk", "mup"}
    base_width : int, ``mup`` only
        The width at which muP equals standard; None: the narrowest width (so the parametrizations
        start from the same net and learning rate there).
    init : a fan_in initializer name (``he_normal``, ``lecun_normal``, ...)
    optimizer : {"gd", "sgd", "momentum", "adam"} (full batch: sgd is gd)
    learning_rate : float > 0, the rate at the base width (every parameter's, under standard)
    steps : int, 1 to :data:`MAX_STEPS`
    seeds : int >= 1, K nets per width
    rng : seed of the K streams: model k at width index i draws from the i-th child of model k's stream

    Returns
    -------
    CoordCheck
    """
    widths = _check_widths(widths)
    depth = check_int("depth", depth, min_value=1, max_value=64)
    check_choice("parametrization", parametrization, PARAMETRIZATIONS)
    if base_width is None and parametrization == "mup":
        base_width = widths[0]
    opt = optimizers.get(optimizer)
    learning_rate = check_real("learning_rate", learning_rate, min_value=0.0, min_inclusive=False)
    steps = check_int("steps", steps, min_value=1, max_value=MAX_STEPS)
    seeds = check_int("seeds", seeds, min_value=1, max_value=256)
    X = np.asarray(X, dtype=float)
    shapes, output = _shapes(X, np.asarray(Y), widths, depth)
    nets = [MLP(s, activation, output, parametrization=parametrization, base_width=base_width) for s in shapes]
    X, T = nets[0].check_data(X, Y)
    roots = [g.bit_generator.seed_seq for g in seeding.model_streams(rng, seeds)]  # model k's stream
    estimate = check_cost(shapes, seeds, X.shape[1], steps)
    start = time.perf_counter()
    size = np.full((len(widths), steps + 1, depth + 1, seeds), np.nan)
    change = np.full_like(size, np.nan)
    with engine_context():
        for i, net in enumerate(nets):
            streams = [np.random.SeedSequence(r.entropy, spawn_key=(*r.spawn_key, i)) for r in roots]
            params = net.initialize(init, rng=streams)
            size[i], change[i] = _train_and_record(net, params, X, T, opt, learning_rate, steps)
    return CoordCheck(widths, layer_names(depth), size, change, parametrization, opt.name, learning_rate, activation,
                      init, base_width, seeds, time.perf_counter() - start, estimate)  # fmt: skip


def _train_and_record(net: MLP, params: dict, X, T, opt, learning_rate: float, steps: int):
    """``(size, change)`` each (T + 1, L, K) of one width's K models (module docstring); nan after divergence."""
    K = params["W1"].shape[0]
    state = TrainingState(net, flatten_params(params), X, T, np.full(K, learning_rate), iterations=steps,
                          record_every=steps, loss="stable", optimizer=opt)  # fmt: skip
    size = np.full((steps + 1, net.n_layers, K), np.nan)
    change = np.full_like(size, np.nan)
    first, dead = None, np.zeros(K, dtype=bool)
    for t in range(steps + 1):
        if t:
            state.advance(1)
        Zs, As = forward_pass(*state.views(), X, net.hidden.forward, net.output_function)
        hs = [*As[:-1], Zs[-1]]  # (K, n_l, m) each: hidden activations, then the logits
        if first is None:
            first = [h.copy() for h in hs]
        for l, (h, h0) in enumerate(zip(hs, first)):
            size[t, l] = np.abs(h).mean(axis=(1, 2))
            change[t, l] = np.abs(h - h0).mean(axis=(1, 2))
        # diverged (initlab.state's rule): logits not finite or beyond 1e100 now, or an update not finite before
        dead |= ~logits_sound(Zs[-1]) | ((state.diverged_at >= 0) & (state.diverged_at < t))
        size[t, :, dead] = np.nan
        change[t, :, dead] = np.nan
    return size, change
