"""The notebook's whole experiment: three initializations of the 2-10-5-1 network on the circles.

``run(ReproduceConfig())`` trains the zeros, large-random (x10) and He models with the notebook's
arithmetic (:mod:`initlab.course`) and returns their cost traces, accuracies and parameters. The
three trainings run in parallel child processes; where the CPU allows, those children compute
with the notebook platform's kernels (:func:`initlab.course.notebook_arithmetic_env`), so that the
x10 random run prints the notebook's costs to the last digit too.

This module computes; it never prints or plots (``initlab.cli`` and ``initlab.report`` do).
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import course
from .validation import check_choice, check_int, check_real

__all__ = ["ReproduceConfig", "InitializationResult", "ReproduceResult", "run", "NOTEBOOK_TABLE"]

INITIALIZATIONS = ("zeros", "random", "he")

#: The notebook's conclusion table (seed 3, lr 0.01, 15,000 iterations): train accuracy and comment.
NOTEBOOK_TABLE = {
    "zeros": ("3-layer NN with zeros initialization", 0.50, "fails to break symmetry"),
    "random": ("3-layer NN with large random initialization", 0.83, "too large weights"),
    "he": ("3-layer NN with He initialization", 0.99, "recommended method"),
}

_CHUNK = 1000  # iterations between progress reports from a child


@dataclass(frozen=True)
class ReproduceConfig:
    """What ``initlab reproduce`` runs. The defaults are the notebook's."""

    iterations: int = 15000  # gradient-descent steps per model
    learning_rate: float = 0.01
    seed: int = 3  # seed of the random and He initializers (the notebook's is 3); the data never change
    record_every: int = 10  # cost recorded every this many iterations (divides 1000)
    arithmetic: str = "notebook"  # "notebook": the notebook platform's kernels where possible; "native"

    def __post_init__(self):
        check_int("iterations", self.iterations, min_value=1, max_value=10_000_000)
        check_real("learning_rate", self.learning_rate, min_value=0.0, min_inclusive=False)
        check_int("seed", self.seed, min_value=0, max_value=2**32 - 1)
        check_int("record_every", self.record_every, min_value=1)
        if _CHUNK % self.record_every:
            raise ValueError(f"The 'record_every' parameter must divide {_CHUNK}. Got {self.record_every} instead.")
        check_choice("arithmetic", self.arithmetic, ("notebook", "native"))

    @property
    def is_notebook_default(self) -> bool:
        return (self.iterations, self.learning_rate, self.seed) == (15000, 0.01, 3)


@dataclass(frozen=True)
class InitializationResult:
    """One trained model. Arrays: ``cost`` (n_records,), at ``cost_iterations`` (n_records,)."""

    initialization: str
    cost_iterations: np.ndarray
    cost: np.ndarray  # the notebook's cost (can be inf), every record_every iterations
    printed_costs: list  # the notebook's "Cost after iteration i" values, every 1,000 iterations
    final_cost: float  # the notebook's cost of the trained parameters
    stable_initial_cost: float  # the cross-entropy at iteration 0 computed from logits (finite)
    train_accuracy: float
    test_accuracy: float
    initial_parameters: dict
    parameters: dict
    seconds: float  # wall time of the training loop in its process


@dataclass(frozen=True)
class ReproduceResult:
    config: ReproduceConfig
    arithmetic: str  # what was used: "notebook" or "native"
    results: dict  # initialization name -> InitializationResult
    data: tuple  # (train_X, train_Y, test_X, test_Y)
    wall_seconds: float


def run(
    config: ReproduceConfig = ReproduceConfig(), progress: Callable[[str, int, int], None] | None = None
) -> ReproduceResult:
    """Train the notebook's three models; ``progress(initialization, done, total)`` is called as they go."""
    start = time.perf_counter()
    # "notebook": the children start with the notebook platform's kernels selected (where the CPU
    # has them). "native": the children inherit this process's environment as the user set it,
    # OPENBLAS_CORETYPE and NPY_* included, so that they compute as this process does.
    env = course.notebook_arithmetic_env() if config.arithmetic == "notebook" else None
    ctx = mp.get_context("spawn")  # a fresh interpreter, so the arithmetic env acts before numpy loads
    messages = ctx.Queue()
    procs = []
    with _environment({**(env or {}), "OPENBLAS_NUM_THREADS": "1"}):
        for kind in INITIALIZATIONS:
            p = ctx.Process(target=_train_child, args=(kind, config, messages), daemon=True)
            p.start()
            procs.append(p)
    results, arithmetic = {}, set()
    try:
        while len(results) < len(INITIALIZATIONS):
            try:
                tag, kind, payload = messages.get(timeout=1.0)
            except queue.Empty:
                dead = [p for p in procs if not p.is_alive() and p.exitcode not in (0, None)]
                if dead:
                    raise RuntimeError(f"a training process died with exit code {dead[0].exitcode}") from None
                continue
            if tag == "progress" and progress is not None:
                progress(kind, payload, config.iterations)
            elif tag == "error":
                raise RuntimeError(f"training the {kind!r} model failed: {payload}")
            elif tag == "done":
                arithmetic.add(payload.pop("arithmetic"))
                results[kind] = InitializationResult(initialization=kind, **payload)
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
            p.join()
    data = course.load_dataset(plot=False)
    return ReproduceResult(
        config=config,
        arithmetic=arithmetic.pop() if len(arithmetic) == 1 else "mixed",
        results={k: results[k] for k in INITIALIZATIONS},
        data=data,
        wall_seconds=time.perf_counter() - start,
    )


@contextlib.contextmanager
def _environment(values: dict[str, str]):
    """Set environment variables for processes started inside the block (restored after it)."""
    saved = {k: os.environ.get(k) for k in values}
    try:
        os.environ.update(values)
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _train_child(kind: str, config: ReproduceConfig, messages) -> None:
    """Child process: train one model with course.train_preallocated, reporting every 1,000 iterations."""
    import warnings

    warnings.simplefilter(
        "ignore", RuntimeWarning
    )  # the x10 model's exp overflows (the notebook's cost is inf): shown, not warned
    try:
        messages.put(("done", kind, train_one(kind, config, lambda i: messages.put(("progress", kind, i)))))
    except Exception as exc:  # reported to the parent, which raises it
        messages.put(("error", kind, f"{type(exc).__name__}: {exc}"))


def train_one(kind: str, config: ReproduceConfig, on_chunk: Callable[[int], None] = lambda i: None) -> dict:
    """Train one of the notebook's models; returns InitializationResult's fields (plus ``arithmetic``)."""
    train_X, train_Y, test_X, test_Y = course.load_dataset(plot=False)
    initial = course.INITIALIZERS[kind]([train_X.shape[0], 10, 5, 1], seed=config.seed)
    params = initial
    traces = []
    seconds = 0.0
    done = 0
    while done < config.iterations:
        n = min(_CHUNK, config.iterations - done)
        t0 = time.perf_counter()
        params, trace = course.train_preallocated(
            train_X, train_Y, params, config.learning_rate, n, config.record_every
        )
        seconds += time.perf_counter() - t0
        traces.append(trace)
        done += n
        on_chunk(done)
    cost = np.concatenate(traces)
    iterations = np.arange(0, config.iterations, config.record_every)
    last_a3, _ = course.forward_propagation(train_X, params)
    return dict(
        cost_iterations=iterations,
        cost=cost,
        printed_costs=[float(c) for i, c in zip(iterations, cost) if i % 1000 == 0],
        final_cost=float(course.compute_loss(last_a3, train_Y)),
        stable_initial_cost=_stable_cost(initial, train_X, train_Y),
        train_accuracy=_accuracy(params, train_X, train_Y),
        test_accuracy=_accuracy(params, test_X, test_Y),
        initial_parameters=initial,
        parameters=params,
        seconds=seconds,
        arithmetic=course.arithmetic_in_use(),
    )


def _accuracy(params, X, Y) -> float:
    """The accuracy course.predict prints, without printing."""
    with np.errstate(over="ignore"):  # the notebook's sigmoid overflows harmlessly under x10 weights
        return float(np.mean(course.predict_dec(params, X)[0] == Y[0]))


def _stable_cost(params, X, Y) -> float:
    """Cross-entropy computed from the logits z3 (finite where the notebook's is inf)."""
    from .losses import binary_cross_entropy

    z3 = course.forward_propagation(X, params)[1][8]  # cache = (z1, a1, W1, b1, z2, a2, W2, b2, z3, ...)
    return float(binary_cross_entropy(z3[None], Y)[0])
