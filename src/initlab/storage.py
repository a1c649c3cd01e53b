"""SQLite stores with one writer: what the sweep store and the study store share.

The writer (a driver process) opens a store with :func:`creating`: WAL journal, so readers never
block it; ``synchronous = FULL``, so a committed transaction survives ``kill -9`` and a power loss;
every write goes through :func:`transaction` (``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back on any
error), so a result appears whole or not at all. Readers use :func:`open_read_only`, which checks
the store's ``format`` in its ``meta(key, value)`` table. This module only does I/O.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

__all__ = ["connect", "creating", "open_read_only", "transaction"]


def connect(path: Path) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), rows as :class:`sqlite3.Row`."""
    db = sqlite3.connect(path, isolation_level=None, timeout=30.0)
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA foreign_keys = ON")
    return db


@contextlib.contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` (the write lock at once), ``COMMIT`` at the end, ``ROLLBACK`` on any error."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


@contextlib.contextmanager
def creating(path: Path, schema: str) -> Iterator[tuple[sqlite3.Connection, dict[str, str]]]:
    """Open ``path`` for writing and create ``schema`` (``;``-separated ``CREATE ... IF NOT EXISTS``).

    Yields ``(db, meta)`` inside one transaction: the block checks ``meta`` (empty for a new store)
    and writes its own; the transaction commits when the block ends and ``db`` stays open for the
    writer. On any error it is rolled back and ``db`` closed.
    """
    db = connect(path)
    try:
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = FULL")  # a committed transaction survives a power loss too
        with transaction(db):
            for statement in schema.split(";"):
                if statement.strip():
                    db.execute(statement)
            yield db, dict(db.execute("SELECT key, value FROM meta").fetchall())
    except BaseException:
        db.close()
        raise


def open_read_only(path: Path, *, fmt: str, missing: type[Exception], what: str) -> tuple[sqlite3.Connection, dict]:
    """Open the existing store ``path`` for reading; return ``(db, meta)``.

    Raises
    ------
    missing
        ``path`` is not an SQLite file with a ``meta`` table, or its ``format`` is not ``fmt``
        (the message names ``what``, e.g. ``"sweep store"``).
    """
    db = connect(path)
    db.execute("PRAGMA query_only = ON")
    try:
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
    except sqlite3.DatabaseError as exc:
        db.close()
        raise missing(f"'{path}' is not a {what} ({exc}).") from None
    if meta.get("format") != fmt:
        db.close()
        raise missing(f"'{path}' is not a {what} of this initlab (format {meta.get('format')!r}, expected {fmt!r}).")
    return db, meta
