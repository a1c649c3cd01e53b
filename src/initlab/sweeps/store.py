"""The sweep's SQLite store, ``<out>/sweep.sqlite``: the spec, one row per run, histories, parameters.

Only the driver writes (WAL journal, ``synchronous=FULL``), one transaction per finished chunk:
its runs' rows, loss histories, trained parameters and diagnostics appear together or not at all.
A sweep stopped at any moment (Ctrl-C, ``kill -9``, a reboot) keeps every committed chunk; the
next ``run`` trains only the runs whose status is not ``done``. Readers (summary, report, export)
stream rows, so no command holds all histories in memory.

Tables
------
``meta(key, value)``
    ``format``, ``spec_json`` (canonical), ``spec_text`` (the TOML as given), ``fingerprint``
    (sha256 of the spec's identity), ``diagnostic_fields``, ``created``.
``runs``
    ``id, key (unique), name, position, grp, config (JSON), status ('pending' | 'done' |
    'failed'), message, final_loss, train_accuracy, test_accuracy, diverged_at (NULL if not),
    init_seconds, train_seconds, worker, finished_at, attempts``.
``histories(run_id, loss)``
    the recorded losses as float64 bytes, at ``0, record_every, ... < iterations, iterations``.
``params(run_id, theta)``
    the trained parameters, float64 bytes laid out ``W1, b1, W2, ...``.
``diagnostics(run_id, stage, stats)``
    stage ``init`` or ``final``; float64 bytes of shape ``(len(diagnostic_fields), L)``.

This module only does I/O; it does not train or compute statistics.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from .. import storage
from ..jsonable import finite_or_none
from .catalogue import DIAGNOSTIC_FIELDS
from .spec import SweepSpec
from .worker import RunResult

__all__ = ["STORE_NAME", "RunRow", "SpecConflict", "Store", "StoreMissing"]

STORE_NAME = "sweep.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    position INTEGER NOT NULL,
    grp TEXT NOT NULL,
    config TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'failed')),
    message TEXT,
    final_loss REAL,
    train_accuracy REAL,
    test_accuracy REAL,
    diverged_at INTEGER,
    init_seconds REAL,
    train_seconds REAL,
    worker TEXT,
    finished_at REAL,
    attempts INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS runs_status ON runs (status);
CREATE TABLE IF NOT EXISTS histories (run_id INTEGER PRIMARY KEY REFERENCES runs (id), loss BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS params (run_id INTEGER PRIMARY KEY REFERENCES runs (id), theta BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS diagnostics (
    run_id INTEGER NOT NULL REFERENCES runs (id),
    stage TEXT NOT NULL CHECK (stage IN ('init', 'final')),
    stats BLOB NOT NULL,
    PRIMARY KEY (run_id, stage)
);
"""


class SpecConflict(ValueError):
    """The output folder holds a sweep of another spec."""


class StoreMissing(ValueError):
    """The folder holds no sweep store."""


@dataclass(frozen=True)
class RunRow:
    """A run as stored (without its arrays). Metrics are nan (``diverged_at`` -1) when absent."""

    id: int
    key: str
    name: str
    position: int
    group: str
    config: dict
    status: str
    message: str
    final_loss: float
    train_accuracy: float
    test_accuracy: float
    diverged_at: int
    init_seconds: float
    train_seconds: float
    worker: str
    finished_at: float
    attempts: int

    @property
    def labels(self) -> dict[str, str]:
        return self.config["labels"]

    @property
    def record_iterations(self) -> np.ndarray:
        """Iterations of the stored losses (the last one is the trained model's)."""
        it, every = self.config["iterations"], self.config["record_every"]
        return np.append(np.arange(0, it, every), it)


def _real(x) -> float:
    return float("nan") if x is None else float(x)


def _row(r: sqlite3.Row) -> RunRow:
    return RunRow(
        id=r["id"], key=r["key"], name=r["name"], position=r["position"], group=r["grp"], config=json.loads(r["config"]),
        status=r["status"], message=r["message"] or "", final_loss=_real(r["final_loss"]),
        train_accuracy=_real(r["train_accuracy"]), test_accuracy=_real(r["test_accuracy"]),
        diverged_at=-1 if r["diverged_at"] is None else int(r["diverged_at"]), init_seconds=_real(r["init_seconds"]),
        train_seconds=_real(r["train_seconds"]), worker=r["worker"] or "", finished_at=_real(r["finished_at"]),
        attempts=r["attempts"],
    )  # fmt: skip


def _blob(a: np.ndarray) -> bytes:
    return np.ascontiguousarray(a, dtype="<f8").tobytes()


def _array(b: bytes) -> np.ndarray:
    return np.frombuffer(b, dtype="<f8").copy()


class Store(storage.SQLiteStore):
    """An open sweep store. Use :meth:`create` (the driver, the only writer) or :meth:`open` (readers)."""

    NAME = STORE_NAME
    FORMAT = "initlab-sweep-1"
    SCHEMA = _SCHEMA
    KIND = "sweep"
    COMMAND = "initlab sweep run"
    MISSING = StoreMissing

    # ---- opening -----------------------------------------------------------------------------
    @classmethod
    def create(cls, folder, spec: SweepSpec, spec_text: str) -> Store:
        """Open ``folder``'s store for writing, creating it for ``spec`` if new.

        Raises
        ------
        SpecConflict
            The store holds a different spec (by :meth:`SweepSpec.fingerprint`).
        """
        fingerprint = spec.fingerprint()

        def conflict(meta: dict[str, str]) -> SpecConflict:
            doc = json.loads(meta.get("spec_json", "{}"))
            stored, dtype = doc.get("name", "?"), doc.get("dtype", "float64")  # a float64 spec has no dtype key
            same = dtype != spec.dtype and dataclasses.replace(spec, dtype=dtype).fingerprint() == meta.get(
                "fingerprint"
            )
            how = f" It computes in {dtype}, this spec in {spec.dtype}: --dtype {dtype} resumes it." if same else ""
            return SpecConflict(
                f"'{folder}' holds another sweep ({stored!r}, spec {meta.get('fingerprint', '?')[:12]}); this spec "
                f"({spec.name!r}, {fingerprint[:12]}) differs.{how} Run with --new to start over in a fresh folder, or "
                "give another --out."
            )

        values = {"spec_json": json.dumps(spec.to_dict(), sort_keys=True), "spec_text": spec_text,
                  "diagnostic_fields": json.dumps(DIAGNOSTIC_FIELDS)}  # fmt: skip
        return cls._create(folder, fingerprint, values, refresh=values, conflict=conflict)

    # ---- writing (the driver) ----------------------------------------------------------------
    def add_runs(self, runs: Iterable) -> int:
        """Insert a ``pending`` row for every run (a :class:`RunConfig`) not stored yet; return how many were new."""
        before = self._db.total_changes
        with storage.transaction(self._db) as db:
            db.executemany(
                "INSERT OR IGNORE INTO runs (key, name, position, grp, config) VALUES (?, ?, ?, ?, ?)",
                ((r.key, r.name, r.index, _group_key(r), json.dumps(r.record(), sort_keys=True)) for r in runs),
            )
        return self._db.total_changes - before

    def commit(self, results: Sequence[RunResult]) -> int:
        """Store one chunk's results in one transaction; return how many runs became ``done``.

        A run already ``done`` is left as it is (a result is never stored twice).
        """
        done = 0
        with storage.transaction(self._db) as db:
            for r in results:
                row = db.execute("SELECT id, status FROM runs WHERE key = ?", (r.key,)).fetchone()
                if row is None or row["status"] == "done":
                    continue
                run_id = row["id"]
                db.execute(
                    "UPDATE runs SET status = ?, message = ?, final_loss = ?, train_accuracy = ?, test_accuracy = ?, "
                    "diverged_at = ?, init_seconds = ?, train_seconds = ?, worker = ?, finished_at = ?, "
                    "attempts = attempts + 1 WHERE id = ?",
                    (r.status, r.message or None, finite_or_none(r.final_loss), finite_or_none(r.train_accuracy),
                     finite_or_none(r.test_accuracy), r.diverged_at if r.diverged_at >= 0 else None, r.init_seconds,
                     r.train_seconds, r.worker, time.time(), run_id),
                )  # fmt: skip
                if r.status != "done":
                    continue
                done += 1
                db.execute("INSERT OR REPLACE INTO histories (run_id, loss) VALUES (?, ?)", (run_id, _blob(r.loss)))
                db.execute("INSERT OR REPLACE INTO params (run_id, theta) VALUES (?, ?)", (run_id, _blob(r.params)))
                for stage, stats in r.diagnostics.items():
                    db.execute("INSERT OR REPLACE INTO diagnostics (run_id, stage, stats) VALUES (?, ?, ?)",
                               (run_id, stage, _blob(stats)))  # fmt: skip
        return done

    # ---- reading -----------------------------------------------------------------------------
    def spec(self) -> SweepSpec:
        """The stored spec."""
        meta = self.meta()
        return SweepSpec.from_dict(json.loads(meta["spec_json"]), source=str(self.path))

    def spec_text(self) -> str:
        return self.meta()["spec_text"]

    def counts(self) -> dict[str, int]:
        """Runs per status: ``{"pending": ..., "done": ..., "failed": ...}``."""
        out = {"pending": 0, "done": 0, "failed": 0}
        out.update(dict(self._db.execute("SELECT status, COUNT(*) FROM runs GROUP BY status").fetchall()))
        return out

    def done_keys(self) -> set[str]:
        return {r[0] for r in self._db.execute("SELECT key FROM runs WHERE status = 'done'")}

    def runs(self, *, status: str | None = None) -> Iterator[RunRow]:
        """Stored runs in grid order (all, or those with ``status``), streamed."""
        where, args = ("WHERE status = ?", (status,)) if status else ("", ())
        for r in self._db.execute(f"SELECT * FROM runs {where} ORDER BY position", args):
            yield _row(r)

    def finished_runs(self) -> Iterator[tuple[RunRow, np.ndarray | None]]:
        """``(row, loss)`` of every done or failed run in grid order, streamed one at a time (loss None if failed)."""
        query = ("SELECT runs.*, histories.loss AS loss_blob FROM runs LEFT JOIN histories ON histories.run_id = runs.id "
                 "WHERE status != 'pending' ORDER BY position")  # fmt: skip
        for r in self._db.execute(query):
            yield _row(r), None if r["loss_blob"] is None else _array(r["loss_blob"])

    def losses(self, run_ids: Sequence[int]) -> dict[int, np.ndarray]:
        """Recorded losses of the given runs."""
        return {i: _array(b) for i, b in self._select_blobs("histories", "loss", run_ids)}

    def params(self, run_id: int) -> np.ndarray:
        """Trained parameters (P,) of a run."""
        row = self._db.execute("SELECT theta FROM params WHERE run_id = ?", (run_id,)).fetchone()
        return _array(row[0]) if row else np.zeros(0)

    def diagnostics(self, run_ids: Sequence[int]) -> dict[int, dict[str, np.ndarray]]:
        """``{run_id: {"init": (F, L), "final": (F, L)}}`` for runs that have diagnostics."""
        fields = len(json.loads(self.meta()["diagnostic_fields"]))
        out: dict[int, dict[str, np.ndarray]] = {}
        for chunk in _batches(run_ids):
            marks = ",".join("?" * len(chunk))
            for r in self._db.execute(f"SELECT run_id, stage, stats FROM diagnostics WHERE run_id IN ({marks})", chunk):
                out.setdefault(r[0], {})[r[1]] = _array(r[2]).reshape(fields, -1)
        return out

    def diagnostic_fields(self) -> tuple[str, ...]:
        return tuple(json.loads(self.meta()["diagnostic_fields"]))

    def _select_blobs(self, table: str, column: str, run_ids: Sequence[int]):
        for chunk in _batches(run_ids):
            marks = ",".join("?" * len(chunk))
            yield from self._db.execute(f"SELECT run_id, {column} FROM {table} WHERE run_id IN ({marks})", chunk)


def _batches(ids: Sequence[int], size: int = 500) -> Iterator[list[int]]:
    ids = list(ids)
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def _group_key(run) -> str:
    """The run's summary group: everything but the seed, as the labels' JSON."""
    labels = dict(run.record()["labels"])
    del labels["seed"]
    return json.dumps(labels, sort_keys=True)
