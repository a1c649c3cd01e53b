"""initlab.storage: one writer, explicit transactions that leave nothing half-written."""

import sqlite3

import pytest

from initlab import storage

SCHEMA = "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL); CREATE TABLE IF NOT EXISTS t (x)"


class Missing(ValueError):
    pass


def test_a_failing_transaction_leaves_nothing(tmp_path):
    path = tmp_path / "s.sqlite"
    with storage.creating(path, SCHEMA) as (db, meta):
        assert meta == {}
        db.execute("INSERT INTO meta VALUES ('format', 'f-1')")
    with pytest.raises(RuntimeError):
        with storage.transaction(db):
            db.execute("INSERT INTO t VALUES (1)")
            raise RuntimeError("the chunk failed half-way")
    assert db.execute("SELECT COUNT(*) FROM t").fetchone()[0] == 0 and not db.in_transaction
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    storage.close(db)


def test_creating_rolls_back_and_closes_when_the_block_refuses(tmp_path):
    path = tmp_path / "s.sqlite"
    with storage.creating(path, SCHEMA) as (db, _):
        db.execute("INSERT INTO meta VALUES ('format', 'f-1')")
    storage.close(db)
    with pytest.raises(Missing):
        with storage.creating(path, SCHEMA) as (db, meta):
            assert meta == {"format": "f-1"}
            db.execute("INSERT INTO meta VALUES ('other', 'x')")
            raise Missing("another store")
    with pytest.raises(sqlite3.ProgrammingError):  # closed
        db.execute("SELECT 1")
    reader, meta = storage.open_read_only(path, fmt="f-1", missing=Missing, what="test store")
    assert meta == {"format": "f-1"}  # the refused block wrote nothing
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        reader.execute("INSERT INTO t VALUES (1)")
    reader.close()


def test_open_read_only_names_what_is_wrong(tmp_path):
    path = tmp_path / "s.sqlite"
    with storage.creating(path, SCHEMA) as (db, _):
        db.execute("INSERT INTO meta VALUES ('format', 'f-0')")
    storage.close(db)
    with pytest.raises(Missing, match=r"is not a test store of this initlab \(format 'f-0', expected 'f-1'\)"):
        storage.open_read_only(path, fmt="f-1", missing=Missing, what="test store")
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"no database here" * 64)
    with pytest.raises(Missing, match="is not a test store"):
        storage.open_read_only(junk, fmt="f-1", missing=Missing, what="test store")
