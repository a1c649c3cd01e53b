"""Damaged, locked, unwritable stores: one line naming the file and what to do, exit 2, and the file never written."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import sqlite3
import subprocess
import sys

import pytest

from initlab import storage
from initlab.cli import main

SPEC = """
name = "tiny"
seeds = 2
iterations = 40
record_every = 20
[model]
depth = 2
width = 4
[[optimizer]]
learning_rate = 0.1
[[init]]
name = "he_normal"
"""


def _cli(argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture()
def sweep(tmp_path):
    spec = tmp_path / "tiny.toml"
    spec.write_text(SPEC)
    out = tmp_path / "out"
    code, _, err = _cli(["sweep", "run", str(spec), "--out", str(out), "--quiet"])
    assert code == 0, err
    return spec, out


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _damage(path, how):
    data = bytearray(path.read_bytes())
    if how == "random bytes mid-file":
        rng = __import__("random").Random(0)
        for i in range(len(data) // 3, len(data) // 3 + 3000):
            data[i] = rng.randrange(256)
    elif how == "truncated":
        data = data[: len(data) // 2 + 100]
    elif how == "header overwritten":
        data[:100] = b"\xff" * 100
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("how", ["random bytes mid-file", "truncated", "header overwritten"])
def test_a_damaged_sweep_store_is_refused_in_one_line_and_never_written(sweep, how):
    spec, out = sweep
    store = out / "sweep.sqlite"
    for side in ("sweep.sqlite-wal", "sweep.sqlite-shm"):
        (out / side).unlink(missing_ok=True)
    _damage(store, how)
    before = _sha(store)
    for argv in (["sweep", "run", str(spec), "--out", str(out), "--quiet"], ["sweep", "summary", str(out)],
                 ["sweep", "export", str(out), "--out", str(out / "x.csv")], ["report", str(out)]):  # fmt: skip
        code, _, err = _cli(argv)
        assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, (argv, err)
        assert "sweep.sqlite" in err and ("damaged" in err or "not a sweep store" in err), (argv, err)
        assert _sha(store) == before, f"{argv[1]} wrote to the damaged store"


def test_a_second_writer_is_refused_while_readers_go_on(sweep):
    spec, out = sweep
    # another process holds the writer's lock, as a running `sweep run` does
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from pathlib import Path; from initlab import storage\n"
        f"fd = storage._lock(Path({str(out / 'sweep.sqlite')!r})); print('locked', flush=True); time.sleep(60)")],
        stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "locked"
        code, _, err = _cli(["sweep", "run", str(spec), "--out", str(out), "--quiet"])
        assert code == 2 and err.count("\n") == 1 and f"process {holder.pid}" in err and "another --out" in err
        code, text, err = _cli(["sweep", "summary", str(out)])
        assert code == 0 and "2/2 runs done" in text, err
    finally:
        holder.kill()
        holder.wait()
    code, _, err = _cli(["sweep", "run", str(spec), "--out", str(out), "--quiet"])  # the lock died with its process
    assert code == 0, err


def test_a_store_that_cannot_be_created_is_not_left_behind(tmp_path):
    path = tmp_path / "s.sqlite"
    with pytest.raises(storage.StoreError, match="cannot write"):
        with storage.creating(path, "CREATE TABLE IF NOT EXISTS meta (key, value); NOT SQL"):
            pass
    assert not path.exists() and not (tmp_path / "s.sqlite-wal").exists()


def test_an_out_folder_that_cannot_be_made_is_one_line(tmp_path):
    spec = tmp_path / "tiny.toml"
    spec.write_text(SPEC)
    a_file = tmp_path / "file"
    a_file.write_text("keep")
    code, _, err = _cli(["sweep", "run", str(spec), "--out", str(a_file / "sub"), "--quiet"])
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err and str(a_file) in err, err
    assert a_file.read_text() == "keep"


@pytest.mark.skipif(os.geteuid() != 0 or sys.platform != "linux", reason="mounts a tiny tmpfs: needs root on Linux")
def test_a_full_disk_is_one_line_and_leaves_no_empty_store(tmp_path):
    mnt = tmp_path / "small"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("this sandbox cannot mount a tmpfs")
    try:
        (mnt / "filler").write_bytes(b"\0" * 60_000)
        with contextlib.suppress(OSError):  # fill what is left
            (mnt / "filler2").write_bytes(b"\0" * 16_000)
        spec = tmp_path / "tiny.toml"
        spec.write_text(SPEC)
        code, _, err = _cli(["sweep", "run", str(spec), "--out", str(mnt / "out"), "--quiet"])
        assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
        assert not [p.name for p in (mnt / "out").iterdir()] if (mnt / "out").exists() else True
    finally:
        assert subprocess.run(["umount", str(mnt)], capture_output=True).returncode == 0, "a file on it is still open"


@pytest.mark.skipif(os.geteuid() != 0 or sys.platform != "linux", reason="bind-mounts read-only: needs root on Linux")
def test_a_store_on_read_only_media_can_be_read(sweep, tmp_path):
    _, out = sweep
    ro = tmp_path / "ro"
    ro.mkdir()
    if subprocess.run(["mount", "--bind", "-o", "ro", str(out), str(ro)], capture_output=True).returncode:
        pytest.skip("this sandbox cannot bind-mount")
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(ro)], capture_output=True)
        with pytest.raises(OSError):
            (ro / "probe").write_text("x")  # really read-only
        code, text, err = _cli(["sweep", "summary", str(ro)])
        assert code == 0 and "2/2 runs done" in text, err
    finally:
        assert subprocess.run(["umount", str(ro)], capture_output=True).returncode == 0, "a file on it is still open"


def test_read_only_open_never_creates_or_changes_files(sweep):
    _, out = sweep
    before = {p.name: _sha(p) for p in out.iterdir() if p.is_file() and "sqlite" in p.name}
    db, meta = storage.open_read_only(
        out / "sweep.sqlite", fmt=meta_format(out), missing=ValueError, what="sweep store"
    )
    with pytest.raises(sqlite3.OperationalError):
        db.execute("CREATE TABLE x (y)")
    db.close()
    assert {p.name: _sha(p) for p in out.iterdir() if p.is_file() and "sqlite" in p.name and p.name in before} == before


def meta_format(out):
    db = sqlite3.connect(out / "sweep.sqlite")
    try:
        return db.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()[0]
    finally:
        db.close()
