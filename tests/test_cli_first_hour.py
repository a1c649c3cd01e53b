"""The first hour with `initlab`: --version, -h, shell completion, train's refusal to overwrite, LSUV
wherever an initializer name is accepted (train, MLP.initialize, MLPClassifier)."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pytest

from initlab import datasets
from initlab.cli import main
from initlab.estimator import MLPClassifier
from initlab.jobs.progress import LineClock, Progress, ProgressDisplay
from initlab.lsuv import lsuv
from initlab.network import MLP
from initlab.training import train

COMMANDS = [[], ["reproduce"], ["train"], ["initializers"], ["datasets"], ["playground"], ["study"], ["report"],
            ["sweep"], ["sweep", "plan"], ["sweep", "run"], ["sweep", "summary"], ["sweep", "export"]]  # fmt: skip


def test_version_is_the_installed_package_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"initlab {version('initlab')}"


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "initlab")
def test_dash_h_is_help_on_every_command(command, capsys):
    assert main([*command, "--help"]) == 0
    long = capsys.readouterr().out
    assert main([*command, "-h"]) == 0
    short = capsys.readouterr().out
    assert short == long
    assert short.startswith(f"Usage: initlab {' '.join(command)}".rstrip())


def test_shell_completion_is_on(capsys, monkeypatch):
    import shellingham

    # typer detects the shell from the process tree (a test run from a background job or a CI runner may have
    # none it knows): the test fixes what it finds, as a user's bash would
    monkeypatch.setattr(shellingham, "detect_shell", lambda *a, **k: ("bash", "/bin/bash"))
    assert main(["--help"]) == 0
    assert "--install-completion" in capsys.readouterr().out
    assert main(["--show-completion"]) == 0
    assert "complete" in capsys.readouterr().out


def test_train_refuses_an_earlier_runs_folder_before_training(tmp_path, capsys):
    out = tmp_path / "out"
    args = ["train", "--iterations", "20", "--seeds", "2", "--out", str(out), "-q"]
    assert main(args) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    capsys.readouterr()
    assert main(args) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # nothing trained or printed
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "earlier run" in lines[0] and "another --out" in lines[0], captured.err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # untouched


@pytest.mark.parametrize("held", ["results.json", "sweep.sqlite", "study.sqlite"])
def test_train_refuses_a_folder_holding_any_run(held, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / held).write_text("x")
    assert main(["train", "--iterations", "5", "--out", str(out)]) == 2
    assert held in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == [held]


def test_train_writes_into_an_empty_existing_folder(tmp_path, capsys):
    out = tmp_path / "empty"
    out.mkdir()
    assert main(["train", "--iterations", "5", "--seeds", "1", "--out", str(out), "-q"]) == 0


def test_train_init_lsuv_is_mlp_initialize_lsuv_on_the_training_inputs(tmp_path, capsys):
    code = main(["train", "--json", "--init", "lsuv", "--init-option", "tol=0.05", "--iterations", "30",
                 "--seeds", "3", "--seed", "4", "--out", str(tmp_path / "o")])  # fmt: skip
    result = json.loads(capsys.readouterr().out)
    assert code == 0
    data = datasets.load("circles", rng=None)
    net = MLP((2, 10, 5, 1), "relu", "sigmoid")
    init_rng, order_rng = np.random.default_rng(4).spawn(2)
    params, _ = lsuv(net, data.X_train, rng=init_rng, models=3, tol=0.05)  # independent of MLP.initialize
    history = train(net, params, data.X_train, data.Y_train, learning_rate=0.01, iterations=30, record_every=1,
                    rng=order_rng, X_test=data.X_test, Y_test=data.Y_test)  # fmt: skip
    np.testing.assert_allclose(np.array(result["loss"])[:, -1], history.loss[:, -1], rtol=1e-12)


@pytest.mark.parametrize(
    ("options", "pattern"), [(["--init-option", "mode=fan_in"], "Unknown option"), (["--init", "lsuvv"], "--init")]
)
def test_train_lsuv_bad_options_are_one_line_before_anything(options, pattern, tmp_path, capsys):
    args = ["train", "--init", "lsuv", *options, "--out", str(tmp_path / "o")]
    assert main(args) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and len(captured.err.strip().splitlines()) == 1 and pattern in captured.err
    assert not (tmp_path / "o").exists()


def test_estimator_lsuv_uses_the_training_inputs():
    data = datasets.load("circles", rng=None)
    X, y = data.X_train.T, data.Y_train[0].astype(int)
    clf = MLPClassifier(hidden_layer_sizes=(10, 5), init="lsuv", max_iter=1, learning_rate=1e-12, random_state=7)
    clf.fit(X, y)
    net = MLP((2, 10, 5, 1), "relu", "sigmoid")
    init_rng, _ = np.random.default_rng(7).spawn(2)
    expected, _ = lsuv(net, X.T, rng=init_rng, models=1)
    # one step at lr 1e-12 moves the weights by ~1e-12: the fitted params are LSUV's on the training X
    for key, value in expected.items():
        np.testing.assert_allclose(clf.params_[key], value[0], rtol=0, atol=1e-9)
    assert clf.score(X, y) > 0  # predicts


def test_progress_lines_without_a_terminal_every_10_percent_or_10_seconds():
    now = [0.0]
    clock = LineClock(interval=10.0, parts=10, clock=lambda: now[0])
    due = []
    for done in range(0, 1001, 10):  # 1 s per 10 items: 10 % of 1000 every 10 s, 100 s in all
        now[0] = done / 10
        due.append(done) if clock.due(done, 1000) else None
    assert due == list(range(0, 1001, 100))
    slow = LineClock(interval=10.0, parts=10, clock=lambda: now[0])
    now[0] = 0.0
    assert slow.due(0, 1000)
    now[0] = 9.0
    assert not slow.due(1, 1000)
    now[0] = 10.5
    assert slow.due(2, 1000)  # 10 s passed, not 10 %
    assert slow.due(1000, 1000)  # the end always


def test_sweep_display_prints_plain_lines_in_a_log(tmp_path):
    now = [0.0]
    stream = io.StringIO()
    with ProgressDisplay(stream=stream, tty=False) as display:
        display._clock.clock = lambda: now[0]
        for done in (0, 1, 50, 100):
            display(Progress(finished=done, total=100, resumed=0, failed=0, models=done, elapsed=done + 1.0))
    lines = stream.getvalue().splitlines()
    assert [line.split()[1] for line in lines] == ["0/100", "50/100", "100/100"]


def test_train_prints_progress_lines_when_stderr_is_not_a_terminal(tmp_path, capsys):
    assert main(["train", "--iterations", "400", "--seeds", "2", "--out", str(tmp_path / "o")]) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("training 2 seeds:")]
    assert lines[0].endswith("0/400 iterations (0%)") and lines[-1].endswith("400/400 iterations (100%)")
    assert 3 <= len(lines) <= 12


def test_sweep_plan_says_it_is_timing_before_the_estimate(tmp_path, capsys):
    spec = tmp_path / "s.toml"
    spec.write_text(
        'name = "s"\nseeds = 2\niterations = 10\n[model]\ndepth = [2, 3]\nwidth = 4\n[[init]]\nname = "he_normal"\n'
    )
    assert main(["sweep", "plan", str(spec), "--workers", "1"]) == 0
    captured = capsys.readouterr()
    assert "timing a few iterations of each of 2 group(s)" in captured.err
    assert "Estimate for 4 runs" in captured.out


def test_make_demo_says_what_it_does_before_installing():
    makefile = Path(__file__).parents[1] / "Makefile"
    if shutil.which("make") is None:
        pytest.skip("no make")
    dry = subprocess.run(["make", "-n", "-B", "--no-print-directory", "-C", str(makefile.parent), "demo"],
                         capture_output=True, text=True, check=True).stdout.splitlines()  # fmt: skip
    assert dry[0].startswith("echo") and "Installing initlab" in dry[0] and "2 minutes" in dry[0]
    assert any("initlab --help" in line and "activate" in line for line in dry if line.startswith("echo"))


def test_initializers_lists_lsuv_with_its_options(capsys):
    assert main(["initializers"]) == 0
    lines = capsys.readouterr().out.splitlines()
    i = next(i for i, line in enumerate(lines) if line.split()[0] == "lsuv")
    assert "data-dependent" in lines[i] and lines[i + 1].split() == ["options:", "tol=0.1,", "max_iter=10"]
