r"""Training K networks at once: :func:`train` (checks -> a state -> segments -> a History) and its recipe.

:func:`train` checks its inputs, builds a :class:`initlab.state.TrainingState` (where one
iteration, minibatches and divergence are defined) and advances it with the numpy engine or the
compiled one (:mod:`initlab.kernels`), stopping between segments for diagnostics and progress; it
returns a :class:`History`. :func:`initialize_and_train` draws the initial parameters first, on
the seed rule of :mod:`initlab.seeding`.

float32 against float64
-----------------------
``train(..., dtype="float32")`` from the same float64 draws (``tests/test_float32.py``, the
notebook's data, BLAS on one thread):

- *Agrees* on well-conditioned runs: the notebook's net, He init, lr 0.01, 2000 iterations of gd,
  32 seeds: loss curves within 1.3e-5 relative at every recorded iteration (1e-7, float32's
  rounding, at iteration 0; the gap grows as the trajectories drift), the same train and test
  accuracy on every seed. A LayerNorm residual net's gd curves agree within 1e-4 (200 iterations).
- *Divergence*: the same models diverge (linear, leaky_relu nets at lr 3-1e4); float32 gives up
  0-2 iterations earlier (at most 4 measured), at its lower logit line. Models whose logits pass
  1e30 but not 1e100 and come back (selu at lr 100: 7 of 16 seeds) diverge in float32 only.
- *Differs*: tiny learning rates. An update below half a float32 ulp of a weight (lr 1e-8 on
  weights ~0.5) rounds away: float32 leaves those weights where they were and its loss falls
  about a third as much as float64's. Runs with loss spikes (gd at lr 0.1, 8 seeds; Adam on a
  LayerNorm residual net) separate at the spikes: up to 0.7 relative, where a 1e-7 perturbation
  of the float64 start moves the curves by at most 3.5e-3 (float32 rounds at every step, not
  only at the start); the final accuracies still agreed on every seed at lr 0.1.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field

import numpy as np

from initlab import initializers, optimizers, seeding
from initlab.diagnostics import BlockStats, LayerStats, measure_views
from initlab.network import (
    MLP,
    logits_sound,
    loss_from_output,
    predicted_labels,
    remove_model_axis,
    true_labels,
)
from initlab.residual import ResidualMLP
from initlab.state import TrainingState, blas_threads, engine_context, max_cores, passes
from initlab.validation import check_choice, check_dtype, check_int, check_learning_rate

__all__ = [
    "ENGINES",
    "MAX_ITERATIONS",
    "History",
    "check_engine",
    "check_iterations",
    "initial_parameters",
    "initialize_and_train",
    "train",
]


@dataclass(frozen=True)
class History:
    """What :func:`train` returns. Arrays carry the model axis K, also for a dict without one.

    Attributes
    ----------
    loss : (K, n_records) float64
        Loss at ``record_iterations`` (before that iteration's update); nan after divergence. Stored
        as float64 also for ``dtype="float32"`` (the values are then float32's, exactly).
    record_iterations : (n_records,) int
        ``0, record_every, 2 record_every, ... < iterations``.
    train_accuracy : (K,) float64
        Accuracy of the final parameters on the training set.
    test_accuracy : (K,) float64 or None
        On ``X_test, Y_test`` when given.
    final_loss : (K,) float64
        Training-set loss (of ``loss_kind``) of the final parameters, after the last update; nan
        where their logits are past the divergence line (a diverged model's last finite parameters).
        Computed in ``dtype``, stored as float64.
    params : dict
        Final parameters (a diverged model's last finite ones), in the shape they came, of ``dtype``.
    diverged : (K,) bool
    diverged_at : (K,) int
        Iteration at which each model diverged, -1 if it did not.
    learning_rate : (K,) float64
    iterations : int
    loss_kind : {"stable", "legacy"}
    wall_time : float
        Seconds spent in the training loop (diagnostics included).
    diagnostics : tuple of LayerStats (of BlockStats for a ResidualMLP)
        At ``diagnostics_iterations`` (empty when off). A residual net's are per block, the same
        fields with the layer index replaced by the block index (:class:`initlab.diagnostics.BlockStats`).
    diagnostics_iterations : (n_diagnostics,) int
        ``0, N, 2N, ... < iterations`` and finally ``iterations`` (the trained parameters).
    optimizer : str
        The update rule with its options, e.g. ``"adam(beta1=0.9, beta2=0.999, epsilon=1e-08)"``.
    batch_size : int or None
        Examples per update; None for the full batch.
    dtype : {"float64", "float32"}
        What the training computed in.
    """

    loss: np.ndarray
    record_iterations: np.ndarray
    train_accuracy: np.ndarray
    test_accuracy: np.ndarray | None
    params: dict
    diverged: np.ndarray
    diverged_at: np.ndarray
    learning_rate: np.ndarray
    iterations: int
    loss_kind: str
    wall_time: float
    diagnostics: tuple[LayerStats | BlockStats, ...] = ()
    diagnostics_iterations: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    optimizer: str = "gd()"
    batch_size: int | None = None
    final_loss: np.ndarray | None = None
    dtype: str = "float64"


#: The most parameter updates one call trains (the CLI's and the library's door alike).
MAX_ITERATIONS = 100_000_000

#: Training engines: the reference (batched numpy products) and the compiled one (:mod:`initlab.kernels`).
ENGINES = ("numpy", "numba")


def check_iterations(iterations) -> int:
    """``iterations`` if it is an integer from 1 to :data:`MAX_ITERATIONS` (one rule for ``train`` and ``initlab train``)."""
    return check_int("iterations", iterations, min_value=1, max_value=MAX_ITERATIONS)


def train(
    net: MLP | ResidualMLP,
    params,
    X,
    Y,
    *,
    learning_rate=0.01,
    iterations: int = 15000,
    record_every: int = 1000,
    loss: str = "stable",
    optimizer="gd",
    batch_size: int | None = None,
    rng=None,
    diagnostics=False,
    X_test=None,
    Y_test=None,
    progress=None,
    engine: str = "numpy",
    threads: int | None = None,
    dtype="float64",
) -> History:
    r"""Train K networks on the mean cross-entropy (default: the notebook's full-batch gradient descent).

    Checks the inputs, advances a :class:`initlab.state.TrainingState` in segments (diagnostics and
    progress look between them; segments do not change the numbers) and packs a :class:`History`.

    Parameters
    ----------
    net : MLP or ResidualMLP
        A :class:`initlab.residual.ResidualMLP` trains with either engine (numba: every norm,
        parametrization, optimizer and batch size, :mod:`initlab.kernels_residual`); its diagnostics are
        per block (:class:`initlab.diagnostics.BlockStats`).
    params : dict
        Initial parameters, ``{"W1": (K, n_1, n_0), ...}`` (:meth:`MLP.initialize`) or the
        notebook's dict without model axis (K = 1); for a ResidualMLP, :meth:`ResidualMLP.initialize`'s.
        Not modified.
    X : (n_0, m)
    Y : labels, see :meth:`MLP.check_data`
    learning_rate : float > 0 or (K,) array of them
        One rate for all models, or one per model.
    iterations : int, 1 to :data:`MAX_ITERATIONS`
        Parameter updates. With minibatches an epoch is ``ceil(m / batch_size)`` of them.
    record_every : int >= 1
        Record the loss at iterations ``0, record_every, ...`` (the notebook: 1000).
    loss : {"stable", "legacy"}
        Which loss is *recorded*; the gradients are the same. ``"legacy"`` is the notebook's,
        from probabilities (can be inf; sigmoid output only).
    optimizer : str or Optimizer
        ``"gd"`` (default), ``"sgd"``, ``"momentum"``, ``"adam"`` with default options, or
        ``initlab.optimizers.get(name, **options)``.
    batch_size : int in [1, m] or None
        Examples per update (not with ``gd``); None: the whole training set. See
        :mod:`initlab.state` for epochs and shuffling.
    rng : None, int, SeedSequence, Generator, or a list of K of these
        Seed of the K minibatch streams (model k uses the k-th child, :mod:`initlab.seeding`), or
        the K streams themselves (model k uses ``rng[k]``: how a sweep trains runs of independent
        seeds together); unused without ``batch_size``.
    diagnostics : bool or int
        False (default): none, and no extra work. ``N``: :class:`LayerStats` (a ResidualMLP's
        :class:`~initlab.diagnostics.BlockStats`) at iterations ``0, N, 2N, ...`` and of the final
        parameters. True: ``N = record_every``.
    X_test, Y_test : optional held-out set for ``test_accuracy`` (both or neither).
    progress : callable, optional
        ``progress(done)`` with the number of updates done, at every recorded iteration and once
        at the end (a progress bar's hook).
    engine : {"numpy", "numba"}
        ``"numpy"`` (default): the reference engine, batched matrix products over the model axis
        (:meth:`TrainingState.advance`). ``"numba"``: the compiled kernel (:func:`initlab.kernels.advance`,
        each thread trains whole models), for every optimizer, minibatches and parametrization of an
        MLP; same results within 1e-12 relative on the losses.
    threads : int >= 1, optional
        Threads of the numba engine (default: numba's, one per core; each trains whole models), or of
        BLAS under the numpy engine (default: by shape, :func:`initlab.state.blas_threads`: one for
        small layers, every core once a model's largest matrix product is wide).
    dtype : {"float64", "float32"}
        What training computes in (:func:`initlab.validation.check_dtype`). ``"float64"`` (default):
        the notebook's precision, every number as before. ``"float32"`` (either engine): the parameters
        (rounded once from ``params``), the data, the learning rates, the optimizer's state and every
        product (BLAS's sgemm, or the kernels' float32 loops: :mod:`initlab.kernels`) in float32, the loss
        from the logits too; the History's losses are stored as float64, its ``params`` are float32. Divergence is tested against a logit line float32 can hold
        (:data:`initlab.network.DIVERGENCE_LOGIT_FLOAT32`, 1e30, against 1e100 in float64). Where
        the two agree and where not: the module docstring.

    Returns
    -------
    History
    """
    run = _check(net, params, X, Y, learning_rate=learning_rate, iterations=iterations, record_every=record_every,
                 loss=loss, optimizer=optimizer, batch_size=batch_size, rng=rng, diagnostics=diagnostics,
                 X_test=X_test, Y_test=Y_test, engine=engine, threads=threads, dtype=dtype)  # fmt: skip
    state = TrainingState(net, passes(net).flatten(run.params), run.X, run.T, run.learning_rate, iterations=run.iterations,
                          record_every=run.record_every, loss=run.loss, optimizer=run.optimizer,
                          batch_size=run.batch_size, streams=run.streams, dtype=run.dtype)  # fmt: skip
    with engine_context(run.threads if run.kernels is None else 1):
        stats, wall_time = _advance(run, state, progress)
        return _history(run, state, stats, wall_time)


def initialize_and_train(
    net: MLP,
    X,
    Y,
    *,
    init="he_normal",
    init_options=None,
    models: int = 1,
    rng=None,
    learning_rate=0.01,
    iterations: int = 15000,
    record_every: int = 1000,
    loss: str = "stable",
    optimizer="gd",
    batch_size: int | None = None,
    diagnostics=False,
    X_test=None,
    Y_test=None,
    progress=None,
    engine: str = "numpy",
    threads: int | None = None,
    dtype="float64",
) -> History:
    """Draw K models' initial parameters and train them: the recipe of ``initlab train`` and MLPClassifier.

    ``rng`` is split once into two streams (:func:`initlab.seeding.split`): the first seeds
    :meth:`MLP.initialize` (model k's initial parameters come from its k-th child), the second
    seeds :func:`train`'s minibatch order (model k's from its k-th child). So model k is the same whatever ``models`` is, and its
    initialization and its minibatches never share random numbers. In code::

        init_rng, order_rng = numpy.random.default_rng(rng).spawn(2)
        params = net.initialize(init, rng=init_rng, models=models, **init_options)
        history = train(net, params, X, Y, rng=order_rng, ...)

    Parameters
    ----------
    net : MLP
    X : (n_0, m)
    Y : labels, see :meth:`MLP.check_data`
    init : str or callable
        An initializer name or ``init(shape, *, rng)`` (:meth:`MLP.initialize`).
    init_options : dict, optional
        Options of the named initializer, e.g. ``{"mode": "fan_out"}``.
    models : int >= 1
        K, trained at once along the model axis.
    rng : None, int, SeedSequence or Generator
    learning_rate, iterations, record_every, loss, optimizer, batch_size, diagnostics, X_test, Y_test, progress,
    engine, threads, dtype
        As in :func:`train` (the parameters are drawn in float64 and rounded once to ``dtype``).

    Returns
    -------
    History
    """
    params, order_rng = initial_parameters(net, init=init, init_options=init_options, models=models, rng=rng)
    return train(net, params, X, Y, learning_rate=learning_rate, iterations=iterations, record_every=record_every,
                 loss=loss, optimizer=optimizer, batch_size=batch_size, rng=order_rng, diagnostics=diagnostics,
                 X_test=X_test, Y_test=Y_test, progress=progress, engine=engine, threads=threads,
                 dtype=dtype)  # fmt: skip


def initial_parameters(net, *, init="he_normal", init_options=None, models: int = 1, rng=None) -> tuple[dict, object]:
    """The initial parameters of :func:`initialize_and_train` and the seed of its data order: ``(params, order_rng)``.

    ``rng`` is split in two (:func:`initlab.seeding.split`): the first child draws the K models'
    parameters, the second is what :func:`train` gets as ``rng``. For callers that keep the initial
    parameters (a report's view at initialization) and train them as ``initialize_and_train`` would.
    """
    if init_options is None:
        init_options = {}
    elif not isinstance(init_options, dict) or not all(isinstance(k, str) for k in init_options):
        raise TypeError(
            f"The 'init_options' parameter must be a dict of option names to values, e.g. {{'mode': 'fan_out'}}. "
            f"Got {init_options!r} instead."
        )
    if isinstance(init, str) and init in initializers.available():
        # Bind the options to the initializer first: its own 'scale' (random, variance_scaling) is an
        # option of the distribution, not MLP.initialize's scale factor.
        init, init_options = initializers.get(init, **init_options), {}
    init_rng, order_rng = seeding.split(rng)
    return net.initialize(init, rng=init_rng, models=models, **init_options), order_rng


@dataclass(frozen=True)
class _Checked:
    """:func:`train`'s inputs after checking: what the state and the History are built from."""

    params: dict  # with the model axis (K, ...)
    had_axis: bool
    X: np.ndarray  # (n_0, m)
    T: np.ndarray  # (n_L, m)
    X_test: np.ndarray | None
    T_test: np.ndarray | None
    learning_rate: np.ndarray  # (K,)
    iterations: int
    record_every: int
    loss: str
    optimizer: optimizers.Optimizer
    batch_size: int | None
    streams: list | None  # K minibatch streams, with batch_size
    diag_every: int  # 0: no diagnostics
    kernels: object  # the initlab.kernels module for engine="numba", else None
    threads: int | None
    dtype: np.dtype  # float64 or float32: X, T, X_test, T_test are of it


def _check(net: MLP | ResidualMLP, params, X, Y, *, learning_rate, iterations, record_every, loss, optimizer, batch_size, rng,
           diagnostics, X_test, Y_test, engine, threads, dtype) -> _Checked:  # fmt: skip
    """Every check of :func:`train`, in the order its parameters come."""
    if not isinstance(net, (MLP, ResidualMLP)):
        raise TypeError(f"The 'net' parameter must be an initlab MLP or ResidualMLP. Got {type(net).__name__} instead.")
    loss = net.check_loss(loss)
    P, had_axis = net.check_params(params)
    X, T = net.check_data(X, Y)
    K = len(next(iter(P.values())))  # every array has the model axis now
    iterations = check_iterations(iterations)
    record_every = check_int("record_every", record_every, min_value=1)
    lr = check_learning_rate(learning_rate, K)
    diag_every = _check_diagnostics(diagnostics, record_every)
    opt = optimizer if isinstance(optimizer, optimizers.Optimizer) else optimizers.get(optimizer)
    B = optimizers.check_batch_size(batch_size, opt, X.shape[1])
    fix = f"pass one for each of the {K} models in params"
    streams = seeding.model_streams(rng, K, fix=fix)  # model k's minibatch order (checked also when unused)
    streams = streams if B is not None else None
    if (X_test is None) != (Y_test is None):
        raise ValueError("The 'X_test' and 'Y_test' parameters go together: pass both or neither.")
    X_test, T_test = net.check_data(X_test, Y_test, names=("X_test", "Y_test")) if X_test is not None else (None, None)
    dtype = check_dtype(dtype)
    kernels, threads = check_engine(engine, threads, net, loss, opt, B, X.shape[1])
    X, T = X.astype(dtype, copy=False), T.astype(dtype, copy=False)
    if X_test is not None:
        X_test, T_test = X_test.astype(dtype, copy=False), T_test.astype(dtype, copy=False)
    return _Checked(P, had_axis, X, T, X_test, T_test, lr, iterations, record_every, loss, opt, B, streams, diag_every,
                    kernels, threads, dtype)  # fmt: skip


def _advance(run: _Checked, state: TrainingState, progress) -> tuple[list[tuple[int, LayerStats | BlockStats]], float]:
    """Train ``state`` to its end in segments; return the diagnostics ``[(iteration, stats)]`` and the seconds."""
    net = state.net
    advance = (
        state.advance if run.kernels is None else functools.partial(run.kernels.advance, state, threads=run.threads)
    )
    stats = []
    start = time.perf_counter()
    for a, b in _segments(run.iterations, run.diag_every, run.record_every if progress is not None else 0):
        if run.diag_every and a % run.diag_every == 0:
            stats.append((a, measure_views(net, state.views(), run.X, run.T)))
        if progress is not None and a % run.record_every == 0:
            progress(a)
        advance(b - a)
    if run.diag_every:
        stats.append((run.iterations, measure_views(net, state.views(), run.X, run.T)))
    wall_time = time.perf_counter() - start
    if progress is not None:
        progress(run.iterations)
    return stats, wall_time


def _segments(iterations: int, *every: int):
    """``(a, b)`` pieces of ``range(iterations)`` that start at every multiple of each nonzero ``every``."""
    a = 0
    while a < iterations:
        b = min([iterations] + [(a // e + 1) * e for e in every if e])
        yield a, b
        a = b


def _history(run: _Checked, state: TrainingState, stats: list, wall_time: float) -> History:
    """The History of a trained state (evaluated on the training set and the test set)."""
    views = state.views()
    train_accuracy, final_loss = _evaluate(state, views, run.X, run.T, run.loss)
    test_accuracy = _evaluate(state, views, run.X_test, run.T_test, run.loss)[0] if run.X_test is not None else None
    trained = state.passes.params(state.theta)
    return History(
        loss=state.losses,
        record_iterations=np.arange(0, run.iterations, run.record_every),
        train_accuracy=train_accuracy,
        test_accuracy=test_accuracy,
        params=trained if run.had_axis else remove_model_axis(trained),
        diverged=state.diverged_at >= 0,
        diverged_at=state.diverged_at,
        learning_rate=run.learning_rate,
        iterations=run.iterations,
        loss_kind=run.loss,
        wall_time=wall_time,
        diagnostics=tuple(s for _, s in stats),
        diagnostics_iterations=np.array([i for i, _ in stats], dtype=np.int64),
        optimizer=repr(run.optimizer),
        batch_size=run.batch_size,
        final_loss=final_loss.astype(np.float64),
        dtype=run.dtype.name,
    )


def _evaluate(state: TrainingState, views, X: np.ndarray, T: np.ndarray, loss: str) -> tuple[np.ndarray, np.ndarray]:
    """Share of correct labels and loss per model, (K,) each; the loss is nan where the logits have diverged."""
    output = state.net.output
    Z, A = state.passes.forward(views, X)
    accuracy = (predicted_labels(output, A) == true_labels(output, T)).mean(axis=(1, 2))
    return accuracy, np.where(logits_sound(Z), loss_from_output(loss, output, Z, A, T), np.nan)


def check_engine(engine: str, threads, net: MLP | ResidualMLP, loss: str, opt: optimizers.Optimizer, B, m: int):
    """``(kernels module, threads)`` for ``engine="numba"`` (after checking it can do this run); ``(None, BLAS
    threads)`` for numpy (``threads``, or :func:`initlab.state.blas_threads` for the shape of a step of B or m).

    :func:`train`'s rule, also for callers that check a run before they start it (``initlab train``): a
    ValueError names ``engine`` or ``threads`` and what is allowed. ``B`` is the batch size (None: full
    batch), ``m`` the training examples. Imports the compiled engine's module for ``"numba"`` (about a
    second from numba's cache; its first compilation takes about a minute).
    """
    check_choice("engine", engine, ENGINES)
    if engine == "numpy":
        if threads is not None:
            return None, check_int("threads", threads, min_value=1, max_value=max_cores())
        layers = net.layers if isinstance(net, MLP) else (net.n_in, net.width, net.width, net.n_out)
        return None, blas_threads(layers, B if B is not None else m)
    if isinstance(net, ResidualMLP):  # lazy imports: numba's import and compilation cost seconds
        from initlab import kernels_residual

        reason, kernels = kernels_residual.supported(net, loss, opt, B), kernels_residual
    else:
        from initlab import kernels

        reason = kernels.supported(net, loss, opt)
    if reason is not None:
        raise ValueError(f"The 'engine' parameter 'numba' cannot train this network: {reason}. Use engine='numpy'.")
    if threads is not None:
        threads = check_int("threads", threads, min_value=1, max_value=kernels.max_threads())
    return kernels, threads


def _check_diagnostics(diagnostics, record_every: int) -> int:
    """False -> 0 (off); True -> record_every; an int N >= 1 -> N."""
    if diagnostics is False or diagnostics is None:
        return 0
    if diagnostics is True:
        return record_every
    return check_int("diagnostics", diagnostics, min_value=1)
