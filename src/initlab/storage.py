"""SQLite stores with one writer: what the sweep store and the study store share.

A job (a sweep, a study) keeps its results in one SQLite file in its output folder. Its
``meta(key, value)`` table names the store's ``format``, when it was ``created`` and its
``fingerprint``: the identity of the job, so that a folder never mixes two jobs (a second job with
another fingerprint is refused). :class:`SQLiteStore` holds that handling once (subclassed by
:class:`initlab.sweeps.store.Store` and :class:`initlab.studies.store.StudyStore`);
:func:`fresh_folder` finds a folder that holds no store yet.

The writer (a driver process) opens a store with :func:`creating`: WAL journal, so readers never
block it; ``synchronous = FULL``, so a committed transaction survives ``kill -9`` and a power loss;
every write goes through :func:`transaction` (``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back on any
error), so a result appears whole or not at all. Readers use :func:`open_read_only`, which checks
the store's ``format`` in its ``meta(key, value)`` table. This module only does I/O.

Safety rules, all here: a writer takes an exclusive lock (``fcntl.flock`` on ``NAME.lock`` beside
the store, holding its process id) for as long as it is open, so a second writer is refused while
readers go on; an existing file is checked (``PRAGMA quick_check``, read-only) before anything is
written to it, so a damaged store is refused and never touched; a store that could not be created
(no permission, a full disk) is removed again, never left empty; readers open read-only
(``mode=ro``, or ``immutable=1`` on read-only media). Every refusal is a :class:`StoreError` whose
message names the file and what to do.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import ClassVar

__all__ = ["SQLiteStore", "StoreError", "close", "connect", "creating", "fresh_folder", "open_read_only", "read_meta",
           "transaction"]  # fmt: skip

_LOCKS: dict[int, int] = {}  # id(writer connection) -> file descriptor of its held lock


class StoreError(ValueError):
    """A store that cannot be used as asked (damaged, locked by another writer, not writable); the message says what to do."""


def connect(path: Path, *, uri: str | None = None) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), rows as :class:`sqlite3.Row`."""
    db = sqlite3.connect(uri or path, isolation_level=None, timeout=30.0, uri=uri is not None)
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA foreign_keys = ON")
    return db


def close(db: sqlite3.Connection) -> None:
    """Close a connection; a writer's also releases its lock."""
    db.close()
    fd = _LOCKS.pop(id(db), None)
    if fd is not None:
        os.close(fd)


def _lock(path: Path) -> int:
    """Take the writer's lock of the store at ``path`` (non-blocking); its file descriptor."""
    lock = path.with_name(path.name + ".lock")
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock (initlab's stores are written by one driver anyway)
        return fd
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
        os.close(fd)
        raise StoreError(
            f"'{path.parent}' is being written by another initlab (process {holder}). Wait for it to finish (reading it "
            "meanwhile works), or give another --out."
        ) from None
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
    except OSError:  # a full disk: the lock is held all the same; only the note of who holds it is missing
        pass
    return fd


def _check_intact(path: Path) -> None:
    """Raise StoreError if the existing file ``path`` is not an intact SQLite database (checked read-only)."""
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            problems = [r[0] for r in db.execute("PRAGMA quick_check").fetchall()]
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        problems = [str(exc)]
    if problems != ["ok"]:
        raise StoreError(
            f"'{path}' is damaged ({'; '.join(problems[:2])[:200]}) and was left untouched. Start over with --new (or "
            f"another --out), or rescue its rows with `sqlite3 {path} .recover`."
        )


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
    writer (close it with :func:`close`, which releases the writer's lock). On any error it is
    rolled back and ``db`` closed; a store this call created is removed again.

    Raises
    ------
    StoreError
        Another process writes the store; the existing file is damaged; it cannot be written
        (permission, full disk).
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        existed = path.exists() and path.stat().st_size > 0
        fd = _lock(path)
    except OSError as exc:
        raise StoreError(
            f"cannot write in '{path.parent}' ({exc.strerror}). Give an --out folder you can write to."
        ) from None
    db = None
    try:
        if existed:
            _check_intact(path)  # before the first write: a damaged file is refused, never written to
        db = connect(path)
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = FULL")  # a committed transaction survives a power loss too
        with transaction(db):
            for statement in schema.split(";"):
                if statement.strip():
                    db.execute(statement)
            yield db, read_meta(db)
        _LOCKS[id(db)] = fd
    except BaseException as exc:
        if db is not None:
            db.close()
        if not existed:  # never leave an empty or half-made store behind
            for leftover in (path, *(path.with_name(path.name + end) for end in ("-wal", "-shm", ".lock"))):
                with contextlib.suppress(OSError):
                    leftover.unlink()
        os.close(fd)
        if isinstance(exc, sqlite3.OperationalError):
            raise StoreError(
                f"cannot write '{path}' ({exc}). Free space or give an --out folder you can write to."
            ) from None
        raise


def open_read_only(path: Path, *, fmt: str, missing: type[Exception], what: str) -> tuple[sqlite3.Connection, dict]:
    """Open the existing store ``path`` for reading; return ``(db, meta)``.

    Raises
    ------
    missing
        ``path`` is not an SQLite file with a ``meta`` table, or its ``format`` is not ``fmt``
        (the message names ``what``, e.g. ``"sweep store"``).
    """
    try:
        db = _connect_read_only(path)
        db.execute("PRAGMA query_only = ON")
        problems = [r[0] for r in db.execute("PRAGMA quick_check").fetchall()]
        meta = read_meta(db) if problems == ["ok"] else {}
    except sqlite3.DatabaseError as exc:
        with contextlib.suppress(NameError):
            db.close()
        raise missing(
            f"'{path}' is not a {what} ({exc}): damaged, or not initlab's. Rescue its rows with "
            f"`sqlite3 {path} .recover`, or run again with --new."
        ) from None
    if problems != ["ok"]:
        db.close()
        raise StoreError(
            f"'{path}' is damaged ({'; '.join(problems[:2])[:200]}). Rescue its rows with "
            f"`sqlite3 {path} .recover`, or run again with --new."
        )
    if meta.get("format") != fmt:
        db.close()
        raise missing(f"'{path}' is not a {what} of this initlab (format {meta.get('format')!r}, expected {fmt!r}).")
    return db, meta


def _connect_read_only(path: Path) -> sqlite3.Connection:
    """``mode=ro``; on read-only media, where a WAL store cannot make its ``-shm`` file, ``immutable=1``."""
    uri = path.resolve().as_uri()
    db = connect(path, uri=f"{uri}?mode=ro")
    try:
        db.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
        return db
    except sqlite3.OperationalError as exc:
        db.close()
        if "unable to open" not in str(exc) and "readonly" not in str(exc):
            raise
    return connect(path, uri=f"{uri}?immutable=1")


def read_meta(db: sqlite3.Connection) -> dict[str, str]:
    """The store's ``meta`` table as a dict."""
    return dict(db.execute("SELECT key, value FROM meta").fetchall())


def fresh_folder(out, store_name: str) -> Path:
    """``out`` if it holds no ``store_name`` (a job's store); else the first of ``out-2``, ``out-3``, ... that holds none."""
    out = Path(out)
    if not (out / store_name).exists():
        return out
    for n in range(2, 10_000):
        candidate = out.with_name(f"{out.name}-{n}")
        if not (candidate / store_name).exists():
            return candidate
    raise ValueError(
        f"no free folder next to '{out}' (tried up to {out.name}-9999). Give another --out."
    )  # pragma: no cover


class SQLiteStore:
    """An open store of a job: its connection, its file, its ``meta``; a context manager that closes it.

    A subclass names its kind in class attributes and opens with :meth:`_create` (the driver, the
    only writer) or :meth:`open` (readers).

    Attributes
    ----------
    NAME : the file in the job's folder, e.g. ``"sweep.sqlite"``
    FORMAT : ``meta``'s ``format``, e.g. ``"initlab-sweep-1"``
    SCHEMA : the tables (``;``-separated ``CREATE ... IF NOT EXISTS``, a ``meta`` table among them)
    KIND : what the job is called in messages, e.g. ``"sweep"``
    COMMAND : the command that writes such a store, in messages, e.g. ``"initlab sweep run"``
    MISSING : the error :meth:`open` raises for a folder without such a store
    """

    NAME: ClassVar[str]
    FORMAT: ClassVar[str]
    SCHEMA: ClassVar[str]
    KIND: ClassVar[str]
    COMMAND: ClassVar[str]
    MISSING: ClassVar[type[Exception]]

    def __init__(self, connection: sqlite3.Connection, path: Path, *, writer: bool):
        self._db, self.path, self.writer = connection, path, writer

    @classmethod
    def _create(cls, folder, fingerprint: str, meta: Mapping[str, str], *, refresh: Mapping[str, str] | None = None,
                conflict: Callable[[dict[str, str]], Exception]):  # fmt: skip
        """Open ``folder``'s store for writing, creating it for the job ``fingerprint`` if new.

        A new store's ``meta`` gets ``format``, ``fingerprint``, ``created`` and ``meta``; an existing
        one must hold the same fingerprint, else ``conflict(its meta)`` is raised (nothing written).
        ``refresh`` is written every time (e.g. the spec's text, which may differ in comments).

        Raises
        ------
        StoreError
            Another process writes the store; the file is damaged; it cannot be written.
        """
        path = Path(folder) / cls.NAME
        with creating(path, cls.SCHEMA) as (db, stored):
            if stored and stored.get("fingerprint") != fingerprint:
                raise conflict(stored)
            values = dict(refresh or {})
            if not stored:
                values |= {**meta, "format": cls.FORMAT, "fingerprint": fingerprint, "created": repr(time.time())}
            db.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", values.items())
        return cls(db, path, writer=True)

    @classmethod
    def open(cls, folder):
        """Open ``folder``'s store for reading.

        Raises
        ------
        MISSING
            No store file there, or not one of this format.
        """
        folder = Path(folder)
        path = folder / cls.NAME
        if not path.is_file():
            raise cls.MISSING(
                f"'{folder}' holds no {cls.KIND} ({cls.NAME} not found). Give the --out folder of `{cls.COMMAND}`."
            )
        db, _ = open_read_only(path, fmt=cls.FORMAT, missing=cls.MISSING, what=f"{cls.KIND} store")
        return cls(db, path, writer=False)

    def meta(self) -> dict[str, str]:
        """The ``meta`` table: ``format``, ``fingerprint``, ``created`` and the job's own keys."""
        return read_meta(self._db)

    def close(self) -> None:
        """Close the store; a writer's also releases its lock."""
        close(self._db)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
