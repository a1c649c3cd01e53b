"""What a sweep will take before it runs: wall time, and memory in the workers, the driver and the store.

:func:`estimate` times a few iterations of every distinct chunk shape here, in this process
(:func:`initlab.sweeps.worker.training_time`), and deals the chunks in order to whichever worker
is free first; the memory comes from the chunks' sizes (:func:`initlab.sweeps.plan.chunk_bytes`).
``initlab sweep plan`` prints the :class:`Forecast`.
"""

from __future__ import annotations

import dataclasses
import heapq
from collections.abc import Sequence
from dataclasses import dataclass

from initlab.network import parameter_count
from initlab.validation import check_int

from .catalogue import DIAGNOSTIC_FIELDS, data_info
from .plan import Chunk, Setup, chunk_bytes
from .worker import training_time

__all__ = ["WORKER_BASELINE_BYTES", "Forecast", "estimate"]

#: What a worker process holds besides its chunk (Python, numpy, scikit-learn), for the forecast.
WORKER_BASELINE_BYTES = 150 * 2**20


@dataclass(frozen=True)
class Forecast:
    """What a sweep will take, before it runs (a time and memory forecast; not a statistical estimate).

    Attributes
    ----------
    runs, chunks : int, to run (unfinished ones only)
    seconds : float
        Wall time with ``workers`` busy workers, from timing a few iterations of each group's chunk
        shapes on this machine.
    worker_bytes : int
        Peak memory of one worker: its largest chunk plus :data:`WORKER_BASELINE_BYTES`.
    driver_bytes : int
        Results held by the driver at most (the chunks in flight) before they are committed.
    store_bytes : int
        Approximate growth of the SQLite store.
    workers : int
    """

    runs: int
    chunks: int
    seconds: float
    worker_bytes: int
    driver_bytes: int
    store_bytes: int
    workers: int


def estimate(chunks: Sequence[Chunk], *, workers: int) -> Forecast:
    """Forecast the time and memory of training ``chunks`` with ``workers`` processes.

    Times a few iterations of every distinct (setup, chunk size) here, in this process
    (:func:`initlab.sweeps.worker.training_time`): a chunk takes fixed + iterations x per
    iteration seconds, and the chunks go in order to whichever worker is free first.
    """
    workers = check_int("workers", workers, min_value=1)
    timings: dict[tuple[Setup, int], tuple[float, float]] = {}
    free_at = [0.0] * workers  # when each worker is next free: chunks go, in order, to the first free one
    worker_bytes = 0
    result_bytes = 0
    store_bytes = 0
    for chunk in chunks:
        setup, K = chunk.setup, len(chunk.runs)
        shape_key = (_without_iterations(setup), K)
        if shape_key not in timings:
            timings[shape_key] = training_time(setup, K)
        fixed, per_iteration = timings[shape_key]
        heapq.heapreplace(free_at, free_at[0] + fixed + per_iteration * setup.iterations)
        info = data_info(setup.dataset)
        worker_bytes = max(worker_bytes, chunk_bytes(setup, K, info.n_train) + info.bytes)
        P, L = (
            (parameter_count(setup.layers), len(setup.layers) - 1)
            if setup.blocks is None
            else (setup.net().parameter_count, setup.blocks)
        )  # diagnostics per layer, a residual net's per block
        per_run = 8 * (P + setup.n_records + (2 * len(DIAGNOSTIC_FIELDS) * L if setup.diagnostics else 0))
        result_bytes = max(result_bytes, K * per_run)
        store_bytes += K * (per_run + 400)  # + the run's row and index entries
    in_flight = 2 * workers
    return Forecast(
        runs=sum(len(c.runs) for c in chunks),
        chunks=len(chunks),
        seconds=max(free_at),
        worker_bytes=worker_bytes + WORKER_BASELINE_BYTES,
        driver_bytes=in_flight * result_bytes,
        store_bytes=store_bytes,
        workers=workers,
    )


def _without_iterations(setup: Setup) -> Setup:
    return dataclasses.replace(setup, iterations=1)
