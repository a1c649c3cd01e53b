"""`initlab train`, `initlab initializers`, `initlab datasets`: outputs, the same numbers as the Python API, bad input."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from initlab import datasets, initializers, optimizers
from initlab.cli import main
from initlab.network import MLP
from initlab.training import train

T_975 = {2: 4.302652729911275, 3: 3.182446305284263, 4: 2.7764451051977987}  # Student's t quantiles, df -> t_{0.975}


def run_json(args, tmp_path, capsys):
    code = main(["train", "--json", "--out", str(tmp_path / "out"), *args])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert captured.err == ""  # --json: nothing but the JSON object
    assert captured.out.count("\n") == 1
    return json.loads(captured.out)


def python_api(data, layers, *, activation="relu", init="he_normal", init_options=None, optimizer="gd",
               optimizer_options=None, learning_rate=0.01, batch_size=None, iterations, record_every, seeds, seed=0,
               engine="numpy"):  # fmt: skip
    """The same experiment from the library's parts: the documented stream split of --seed, MLP.initialize, train."""
    net = MLP(layers, activation, data.output)
    init_rng, order_rng = np.random.default_rng(seed).spawn(2)
    params = net.initialize(init, rng=init_rng, models=seeds, **(init_options or {}))
    return train(net, params, data.X_train, data.Y_train, learning_rate=learning_rate, iterations=iterations,
                 record_every=record_every, optimizer=optimizers.get(optimizer, **(optimizer_options or {})),
                 batch_size=batch_size, rng=order_rng, X_test=data.X_test, Y_test=data.Y_test, engine=engine)  # fmt: skip


def assert_same_numbers(result, history):
    loss = np.array([[np.nan if v is None else v for v in row] for row in result["loss"]])
    np.testing.assert_array_equal(loss, history.loss)  # JSON floats round-trip exactly
    assert result["record_iterations"] == history.record_iterations.tolist()
    assert result["train_accuracy"] == history.train_accuracy.tolist()
    assert result["test_accuracy"] == history.test_accuracy.tolist()
    assert result["final_loss"] == history.final_loss.tolist()
    assert result["diverged"] == history.diverged.tolist() and result["diverged_at"] == history.diverged_at.tolist()


def test_json_equals_the_python_api_on_the_notebooks_data(tmp_path, capsys):
    result = run_json(["--iterations", "400", "--seeds", "3", "--record-every", "50"], tmp_path, capsys)
    data = datasets.load("circles")  # the notebook's
    history = python_api(data, (2, 10, 5, 1), iterations=400, record_every=50, seeds=3)
    assert_same_numbers(result, history)
    assert result["config"]["layers"] == [2, 10, 5, 1] and result["config"]["optimizer_repr"] == "gd()"
    assert result["data"]["n_train"] == 300 and "notebook" in result["data"]["description"]
    # the summary: mean ± t_{0.975, n-1} s / sqrt(n), computed here with a tabulated t
    acc = history.train_accuracy
    summary = result["summary"]["train_accuracy"]
    assert summary["mean"] == pytest.approx(acc.mean(), rel=1e-12)
    assert summary["ci95_half_width"] == pytest.approx(T_975[2] * acc.std(ddof=1) / math.sqrt(3), rel=1e-9)
    # the diagnostics: per-layer statistics at initialization and at the end, per seed
    diag = result["diagnostics"]
    assert diag["iterations"] == [0, 400] and diag["units"] == [10, 5, 1]
    assert np.array(diag["initial"]["z_std"]).shape == (3, 3) and diag["final"]["distinct_units"][0] == [10, 5, 1]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "decision_boundary.png",
        "jacobian.png",
        "loss_curves.png",
        "report.html",
        "results.json",
    ]
    assert json.loads((tmp_path / "out" / "results.json").read_text()) == result


def test_json_equals_the_python_api_with_minibatch_adam_and_options(tmp_path, capsys):
    args = ["--dataset", "moons", "--data-seed", "3", "--layers", "2,8,1", "--init", "kaiming_uniform",
            "--init-option", "mode=fan_out", "--init-option", "a=0.1", "--optimizer", "adam", "--optimizer-option",
            "beta1=0.8", "--lr", "0.005", "--batch-size", "64", "--iterations", "120", "--seeds", "4", "--seed", "9"]  # fmt: skip
    result = run_json(args, tmp_path, capsys)
    data = datasets.load("moons", rng=3)
    history = python_api(data, (2, 8, 1), init="kaiming_uniform", init_options={"mode": "fan_out", "a": 0.1},
                         optimizer="adam", optimizer_options={"beta1": 0.8}, learning_rate=0.005, batch_size=64,
                         iterations=120, record_every=1, seeds=4, seed=9)  # fmt: skip
    assert_same_numbers(result, history)
    assert result["config"]["init_options"] == {"mode": "fan_out", "a": 0.1}
    assert result["config"]["optimizer_repr"] == "adam(beta1=0.8, beta2=0.999, epsilon=1e-08)"


def test_engine_numba_is_the_python_apis_compiled_run_and_agrees_with_numpy(tmp_path, capsys):
    args = ["--dataset", "moons", "--data-seed", "3", "--layers", "2,8,4,1", "--activation", "tanh", "--optimizer", "adam", "--lr", "0.01",
            "--batch-size", "32", "--iterations", "150", "--record-every", "10", "--seeds", "3", "--seed", "4"]  # fmt: skip
    compiled = run_json([*args, "--engine", "numba", "--threads", "1"], tmp_path / "numba", capsys)
    reference = run_json(args, tmp_path / "numpy", capsys)
    assert compiled["config"]["engine"] == "numba" and reference["config"]["engine"] == "numpy"
    history = python_api(datasets.load("moons", rng=3), (2, 8, 4, 1), activation="tanh", optimizer="adam",
                         batch_size=32, iterations=150, record_every=10, seeds=3, seed=4, engine="numba")  # fmt: skip
    assert_same_numbers(compiled, history)  # the CLI's numba run is train(engine="numba"), number for number
    # and the compiled run is the reference's within the engines' agreement (not bit for bit: fused multiply-adds)
    np.testing.assert_allclose(compiled["loss"], reference["loss"], rtol=1e-12, atol=0)
    assert compiled["train_accuracy"] == reference["train_accuracy"]


def test_table_shows_each_seed_and_the_mean_with_its_interval(tmp_path, capsys):
    out = tmp_path / "table"
    assert main(["train", "--dataset", "blobs", "--iterations", "300", "--seeds", "4", "--optimizer", "momentum",
                 "--lr", "0.1", "--out", str(out)]) == 0  # fmt: skip
    captured = capsys.readouterr()
    results = json.loads((out / "results.json").read_text())
    acc = np.array(results["train_accuracy"])
    half = T_975[3] * acc.std(ddof=1) / 2
    assert f"{100 * acc.mean():.2f}% ± {100 * half:.2f}%" in captured.out
    assert "mean ± 95% CI" in captured.out and "blobs: 2-10-5-3 relu, init he_normal, momentum lr 0.1" in captured.out
    for k in range(4):
        assert f"│ {k} " in captured.out
    assert "data: blobs: 300 train, 100 test" in captured.err and "wrote 5 files" in captured.err
    for png in ("loss_curves.png", "decision_boundary.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.glob(".table.*")), "temporary folder left behind"


def test_one_seed_has_no_interval_and_digits_no_boundary(tmp_path, capsys):
    out = tmp_path / "digits"
    assert main(["train", "--dataset", "digits", "--layers", "64,10", "--iterations", "20", "--seeds", "1",
                 "--out", str(out)]) == 0  # fmt: skip
    assert "(one seed: no interval)" in capsys.readouterr().out
    # 64 features: no plane to draw
    assert sorted(p.name for p in out.iterdir()) == ["jacobian.png", "loss_curves.png", "report.html", "results.json"]


def test_csv_labels_are_mapped_and_reported(tmp_path, capsys):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    label = np.where(X[:, 0] + X[:, 1] > 0, "spam", "ham")
    path = tmp_path / "mail.csv"
    path.write_text("f1,f2,label,f3\n" + "".join(f"{a},{b},{c},{d}\n" for (a, b, d), c in zip(X, label)))
    result = run_json(["--csv", str(path), "--target", "label", "--iterations", "50", "--seeds", "2"], tmp_path, capsys)
    assert result["data"]["class_names"] == ["ham", "spam"] and result["data"]["n_features"] == 3
    assert result["data"]["n_train"] + result["data"]["n_test"] == 60 and result["config"]["layers"] == [3, 10, 5, 1]
    assert "'ham' -> 0, 'spam' -> 1" in result["data"]["description"]
    data = datasets.from_csv(path, target="label", rng=0)
    assert_same_numbers(result, python_api(data, (3, 10, 5, 1), iterations=50, record_every=1, seeds=2))
    assert main(["train", "--csv", str(path), "--target", "label", "--iterations", "5", "--seeds", "2",
                 "--out", str(tmp_path / "o2")]) == 0  # fmt: skip
    assert "'ham' -> 0, 'spam' -> 1" in capsys.readouterr().err  # the mapping is reported


def test_listings(capsys):
    assert main(["initializers"]) == 0
    text = capsys.readouterr().out
    for name in initializers.available():
        assert f"\n{name} " in "\n" + text
    assert "options: a=0.0, mode='fan_in', nonlinearity='leaky_relu'" in text and "value (required)" in text
    assert main(["datasets"]) == 0
    text = capsys.readouterr().out
    assert all(name in text for name in datasets.available()) and len(text.splitlines()) == len(datasets.available())
    assert main(["train", "--help"]) == 0
    helptext = capsys.readouterr().out
    for flag in (
        "--dataset",
        "--csv",
        "--target",
        "--layers",
        "--init-option",
        "--optimizer",
        "--batch-size",
        "--json",
    ):
        assert flag in helptext


@pytest.fixture
def bad_csv(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("x1,x2,y\n1,2,0\n3,oops,1\n")
    return path


BAD_ARGUMENTS = [
    (["--dataset", "nope"], "The '--dataset' option must be one of {'circles', 'moons'"),
    (
        ["--layers", "3,10,1"],
        "The '--layers' option must start with 2 (the features of circles) and end with 1 (binary",
    ),
    (
        ["--layers", "2,10,3"],
        "end with 1 (binary classification: one sigmoid output). Got 2,10,3 instead; e.g. 2,10,5,1",
    ),
    (["--dataset", "blobs", "--layers", "2,10,1"], "end with 3 (3 classes: softmax)"),
    (["--layers", "2,x,1"], "The '--layers' option must be at least two comma-separated positive integers"),
    (["--init", "he"], "'--init' he: Unknown initializer 'he'."),
    (["--init-option", "mode"], "'--init-option' must be KEY=VALUE"),
    (["--init-option", "mod=fan_out"], "Unknown option 'mod' for initializer 'he_normal'. Did you mean mode?"),
    (
        ["--init-option", "mode=fan_mid"],
        "'--init' he_normal mode=fan_mid: The 'mode' parameter of kaiming_normal must be one of",
    ),
    (["--init-option", "mode=fan_in", "--init-option", "mode=fan_out"], "mode is given twice"),
    (["--optimizer", "adamw"], "The '--optimizer' option must be one of {'gd', 'sgd', 'momentum', 'adam'}"),
    (
        ["--optimizer", "adam", "--optimizer-option", "beta1=1.5"],
        "'--optimizer' adam beta1=1.5: The 'beta1' parameter must be in [0, 1)",
    ),
    (
        ["--batch-size", "64"],
        "The '--batch-size' option goes with a minibatch optimizer ('sgd', 'momentum' or 'adam'); optimizer 'gd'",
    ),
    (["--optimizer", "sgd", "--batch-size", "301"], "The '--batch-size' option must be <= 300. Got 301"),
    (["--optimizer", "sgd", "--batch-size", "0"], "The '--batch-size' option must be >= 1. Got 0"),
    (["--seeds", "0"], "The '--seeds' option must be >= 1"),
    (["--iterations", "0"], "The '--iterations' option must be >= 1"),
    (["--iterations", "ten"], "Invalid value for '--iterations'"),
    (["--lr", "0"], "The '--learning-rate' option must be > 0.0"),
    (["--activation", "rleu"], "The '--activation' option must be one of {'relu'"),
    (["--noise", "-1"], "The '--noise' option must be >= 0.0"),
    (["--dataset", "moons", "--classes", "3"], "The '--classes' option does not apply to 'moons'"),
    (["--dataset", "digits", "--noise", "0.1"], "The '--noise' option does not apply to 'digits'"),
    (["--target", "y"], "'--target' goes with '--csv'"),
    (["--csv", "{csv}"], "'--csv' needs '--target COLUMN'"),
    (["--csv", "{csv}", "--target", "y", "--dataset", "moons"], "'--dataset' and '--csv' are alternatives"),
    (["--csv", "{csv}", "--target", "y", "--noise", "0.1"], "'--noise' applies to the built-in data sets"),
    (["--csv", "{csv}", "--target", "y"], "bad.csv', line 3, column 'x2': 'oops' is not a number"),
    (["--csv", "{csv}", "--target", "label"], "has no column 'label' (the target). Its columns are: x1, x2, y"),
    (["--csv", "{missing}", "--target", "y"], "missing.csv' does not exist"),
    (["--csv", "{csv}", "--target", "y", "--test-fraction", "1.5"], "The '--test-fraction' option must be <= 1.0"),
    (["--engine", "jax"], "The '--engine' option must be one of {'numpy', 'numba'}. Got 'jax' instead"),
    (["--threads", "0"], "The '--threads' option must be >= 1. Got 0"),
    (["--engine", "numba", "--threads", "100000"], "The '--threads' option must be <= "),
    (["--bogus"], "No such option: --bogus"),
]


@pytest.mark.parametrize(("args", "message"), BAD_ARGUMENTS)
def test_bad_arguments_give_one_line_and_exit_2(args, message, tmp_path, capsys, bad_csv):
    out = tmp_path / "never"
    args = [a.format(csv=bad_csv, missing=tmp_path / "missing.csv") for a in args]
    assert main(["train", "--out", str(out), "--iterations", "5", *args]) == 2
    captured = capsys.readouterr()
    err = captured.err
    assert err.count("\n") == 1 and err.startswith("initlab: error: ") and message in err, err
    assert "Traceback" not in err and captured.out == ""
    assert not out.exists(), "nothing may be written on bad input"


def test_out_must_be_a_folder(tmp_path, capsys):
    a_file = tmp_path / "file.txt"
    a_file.write_text("keep")
    assert main(["train", "--out", str(a_file), "--iterations", "5"]) == 2
    assert "is an existing file, not a folder" in capsys.readouterr().err
    assert a_file.read_text() == "keep"
