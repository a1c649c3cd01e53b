"""Run a sweep: plan, store, train the unfinished chunks on an executor, commit each as it comes.

:func:`run_sweep` is what ``initlab sweep run`` and ``python -m initlab.sweeps`` call. The driver
(this process) is the only writer of the store and commits one transaction per finished chunk;
calling it again with the same spec and folder resumes, training only the runs not ``done``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from initlab.jobs.executors import (
    EXECUTORS,
    check_scheduler,
    default_workers,
    open_executor,
)
from initlab.jobs.progress import Progress
from initlab.storage import fresh_folder
from initlab.validation import check_choice, check_int

from . import plan as planning
from .spec import SweepSpec
from .store import STORE_NAME, Store
from .worker import train_chunk

__all__ = ["SweepOutcome", "run_sweep"]


@dataclass(frozen=True)
class SweepOutcome:
    """What :func:`run_sweep` did."""

    out: Path  # the folder holding the store (differs from the one asked for with new=True)
    total: int
    done: int  # runs done now, in total
    failed: int  # runs failed now, in total
    trained: int  # runs trained by this call
    resumed: int  # runs already done before this call
    seconds: float


def run_sweep(
    spec: SweepSpec,
    out,
    *,
    spec_text: str | None = None,
    executor: str = "local",
    workers: int | None = None,
    scheduler: str | None = None,
    chunk_size: int = planning.DEFAULT_CHUNK_SIZE,
    memory_budget: int = planning.DEFAULT_MEMORY_BUDGET,
    new: bool = False,
    progress: Callable[[Progress], None] | None = None,
) -> SweepOutcome:
    """Run (or resume) ``spec`` into the store in folder ``out``.

    Parameters
    ----------
    spec : SweepSpec
    out : path of the output folder (created if missing)
    spec_text : the TOML the spec came from, stored beside it (default: its canonical JSON)
    executor : {"local", "dask"}
    workers : int >= 1, default the number of cores (local processes or LocalCluster workers)
    scheduler : "tcp://host:port" of an existing Dask scheduler (executor "dask")
    chunk_size : most models trained together (:func:`initlab.sweeps.plan.make_chunks`)
    memory_budget : bytes a chunk's arrays may take
    new : start over in a fresh folder (:func:`initlab.storage.fresh_folder`) instead of resuming or refusing
    progress : called with a :class:`initlab.jobs.progress.Progress` at the start and after every committed chunk

    Returns
    -------
    SweepOutcome

    Raises
    ------
    SpecConflict
        ``out`` holds a sweep of another spec (and ``new`` is False).
    ValueError, TypeError
        Bad arguments.
    """
    if not isinstance(spec, SweepSpec):
        raise TypeError(
            f"The 'spec' parameter must be a SweepSpec (see initlab.sweeps.load_spec). Got {type(spec).__name__}."
        )
    check_choice("executor", executor, EXECUTORS)
    if scheduler is not None and executor != "dask":
        raise ValueError(f"The 'scheduler' parameter is for executor='dask'. Got executor={executor!r}.")
    workers = default_workers() if workers is None else check_int("workers", workers, min_value=1)
    chunk_size = check_int("chunk_size", chunk_size, min_value=1)
    memory_budget = check_int("memory_budget", memory_budget, min_value=1)
    out = fresh_folder(Path(out), STORE_NAME) if new else Path(out)
    the_plan = planning.make_plan(spec)
    if spec_text is None:
        spec_text = json.dumps(spec.to_dict(), indent=1, sort_keys=True)
    for setup, _ in the_plan.groups:  # what cannot fit is refused before a store is made
        planning.run_bytes(setup)
    if scheduler is not None:
        check_scheduler(scheduler)  # an unreachable cluster is refused before a store is made
    with Store.create(out, spec, spec_text) as store:
        store.add_runs(the_plan.runs)
        done = store.done_keys()
        todo = [run for run in the_plan.runs if run.key not in done]
        chunks = planning.make_chunks(todo, chunk_size=chunk_size, memory_budget=memory_budget, workers=workers)
        total, resumed = len(the_plan.runs), len(done & {r.key for r in the_plan.runs})
        trained = failed = 0
        start = time.perf_counter()

        def report():
            if progress is not None:
                progress(Progress(resumed + trained + failed, total, resumed, failed, trained + failed,
                                  time.perf_counter() - start))  # fmt: skip

        report()
        if chunks:
            with open_executor(executor, workers=workers, scheduler=scheduler) as imap:
                for results in imap(train_chunk, chunks):
                    newly_done = store.commit(results)
                    trained += newly_done
                    failed += sum(r.status == "failed" for r in results)
                    report()
        counts = store.counts()
    return SweepOutcome(out, total, counts["done"], counts["failed"], trained, resumed, time.perf_counter() - start)
