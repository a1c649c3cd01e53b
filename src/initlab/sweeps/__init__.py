"""Sweeps: many seeds and configurations, trained together, stored resumably, summarized with intervals.

A spec (a TOML file, or :class:`SweepSpec`) is a grid; :func:`make_plan` expands it into named runs
grouped by what they share; :func:`run_sweep` trains the unfinished chunks on a local process pool or
a Dask cluster and commits each to the SQLite store in the output folder; :func:`summarize` gives
mean ± 95 % CI over seeds; :func:`export` writes CSV/Parquet; ``initlab.report.sweep`` the HTML report.

>>> spec, text = load_spec("examples/notebook_seeds.toml")            # doctest: +SKIP
>>> outcome = run_sweep(spec, "initlab-out/notebook_seeds", spec_text=text)   # doctest: +SKIP
>>> with Store.open(outcome.out) as store:                             # doctest: +SKIP
...     table = summarize(store.finished_runs(), threshold=spec.loss_threshold)

Modules: ``spec`` (TOML -> dataclasses), ``catalogue`` (the datasets, optimizers and engines that
exist; a dataset's arrays), ``plan`` (runs, groups, chunks), ``worker`` (trains a chunk: the only
caller of the training code), ``forecast`` (time and memory before a sweep runs), ``store``
(SQLite), ``runner`` (the driver), ``summary`` (statistics), ``export`` and ``cli``. The executors
(local pool, Dask) and the progress display are shared with the studies: :mod:`initlab.jobs`.
"""

from .export import export
from .plan import Plan, RunConfig, make_plan
from .runner import SweepOutcome, run_sweep
from .spec import (
    DataSpec,
    InitSpec,
    ModelSpec,
    OptimizerSpec,
    SpecError,
    SweepSpec,
    load_spec,
    parse_spec,
)
from .store import SpecConflict, Store, StoreMissing
from .summary import Summary, mean_ci, summarize

__all__ = [
    "DataSpec",
    "InitSpec",
    "ModelSpec",
    "OptimizerSpec",
    "Plan",
    "RunConfig",
    "SpecConflict",
    "SpecError",
    "Store",
    "StoreMissing",
    "Summary",
    "SweepOutcome",
    "SweepSpec",
    "export",
    "load_spec",
    "make_plan",
    "mean_ci",
    "parse_spec",
    "run_sweep",
    "summarize",
]
