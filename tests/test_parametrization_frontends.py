"""Parametrizations (issue #16) in every front end: `initlab train`, MLPClassifier, sweep specs, the JSON and
framework exports. Each against the Python API (MLP(..., parametrization=, base_width=), initialize, train)
number for number, or against torch."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.utils.estimator_checks import check_estimator
from test_cli_train import assert_same_numbers, run_json

from initlab import datasets, export, optimizers, seeding
from initlab.cli import main
from initlab.estimator import EXPECTED_FAILED_CHECKS, MLPClassifier
from initlab.network import MLP
from initlab.sweeps import Store, make_plan, parse_spec, run_sweep
from initlab.sweeps.__main__ import main as sweep_main
from initlab.sweeps.catalogue import load_data
from initlab.sweeps.summary import summarize
from initlab.training import train


# ---------------------------------------------------------------------------------------------
# initlab train --parametrization --base-width
# ---------------------------------------------------------------------------------------------
def api(data, layers, parametrization, base_width=None, *, optimizer="gd", learning_rate=0.01, iterations,
        record_every, seeds, seed=0, init="he_normal"):  # fmt: skip
    """The same experiment from the library's parts: --seed's documented stream split, MLP.initialize, train."""
    net = MLP(layers, "relu", data.output, parametrization=parametrization, base_width=base_width)
    init_rng, order_rng = np.random.default_rng(seed).spawn(2)
    params = net.initialize(init, rng=init_rng, models=seeds)
    return train(net, params, data.X_train, data.Y_train, learning_rate=learning_rate, iterations=iterations,
                 record_every=record_every, optimizer=optimizers.get(optimizer), rng=order_rng,
                 X_test=data.X_test, Y_test=data.Y_test)  # fmt: skip


@pytest.mark.parametrize(
    "flags, parametrization, base_width, optimizer",
    [
        (["--parametrization", "mup", "--base-width", "4"], "mup", 4, "gd"),
        (["--parametrization", "mup", "--base-width", "4", "--optimizer", "adam"], "mup", 4, "adam"),
        (["--parametrization", "ntk", "--init", "lecun_normal"], "ntk", None, "gd"),
    ],
)
def test_train_equals_the_python_api_and_records_the_parametrization(tmp_path, capsys, flags, parametrization,
                                                                    base_width, optimizer):  # fmt: skip
    args = [*flags, "--layers", "2,16,16,1", "--iterations", "60", "--seeds", "2", "--record-every", "10",
            "--lr", "0.05"] + (["--optimizer", "adam"] if optimizer == "adam" and "--optimizer" not in flags else [])  # fmt: skip
    result = run_json(args, tmp_path, capsys)
    init = "lecun_normal" if "lecun_normal" in flags else "he_normal"
    history = api(datasets.load("circles"), (2, 16, 16, 1), parametrization, base_width, optimizer=optimizer,
                  learning_rate=0.05, iterations=60, record_every=10, seeds=2, init=init)  # fmt: skip
    assert_same_numbers(result, history)
    assert (result["config"]["parametrization"], result["config"]["base_width"]) == (parametrization, base_width)
    saved = json.loads((tmp_path / "out" / "results.json").read_text())
    assert saved["config"]["parametrization"] == parametrization and saved["config"]["base_width"] == base_width
    standard = api(datasets.load("circles"), (2, 16, 16, 1), "standard", optimizer=optimizer, learning_rate=0.05,
                   iterations=60, record_every=10, seeds=2, init=init)  # fmt: skip
    assert not np.array_equal(standard.loss, history.loss)  # the flag changes the numbers (the test can fail)


def test_train_without_the_flags_records_standard(tmp_path, capsys):
    result = run_json(["--iterations", "5", "--seeds", "1"], tmp_path, capsys)
    assert (result["config"]["parametrization"], result["config"]["base_width"]) == ("standard", None)


def test_mup_at_its_base_width_is_standard_bit_for_bit(tmp_path, capsys):
    mup = run_json(["--parametrization", "mup", "--base-width", "16", "--layers", "2,16,16,1", "--iterations", "30",
                    "--seeds", "2", "--optimizer", "adam"], tmp_path / "a", capsys)  # fmt: skip
    std = run_json(["--layers", "2,16,16,1", "--iterations", "30", "--seeds", "2", "--optimizer", "adam"],
                   tmp_path / "b", capsys)  # fmt: skip
    assert mup["loss"] == std["loss"] and mup["final_loss"] == std["final_loss"]


@pytest.mark.parametrize(
    "args, words",
    [
        (["--parametrization", "mup", "--blocks", "2"], ["'--parametrization' applies to plain MLPs", "--blocks"]),
        (["--base-width", "4", "--blocks", "2"], ["'--base-width' applies to plain MLPs"]),
        (["--parametrization", "mu"], ["'--parametrization'", "'standard', 'ntk', 'mup'", "'mu'"]),
        (["--parametrization", "ntk", "--base-width", "4"], ["'--base-width'", "parametrization='mup'"]),
        (["--base-width", "4"], ["'--base-width'", "parametrization='mup'", "'standard'"]),
        (["--parametrization", "mup", "--base-width", "0"], ["'--base-width'", "integer >= 1", "Got 0"]),
        (["--parametrization", "mup", "--init", "xavier_normal"], ["--init' xavier_normal", "gain^2/fan_in"]),
        (["--parametrization", "ntk", "--init", "lsuv"], ["--init' lsuv", "from the width"]),
        (["--parametrization", "mup", "--init", "orthogonal"], ["--init' orthogonal", "gain^2/fan_in"]),
    ],
)
def test_bad_flags_are_one_line_and_nothing_is_written(tmp_path, capsys, args, words):
    out = tmp_path / "out"
    code = main(["train", "--out", str(out), "--iterations", "5", *args])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert all(w in err for w in words), err
    assert not out.exists()


# ---------------------------------------------------------------------------------------------
# MLPClassifier(parametrization=, base_width=)
# ---------------------------------------------------------------------------------------------
def test_estimator_params_clone_and_checks():
    clf = MLPClassifier(hidden_layer_sizes=(8, 8), parametrization="mup", base_width=2, optimizer="adam", max_iter=100)
    params = clf.get_params()
    assert (params["parametrization"], params["base_width"]) == ("mup", 2)
    again = clone(clf)
    assert again.get_params() == params and again is not clf
    assert clf.set_params(parametrization="ntk", base_width=None).parametrization == "ntk"
    clf.set_params(parametrization="mup", base_width=2)
    results = check_estimator(clf, expected_failed_checks=EXPECTED_FAILED_CHECKS, on_skip=None)
    statuses = {r["check_name"]: r["status"] for r in results}
    assert "failed" not in statuses.values() and statuses["check_classifiers_train"] == "passed"


def test_estimator_fit_equals_train_on_the_parametrized_mlp(circles):
    X, Y, _, _ = circles
    clf = MLPClassifier(hidden_layer_sizes=(16, 16), parametrization="mup", base_width=4, optimizer="adam",
                        learning_rate=0.01, max_iter=80, random_state=3).fit(X.T, Y[0])  # fmt: skip
    assert clf.network_ == MLP((2, 16, 16, 1), parametrization="mup", base_width=4)
    init_rng, order_rng = seeding.split(3)
    net = MLP((2, 16, 16, 1), parametrization="mup", base_width=4)
    history = train(net, net.initialize("he_normal", rng=init_rng, models=1), X, Y, learning_rate=0.01, iterations=80,
                    record_every=1, optimizer=optimizers.get("adam"), rng=order_rng)  # fmt: skip
    np.testing.assert_array_equal(clf.loss_curve_, history.loss[0])
    for key, value in history.params.items():
        np.testing.assert_array_equal(clf.params_[key], value[0], err_msg=key)


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"parametrization": "mu"}, ["'parametrization'", "'mu'"]),
        ({"base_width": 4}, ["'base_width'", "parametrization='mup'"]),
        ({"parametrization": "mup", "init": "xavier_uniform"}, ["gain^2/fan_in"]),
        ({"parametrization": "mup", "blocks": 2, "hidden_layer_sizes": (8,)}, ["plain MLPs", "blocks=2"]),
    ],
)
def test_estimator_refuses_bad_parametrizations_at_fit(circles, kwargs, words):
    X, Y, _, _ = circles
    with pytest.raises(ValueError) as info:
        MLPClassifier(max_iter=2, **kwargs).fit(X.T, Y[0])
    assert all(w in str(info.value) for w in words), str(info.value)


# ---------------------------------------------------------------------------------------------
# Sweep specs: [model] parametrization (a grid axis) and base_width
# ---------------------------------------------------------------------------------------------
SPEC = """
name = "tiny_mup"
seeds = 2
iterations = 30
record_every = 10
[model]
depth = 3
width = 16
parametrization = ["standard", "mup"]
base_width = 4
[[init]]
name = "he_normal"
[[optimizer]]
name = "adam"
learning_rate = 0.01
"""


def parse(text: str):
    return parse_spec(text, source="spec.toml")


def test_parametrization_is_a_grid_axis_and_base_width_goes_to_mup_runs():
    spec = parse(SPEC)
    assert spec.model.parametrization == ("standard", "mup") and spec.model.base_width == 4
    plan = make_plan(spec)
    assert len(plan.runs) == 2 * 2 and "network" in plan.varying
    setups = [(s.parametrization, s.base_width, s.network) for s, _ in plan.groups]
    assert setups == [("standard", None, "2-16-16-1"), ("mup", 4, "2-16-16-1 mup base=4")]
    assert [r.name for r in plan.runs] == ["net=2-16-16-1/he_normal/seed=0", "net=2-16-16-1/he_normal/seed=1",
                                           "net=2-16-16-1 mup base=4/he_normal/seed=0",
                                           "net=2-16-16-1 mup base=4/he_normal/seed=1"]  # fmt: skip
    assert len({r.key for r in plan.runs}) == 4
    assert plan.runs[2].record()["parametrization"] == "mup" and plan.runs[2].record()["base_width"] == 4
    assert "parametrization" not in plan.runs[0].record()  # a standard run's record is as it always was
    # a muP run and a standard run of one seed draw from one stream (a paired comparison)
    assert plan.runs[0].seed_sequence().spawn_key == plan.runs[2].seed_sequence().spawn_key
    assert spec.fingerprint() != parse(SPEC.replace('["standard", "mup"]', '["standard", "ntk"]').replace(
        "base_width = 4\n", "")).fingerprint()  # fmt: skip


def test_standard_alone_is_the_spec_without_the_key():
    plain = SPEC.replace('parametrization = ["standard", "mup"]\nbase_width = 4\n', "")
    assert "parametrization" not in parse(plain).to_dict()["model"]
    for text in (plain.replace("width = 16\n", 'width = 16\nparametrization = "standard"\n'),
                 plain.replace("width = 16\n", 'width = 16\nparametrization = ["standard"]\n')):  # fmt: skip
        spec = parse(text)
        assert spec == parse(plain) and spec.fingerprint() == parse(plain).fingerprint()
        assert [r.key for r in make_plan(spec).runs] == [r.key for r in make_plan(parse(plain)).runs]


@pytest.mark.parametrize(
    "change, words",
    [
        (("base_width = 4\n", "base_width = 0\n"), ["base_width", ">= 1"]),
        (('["standard", "mup"]', '["standard", "ntk"]'), ["base_width", 'parametrization \\"mup\\"']),
        (('["standard", "mup"]', '["standard", "mu"]'), ["parametrization", "'mu'"]),
        (('["standard", "mup"]', '["mup", "mup"]'), ["lists 'mup' more than once"]),
        (('name = "he_normal"', 'name = "xavier_normal"'), ["[[init]] #1", "gain^2/fan_in", "xavier_normal"]),
        (('name = "he_normal"', 'name = "lsuv"'), ["lsuv", "from the width"]),
        (('name = "he_normal"', 'name = "random"'), ["random", "gain^2/fan_in"]),
        (("depth = 3\nwidth = 16\n", "blocks = [2]\nwidth = 16\n"), ["plain MLPs", "blocks"]),
    ],
)
def test_bad_specs_are_refused_when_read(change, words):
    old, new = change
    text = SPEC.replace(old, new)
    with pytest.raises(ValueError) as info:
        parse(text)
    message = str(info.value)
    assert message.startswith("spec.toml: ") and "\n" not in message
    assert all(w.replace('\\"', '"') in message for w in words), message


def test_a_parametrized_spec_plans_on_the_numba_engine(tmp_path, capsys):
    """The compiled engine trains every parametrization (per-parameter rates: tests/test_kernels_optimizers.py)."""
    pytest.importorskip("numba")
    path = tmp_path / "s.toml"
    path.write_text('engine = "numba"\n' + SPEC)
    assert sweep_main(["plan", str(path)]) == 0
    assert "engine 'numba'" in capsys.readouterr().out


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    out = tmp_path_factory.mktemp("swept")
    spec = parse(SPEC)
    outcome = run_sweep(spec, out, spec_text=SPEC, workers=1)
    assert (outcome.total, outcome.done, outcome.failed) == (4, 4, 0)
    return out


def test_a_mup_run_is_its_net_initialized_and_trained_by_hand(swept):
    with Store.open(swept) as store:
        spec = store.spec()
        rows = {row.key: (row, loss) for row, loss in store.finished_runs()}
        for run in make_plan(spec).runs:
            data = load_data(run.setup.dataset)
            pz = "mup" if "mup" in run.name else "standard"
            net = MLP((2, 16, 16, 1), parametrization=pz, base_width=4 if pz == "mup" else None)
            init_stream, order_stream = seeding.run_streams(run.seed_sequence())
            params = net.initialize("he_normal", rng=[init_stream])
            history = train(net, params, data.X_train, data.Y_train, learning_rate=0.01, iterations=30,
                            record_every=10, optimizer=optimizers.get("adam"), rng=[order_stream],
                            X_test=data.X_test, Y_test=data.Y_test)  # fmt: skip
            row, loss = rows[run.key]
            assert row.status == "done" and row.config["engine"] == "numpy"
            np.testing.assert_array_equal(loss[:-1], history.loss[0], err_msg=run.name)
            assert row.test_accuracy == history.test_accuracy[0]


def test_summary_and_export_distinguish_parametrizations(swept, tmp_path, capsys):
    with Store.open(swept) as store:
        summary = summarize(store.finished_runs(), threshold=0.1)
    assert sorted(g.labels["network"] for g in summary.groups) == ["2-16-16-1", "2-16-16-1 mup base=4"]
    assert sweep_main(["summary", str(swept)]) == 0
    assert "2-16-16-1 mup base=4" in capsys.readouterr().out
    assert sweep_main(["export", str(swept), "--format", "csv", "--out", str(tmp_path)]) == 0
    with open(tmp_path / "runs.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert sorted({(r["network"], r["parametrization"], r["base_width"]) for r in rows}) == [
        ("2-16-16-1", "standard", ""), ("2-16-16-1 mup base=4", "mup", "4")]  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Export: JSON round trip; the scripts' learning-rate factors continue training as initlab does
# ---------------------------------------------------------------------------------------------
NETS = [
    MLP((2, 16, 8, 1), parametrization="mup", base_width=4),
    MLP((2, 16, 8, 3), output="softmax", parametrization="mup", base_width=(4, 2)),
    MLP((2, 16, 8, 1), parametrization="mup"),
    MLP((2, 16, 8, 1), activation="tanh", parametrization="ntk"),
]


@pytest.mark.parametrize("net", NETS, ids=lambda n: f"{n.parametrization}-{n.base_width}-{n.output}")
def test_json_round_trip_is_bit_exact_with_the_parametrization(net):
    params = {k: v[0] for k, v in net.initialize("he_normal", rng=1).items()}
    text = export.render("json", net, params, init="he_normal").text
    obj = json.loads(text)
    assert obj["parametrization"] == net.parametrization
    loaded, back, _ = export.load_json(text)
    assert loaded == net
    for key in params:
        assert back[key].tobytes() == params[key].tobytes()


def test_a_json_file_without_the_keys_loads_as_standard():
    net = MLP((2, 4, 1))
    obj = json.loads(
        export.render("json", net, {k: v[0] for k, v in net.initialize(rng=0).items()}, init="he_normal").text
    )
    del obj["parametrization"], obj["base_width"]
    assert export.load_json(obj)[0] == net


def test_a_standard_script_is_as_before():
    net = MLP((2, 4, 1))
    text = export.render("pytorch", net, {k: v[0] for k, v in net.initialize(rng=0).items()}, init="he_normal").text
    assert "PARAMETRIZATION" not in text and "param_groups" not in text and "${" not in text


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_the_pytorch_scripts_param_groups_continue_training_as_initlab(optimizer):
    """Three updates in torch with the exported param_groups equal initlab's three updates of the same net."""
    torch = pytest.importorskip("torch")
    net = NETS[0]
    data = datasets.load("circles")
    params = net.initialize("he_normal", rng=2)
    history = train(net, params, data.X_train, data.Y_train, learning_rate=0.05, iterations=3, record_every=1,
                    optimizer=optimizers.get(optimizer, **({"epsilon": 1e-3} if optimizer == "adam" else {})))  # fmt: skip
    text = export.render("pytorch", net, {k: v[0] for k, v in params.items()}, init="he_normal").text
    assert "Parametrization: mup, base width 4" in text and "LR_FACTORS[family][l]" in text
    scope = {"__name__": "exported"}
    exec(compile(text, "initlab_network.py", "exec"), scope)  # our own generated script
    model = scope["load_trained"](scope["build_model"]())
    groups = scope["param_groups"](model, 0.05, "adam" if optimizer == "adam" else "sgd", eps=1e-3)
    opt = torch.optim.Adam(groups) if optimizer == "adam" else torch.optim.SGD(groups)
    X, Y = torch.tensor(data.X_train.T), torch.tensor(data.Y_train.T, dtype=torch.float64)
    logits = torch.nn.Sequential(*list(model)[:-1])  # without the sigmoid: the stable loss of the logits
    for _ in range(3):
        opt.zero_grad()
        torch.nn.functional.binary_cross_entropy_with_logits(logits(X), Y).backward()
        opt.step()
    linears = [m for m in model if isinstance(m, torch.nn.Linear)]
    for l, layer in enumerate(linears, start=1):
        np.testing.assert_allclose(layer.weight.detach().numpy(), history.params[f"W{l}"][0], rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(
            layer.bias.detach().numpy(), history.params[f"b{l}"][0, :, 0], rtol=1e-10, atol=1e-13
        )
