"""Sweeps survive kill -9 of the driver, a dying pool worker and a dying Dask worker, with identical numbers."""

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from initlab.sweeps import Store, load_spec, run_sweep

SPEC = """
name = "kill"
seeds = 8
iterations = 2500
record_every = 250
[[init]]
name = "zeros"
[[init]]
name = "random"
scale = 10
[[init]]
name = "he_normal"
"""
N_RUNS = 24


@pytest.fixture(scope="module")
def spec_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("kill") / "kill.toml"
    path.write_text(SPEC)
    return path


@pytest.fixture(scope="module")
def reference(spec_file, tmp_path_factory):
    """The sweep uninterrupted, in this process, every run in one chunk."""
    spec, text = load_spec(spec_file)
    out = tmp_path_factory.mktemp("uninterrupted")
    assert run_sweep(spec, out, spec_text=text, workers=1, chunk_size=N_RUNS).done == N_RUNS
    return numbers(out)


def numbers(folder) -> dict:
    with Store.open(folder) as store:
        return {row.key: (row.name, row.final_loss, row.train_accuracy, row.test_accuracy, row.diverged_at, loss.tobytes(),
                          store.params(row.id).tobytes()) for row, loss in store.finished_runs()}  # fmt: skip


def done_count(db_path: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5) as db:
            return db.execute("SELECT COUNT(*) FROM runs WHERE status = 'done'").fetchone()[0]
    except sqlite3.OperationalError:  # not created yet
        return 0


def worker_pids(db_path: Path) -> set[int]:
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5) as db:
        return {
            int(w.rsplit(":", 1)[1]) for (w,) in db.execute("SELECT DISTINCT worker FROM runs WHERE worker IS NOT NULL")
        }


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def sweep_command(spec_file, out) -> list[str]:
    return [sys.executable, "-m", "initlab.sweeps", "run", str(spec_file), "--out", str(out), "--workers", "2",
            "--chunk-size", "2", "--quiet"]  # fmt: skip


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="checks worker processes through /proc")
def test_sigkill_then_resume_gives_every_run_once_and_the_same_numbers(spec_file, reference, tmp_path):
    out = tmp_path / "sweep"
    db_path = out / "sweep.sqlite"
    proc = subprocess.Popen(sweep_command(spec_file, out), stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while done_count(db_path) < 4:  # two chunks committed
            assert proc.poll() is None, f"the sweep ended early: {proc.stderr.read()}"
            assert time.monotonic() < deadline, "no chunk committed in 120 s"
            time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    at_kill = done_count(db_path)
    assert 4 <= at_kill < N_RUNS, "the kill must land mid-sweep"
    pids = worker_pids(db_path)
    assert len(pids) >= 1 and os.getpid() not in pids
    deadline = time.monotonic() + 15
    while any(alive(pid) for pid in pids):  # the pool's workers leave with their driver
        assert time.monotonic() < deadline, f"worker processes outlived the killed driver: {pids}"
        time.sleep(0.1)

    resumed = subprocess.run(sweep_command(spec_file, out), stderr=subprocess.PIPE, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    db = sqlite3.connect(db_path)
    rows = db.execute("SELECT COUNT(*), COUNT(DISTINCT key), SUM(status = 'done'), MAX(attempts) FROM runs").fetchone()
    assert rows == (N_RUNS, N_RUNS, N_RUNS, 1)  # every run present once, trained once
    assert db.execute("SELECT COUNT(*), COUNT(DISTINCT run_id) FROM histories").fetchone() == (N_RUNS, N_RUNS)
    db.close()
    assert numbers(out) == reference


def test_a_pool_worker_killed_mid_sweep_is_replaced_and_nothing_changes(spec_file, reference, tmp_path):
    spec, text = load_spec(spec_file)
    killed = []

    def kill_a_worker(p):
        if p.finished >= 2 and not killed:
            pid = max(worker_pids(tmp_path / "sweep.sqlite"))
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    outcome = run_sweep(spec, tmp_path, spec_text=text, workers=2, chunk_size=2, progress=kill_a_worker)
    assert killed and outcome.done == N_RUNS and not alive(killed[0])
    assert len(worker_pids(tmp_path / "sweep.sqlite")) >= 3  # a new pool's workers trained the rest
    assert numbers(tmp_path) == reference


def test_dask_local_cluster_with_a_worker_killed_mid_sweep(spec_file, reference, tmp_path):
    pytest.importorskip("distributed")
    spec, text = load_spec(spec_file)
    killed = []

    def kill_a_worker(p):
        if p.finished >= 2 and not killed:
            pid = next(iter(worker_pids(tmp_path / "sweep.sqlite")))
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    outcome = run_sweep(
        spec, tmp_path, spec_text=text, executor="dask", workers=2, chunk_size=2, progress=kill_a_worker
    )
    assert killed and outcome.done == N_RUNS and not alive(killed[0])
    later = worker_pids(tmp_path / "sweep.sqlite") - set(killed)
    assert later, "the other workers (and the restarted one) trained the rest"
    assert numbers(tmp_path) == reference


def test_an_existing_dask_scheduler_from_the_command_line(spec_file, reference, tmp_path):
    distributed = pytest.importorskip("distributed")
    from initlab.sweeps.__main__ import main

    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                       dashboard_address=None)  # fmt: skip
    try:
        argv = ["run", str(spec_file), "--out", str(tmp_path), "--scheduler", cluster.scheduler_address, "--chunk-size", "6",
                "--quiet"]  # fmt: skip
        assert main(argv) == 0
        assert len(cluster.scheduler_info["workers"]) == 2  # ours to keep: the sweep only disconnected
    finally:
        cluster.close()
    assert numbers(tmp_path) == reference


def test_ctrl_c_is_one_line_and_no_raw_warning(tmp_path):
    """SIGINT to the whole process group, as a terminal's Ctrl-C: initlab's line, exit 130, and nothing else.

    multiprocessing's resource tracker used to add "There appear to be 2 leaked semaphore objects" after
    it (measured with this spec, whose chunks keep both workers busy).
    """
    spec = Path(__file__).resolve().parents[1] / "examples" / "scale_depth.toml"
    out = tmp_path / "interrupted"
    command = [sys.executable, "-m", "initlab.sweeps", "run", str(spec), "--out", str(out), "--workers", "2", "--quiet"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while done_count(out / "sweep.sqlite") < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)  # chunks in flight in both workers
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err
    assert err.strip().splitlines() == [f"initlab: interrupted; every finished chunk is saved in {out}/. Run the same command "
                                        "again to resume."], err  # fmt: skip


INTERRUPT_MID_RESULT = """
import time
from initlab.jobs.executors import open_executor

def large(i):
    return bytes(4_000_000)  # ~60 pipe buffers: the workers are writing results most of the time

if __name__ == "__main__":
    for delay in (0.3, 0.45, 0.6, 0.75, 0.9):
        start = time.monotonic()
        try:
            with open_executor("local", workers=2) as imap:
                for _ in imap(large, range(10**6)):
                    if time.monotonic() - start > delay:
                        raise KeyboardInterrupt
        except KeyboardInterrupt:
            pass
    print("stopped", flush=True)
"""


def test_a_pool_interrupted_while_workers_write_results_stops(tmp_path):
    """Ctrl-C while a worker is half-way through sending a large result: the pool still stops.

    Terminated mid-write, a worker left half a message in the result pipe and the pool's manager
    thread waited for the rest forever (8 of 10 such interrupts hung the driver before the fix).
    """
    script = tmp_path / "interrupt.py"
    script.write_text(INTERRUPT_MID_RESULT)
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)  # fmt: skip
    try:
        out, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        out, err = "", "timed out: the driver hung in the pool's shutdown"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert out.strip() == "stopped", err
