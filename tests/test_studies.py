"""initlab.studies: each study's quick run asserts the direction of its claim with a margin, over several seeds.

Thresholds are the claims' own (a factor of 2, ln 2, the published critical point), checked on
95 % intervals over seeds, never on one seed's number.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import signal
import sqlite3
import subprocess
import sys
import time

import numpy as np
import pytest

from initlab import studies
from initlab.cli import main
from initlab.report import study as study_report
from initlab.studies.base import Measured, Unit, Verdict, result_dict
from initlab.studies.store import StudyConflict, StudyStore


@pytest.fixture
def quick(study_quick):
    return study_quick


def test_registry_lists_documented_studies():
    names = list(studies.available())
    assert names == [
        "notebook-seeds",
        "edge-of-chaos",
        "glorot2010",
        "he2015",
        "saxe2013",
        "lsuv",
        "trainability-depth",
        "fixup",
        "rezero",
        "dynamical-isometry",
        "hanin-rolnick",
        "mup-coord-check",
        "mup-lr-transfer",
    ]
    for name, study in studies.available().items():
        assert study.name == name
        for section in ("Claim", "Setup", "Verdict"):
            assert section in study.doc, f"{name}'s docstring lacks a {section} section"
    with pytest.raises(ValueError, match="glorot2010"):
        studies.get("glorot")
    with pytest.raises(ValueError, match="seeds"):
        studies.run("glorot2010", size="quick", seeds=1)


def test_verdict_takes_the_smallest_margin():
    v = Verdict.all_of([("a", 0.5), ("b", -0.1)])
    assert not v.supported and v.margin == -0.1 and str(v).startswith("NOT SUPPORTED (margin -0.1)")
    v = Verdict.all_of([("a", 0.5), ("b", 0.2)])
    assert v.supported and str(v).startswith("SUPPORTED (margin +0.2)")
    assert not Verdict.all_of([("a", math.nan)]).supported


def _run_cli(argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def test_cli_list_describes_every_study():
    code, out, _ = _run_cli(["study", "list"])
    assert code == 0
    for name, study in studies.available().items():
        assert name in out and study.paper in out


@pytest.mark.parametrize("name", list(studies.available()))
def test_every_study_draws_its_figure_and_page(quick, name):
    files = study_report.files(studies.get(name), quick(name))
    assert files["figure.png"][:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads(files["result.json"])["verdict"]["text"].split(" (")[0] in ("SUPPORTED", "NOT SUPPORTED")
    assert b"Verdict" in files["report.html"] and b"Setup" in files["report.html"]


# --------------------------------------------------------------------------------------------
# Units, seeds and the store: a seed's numbers never depend on how the work was split or run
# --------------------------------------------------------------------------------------------
def _same(a, b):
    """Equal result data, arrays bit for bit."""
    assert a.rows == b.rows and a.verdict == b.verdict
    assert json.dumps(result_dict(studies.get(a.study), a)["data"]) == json.dumps(
        result_dict(studies.get(b.study), b)["data"]
    )


@pytest.mark.parametrize("name", ["glorot2010", "saxe2013", "edge-of-chaos"])
def test_chunking_does_not_change_a_seed(monkeypatch, name):
    module = sys.modules[studies.get(name).plan.__module__]
    reference = studies.run(name, size="quick", seeds=4, rng=5)
    monkeypatch.setattr(module, "CHUNK", 3)  # units of 3 + 1 seeds instead of one or two
    assert {u.stop - u.first for u in studies.get(name).plan("quick", 4)} == {3, 1}
    _same(studies.run(name, size="quick", seeds=4, rng=5), reference)
    other = studies.run(name, size="quick", seeds=4, rng=6)
    assert other.rows != reference.rows  # the root seed matters


def test_measured_checks_that_units_tile_the_seeds():
    u = [Unit({"a": 1}, 0, 2), Unit({"a": 1}, 3, 4)]
    with pytest.raises(ValueError, match="cover seeds"):
        Measured([(x, {"v": np.zeros(x.stop - x.first)}) for x in u], 4)
    m = Measured([(Unit({"a": 1}, 2, 4), {"v": np.array([2, 3])}), (Unit({"a": 1}, 0, 2), {"v": np.array([0, 1])})], 4)
    np.testing.assert_array_equal(m[{"a": 1}]["v"], [0, 1, 2, 3])


def test_execute_stores_every_unit_and_two_workers_give_the_same_numbers(tmp_path, monkeypatch):
    reference = studies.run("glorot2010", size="quick", seeds=4, rng=1)
    outcome = studies.execute("glorot2010", tmp_path / "g", size="quick", seeds=4, rng=1, workers=2)
    assert outcome.measured == outcome.total == len(studies.get("glorot2010").plan("quick", 4)) and outcome.resumed == 0
    _same(outcome.result, reference)
    with StudyStore.open(tmp_path / "g") as store:
        assert store.counts() == {"pending": 0, "done": outcome.total}
        assert store.settings() == {"study": "glorot2010", "size": "quick", "seeds": 4, "seed": 1}
        _same(studies.reduce_store(store), reference)
    again = studies.execute("glorot2010", tmp_path / "g", size="quick", seeds=4, rng=1)
    assert again.measured == 0 and again.resumed == outcome.total  # nothing measured twice
    # a later version that splits the seeds otherwise measures its own units and ignores the old ones
    monkeypatch.setattr(sys.modules["initlab.studies.glorot2010"], "CHUNK", 3)
    regrouped = studies.execute("glorot2010", tmp_path / "g", size="quick", seeds=4, rng=1)
    assert regrouped.measured == regrouped.total and regrouped.resumed == 0
    _same(regrouped.result, reference)
    with pytest.raises(StudyConflict, match="--new"):
        studies.execute("glorot2010", tmp_path / "g", size="quick", seeds=5, rng=1)
    fresh = studies.execute("glorot2010", tmp_path / "g", size="quick", seeds=5, rng=1, new=True)
    assert fresh.out == tmp_path / "g-2"


def _done_units(db_path) -> int:
    try:
        with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5) as db:
            return db.execute("SELECT COUNT(*) FROM units WHERE status = 'done'").fetchone()[0]
    except sqlite3.OperationalError:  # not created yet
        return 0


def test_sigkill_mid_study_then_resume_gives_the_uninterrupted_numbers(tmp_path):
    out = tmp_path / "saxe"
    argv = [sys.executable, "-m", "initlab.cli", "study", "saxe2013", "--quick", "--seeds", "12", "--out", str(out)]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while _done_units(out / "study.sqlite") < 2:
            assert proc.poll() is None, f"the study ended early: {proc.stderr.read()}"
            assert time.monotonic() < deadline, "no unit stored in 120 s"
            time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    with StudyStore.open(out) as store:
        counts = store.counts()
    assert counts["done"] >= 2 and counts["pending"] > 0, f"the kill must land mid-study: {counts}"
    assert not (out / "report.html").exists()
    code, _, err = _run_cli(["report", str(out)])  # an unfinished study: say how to finish it
    assert code == 2 and "unfinished" in err and "initlab study saxe2013 --quick --seeds 12 --seed 0" in err

    code, stdout, err = _run_cli(["study", "saxe2013", "--quick", "--seeds", "12", "--out", str(out)])
    assert code == 0, err
    assert f"{counts['done']} of 9 units were already done" in stdout
    stored = json.loads((out / "result.json").read_text())
    reference = result_dict(studies.get("saxe2013"), studies.run("saxe2013", size="quick", seeds=12))
    for key in ("table", "verdict", "data"):
        assert stored[key] == json.loads(json.dumps(reference[key])), key


def test_report_redraws_a_study_from_its_store(tmp_path):
    out = tmp_path / "g"
    code, _, err = _run_cli(["study", "glorot2010", "--quick", "--out", str(out), "--seeds", "3"])
    assert code == 0, err
    first = (out / "result.json").read_text()
    for name in ("figure.png", "report.html", "result.json"):
        (out / name).unlink()
    code, _, err = _run_cli(["report", str(out), "--out", str(tmp_path / "again")])
    assert code == 0, err
    assert (tmp_path / "again" / "result.json").read_text() == first
    assert b'id="verdict"' in (tmp_path / "again" / "report.html").read_bytes()


def test_cli_runs_a_study_and_writes_its_files(tmp_path):
    out = tmp_path / "g"
    code, stdout, stderr = _run_cli(["study", "glorot2010", "--quick", "--out", str(out), "--seeds", "3"])
    assert code == 0, stderr
    assert "verdict: " in stdout and ("SUPPORTED (margin" in stdout)
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith("study.sqlite-")) == [
        "figure.png",
        "report.html",
        "result.json",
        "study.sqlite",
        "study.sqlite.lock",
    ]  # the writer's lock stays
    assert (out / "figure.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    result = json.loads((out / "result.json").read_text())
    assert result["study"] == "glorot2010" and result["seeds"] == 3 and result["size"] == "quick"
    assert result["verdict"]["text"] in stdout
    assert "<table" in (out / "report.html").read_text()
    assert not list(tmp_path.glob(".g.*")), "temporary folder left behind"
    # the same folder at other settings is refused before any work, in one line
    code, _, err = _run_cli(["study", "glorot2010", "--quick", "--out", str(out), "--seeds", "4"])
    assert code == 2 and "holds another study run (glorot2010, quick, 3 seeds, seed 0)" in err and err.count("\n") == 1


@pytest.mark.parametrize(
    "argv, message",
    [
        (["study", "nope", "--quick"], "NAME must be one of"),
        (["study", "glorot2010", "--quick", "--seeds", "1"], "--seeds"),
        (["study", "glorot2010", "--quick", "--workers", "0"], "--workers"),
        (["study", "glorot2010", "--quick", "--seed", "-1"], "--seed"),
        (["study", "glorot2010", "--seeds", "100000000"], "'--seeds' option must be <= 1000"),
        (["study", "glorot2010", "--quick", "--executor", "magic"], "'--executor' option must be one of"),
        (["study", "glorot2010", "--quick", "--scheduler", "tcp://127.0.0.1:9"], "cannot be reached"),
        (["study", "list", "--quick", "--seeds", "3"], "takes no options; got --quick, --out, --seeds"),
    ],
)
def test_cli_refuses_bad_input_in_one_line(tmp_path, argv, message):
    code, out, err = _run_cli([*argv, "--out", str(tmp_path / "x")])
    assert code == 2
    assert message in err and err.count("\n") == 1, err
    assert out == "" and not (tmp_path / "x").exists()  # checked before anything is printed or made


def test_report_of_a_folder_without_a_store_says_what_to_give(tmp_path):
    code, _, err = _run_cli(["report", str(tmp_path)])
    assert code == 2 and "holds no sweep or study" in err and err.count("\n") == 1


def test_default_folders_keep_quick_and_default_runs_apart(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = _run_cli(["study", "glorot2010", "--quick", "--seeds", "3"])
    assert code == 0, err
    assert (tmp_path / "initlab-out/study/glorot2010-quick/report.html").is_file()
    assert not (tmp_path / "initlab-out/study/glorot2010").exists()  # a default-size run would not meet it


def test_a_study_on_a_dask_cluster_gives_the_same_numbers(tmp_path):
    distributed = pytest.importorskip("distributed")
    reference = studies.run("glorot2010", size="quick", seeds=4, rng=2)
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                       dashboard_address=None)  # fmt: skip
    try:
        code, _, err = _run_cli(
            [
                "study",
                "glorot2010",
                "--quick",
                "--seeds",
                "4",
                "--seed",
                "2",
                "--scheduler",
                cluster.scheduler_address,
                "--out",
                str(tmp_path / "g"),
            ]
        )
        assert code == 0, err
    finally:
        cluster.close()
    with StudyStore.open(tmp_path / "g") as store:
        _same(studies.reduce_store(store), reference)


def test_study_all_runs_every_study_and_writes_an_index(tmp_path, monkeypatch):
    # two fast studies stand for the registry (the quick tests above run every study)
    monkeypatch.setattr(studies, "_MODULES", {"glorot2010": "glorot2010", "saxe2013": "saxe2013"})
    base = tmp_path / "all"
    code, stdout, err = _run_cli(["study", "all", "--quick", "--seeds", "3", "--out", str(base)])
    assert code == 0, err
    assert sorted(p.name for p in base.iterdir()) == ["glorot2010-quick", "index.html", "saxe2013-quick"]
    assert "2 studies (quick)" in stdout and stdout.count("verdict: ") == 2
    page = (base / "index.html").read_text()
    assert (
        page.count('href="glorot2010-quick/report.html"') == 1 and page.count('href="saxe2013-quick/report.html"') == 1
    )
    assert page.count("data:image/png;base64,") == 2 and "<script" not in page
    for sub in ("glorot2010-quick", "saxe2013-quick"):
        result = json.loads((base / sub / "result.json").read_text())
        word = "SUPPORTED" if result["verdict"]["supported"] else "NOT SUPPORTED"
        assert f"<td>{word}</td>" in page
    # `initlab report BASE` draws the same index again; elsewhere, its links still reach the pages
    (base / "index.html").unlink()
    code, _, err = _run_cli(["report", str(base)])
    assert code == 0, err
    assert (base / "index.html").read_text() == page
    code, _, err = _run_cli(["report", str(base), "--out", str(tmp_path / "elsewhere")])
    assert code == 0, err
    assert 'href="../all/glorot2010-quick/report.html"' in (tmp_path / "elsewhere" / "index.html").read_text()
    # everything was checked before anything ran: a conflicting folder stops the whole command in one line
    code, _, err = _run_cli(["study", "all", "--quick", "--seeds", "4", "--out", str(base)])
    assert code == 2 and "holds another study run" in err and err.count("\n") == 1
    # an unfinished study is listed as such, with how far it got
    with StudyStore.create(base / "lsuv", {"study": "saxe2013", "size": "default", "seeds": 2, "seed": 0}) as store:
        store.add_units(studies.get("saxe2013").plan("default", 2))
    assert "unfinished (0 of 5 units done)" in study_report.index_html(base)


def test_a_damaged_study_store_is_a_one_line_error(tmp_path):
    (tmp_path / "study.sqlite").write_bytes(b"not a database at all" * 100)
    code, _, err = _run_cli(["report", str(tmp_path)])
    assert code == 2 and "is not a study store" in err and err.count("\n") == 1
    code, _, err = _run_cli(["study", "glorot2010", "--quick", "--out", str(tmp_path)])
    assert code == 2 and "is not a study store" in err and "--new" in err and err.count("\n") == 1
    assert (tmp_path / "study.sqlite").read_bytes() == b"not a database at all" * 100  # left as it was
