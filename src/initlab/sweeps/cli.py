"""The sweep commands of the ``initlab`` command line: parsing and printing only.

:func:`register` adds them to a typer app (``initlab.cli.app``)::

    initlab sweep plan SPEC            the runs, their grouping, an estimate of time and memory
    initlab sweep run SPEC --out DIR   run or resume (--workers, --executor dask, --scheduler, --new, --quiet)
    initlab sweep summary DIR          mean ± 95% CI over seeds, grouped by what varies
    initlab sweep export DIR           runs and histories as --format csv|parquet

(``initlab report DIR``, which draws a sweep's or a study's report, is in ``initlab.cli``.)
``python -m initlab.sweeps`` runs the same commands (see ``initlab/sweeps/__main__.py``). Bad input
raises :class:`initlab.console.UserError`: one line on stderr, exit status 2.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from initlab.console import UserError, as_option, err, print_table

__all__ = ["register"]

_SPEC = typer.Argument(..., metavar="SPEC", help="The sweep spec, a TOML file (see examples/).", show_default=False)
_DIR = typer.Argument(
    ..., metavar="DIR", help="A sweep's output folder (the --out of `initlab sweep run`).", show_default=False
)


#: The columns of a sweep's summary that hold words (left-aligned, folded); the others hold numbers.
_TEXT_COLUMNS = {"dataset", "network", "activation", "init", "optimizer", "group"}


_DTYPE = typer.Option(
    None,
    "--dtype",
    help="float64 or float32: what every run computes in, instead of the spec's dtype key (part of the sweep's "
    "identity: a folder of the other dtype is refused) [default: the spec's, float64].",
    show_default=False,
)


def _load(spec_path: Path, dtype: str | None = None):
    """The spec at ``spec_path`` and its text; ``dtype`` (``--dtype``), if given, replaces the spec's ``dtype``."""
    import dataclasses

    from .spec import SpecError, load_spec

    try:
        spec, text = load_spec(spec_path)
        return (spec if dtype is None else dataclasses.replace(spec, dtype=dtype)), text
    except SpecError as exc:
        raise UserError(str(exc)) from None
    except (ValueError, TypeError) as exc:
        raise UserError(as_option(str(exc))) from None


def _open(folder: Path):
    from .store import Store, StoreMissing

    try:
        return Store.open(folder)
    except StoreMissing as exc:
        raise UserError(str(exc)) from None


def _count_line(plan) -> str:
    from .plan import labels

    all_labels = [labels(run) for run in plan.runs]
    counts = []
    for dim in plan.varying:
        counts.append(f"{len({lab[dim] for lab in all_labels})} {dim}")
    return f"{len(plan.runs)} runs" + (": " + " × ".join(counts) if counts else "")


# --------------------------------------------------------------------------------------------
# The commands
# --------------------------------------------------------------------------------------------
def plan(
    spec_path: Path = _SPEC,
    workers: int = typer.Option(None, "--workers", "-w", help="Worker processes for the estimate [default: cores]."),
    chunk_size: int = typer.Option(32, "--chunk-size", help="Most models trained together in one chunk."),
    out: Path = typer.Option(None, "--out", help="Output folder: estimate only the runs it does not hold yet."),
    all_runs: bool = typer.Option(False, "--all", help="List every run (default: the first 10 and the last 5)."),
    dtype: str = _DTYPE,
) -> None:
    """Show the runs of SPEC, how they train together, and an estimate of time and memory. Trains nothing."""
    from initlab.jobs.executors import default_workers
    from initlab.jobs.progress import format_seconds

    from ..budget import format_bytes
    from . import forecast
    from . import plan as planning
    from .spec import SpecError
    from .store import STORE_NAME, Store

    spec, _ = _load(spec_path, dtype)
    try:
        workers = default_workers() if workers is None else workers
        the_plan = planning.make_plan(spec)
        done, note = set(), ""
        if out is not None and (out / STORE_NAME).exists():
            with Store.open(out) as store:
                if store.meta().get("fingerprint") == spec.fingerprint():
                    done = store.done_keys()
                    note = f"{out} holds {len(done)} of them done; the estimate is for the rest."
                else:
                    note = f"{out} holds another sweep: `sweep run` will refuse it (use --new)."
        todo = [r for r in the_plan.runs if r.key not in done]
        chunks = planning.make_chunks(todo, chunk_size=chunk_size, workers=workers)
    except (SpecError, ValueError, TypeError) as exc:
        raise UserError(as_option(str(exc))) from None
    _print_plan(spec, spec_path, the_plan, chunks, chunk_size=chunk_size, all_runs=all_runs)
    if note:
        print(note)
    if not chunks:
        print("Nothing to train: every run is done.")
        return
    # the estimate trains a few iterations of every chunk shape here (most of plan's time on a large grid)
    n_groups = sum(1 for setup, _ in the_plan.groups if any(c.setup == setup for c in chunks))
    err(f"timing a few iterations of each of {n_groups} group(s) here for the estimate ...")
    sys.stdout.flush()
    try:
        estimate = forecast.estimate(chunks, workers=workers)
    except (ValueError, TypeError) as exc:
        raise UserError(as_option(str(exc))) from None
    engine = f"engine {spec.engine!r}, {spec.dtype}"
    print(f"Estimate for {estimate.runs} runs in {estimate.chunks} chunks on {workers} worker(s), {engine}: "
          f"about {format_seconds(estimate.seconds)} (timed here on a few iterations of each group).")  # fmt: skip
    print(f"Memory: about {format_bytes(estimate.worker_bytes)} per worker process, "
          f"{format_bytes(estimate.driver_bytes)} of results in the driver at most, "
          f"{format_bytes(estimate.store_bytes)} added to the store.")  # fmt: skip


def _print_plan(spec, spec_path: Path, the_plan, chunks, *, chunk_size: int, all_runs: bool) -> None:
    """``sweep plan``'s listing, before the estimate: the spec, its runs (or the first and last), its groups."""

    print(f"Sweep {spec.name!r} ({spec_path}, spec {spec.fingerprint()[:12]})")
    print(_count_line(the_plan))
    runs = the_plan.runs
    shown = runs if all_runs or len(runs) <= 15 else runs[:10] + runs[-5:]
    print(
        f"\nRuns{'' if len(shown) == len(runs) else f' (the first 10 and the last 5 of {len(runs)}; --all lists all)'}:"
    )
    for i, run in enumerate(shown):
        if len(shown) < len(runs) and i == 10:
            print("  ...")
        print(f"  {run.name}")
    print(f"\nGroups (runs of a group train together along the model axis, in chunks of at most {chunk_size}):")
    for i, (setup, group) in enumerate(the_plan.groups, start=1):
        n_chunks = sum(1 for c in chunks if c.setup == setup)
        opt = setup.optimizer + "".join(f" {k}={v}" for k, v in setup.optimizer_options)
        net = setup.network + (f" scalars={setup.scalars}" if setup.blocks is not None else "")
        print(f"  {i:>3}. {setup.dataset.name} {net} {setup.activation}, {opt}, "
              f"{setup.iterations} iterations: {len(group)} runs, {n_chunks} chunk(s) to train")  # fmt: skip
    print()


def run(
    spec_path: Path = _SPEC,
    out: Path = typer.Option(None, "--out", help="Output folder [default: initlab-out/<spec name>]."),
    workers: int = typer.Option(None, "--workers", "-w", help="Worker processes (or Dask workers) [default: cores]."),
    executor: str = typer.Option("local", "--executor", help="'local' (a process pool) or 'dask'."),
    scheduler: str = typer.Option(None, "--scheduler", help="Address of a running Dask scheduler, tcp://HOST:PORT."),
    chunk_size: int = typer.Option(32, "--chunk-size", help="Most models trained together in one chunk."),
    new: bool = typer.Option(
        False, "--new", help="Start over in a fresh folder (OUT-2, OUT-3, ...) instead of resuming."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress display."),
    dtype: str = _DTYPE,
) -> None:
    """Run the sweep SPEC into --out, or resume it there: finished runs are never trained again."""
    from initlab.jobs.progress import ProgressDisplay

    from .runner import run_sweep
    from .spec import SpecError
    from .store import SpecConflict

    spec, text = _load(spec_path, dtype)
    if scheduler is not None and executor == "local":
        executor = "dask"  # --scheduler names a Dask cluster
    out = Path("initlab-out") / spec.name if out is None else out
    if out.exists() and not out.is_dir():
        raise UserError(
            f"'--out' {out} is an existing file, not a folder. Give a folder path (it is created if missing)."
        )
    display = ProgressDisplay(quiet=quiet)
    try:
        with display:
            outcome = run_sweep(spec, out, spec_text=text, executor=executor, workers=workers, scheduler=scheduler,
                                chunk_size=chunk_size, new=new, progress=display)  # fmt: skip
    except KeyboardInterrupt:
        err(f"initlab: interrupted; every finished chunk is saved in {out}/. Run the same command again to resume.")
        raise typer.Exit(130) from None
    except (SpecError, SpecConflict, ValueError, TypeError) as exc:
        raise UserError(as_option(str(exc))) from None
    except OSError as exc:
        raise UserError(
            f"cannot write the sweep to '--out' {out}: {exc.strerror or exc}. Choose a folder you can write to."
        ) from None
    if not quiet:
        failed = f", {outcome.failed} failed (see `initlab sweep export`)" if outcome.failed else ""
        again = f" ({outcome.resumed} were already done)" if outcome.resumed else ""
        err(f"sweep {spec.name!r}: {outcome.done}/{outcome.total} runs done{failed}{again}, "
             f"{outcome.trained} trained in {outcome.seconds:.1f} s. Store: {outcome.out / 'sweep.sqlite'}")  # fmt: skip
        err(f"next: initlab sweep summary {outcome.out}   |   initlab report {outcome.out}")
    if outcome.failed:
        raise typer.Exit(1)


def summary(
    folder: Path = _DIR,
    threshold: float = typer.Option(None, "--threshold", help="Loss threshold [default: the spec's loss_threshold]."),
    format: str = typer.Option("table", "--format", help="'table' (for the terminal) or 'markdown'."),
) -> None:
    """Mean ± 95% confidence interval over seeds, per group of runs that differ only in their seed."""
    from initlab.validation import check_choice

    from .summary import markdown_table, summarize, summary_rows

    try:
        check_choice("format", format, ("table", "markdown"))
    except ValueError as exc:
        raise UserError(as_option(str(exc))) from None
    with _open(folder) as store:
        spec = store.spec()
        counts = store.counts()
        try:
            result = summarize(store.finished_runs(), threshold=spec.loss_threshold if threshold is None else threshold)
        except (ValueError, TypeError) as exc:
            raise UserError(as_option(str(exc))) from None
    header, rows = summary_rows(result)
    total = sum(counts.values())
    title = (f"Sweep {spec.name!r}: {counts['done']}/{total} runs done"
             + (f", {counts['failed']} failed" if counts["failed"] else "")
             + "; mean ± 95% CI over seeds")  # fmt: skip
    if format == "markdown":
        print(f"{title}\n\n{markdown_table(header, rows)}")
    else:
        print_table(header, rows, title=title, text_columns=_TEXT_COLUMNS)


def export(
    folder: Path = _DIR,
    format: str = typer.Option("csv", "--format", help="'csv' or 'parquet' (needs pyarrow)."),
    out: Path = typer.Option(None, "--out", help="Folder for runs.* and histories.* [default: DIR/export]."),
) -> None:
    """Write the sweep's runs and loss histories as CSV or Parquet files."""
    from .export import export as export_files
    from .store import StoreMissing

    try:
        paths = export_files(folder, format=format, out=out)
    except (StoreMissing, ValueError, TypeError) as exc:
        raise UserError(as_option(str(exc))) from None
    except OSError as exc:
        where = exc.filename or out or Path(folder) / "export"
        raise UserError(
            f"cannot write the export to '{where}': {exc.strerror or exc}. Choose an --out folder you can write to."
        ) from None
    err(f"wrote {paths['runs']} and {paths['histories']}")


# --------------------------------------------------------------------------------------------
# Registration
# --------------------------------------------------------------------------------------------
def register(app: typer.Typer) -> None:
    """Add the ``sweep`` command group (plan, run, summary, export) to ``app``.

    Registering twice is harmless (the second call does nothing).
    """
    if any(group.name == "sweep" for group in app.registered_groups):
        return
    sweep = typer.Typer(
        name="sweep",
        help="Many seeds and configurations from a TOML spec: plan, run (resumable), summary, export.",
        no_args_is_help=True,
        add_completion=False,
        rich_markup_mode=None,
    )
    sweep.command("plan")(plan)
    sweep.command("run")(run)
    sweep.command("summary")(summary)
    sweep.command("export")(export)
    app.add_typer(sweep, name="sweep")
