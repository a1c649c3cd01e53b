"""Train one chunk of runs: the only module of ``initlab.sweeps`` that calls the training code.

:func:`train_chunk` runs in worker processes (local pool or Dask); it and its arguments are
picklable, and it never touches the store. One call of :func:`initlab.training.train` trains a
chunk's runs together along the model axis (K runs: parameters (K, P)), so that a change there is
mended in one place; :func:`training_time` times that call for a plan's forecast.

A run's numbers do not depend on its chunk: run k draws its initial parameters and its minibatch
order from its own streams, ``initlab.seeding.run_streams(run.seed_sequence())`` (model 0 of
``initialize_and_train(models=1)``), passed to the training code as the k-th of a list of streams;
the data come from the dataset's own seed, and the engines treat every model independently (BLAS
pinned to one thread by :func:`initlab.training.train`).

Residual runs (:attr:`Setup.residual`) train a :class:`initlab.residual.ResidualMLP` built with
the scalars of their initializer (:meth:`Setup.net`), on either engine (numba:
:mod:`initlab.kernels_residual`); their stored ``params`` are
laid out as :meth:`ResidualMLP.groups` and their diagnostics are per block
(:class:`initlab.diagnostics.BlockStats`, the fields of :data:`DIAGNOSTIC_FIELDS` with the block
in place of the layer).
"""

from __future__ import annotations

import dataclasses
import os
import socket
import time
from dataclasses import dataclass, field

import numpy as np

from initlab import initializers, optimizers, seeding
from initlab.lsuv import lsuv
from initlab.network import MLP, flatten_params
from initlab.residual import STRUCTURAL, ResidualMLP
from initlab.training import History, train

from .catalogue import DIAGNOSTIC_FIELDS, Data, load_data
from .plan import Chunk, RunConfig, Setup

__all__ = ["RunResult", "initial_params", "train_chunk", "training_time"]


@dataclass(frozen=True)
class RunResult:
    """What training one run produced; the driver stores it.

    Attributes
    ----------
    key : the run's :attr:`RunConfig.key`
    status : ``"done"`` or ``"failed"`` (then ``message`` says why and the rest is empty)
    final_loss : cross-entropy of the trained parameters on the training set (nan if diverged)
    train_accuracy, test_accuracy : of the trained (a diverged run's last finite) parameters
    diverged_at : iteration of divergence, -1 if none
    loss : (n_records,) at :attr:`Setup.record_iterations`; the last is ``final_loss``
    params : (P,) the trained parameters, laid out W1, b1, W2, ... (:func:`initlab.network.layer_views`)
    diagnostics : ``{"init": (F, L), "final": (F, L)}`` rows of :data:`DIAGNOSTIC_FIELDS` (a residual net: L = blocks), or empty
    init_seconds, train_seconds : drawing this run's parameters; its share of the chunk's training
    worker : ``host:pid`` that trained it
    """

    key: str
    status: str
    message: str = ""
    final_loss: float = float("nan")
    train_accuracy: float = float("nan")
    test_accuracy: float = float("nan")
    diverged_at: int = -1
    loss: np.ndarray = field(default_factory=lambda: np.zeros(0))
    params: np.ndarray = field(default_factory=lambda: np.zeros(0))
    diagnostics: dict = field(default_factory=dict)
    init_seconds: float = 0.0
    train_seconds: float = 0.0
    worker: str = ""


def initial_params(
    net: MLP | ResidualMLP, run: RunConfig, X: np.ndarray, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """One run's initial parameters ``{"W1": (1, n_1, n_0), ...}`` (a ResidualMLP's groups), drawn from ``rng``.

    ``rng`` is the run's own init stream (:func:`initlab.seeding.run_streams`), used as is: it is
    passed as a list of one stream. ``random`` draws N(0, 1) (so ``scale`` is its standard
    deviation); ``lsuv`` normalizes on ``X`` (:func:`initlab.lsuv.lsuv`), then ``scale``
    multiplies its weights. A structural initializer (``fixup``, ...) is passed to
    :meth:`ResidualMLP.initialize` by name with its options; ``scale`` multiplies the drawn matrices
    before the structure is imposed.
    """
    options = dict(run.init_options)
    if run.init in STRUCTURAL:
        return net.initialize(run.init, rng=[rng], scale=run.scale, **options)
    if run.init == "lsuv":
        params, _ = lsuv(net, X, rng=[rng], scale=run.scale, **options)
        return params
    if run.init == "random":
        options["scale"] = 1.0
    return net.initialize(initializers.get(run.init, **options), rng=[rng], scale=run.scale)


def _train(
    net: MLP | ResidualMLP, params: dict, data: Data, learning_rates: np.ndarray, setup: Setup, order_rng
) -> History:
    """The one call of :func:`initlab.training.train`: a History for the stacked models.

    ``order_rng`` : a list of K minibatch streams, model k's the k-th (or one root for all).
    """
    options = dict(setup.optimizer_options)
    batch_size = options.pop("batch_size", None)
    extra = {"engine": setup.engine} if setup.engine != "numpy" else {}
    extra |= {"dtype": setup.dtype} if setup.dtype != "float64" else {}
    return train(net, params, data.X_train, data.Y_train, learning_rate=learning_rates, iterations=setup.iterations,
                 record_every=setup.record_every, loss="stable", optimizer=optimizers.get(setup.optimizer, **options),
                 batch_size=batch_size, rng=order_rng, diagnostics=setup.iterations if setup.diagnostics else False,
                 X_test=data.X_test, Y_test=data.Y_test, **extra)  # fmt: skip


def train_chunk(chunk: Chunk) -> list[RunResult]:
    """Initialize and train the runs of ``chunk`` together; one result per run, in order.

    A run whose initialization fails is ``"failed"`` (with the error) and the others go on; if
    training itself fails, every run trained with it is ``"failed"`` with that error.

    With minibatches (``batch_size``) run k shuffles with its own order stream (the one
    ``initialize_and_train(models=1)`` would use), so its minibatches do not depend on its place
    in the chunk.
    """
    setup = chunk.setup
    worker = f"{socket.gethostname()}:{os.getpid()}"
    net = setup.net()
    started, results, init_seconds = [], {}, {}
    for run in chunk.runs:
        t0 = time.perf_counter()
        init_stream, order_stream = seeding.run_streams(run.seed_sequence())
        try:
            started.append((run, initial_params(net, run, chunk.data.X_train, init_stream), order_stream))
        except Exception as exc:  # a bad initialization fails its run, not the chunk
            results[run.key] = RunResult(run.key, "failed", f"initialization failed: {type(exc).__name__}: {exc}",
                                         worker=worker)  # fmt: skip
        init_seconds[run.key] = time.perf_counter() - t0
    if started:
        results |= _train_started(net, chunk.data, setup, started, worker)
    return [dataclasses.replace(results[run.key], init_seconds=init_seconds[run.key]) for run in chunk.runs]


def _train_started(
    net: MLP | ResidualMLP, data: Data, setup: Setup, started: list, worker: str
) -> dict[str, RunResult]:
    """Train the initialized runs ``[(run, params, order_stream), ...]`` together; their results by key."""
    runs = [run for run, _, _ in started]
    params = {k: np.concatenate([p[k] for _, p, _ in started]) for k in started[0][1]}  # (K, ...) each
    try:
        t0 = time.perf_counter()
        history = _train(net, params, data, np.array([r.learning_rate for r in runs]), setup,
                         [order for _, _, order in started])  # fmt: skip
        seconds = (time.perf_counter() - t0) / len(runs)
    except Exception as exc:
        message = f"training failed: {type(exc).__name__}: {exc}"
        return {r.key: RunResult(r.key, "failed", message, worker=worker) for r in runs}
    theta = net.flatten(history.params) if isinstance(net, ResidualMLP) else flatten_params(history.params)  # (K, P)
    diag = _diagnostics(history) if setup.diagnostics else {}
    results = {}
    for k, run in enumerate(runs):
        loss_k = np.nan if history.diverged[k] else float(history.final_loss[k])
        results[run.key] = RunResult(
            key=run.key,
            status="done",
            final_loss=loss_k,
            train_accuracy=float(history.train_accuracy[k]),
            test_accuracy=float(history.test_accuracy[k]),
            diverged_at=int(history.diverged_at[k]),
            loss=np.append(history.loss[k], loss_k),
            params=theta[k].copy(),
            diagnostics={stage: rows[k] for stage, rows in diag.items()},
            train_seconds=seconds,
            worker=worker,
        )
    return results


def _diagnostics(history: History) -> dict[str, np.ndarray]:
    """History's first and last LayerStats -> ``{"init": (K, F, L), "final": (K, F, L)}``."""
    first, last = history.diagnostics[0], history.diagnostics[-1]
    return {stage: np.stack([np.asarray(getattr(s, f), dtype=np.float64) for f in DIAGNOSTIC_FIELDS], axis=1)
            for stage, s in (("init", first), ("final", last))}  # fmt: skip


def training_time(setup: Setup, K: int, iterations: int = 8) -> tuple[float, float]:
    """Measured ``(fixed, per_iteration)`` seconds of training ``K`` models of ``setup`` here (for estimates).

    Trains 1 and ``1 + iterations`` iterations (He-normal weights, the setup's diagnostics and
    recording), each twice, keeping the faster: on a shared machine one probe of a few tens of
    milliseconds can lose its core for longer than it takes (seen: a 9 s chunk forecast at 0.7 s).
    The difference gives the cost per iteration, the rest is the fixed cost of a chunk.
    A residual setup times its own ResidualMLP (blocks, branch depth, norm and scalars) on the
    setup's engine, as its runs will train, from ``zero_last`` weights (He with each branch's last
    layer 0): He branches overflow a deep unnormalized net at once, and a diverged model stops
    costing, so timing them would forecast a 64-block chunk at a few percent of what its
    non-diverging runs take.
    """
    data = load_data(setup.dataset)
    net = setup.net()
    params = net.initialize("he_normal" if setup.blocks is None else "zero_last", rng=0, models=K)
    lrs = np.full(K, 1e-3)

    def seconds(n: int) -> float:
        probe = dataclasses.replace(setup, iterations=n)
        t0 = time.perf_counter()
        _train(net, params, data, lrs, probe, 0)
        return time.perf_counter() - t0

    seconds(1)  # warm-up (imports, caches, a compiled engine's first call)
    one = min(seconds(1), seconds(1))
    per_iteration = max(0.0, (min(seconds(1 + iterations), seconds(1 + iterations)) - one) / iterations)
    return max(0.0, one - per_iteration), per_iteration
