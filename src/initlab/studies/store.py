"""A study's results on disk: ``study.sqlite`` in the study's folder, kept the way a sweep's are.

SQLite in WAL mode with ``synchronous = FULL``; the driver process is the only writer and commits
each unit's numbers in its own transaction as the unit finishes, so a run killed at any moment
(even ``kill -9``) loses at most the units in flight, and the next run of the same study into the
same folder measures only what is missing. The folder's identity is the study, the size, the
number of seeds and the root seed (the *fingerprint*); another study or setting there is refused.

Tables::

    meta  (key, value)                      format, study, size, seeds, seed, fingerprint, created
    units (id, key, config, first, stop,    one row per unit of the study's plan;
           status, numbers, seconds,        numbers: the unit's arrays as an .npz blob
           finished_at)
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from initlab import storage
from initlab.studies.base import Unit

__all__ = ["STORE_NAME", "StudyConflict", "StudyMissing", "StudyStore"]

STORE_NAME = "study.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS units (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    config TEXT NOT NULL,
    first INTEGER NOT NULL,
    stop INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done')),
    numbers BLOB,
    seconds REAL,
    finished_at REAL
)
"""


class StudyConflict(ValueError):
    """The folder holds another study, or the same study at other settings."""


class StudyMissing(ValueError):
    """The folder holds no study store."""


def _npz(numbers: dict) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **{name: np.asarray(value) for name, value in numbers.items()})
    return buffer.getvalue()


def _arrays(blob: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
        return {name: npz[name] for name in npz.files}


class StudyStore(storage.SQLiteStore):
    """An open study store: :meth:`create` (the driver, the only writer) or :meth:`open` (readers)."""

    NAME = STORE_NAME
    FORMAT = "initlab-study-1"
    SCHEMA = _SCHEMA
    KIND = "study"
    COMMAND = "initlab study"
    MISSING = StudyMissing

    @classmethod
    def create(cls, folder, settings: dict) -> StudyStore:
        """Open ``folder``'s store for writing, creating it for ``settings`` if new.

        Parameters
        ----------
        settings : dict with ``study``, ``size``, ``seeds``, ``seed`` and, for a float32 study only, ``dtype``

        Raises
        ------
        StudyConflict
            The store holds other settings.
        """
        fingerprint = _fingerprint(settings)
        meta = {k: str(settings[k]) for k in _SETTINGS if k in settings}
        return cls._create(folder, fingerprint, meta,
                           conflict=lambda stored: _conflict(folder, stored.get("fingerprint"), fingerprint))  # fmt: skip

    @classmethod
    def check(cls, folder, settings: dict) -> None:
        """Raise :class:`StudyConflict` if ``folder`` holds a study store of other settings (reads only)."""
        if not (Path(folder) / STORE_NAME).is_file():
            return
        try:
            with cls.open(folder) as store:
                stored = store.meta().get("fingerprint")
        except StudyMissing as exc:
            raise StudyConflict(f"{exc} Run with --new to start in a fresh folder, or give another --out.") from None
        if stored != _fingerprint(settings):
            raise _conflict(folder, stored, _fingerprint(settings))

    # ---- writing (the driver) ----------------------------------------------------------------
    def add_units(self, units: Iterable[Unit]) -> None:
        """Record the plan (units already there are kept, with their numbers)."""
        rows = [(u.key, json.dumps(u.config, sort_keys=True), u.first, u.stop) for u in units]
        with storage.transaction(self._db):
            self._db.executemany("INSERT OR IGNORE INTO units (key, config, first, stop) VALUES (?, ?, ?, ?)", rows)

    def commit(self, unit: Unit, numbers: dict, seconds: float) -> None:
        """Store one finished unit's numbers, in one transaction."""
        with storage.transaction(self._db):
            self._db.execute(
                "UPDATE units SET status = 'done', numbers = ?, seconds = ?, finished_at = ? WHERE key = ?",
                (_npz(numbers), float(seconds), time.time(), unit.key),
            )

    # ---- reading -----------------------------------------------------------------------------
    def settings(self) -> dict:
        """``study``, ``size``, ``seeds`` (int), ``seed`` (int) and (float32 only) ``dtype`` of this store."""
        meta = self.meta()
        dtype = {"dtype": meta["dtype"]} if "dtype" in meta else {}
        return {
            "study": meta["study"],
            "size": meta["size"],
            "seeds": int(meta["seeds"]),
            "seed": int(meta["seed"]),
        } | dtype

    def done_keys(self) -> set[str]:
        return {r["key"] for r in self._db.execute("SELECT key FROM units WHERE status = 'done'")}

    def counts(self) -> dict[str, int]:
        rows = self._db.execute("SELECT status, COUNT(*) AS n FROM units GROUP BY status").fetchall()
        return {"pending": 0, "done": 0} | {r["status"]: r["n"] for r in rows}

    def finished(self) -> Iterator[tuple[Unit, dict[str, np.ndarray], float]]:
        """Every done unit with its numbers and its compute seconds, in plan order."""
        query = "SELECT config, first, stop, numbers, seconds FROM units WHERE status = 'done' ORDER BY id"
        for r in self._db.execute(query):
            yield Unit(json.loads(r["config"]), r["first"], r["stop"]), _arrays(r["numbers"]), r["seconds"]


#: A folder's identity; ``dtype`` is there only for a float32 study (a float64 one's fingerprint is as it always was).
_SETTINGS = ("study", "size", "seeds", "seed", "dtype")


def _fingerprint(settings: dict) -> str:
    return json.dumps({k: settings[k] for k in _SETTINGS if k in settings}, sort_keys=True)


def _conflict(folder, stored: str | None, wanted: str) -> StudyConflict:
    return StudyConflict(
        f"'{folder}' holds another study run ({_describe(stored)}); this one is {_describe(wanted)}. "
        "Run with --new to start in a fresh folder, or give another --out."
    )


def _describe(fingerprint: str | None) -> str:
    try:
        f = json.loads(fingerprint or "")
        return f"{f['study']}, {f['size']}, {f['seeds']} seeds, seed {f['seed']}" + (
            f", {f['dtype']}" if "dtype" in f else ""
        )
    except (ValueError, KeyError, TypeError):
        return "unknown"
