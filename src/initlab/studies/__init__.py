"""Reproduced claims from the initialization literature: ``initlab study NAME``.

Each study is one module holding a :class:`~initlab.studies.base.Study`: its docstring states the
paper, the claim, the setup and what the verdict tests; ``plan``, ``measure`` and ``reduce`` do
the science (no printing, no plotting; :mod:`initlab.studies.base`). ``size="quick"`` runs in
seconds (the tests use it); ``"default"`` is the documented experiment.

:func:`run` measures in memory. :func:`execute` is what ``initlab study`` calls: it stores every
unit's numbers in the output folder's ``study.sqlite`` as it finishes (:mod:`~initlab.studies.store`),
on a process pool when ``workers > 1``, and resumes an interrupted run where it stopped; the report
(:mod:`initlab.report.study`, also ``initlab report DIR``) is drawn from that store.

>>> from initlab import studies
>>> sorted(studies.available())            # doctest: +SKIP
['notebook-seeds', 'edge-of-chaos', 'glorot2010', 'he2015', 'saxe2013', 'lsuv']
>>> result = studies.run("edge-of-chaos", size="quick")   # doctest: +SKIP
>>> print(result.verdict)                                  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import time
from collections.abc import Callable
from pathlib import Path

from initlab.jobs.executors import open_executor
from initlab.jobs.progress import Progress
from initlab.storage import fresh_folder
from initlab.studies.base import SIZES, Measured, Study, StudyResult, Unit, Verdict
from initlab.studies.store import STORE_NAME, StudyStore
from initlab.validation import check_choice, check_dtype, check_int

__all__ = [
    "SIZES",
    "Study",
    "StudyOutcome",
    "StudyResult",
    "Verdict",
    "available",
    "check_dtype_of",
    "execute",
    "get",
    "reduce_store",
    "run",
    "seeds_for",
]

# name -> module; modules are imported on first use (some draw on numba, all on scipy).
_MODULES = {
    "notebook-seeds": "notebook_seeds",
    "edge-of-chaos": "edge_of_chaos",
    "glorot2010": "glorot2010",
    "he2015": "he2015",
    "saxe2013": "saxe2013",
    "lsuv": "lsuv",
    "trainability-depth": "trainability_depth",
    "fixup": "fixup",
    "rezero": "rezero",
    "dynamical-isometry": "dynamical_isometry",
    "hanin-rolnick": "hanin_rolnick",
    "mup-coord-check": "mup_coord_check",
    "mup-lr-transfer": "mup_lr_transfer",
}


def get(name: str) -> Study:
    """The study called ``name`` (one of :func:`available`)."""
    check_choice("study", name, _MODULES)
    return importlib.import_module(f"initlab.studies.{_MODULES[name]}").STUDY


def available() -> dict[str, Study]:
    """Every study by name, in registry order."""
    return {name: get(name) for name in _MODULES}


#: The most seeds a study runs: ~100x its default, hours of work; a typo such as 100000000 is refused, not started.
MAX_SEEDS = 1000


def seeds_for(name: str, size: str, seeds: int | None = None) -> int:
    """The number of seeds to run: ``seeds`` (the study's minimum to :data:`MAX_SEEDS`) or the study's default at ``size``."""
    study = get(name)
    check_choice("size", size, SIZES)
    if seeds is None:
        return study.default_seeds[size]
    return check_int("seeds", seeds, min_value=study.min_seeds, max_value=MAX_SEEDS)


def check_dtype_of(name: str, dtype) -> str:
    """``dtype``'s name if study ``name`` can train in it (:attr:`Study.dtypes`; float64 always); else a ValueError."""
    dtype = check_dtype(dtype).name
    study = get(name)
    if dtype not in study.dtypes:
        raise ValueError(
            f"The 'dtype' parameter {dtype!r} does not apply to study {name!r}: it measures its networks without "
            f"training them, in float64. Use dtype='float64' for it (float32 studies: "
            f"{', '.join(k for k in _MODULES if 'float32' in get(k).dtypes)})."
        )
    return dtype


def _measure(task: tuple[str, str, int, Unit, str]) -> tuple[Unit, dict, float]:
    """Measure one unit (top level, so that a worker process can run it); float64 calls ``measure`` without dtype."""
    name, size, root, unit, dtype = task
    t0 = time.perf_counter()
    extra = {"dtype": dtype} if dtype != "float64" else {}
    numbers = get(name).measure(size, unit, root, **extra)
    return unit, numbers, time.perf_counter() - t0


def run(name: str, *, size: str = "default", seeds: int | None = None, rng: int = 0, dtype="float64") -> StudyResult:
    """Run study ``name`` at ``size`` over ``seeds`` seeds (default: the study's own) in this process; nothing is stored.

    ``dtype``: what its training computes in, float64 (default) or float32 for a study that trains
    (:func:`check_dtype_of`).
    """
    study = get(name)
    seeds = seeds_for(name, size, seeds)
    rng = check_int("rng", rng, min_value=0)
    dtype = check_dtype_of(name, dtype)
    measured = [_measure((name, size, rng, unit, dtype)) for unit in study.plan(size, seeds)]
    return _reduce(study, size, seeds, measured, dtype)


def _reduce(study: Study, size: str, seeds: int, measured: list[tuple[Unit, dict, float]], dtype: str) -> StudyResult:
    result = study.reduce(size, seeds, Measured(((u, n) for u, n, _ in measured), seeds))
    return dataclasses.replace(result, wall_time=sum(s for _, _, s in measured), dtype=dtype)


@dataclasses.dataclass(frozen=True)
class StudyOutcome:
    """What :func:`execute` did: the folder (``out``), the result, and units measured now / already done."""

    out: Path
    result: StudyResult
    total: int
    measured: int
    resumed: int
    seconds: float


def execute(
    name: str,
    out,
    *,
    size: str = "default",
    seeds: int | None = None,
    rng: int = 0,
    workers: int = 1,
    executor: str = "local",
    scheduler: str | None = None,
    new: bool = False,
    progress: Callable | None = None,
    dtype="float64",
) -> StudyOutcome:
    """Run study ``name`` into folder ``out`` (its ``study.sqlite``), resuming what is already there.

    Parameters
    ----------
    out : folder
    size, seeds, rng : as :func:`run`
    workers : int >= 1
        Processes measuring units at once (a forkserver pool, BLAS and numba threads shared out),
        or the workers of a Dask ``LocalCluster``.
    executor : {"local", "dask"}, scheduler : str, optional
        Where units run, as for a sweep (:func:`initlab.jobs.executors.open_executor`): a Dask
        cluster's scheduler address (``tcp://host:port``) uses its workers; the driver stays the
        store's only writer.
    new : bool
        Start in a fresh folder (``out-2``, ``out-3``, ...) if ``out`` already holds a study.
    progress : callable, optional
        Called with a :class:`initlab.jobs.progress.Progress` (runs = units) after every unit.
    dtype : {"float64", "float32"}
        As :func:`run`. Part of the folder's settings when float32 (a float64 folder's are as they were),
        so a folder of the other dtype is refused.

    Raises
    ------
    StudyConflict
        ``out`` holds another study or other settings (and ``new`` is False).
    """
    study = get(name)
    check_choice("size", size, SIZES)
    seeds = seeds_for(name, size, seeds)
    rng = check_int("rng", rng, min_value=0)
    workers = check_int("workers", workers, min_value=1)
    check_choice("executor", executor, ("local", "dask"))
    dtype = check_dtype_of(name, dtype)
    out = fresh_folder(Path(out), STORE_NAME) if new else Path(out)
    t0 = time.perf_counter()
    units = study.plan(size, seeds)
    with contextlib.ExitStack() as stack:
        # a cluster is joined before the store is made, so an unreachable one leaves nothing behind
        cluster = (
            stack.enter_context(open_executor("dask", workers=workers, scheduler=scheduler)) if scheduler else None
        )
        store = stack.enter_context(StudyStore.create(out, settings(name, size, seeds, rng, dtype)))
        store.add_units(units)
        done = store.done_keys()
        pending = [u for u in units if u.key not in done]
        resumed, measured = len(units) - len(pending), 0
        if pending:
            size_of_pool = workers if executor == "dask" else min(workers, len(pending))
            imap = cluster or stack.enter_context(open_executor(executor, workers=size_of_pool, scheduler=scheduler))
            for unit, numbers, seconds in imap(_measure, [(name, size, rng, u, dtype) for u in pending]):
                store.commit(unit, numbers, seconds)
                measured += 1
                if progress is not None:
                    progress(Progress(resumed + measured, len(units), resumed, 0, measured, time.perf_counter() - t0))
        result = reduce_store(store)
    return StudyOutcome(out, result, len(units), measured, resumed, time.perf_counter() - t0)


def settings(name: str, size: str, seeds: int, seed: int, dtype: str = "float64") -> dict:
    """A study folder's identity (:class:`~initlab.studies.store.StudyStore`): ``dtype`` only when not float64."""
    return {"study": name, "size": size, "seeds": seeds, "seed": seed} | (
        {"dtype": dtype} if dtype != "float64" else {}
    )


def reduce_store(store) -> StudyResult:
    """The study's result from the units of its plan in a :class:`~initlab.studies.store.StudyStore`.

    Units in the store that are not in the plan (a store written by a version that split the seeds
    otherwise) are ignored.

    Raises
    ------
    ValueError
        Units are missing (the run was interrupted): the message says how to finish it.
    """
    s = store.settings()
    study = get(s["study"])
    planned = {u.key for u in study.plan(s["size"], s["seeds"])}
    finished = [f for f in store.finished() if f[0].key in planned]
    if len(finished) < len(planned):
        raise ValueError(
            f"the study in '{store.path.parent}' is unfinished ({len(finished)} of {len(planned)} units done). Finish it "
            f"with `initlab study {s['study']}{' --quick' if s['size'] == 'quick' else ''} --seeds {s['seeds']} "
            f"--seed {s['seed']}{' --dtype ' + s['dtype'] if 'dtype' in s else ''} --out {store.path.parent}`."
        )
    return _reduce(study, s["size"], s["seeds"], finished, s.get("dtype", "float64"))
