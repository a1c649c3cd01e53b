"""The command line's shared helpers: the user's errors, their one-line form, tables and the ``--out`` check.

Every ``initlab`` command (``initlab.cli`` and the sweep group in ``initlab.sweeps.cli``) reports
through these, so that both read alike: a problem with what the user asked for is a
:class:`UserError` (``initlab.cli.main`` prints it as one line on stderr and exits with status 2,
no traceback), a library's ``The 'learning_rate' parameter ...`` becomes ``The '--learning-rate'
option ...`` (:func:`as_option`), tables go to stdout and messages to stderr. Printing only: no
command logic, no imports of the commands (the commands import this module, never each other).
"""

from __future__ import annotations

import contextlib
import re
import sys
import tempfile
from collections.abc import Collection, Iterator
from pathlib import Path

__all__ = ["UserError", "as_option", "check_output_folder", "err", "print_table", "user_input", "write_error"]


class UserError(Exception):
    """A problem with what the user asked for; printed as one line, exit status 2."""


def as_option(message: str) -> str:
    """'The 'learning_rate' parameter ...' -> 'The '--learning-rate' option ...' (a name given as '--batch-size' too)."""
    return re.sub(
        r"The '(?:--)?(\w[\w-]*)' parameter", lambda m: f"The '--{m.group(1).replace('_', '-')}' option", message
    )


@contextlib.contextmanager
def user_input() -> Iterator[None]:
    """The ValueErrors and TypeErrors raised in the block are about the user's options: a :class:`UserError`
    with the option names (:func:`as_option`). A UserError raised in the block passes unchanged."""
    try:
        yield
    except (TypeError, ValueError) as exc:
        raise UserError(as_option(str(exc))) from None


def write_error(out: Path, exc: OSError) -> UserError:
    """The error for an ``--out`` folder that could not be written to (raise it ``from None``)."""
    return UserError(f"could not write to '--out' {out}: {exc.strerror or exc}. Choose a folder you can write to.")


def check_output_folder(out: Path, *, earlier_run: Collection[str] = ()) -> None:
    """Refuse an --out that is a file or lies where nothing can be written, before any work is done.

    ``earlier_run``: the names of the files a command writes (a sweep's or a study's store, ``initlab
    train``'s results); a folder holding one of them holds an earlier run, which is never overwritten.
    """
    if out.exists() and not out.is_dir():
        raise UserError(
            f"'--out' {out} is an existing file, not a folder. Give a folder path (it is created if missing)."
        )
    held = sorted(name for name in earlier_run if (out / name).exists())
    if held:
        raise UserError(
            f"'--out' {out} holds an earlier run ({', '.join(held)}); it is not overwritten. "
            "Give another --out, or remove that folder first."
        )
    probe = out
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise UserError(f"'--out' {out} cannot be created: {probe} is a file. Give a folder path.")
    try:
        with tempfile.TemporaryFile(dir=probe):
            pass
    except OSError as exc:
        raise UserError(
            f"'--out' {out} is not writable ({exc.strerror or exc} in {probe}). Choose a folder you can write to."
        ) from None


def print_table(
    header: list[str], rows: list[list[str]], *, title: str, text_columns: Collection[str] | None = None
) -> None:
    """Print a table on stdout (rich).

    Two layouts. ``text_columns=None``, a report's table (``initlab reproduce``, ``train``, ``study``):
    the first column a label never wrapped, columns 1-3 numbers (right-aligned), the rest sentences,
    at least 140 characters wide so that they fit. ``text_columns`` given, a sweep's table: the columns
    so named hold words (left-aligned, folded to fit a terminal), the others numbers (right-aligned),
    as wide as the terminal, or 400 characters in a file or pipe so that nothing wraps.
    """
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for i, h in enumerate(header):
        if text_columns is None:
            table.add_column(h, justify="right" if i in (1, 2, 3) else "left", no_wrap=i == 0)
        else:
            text = h in text_columns
            table.add_column(h, justify="left" if text else "right", no_wrap=not text, overflow="fold")
    for row in rows:
        table.add_row(*row)
    if text_columns is None:
        Console(width=max(140, Console().width)).print(table)
    else:
        console = Console()
        Console(width=console.width if console.is_terminal else 400).print(table)


def err(line: str) -> None:
    """One line for the user on stderr (stdout is for tables and ``--json``)."""
    print(line, file=sys.stderr)
