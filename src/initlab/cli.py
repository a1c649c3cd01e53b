"""The ``initlab`` command line: parsing and printing only; the library does the work.

``main(argv=None)`` is the entry point (tests call ``main(["reproduce", ...])``). Bad input never
shows a traceback: one line on stderr, exit status 2.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import typer

app = typer.Typer(
    name="initlab",
    help="Neural-network weight initialization: the deeplearning.ai notebook exactly, every initializer, many seeds.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


class UserError(Exception):
    """A problem with what the user asked for; printed as one line, exit status 2."""


@app.callback()
def _root() -> None:
    """initlab: which initialization, at which scale, for which network, and how sure you can be.

    Start with `initlab reproduce`: the Initialization notebook's experiment, with pictures.
    """


@app.command()
def reproduce(
    out: Path = typer.Option(Path("initlab-out/reproduce"), "--out", help="Folder for figures, results.json and report.html."),
    iterations: int = typer.Option(15000, "--iterations", help="Gradient-descent iterations per model (the notebook: 15000)."),
    learning_rate: float = typer.Option(0.01, "--learning-rate", "--lr", help="Learning rate (the notebook: 0.01)."),
    seed: int = typer.Option(3, "--seed", help="Seed of the random and He initializers (the notebook: 3)."),
    arithmetic: str = typer.Option(
        "notebook", "--arithmetic",
        help="'notebook': the notebook platform's exp and BLAS kernels where this CPU has them, so every "
             "printed cost matches; 'native': this machine's fastest kernels.",
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress display."),
) -> None:
    """Train the notebook's three models (zeros, large random, He) and report what happened.

    Prints the notebook's conclusion table with measured numbers and writes cost curves, the three
    decision boundaries, results.json and a self-contained report.html to --out.
    """
    from .reproduce import INITIALIZATIONS, ReproduceConfig, run

    try:
        config = ReproduceConfig(iterations=iterations, learning_rate=learning_rate, seed=seed, arithmetic=arithmetic)
    except (TypeError, ValueError) as exc:
        raise UserError(_as_option(str(exc))) from None
    _check_output_folder(out)

    with _Progress(INITIALIZATIONS, config.iterations, quiet=quiet) as progress:
        result = run(config, progress=progress.update)

    from .report import reproduce as report

    _print_table(report.SUMMARY_HEADER, report.summary_rows(result), title=_table_title(result))
    try:
        paths = report.write(result, out)
    except OSError as exc:
        raise UserError(f"could not write to '--out' {out}: {exc.strerror or exc}. Choose a folder you can write to.") from None
    _err(f"wrote {len(paths)} files to {out}/ (open {paths['report.html']} in a browser)")


def _as_option(message: str) -> str:
    """'The 'learning_rate' parameter ...' -> 'The '--learning-rate' option ...'."""
    import re

    return re.sub(r"The '(\w+)' parameter", lambda m: f"The '--{m.group(1).replace('_', '-')}' option", message)


def _check_output_folder(out: Path) -> None:
    """Refuse an --out that is a file or lies where nothing can be written, before any work is done."""
    if out.exists() and not out.is_dir():
        raise UserError(f"'--out' {out} is an existing file, not a folder. Give a folder path (it is created if missing).")
    probe = out
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise UserError(f"'--out' {out} cannot be created: {probe} is a file. Give a folder path.")
    try:
        with tempfile.TemporaryFile(dir=probe):
            pass
    except OSError as exc:
        raise UserError(f"'--out' {out} is not writable ({exc.strerror or exc} in {probe}). Choose a folder you can write to.") from None


def _table_title(result) -> str:
    cfg = result.config
    title = f"Initialization notebook, seed {cfg.seed}, lr {cfg.learning_rate:g}, {cfg.iterations:,} iterations ({result.arithmetic} arithmetic)"
    if not cfg.is_notebook_default:
        title += " -- not the notebook's settings: its table depends on them"
    return title


def _print_table(header, rows, *, title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for i, h in enumerate(header):
        table.add_column(h, justify="right" if i in (1, 2, 3) else "left", no_wrap=i == 0)
    for row in rows:
        table.add_row(*row)
    Console(width=max(140, Console().width)).print(table)


def _err(line: str) -> None:
    print(line, file=sys.stderr)


class _Progress:
    """A rich progress bar per model on a terminal; one plain line per finished model otherwise."""

    def __init__(self, names, total: int, *, quiet: bool):
        self.names, self.total, self.quiet = names, total, quiet
        self.tty = sys.stderr.isatty()
        self.bar = None

    def __enter__(self):
        if self.tty and not self.quiet:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self.bar = Progress(TextColumn("{task.description:>7}"), BarColumn(), TextColumn("{task.completed:>6}/{task.total}"),
                                TimeElapsedColumn(), transient=True)  # fmt: skip
            self.bar.__enter__()
            self.tasks = {n: self.bar.add_task(n, total=self.total) for n in self.names}
        return self

    def update(self, name: str, done: int, total: int) -> None:
        if self.bar is not None:
            self.bar.update(self.tasks[name], completed=done)
        elif not self.quiet and done == total:
            _err(f"{name}: trained {total:,} iterations")

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.__exit__(*exc)
        return False


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 ok, 2 bad input, 130 interrupted)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        rv = app(args=argv or ["--help"], prog_name="initlab", standalone_mode=False)
        return rv if isinstance(rv, int) else 0
    except typer.Exit as exc:
        return exc.exit_code
    except (typer.Abort, KeyboardInterrupt):
        _err("initlab: interrupted; nothing was written")
        return 130
    except UserError as exc:
        _err(f"initlab: error: {_one_line(str(exc))}")
        return 2
    except Exception as exc:
        # Usage errors (typer's click, vendored or not): one line, not click's usage box.
        if hasattr(exc, "format_message") and hasattr(exc, "exit_code"):
            _err(f"initlab: error: {_one_line(exc.format_message())}")
            return 2
        raise


def _one_line(text: str) -> str:
    return " ".join(text.split())


if __name__ == "__main__":  # python -m initlab.cli
    sys.exit(main())
