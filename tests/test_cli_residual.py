"""`initlab train --blocks`: residual nets from the command line, the same numbers as the Python API, bad input,
and `initlab initializers` listing the structural initializers."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_cli_train import assert_same_numbers, run_json

from initlab import datasets, optimizers
from initlab.cli import main
from initlab.residual import STRUCTURAL, ResidualMLP
from initlab.training import train


def residual_api(data, width, blocks, *, scalars, init, init_options=None, branch_depth=2, norm="none",
                 optimizer="gd", learning_rate=0.01, batch_size=None, iterations, record_every, seeds, seed=0,
                 engine="numpy"):  # fmt: skip
    """The same experiment from the library's parts, the net's scalars written out by hand (not scalars_for):
    the documented stream split of --seed, ResidualMLP.initialize, train."""
    net = ResidualMLP(data.n_features, width, data.n_outputs, blocks, branch_depth=branch_depth, output=data.output,
                      norm=norm, scalars=scalars)  # fmt: skip
    init_rng, order_rng = np.random.default_rng(seed).spawn(2)
    params = net.initialize(init, rng=init_rng, models=seeds, **(init_options or {}))
    return train(net, params, data.X_train, data.Y_train, learning_rate=learning_rate, iterations=iterations,
                 record_every=record_every, optimizer=optimizers.get(optimizer), batch_size=batch_size, rng=order_rng,
                 X_test=data.X_test, Y_test=data.Y_test, engine=engine)  # fmt: skip


def test_fixup_run_equals_the_python_api_and_says_what_net_it_was(tmp_path, capsys):
    args = ["--blocks", "3", "--layers", "2,8,1", "--init", "fixup", "--lr", "0.05", "--iterations", "60",
            "--seeds", "3", "--record-every", "10"]  # fmt: skip
    result = run_json(args, tmp_path, capsys)
    history = residual_api(datasets.load("circles"), 8, 3, scalars="fixup", init="fixup", learning_rate=0.05,
                           iterations=60, record_every=10, seeds=3)  # fmt: skip
    assert_same_numbers(result, history)
    config = result["config"]
    assert config["layers"] == [2, 8, 1] and config["init"] == "fixup"
    assert (config["blocks"], config["branch_depth"], config["norm"], config["scalars"]) == (3, 2, "none", "fixup")
    assert result["diagnostics"]["per"] == "block" and result["diagnostics"]["units"] == [8, 8, 8]  # per block
    assert "plain MLPs" in result["jacobian"]["note"]  # no Jacobian view for a residual net: said, not half-made
    files = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert files == ["blocks.png", "decision_boundary.png", "loss_curves.png", "report.html", "results.json"]


def test_rezero_with_pre_ln_adam_minibatches_and_a_layer_init_option(tmp_path, capsys):
    args = ["--dataset", "moons", "--data-seed", "3", "--blocks", "2", "--branch-depth", "3", "--norm", "layer",
            "--layers", "2,6,1", "--init", "rezero", "--init-option", "layer_init=orthogonal", "--optimizer", "adam",
            "--lr", "0.01", "--batch-size", "64", "--iterations", "40", "--seeds", "2", "--seed", "5"]  # fmt: skip
    result = run_json(args, tmp_path, capsys)
    history = residual_api(datasets.load("moons", rng=3), 6, 2, scalars="alpha", init="rezero", branch_depth=3,
                           norm="layer", init_options={"layer_init": "orthogonal"}, optimizer="adam", batch_size=64,
                           iterations=40, record_every=1, seeds=2, seed=5)  # fmt: skip
    assert_same_numbers(result, history)
    assert result["config"]["scalars"] == "alpha" and result["config"]["init_options"] == {"layer_init": "orthogonal"}
    # ReZero's alpha starts at 0 and is trained: the loss moves
    assert np.all(np.diff(np.array(result["loss"])[:, [0, -1]], axis=1) != 0)


def test_engine_numba_trains_a_residual_net_as_the_python_api_does(tmp_path, capsys):
    args = ["--dataset", "moons", "--data-seed", "3", "--blocks", "2", "--norm", "layer", "--layers", "2,6,1",
            "--init", "fixup", "--optimizer", "momentum", "--lr", "0.05", "--batch-size", "50", "--iterations", "40",
            "--seeds", "2", "--engine", "numba"]  # fmt: skip
    result = run_json(args, tmp_path, capsys)
    options = dict(scalars="fixup", init="fixup", norm="layer", optimizer="momentum", learning_rate=0.05,
                   batch_size=50, iterations=40, record_every=1, seeds=2)  # fmt: skip
    compiled = residual_api(datasets.load("moons", rng=3), 6, 2, engine="numba", **options)
    assert_same_numbers(result, compiled)
    assert result["config"]["engine"] == "numba"
    reference = residual_api(datasets.load("moons", rng=3), 6, 2, **options)
    np.testing.assert_allclose(compiled.loss, reference.loss, rtol=1e-12, atol=0)  # the engines' agreement


def test_a_per_matrix_initializer_is_the_plain_residual_baseline(tmp_path, capsys):
    args = ["--blocks", "2", "--init", "xavier_normal", "--iterations", "30", "--seeds", "2"]
    result = run_json(args, tmp_path, capsys)
    data = datasets.load("circles")
    history = residual_api(data, 10, 2, scalars="none", init="xavier_normal", iterations=30, record_every=1, seeds=2)
    assert_same_numbers(result, history)
    # the default with --blocks: features, 10, outputs; 2 layers per branch; no norm; no scalars
    assert result["config"]["layers"] == [2, 10, 1] and result["config"]["scalars"] == "none"
    assert (result["config"]["branch_depth"], result["config"]["norm"]) == (2, "none")


def test_plain_runs_say_they_are_not_residual(tmp_path, capsys):
    result = run_json(["--iterations", "5", "--seeds", "1"], tmp_path, capsys)
    config = result["config"]
    assert [config[k] for k in ("blocks", "branch_depth", "norm", "scalars")] == [None] * 4
    assert config["layers"] == [2, 10, 5, 1] and result["diagnostics"]["units"] == [10, 5, 1]


def test_the_table_names_the_residual_net(tmp_path, capsys):
    out = tmp_path / "table"
    assert main(["train", "--blocks", "4", "--norm", "layer", "--layers", "2,12,1", "--init", "zero_last",
                 "--iterations", "20", "--seeds", "2", "--out", str(out), "-q"]) == 0  # fmt: skip
    captured = capsys.readouterr()
    text = " ".join(captured.out.split())  # the table may wrap its title
    assert "circles: 2-12-1 relu, residual, 4 blocks x 2 layers, pre-LN, init zero_last, gd lr 0.01" in text
    assert "mean ± 95% CI" in text and "wrote 5 files" in captured.err
    for png in ("loss_curves.png", "decision_boundary.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((out / "results.json").read_text())["config"]["norm"] == "layer"


BAD_ARGUMENTS = [
    (["--init", "fixup"], "'--init' fixup is a structural initializer of residual nets (Zhang, Dauphin & Ma 2019"),
    (["--init", "rezero"], "it needs '--blocks B'. Add --blocks (e.g. --blocks 8), or choose a per-matrix initializer"),
    (["--norm", "layer"], "'--norm' goes with '--blocks B' (a residual net); a plain MLP has no branches."),
    (["--branch-depth", "3"], "'--branch-depth' goes with '--blocks B'"),
    (
        ["--blocks", "2", "--layers", "2,10,5,1"],
        "The '--layers' option with --blocks must be inputs,width,outputs: one width, shared by the residual trunk "
        "and every branch layer, e.g. 2,16,1. Got 2,10,5,1 instead; give one width, or leave out --blocks",
    ),
    (["--blocks", "2", "--layers", "2,1"], "The '--layers' option with --blocks must be inputs,width,outputs"),
    (["--blocks", "2", "--layers", "3,16,1"], "The '--layers' option must start with 2 (the features of circles)"),
    (["--blocks", "0"], "The '--blocks' option must be >= 1. Got 0 instead."),
    (["--blocks", "2", "--branch-depth", "0"], "The '--branch-depth' option must be >= 1. Got 0 instead."),
    (["--blocks", "2", "--norm", "batch"], "The '--norm' option of ResidualMLP must be one of {'none', 'layer'}"),
    (["--blocks", "2", "--init", "he"], "'--init' he: Unknown initializer 'he'."),
    (
        ["--blocks", "2", "--init", "skipinit", "--init-option", "alpha1=0.1"],
        "'--init' skipinit alpha1=0.1: Unknown option 'alpha1' for initializer 'skipinit'. Did you mean alpha0?",
    ),
    (["--blocks", "2", "--init", "fixup", "--init-option", "layer_init=foo"], "'--init' fixup layer_init=foo: The"),
    (
        ["--blocks", "2", "--init", "zero_last", "--init-option", "mode=fan_out"],
        "Unknown option 'mode' for initializer",
    ),
    (
        ["--blocks", "4096", "--layers", "2,60000,1"],
        "of 2-60000-1 residual, 4096 blocks x 2 layers on 300 examples needs about",
    ),
    (["--blocks", "2", "--engine", "numba", "--threads", "0"], "The '--threads' option must be >= 1. Got 0"),
]


@pytest.mark.parametrize(("args", "message"), BAD_ARGUMENTS)
def test_bad_arguments_give_one_line_and_exit_2(args, message, tmp_path, capsys):
    out = tmp_path / "never"
    assert main(["train", "--out", str(out), "--iterations", "5", *args]) == 2
    captured = capsys.readouterr()
    err = captured.err
    assert err.count("\n") == 1 and err.startswith("initlab: error: ") and message in err, err
    assert "Traceback" not in err and captured.out == ""
    assert not out.exists(), "nothing may be written on bad input"


def test_the_numba_engine_refuses_a_residual_net_in_one_line():
    """The library's own refusal is one sentence (a custom optimizer: `initlab train --engine numba` cannot name one)."""
    net = ResidualMLP(2, 4, 1, 2, norm="layer")  # every net compiles (initlab.kernels_residual); a custom rule does not
    params = net.initialize("he_normal", rng=0, models=1)
    custom = optimizers.Optimizer("nesterov", (), 1, False, optimizers.momentum().update)
    with pytest.raises(ValueError, match="optimizer nesterov.*has no compiled form.*Use engine='numpy'.") as info:
        train(net, params, np.zeros((2, 3)), np.array([[0, 1, 0]]), iterations=1, optimizer=custom, engine="numba")
    assert "\n" not in str(info.value)


def test_initializers_lists_the_structural_ones_with_formula_paper_and_net(capsys):
    assert main(["initializers"]) == 0
    text = capsys.readouterr().out
    lines = text.splitlines()
    assert "structural initializers of residual nets (initlab train --blocks B; initlab.residual.ResidualMLP):" in text
    for name, (formula, paper, scalars, options) in STRUCTURAL.items():
        at = next(i for i, line in enumerate(lines) if line.split()[:1] == [name])
        assert lines[at].split(None, 1)[1] == formula
        assert lines[at + 1].split() == ["paper:", *paper.split()]
        assert "needs: a residual net (--blocks)" in lines[at + 2]
        assert (f"scalars={scalars!r}" in lines[at + 2]) == (scalars is not None)
        assert lines[at + 3].strip().startswith(f"options: {', '.join(options)}")
    # the papers' formulas, read from the listing (not from our code): Fixup's branch scaling and ReZero's alpha
    assert "B^(-1/(2m-2))" in text and "alpha = 0 (trained)" in text
    assert "Zhang, Dauphin & Ma 2019" in text and "Bachlechner et al. 2020" in text and "De & Smith 2020" in text


def test_lsuv_on_a_residual_net_is_its_initialize_on_the_training_inputs(tmp_path, capsys):
    result = run_json(["--blocks", "2", "--layers", "2,8,1", "--init", "lsuv", "--iterations", "20", "--seeds", "2"],
                      tmp_path, capsys)  # fmt: skip
    data = datasets.load("circles")
    net = ResidualMLP(2, 8, 1, 2)
    init_rng, order_rng = np.random.default_rng(0).spawn(2)
    params = net.initialize("lsuv", rng=init_rng, models=2, X=data.X_train)
    history = train(net, params, data.X_train, data.Y_train, iterations=20, record_every=1, rng=order_rng,
                    X_test=data.X_test, Y_test=data.Y_test)  # fmt: skip
    assert_same_numbers(result, history)
