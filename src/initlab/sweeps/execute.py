"""Train one chunk of runs: the only module of ``initlab.sweeps`` that calls the training code.

Everything the sweeps need from :mod:`initlab.training`, :mod:`initlab.datasets`,
:mod:`initlab.optimizers` and the compiled engine goes through here (which datasets, optimizers
and engines exist; loading data; one call of :func:`initlab.training.train` per chunk), so that a
change there is mended in one place. :func:`train_chunk` runs in worker processes (local pool or
Dask); it and its arguments are picklable, and it never touches the store.

A run's numbers do not depend on its chunk: its parameters are drawn from its own stream
(:meth:`RunConfig.seed_sequence`) with ``models=1`` and stacked along the model axis, the data
come from the dataset's own seed, and the engines treat every model independently (BLAS pinned to
one thread by :func:`initlab.training.train`).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import os
import socket
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from initlab import initializers
from initlab.network import MLP
from initlab.validation import check_int

if TYPE_CHECKING:  # plan imports this module
    from .plan import Chunk, Dataset, RunConfig, Setup

__all__ = [
    "DIAGNOSTIC_FIELDS",
    "Data",
    "DataInfo",
    "RunResult",
    "available_datasets",
    "available_engines",
    "available_optimizers",
    "check_optimizer",
    "data_info",
    "initial_params",
    "load_data",
    "training_time",
    "train_chunk",
]

#: Per-layer statistics kept at initialization and at the end (:class:`initlab.diagnostics.LayerStats`).
DIAGNOSTIC_FIELDS = ("z_mean", "z_std", "a_mean", "a_std", "grad_W_norm", "grad_b_norm", "dead_fraction",
                     "saturated_fraction", "distinct_units")  # fmt: skip
DIAGNOSTIC_FIELDS_COUNT = len(DIAGNOSTIC_FIELDS)


# --------------------------------------------------------------------------------------------
# What exists
# --------------------------------------------------------------------------------------------
@functools.cache
def _train_parameters() -> frozenset[str]:
    from initlab.training import train

    return frozenset(inspect.signature(train).parameters)


def available_datasets() -> tuple[str, ...]:
    """Dataset names a spec may use."""
    from initlab import datasets

    return tuple(datasets.available())


def available_optimizers() -> tuple[str, ...]:
    """Optimizer names a spec may use."""
    from initlab import optimizers

    return tuple(optimizers.available())


def available_engines() -> tuple[str, ...]:
    """Training engines: ``"numpy"`` (the reference), and ``"numba"`` once training dispatches to it."""
    return ("numpy", "numba") if "engine" in _train_parameters() else ("numpy",)


def check_optimizer(name: str, options: dict) -> None:
    """Raise a ValueError/TypeError if optimizer ``name`` does not take ``options`` (``batch_size`` or its own)."""
    from initlab import optimizers

    options = dict(options)
    batch_size = options.pop("batch_size", None)
    rule = optimizers.get(name, **options)
    if batch_size is not None:
        if rule.full_batch:
            raise TypeError(
                f"The 'batch_size' option goes with a minibatch optimizer ('sgd', 'momentum' or 'adam'); optimizer {name!r} "
                "is the notebook's full-batch gradient descent. Drop batch_size or choose name = \"sgd\"."
            )
        check_int("batch_size", batch_size, min_value=1)


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Data:
    """A dataset in the notebook's layout: ``X`` (n_features, m), ``Y`` (1, m) labels."""

    X_train: np.ndarray
    Y_train: np.ndarray
    X_test: np.ndarray
    Y_test: np.ndarray
    n_classes: int


@dataclass(frozen=True)
class DataInfo:
    """Sizes of a dataset, for building networks and estimating memory."""

    n_features: int
    n_classes: int
    n_train: int
    n_test: int
    bytes: int


#: The notebook's circles (:func:`initlab.course.load_dataset`): ``datasets.load("circles")`` with these sizes and ``rng=None``.
_NOTEBOOK_CIRCLES = {"n_train": 300, "n_test": 100, "noise": 0.05}


@functools.lru_cache(maxsize=8)
def load_data(dataset: Dataset) -> Data:
    """The dataset's arrays, from :func:`initlab.datasets.load` seeded with ``data_seed`` (cached per process).

    ``circles`` with the notebook's sizes and ``data_seed = 0`` is the notebook's data exactly.
    """
    from initlab import datasets

    options = {k: v for k, v in (("n_train", dataset.n_train), ("n_test", dataset.n_test), ("noise", dataset.noise),
                                 ("classes", dataset.classes)) if v is not None}  # fmt: skip
    notebook = (dataset.name == "circles" and dataset.data_seed == 0
                and all(options.get(k, v) == v for k, v in _NOTEBOOK_CIRCLES.items()) and "classes" not in options)  # fmt: skip
    d = datasets.load(dataset.name, **options, rng=None if notebook else dataset.data_seed)
    return Data(*(np.ascontiguousarray(a) for a in (d.X_train, d.Y_train, d.X_test, d.Y_test)), int(d.n_classes))


def data_info(dataset: Dataset) -> DataInfo:
    """Input size, number of classes and example counts of ``dataset``."""
    d = load_data(dataset)
    nbytes = sum(a.nbytes for a in (d.X_train, d.Y_train, d.X_test, d.Y_test))
    return DataInfo(d.X_train.shape[0], d.n_classes, d.X_train.shape[1], d.X_test.shape[1], nbytes)


# --------------------------------------------------------------------------------------------
# One chunk
# --------------------------------------------------------------------------------------------
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
    diagnostics : ``{"init": (F, L), "final": (F, L)}`` rows of :data:`DIAGNOSTIC_FIELDS`, or empty
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


def run_streams(run: RunConfig) -> tuple[np.random.Generator, np.random.Generator]:
    """The run's two streams: its initialization's and its minibatch order's.

    Split as :func:`initlab.training.initialize_and_train` splits its ``rng``, so a run equals
    ``initialize_and_train(..., models=1, rng=run.seed_sequence())`` with the same settings.
    """
    init_rng, order_rng = np.random.default_rng(run.seed_sequence()).spawn(2)
    return init_rng, order_rng


def initial_params(net: MLP, run: RunConfig, X: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """One run's initial parameters ``{"W1": (1, n_1, n_0), ...}``, drawn from ``rng``.

    ``random`` draws N(0, 1) (so ``scale`` is its standard deviation); ``lsuv`` normalizes on
    ``X`` (:func:`initlab.lsuv.lsuv`), then ``scale`` multiplies its weights.
    """
    options = dict(run.init_options)
    if run.init == "lsuv":
        from initlab.lsuv import lsuv

        params, _ = lsuv(net, X, rng=rng, models=1, **options)
        if run.scale != 1:
            for key in params:
                if key.startswith("W"):
                    params[key] *= run.scale
        return params
    if run.init == "random":
        options["scale"] = 1.0
    return net.initialize(initializers.get(run.init, **options), rng=rng, models=1, scale=run.scale)


def _train(net: MLP, params: dict, data: Data, learning_rates: np.ndarray, setup: Setup, order_rng=None):
    """The one call of :func:`initlab.training.train`: a History for the stacked models."""
    from initlab import optimizers
    from initlab.training import train

    options = dict(setup.optimizer_options)
    batch_size = options.pop("batch_size", None)
    extra = {"engine": setup.engine} if setup.engine != "numpy" else {}
    return train(net, params, data.X_train, data.Y_train, learning_rate=learning_rates, iterations=setup.iterations,
                 record_every=setup.record_every, loss="stable", optimizer=optimizers.get(setup.optimizer, **options),
                 batch_size=batch_size, rng=order_rng, diagnostics=setup.iterations if setup.diagnostics else False,
                 X_test=data.X_test, Y_test=data.Y_test, **extra)  # fmt: skip


def _flat(params: dict, L: int) -> np.ndarray:
    """``{"W1": (K, ...), ...}`` -> (K, P), laid out W1, b1, W2, ... as the training loop's rows."""
    K = params["W1"].shape[0]
    return np.concatenate([params[f"{p}{l}"].reshape(K, -1) for l in range(1, L + 1) for p in ("W", "b")], axis=1)


def train_chunk(chunk: Chunk) -> list[RunResult]:
    """Initialize and train the runs of ``chunk`` together; one result per run, in order.

    A run whose initialization fails is ``"failed"`` (with the error) and the others go on; if
    training itself fails, every run trained with it is ``"failed"`` with that error.

    With minibatches (``batch_size``) run k shuffles with its own stream (the child of its order
    stream that ``initialize_and_train`` would use), so its minibatches do not depend on its place
    in the chunk.
    """
    setup = chunk.setup
    worker = f"{socket.gethostname()}:{os.getpid()}"
    data = chunk.data
    net = MLP(setup.layers, setup.activation, setup.output)
    started, results, init_seconds = [], {}, {}
    for run in chunk.runs:
        t0 = time.perf_counter()
        init_rng, order_rng = run_streams(run)
        try:
            started.append((run, initial_params(net, run, data.X_train, init_rng), order_rng))
        except Exception as exc:  # a bad initialization fails its run, not the chunk
            results[run.key] = RunResult(run.key, "failed", f"initialization failed: {type(exc).__name__}: {exc}",
                                         worker=worker)  # fmt: skip
        init_seconds[run.key] = time.perf_counter() - t0
    minibatch = "batch_size" in dict(setup.optimizer_options)
    for batch in [started] if started else []:
        runs = [run for run, _, _ in batch]
        params = {k: np.concatenate([p[k] for _, p, _ in batch]) for k in batch[0][1]}
        try:
            t0 = time.perf_counter()
            orders = [order.spawn(1)[0] for _, _, order in batch] if minibatch else None  # as models=1 would
            history = _train(net, params, data, np.array([r.learning_rate for r in runs]), setup, orders)
            with np.errstate(all="ignore"):  # a diverged model's last finite parameters may overflow
                final_loss, _ = net.loss_and_grads(history.params, data.X_train, data.Y_train)
            seconds = (time.perf_counter() - t0) / len(runs)
        except Exception as exc:
            message = f"training failed: {type(exc).__name__}: {exc}"
            results.update({r.key: RunResult(r.key, "failed", message, worker=worker) for r in runs})
            continue
        theta = _flat(history.params, net.n_layers)
        diag = _diagnostics(history) if setup.diagnostics else {}
        for k, run in enumerate(runs):
            diverged = bool(history.diverged[k])
            loss_k = np.nan if diverged else float(final_loss[k])
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
    return [dataclasses.replace(results[run.key], init_seconds=init_seconds[run.key]) for run in chunk.runs]


def _diagnostics(history) -> dict[str, np.ndarray]:
    """History's first and last LayerStats -> ``{"init": (K, F, L), "final": (K, F, L)}``."""
    first, last = history.diagnostics[0], history.diagnostics[-1]
    return {stage: np.stack([np.asarray(getattr(s, f), dtype=np.float64) for f in DIAGNOSTIC_FIELDS], axis=1)
            for stage, s in (("init", first), ("final", last))}  # fmt: skip


def training_time(setup: Setup, K: int, iterations: int = 8) -> tuple[float, float]:
    """Measured ``(fixed, per_iteration)`` seconds of training ``K`` models of ``setup`` here (for estimates).

    Trains 1 and ``1 + iterations`` iterations (He-normal weights, the setup's diagnostics and
    recording); the difference gives the cost per iteration, the rest is the fixed cost of a chunk.
    """
    data = load_data(setup.dataset)
    net = MLP(setup.layers, setup.activation, setup.output)
    params = net.initialize("he_normal", rng=0, models=K)
    lrs = np.full(K, 1e-3)

    def seconds(n: int) -> float:
        probe = dataclasses.replace(setup, iterations=n)
        t0 = time.perf_counter()
        _train(net, params, data, lrs, probe, 0)
        net.loss_and_grads(params, data.X_train, data.Y_train)
        return time.perf_counter() - t0

    seconds(1)  # warm-up (imports, caches, a compiled engine's first call)
    one = seconds(1)
    per_iteration = max(0.0, (seconds(1 + iterations) - one) / iterations)
    return max(0.0, one - per_iteration), per_iteration
