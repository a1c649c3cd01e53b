"""initlab.export: the exported PyTorch / JAX code reproduces initlab's network, its init is the formula, JSON round-trips.

The scripts are checked against things independent of the code that wrote them: initlab's own
``MLP.predict_proba`` on random weights (run as a subprocess, as a learner would), the std of each
initializer computed here from its textbook formula (torch's documentation, JAX's for the truncated
normal, scipy for a truncated normal's moments), and initlab's deterministic matrices bit for bit.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from initlab import export, initializers
from initlab.activations import available as activations_available
from initlab.network import MLP

ARCH = (2, 8, 6, 1)
WIDE = (512, 512, 256, 1)  # two wide layers: 512x512 (fan_in = fan_out) and 256x512 (fan_in != fan_out)


@pytest.fixture(scope="module")
def jax():
    """``jax`` for running the JAX export; skipped where missing (failed under INITLAB_REQUIRE_PEERS=1, as torch)."""
    if os.environ.get("INITLAB_REQUIRE_PEERS") == "1":
        import jax as module

        return module
    return pytest.importorskip("jax")


def random_params(net: MLP, seed: int) -> dict[str, np.ndarray]:
    """Weights and biases N(0, 1): nonzero biases, and units that are active and inactive on the points."""
    rng = np.random.default_rng(seed)
    out = {}
    for l, (n_out, n_in) in enumerate(net.weight_shapes, start=1):
        out[f"W{l}"] = rng.normal(size=(n_out, n_in))
        out[f"b{l}"] = rng.normal(size=(n_out, 1))
    return out


def run_script(path, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(path), *args], capture_output=True, text=True, timeout=120)


def load_script(tmp_path, text: str, name: str):
    """Import an exported script as a module (its ``main(argv)`` is the command line without a new process)."""
    path = tmp_path / f"{name}.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ------------------------------------------------------------------------------------------------
# The trained network: the exported script predicts what initlab predicts
# ------------------------------------------------------------------------------------------------
def _check_predictions(tmp_path, fmt: str, net: MLP, seed: int) -> None:
    params = random_params(net, seed)
    points = np.random.default_rng(seed + 100).normal(scale=1.5, size=(40, net.layers[0]))
    expected = net.predict_proba(params, points.T)  # (n_L, m)
    result = export.render(fmt, net, params, init="he_normal", settings={"seed": seed, "model": 0, "iteration": 7})
    script = tmp_path / result.filename
    script.write_text(result.text)
    (tmp_path / "points.json").write_text(json.dumps(points.tolist()))
    done = run_script(script, "--points", str(tmp_path / "points.json"))
    assert done.returncode == 0, done.stderr
    got = np.array(json.loads(done.stdout))
    want = expected[0] if net.output == "sigmoid" else expected.T  # P(class 1) per row, or (m, C)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    assert np.ptp(want) > 1e-3  # the points are not all on one plateau: the comparison has teeth


@pytest.mark.parametrize("activation", activations_available())
def test_pytorch_script_reproduces_initlab(tmp_path, torch, activation):
    _check_predictions(tmp_path, "pytorch", MLP(ARCH, activation), seed=len(activation))


def test_pytorch_script_leaky_slope_and_softmax(tmp_path, torch):
    _check_predictions(tmp_path, "pytorch", MLP((3, 7, 4), "leaky_relu", "softmax", slope=0.2), seed=5)


@pytest.mark.parametrize("activation", activations_available())
def test_jax_script_reproduces_initlab(tmp_path, jax, activation):
    _check_predictions(tmp_path, "jax", MLP(ARCH, activation), seed=len(activation))


def test_jax_script_softmax(tmp_path, jax):
    _check_predictions(tmp_path, "jax", MLP((3, 7, 4), "leaky_relu", "softmax", slope=0.2), seed=6)


@pytest.mark.parametrize("fmt", ["pytorch", "jax"])
def test_script_without_arguments_prints_settings_and_examples(tmp_path, capsys, fmt, request):
    request.getfixturevalue("torch" if fmt == "pytorch" else "jax")
    net = MLP((2, 10, 5, 1))
    settings = {"dataset": "circles", "seed": 3, "model": 2, "iteration": 1500}
    result = export.render(fmt, net, random_params(net, 1), init="notebook_he", settings=settings)
    script = tmp_path / result.filename
    script.write_text(result.text)
    done = run_script(script)
    assert done.returncode == 0, done.stderr
    head = done.stdout[: done.stdout.index("\n}") + 2]
    assert json.loads(head)["settings"] == settings
    assert done.stdout.count(" -> ") == 4
    module = load_script(tmp_path, result.text, f"noargs_{fmt}")
    for content, message in ((None, "missing.json"), ("[[1.0]]", "rows of 2 numbers"), ("{", "Expecting")):
        if content is not None:
            (tmp_path / "missing.json").write_text(content)
        with pytest.raises(SystemExit) as exit_info:  # argparse's error: one line on stderr, status 2
            module.main(["--points", str(tmp_path / "missing.json")])
        assert exit_info.value.code == 2
        assert message in capsys.readouterr().err


# ------------------------------------------------------------------------------------------------
# The initializer: a fresh model's per-layer std is the formula's
# ------------------------------------------------------------------------------------------------
def _gain(nonlinearity: str = "leaky_relu", a: float = 0.0) -> float:
    """torch.nn.init.calculate_gain's table (torch's documentation)."""
    return {"relu": math.sqrt(2.0), "tanh": 5.0 / 3.0, "linear": 1.0, "identity": 1.0, "sigmoid": 1.0,
            "selu": 0.75, "leaky_relu": math.sqrt(2.0 / (1.0 + a * a))}[nonlinearity]  # fmt: skip


def _fan(n_out, n_in, mode):
    return {"fan_in": n_in, "fan_out": n_out, "fan_avg": (n_in + n_out) / 2}[mode]


def _truncnorm_std(mean, std, a, b):
    from scipy.stats import truncnorm

    return float(truncnorm((a - mean) / std, (b - mean) / std, loc=mean, scale=std).std())


def _identity_std(n_out, n_in):
    p = min(n_out, n_in) / (n_out * n_in)  # a fraction p of ones, the rest zeros
    return math.sqrt(p * (1 - p))


# (name, options, expected population std of a fresh (n_out, n_in) weight), from the formulas in the docs.
CASES = [
    ("variance_scaling", {}, lambda o, i: math.sqrt(1 / i)),  # JAX's default: truncated normal, std after truncation
    (
        "variance_scaling",
        {"scale": 2.0, "mode": "fan_avg", "distribution": "uniform"},
        lambda o, i: math.sqrt(2 / ((o + i) / 2)),
    ),
    ("variance_scaling", {"scale": 0.5, "mode": "fan_out", "distribution": "normal"}, lambda o, i: math.sqrt(0.5 / o)),
    ("xavier_normal", {}, lambda o, i: math.sqrt(2 / (o + i))),
    ("glorot_normal", {"gain": 2.0}, lambda o, i: 2 * math.sqrt(2 / (o + i))),
    ("xavier_uniform", {}, lambda o, i: math.sqrt(2 / (o + i))),
    ("glorot_uniform", {}, lambda o, i: math.sqrt(2 / (o + i))),
    ("kaiming_normal", {}, lambda o, i: _gain() / math.sqrt(i)),
    ("he_normal", {"mode": "fan_out", "nonlinearity": "tanh"}, lambda o, i: _gain("tanh") / math.sqrt(o)),
    ("he_normal", {"nonlinearity": "identity"}, lambda o, i: 1 / math.sqrt(i)),
    ("kaiming_uniform", {"a": 0.2}, lambda o, i: _gain("leaky_relu", 0.2) / math.sqrt(i)),
    ("he_uniform", {"nonlinearity": "relu", "mode": "fan_out"}, lambda o, i: _gain("relu") / math.sqrt(o)),
    ("lecun_normal", {}, lambda o, i: 1 / math.sqrt(i)),
    ("lecun_uniform", {}, lambda o, i: 1 / math.sqrt(i)),
    ("zeros", {}, lambda o, i: 0.0),
    ("ones", {}, lambda o, i: 0.0),
    ("constant", {"value": 0.5}, lambda o, i: 0.0),
    ("normal", {}, lambda o, i: 1.0),
    ("normal", {"mean": 1.0, "std": 0.5}, lambda o, i: 0.5),
    ("uniform", {}, lambda o, i: 1 / math.sqrt(12)),
    ("uniform", {"a": -1.0, "b": 3.0}, lambda o, i: 4 / math.sqrt(12)),
    ("truncated_normal", {}, lambda o, i: _truncnorm_std(0, 1, -2, 2)),
    ("truncated_normal", {"mean": 0.5, "std": 2.0, "a": -1.0, "b": 3.0}, lambda o, i: _truncnorm_std(0.5, 2, -1, 3)),
    ("random", {}, lambda o, i: 10.0),
    ("orthogonal", {}, lambda o, i: 1 / math.sqrt(max(o, i))),  # orthonormal rows: each of norm 1
    ("orthogonal", {"gain": 1.5}, lambda o, i: 1.5 / math.sqrt(max(o, i))),
    ("eye", {}, _identity_std),
    ("ZerO", {}, _identity_std),  # n_out <= n_in on WIDE: the partial identity
    ("zero_hadamard", {}, _identity_std),
    ("sparse", {"sparsity": 0.1}, lambda o, i: 0.01 * math.sqrt(1 - math.ceil(0.1 * o) / o)),
    ("notebook_he", {}, lambda o, i: math.sqrt(2 / i)),  # randn(n_out, n_in) * sqrt(2 / n_in)
]
# Relative SE of a sample std over n >= 131,072 entries is sqrt((kurtosis - 1) / 4n) <= 0.0021 for every
# distribution here (kurtosis <= 3.4: normal 3, sparse 3/(1 - 0.1), uniform 1.8, truncated < 3): 1.5% is > 7 SE.
STD_RTOL = 0.015


def test_every_initializer_has_a_case():
    names = {name for name, _, _ in CASES}
    assert names | {"lsuv"} == {*initializers.available(), "notebook_he", "lsuv"}


def _fresh(tmp_path, fmt, init, options, scale=1.0, layers=WIDE, seed=0):
    net = MLP(ARCH)
    result = export.render(fmt, net, random_params(net, 0), init=init, init_options=options, scale=scale)
    module = load_script(tmp_path, result.text, f"fresh_{fmt}_{init}")
    return module, ["--fresh", "--layers", ",".join(map(str, layers)), "--seed", str(seed)]


def _check_fresh(tmp_path, capsys, fmt, init, options, expected, scale=1.0):
    module, argv = _fresh(tmp_path, fmt, init, options, scale)
    assert module.main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert [entry["shape"] for entry in report["layers"]] == [[512, 512], [256, 512], [1, 256]]
    for entry in report["layers"]:
        want = expected(*entry["shape"]) * abs(scale)
        assert entry["formula_std"] == pytest.approx(want, rel=1e-9, abs=1e-15), entry  # the script's formula
        if math.prod(entry["shape"]) >= 100_000:
            assert entry["std"] == pytest.approx(want, rel=STD_RTOL, abs=1e-12), (init, options, entry)


@pytest.mark.parametrize(("init", "options", "expected"), CASES, ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(CASES)])
def test_pytorch_fresh_init_has_the_formula_std(tmp_path, capsys, torch, init, options, expected):
    _check_fresh(tmp_path, capsys, "pytorch", init, options, expected)


@pytest.mark.parametrize(("init", "options", "expected"), CASES, ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(CASES)])
def test_jax_fresh_init_has_the_formula_std(tmp_path, capsys, jax, init, options, expected):
    _check_fresh(tmp_path, capsys, "jax", init, options, expected)


@pytest.mark.parametrize("fmt", ["pytorch", "jax"])
def test_fresh_init_times_scale(tmp_path, capsys, request, fmt):
    request.getfixturevalue("torch" if fmt == "pytorch" else "jax")
    _check_fresh(tmp_path, capsys, fmt, "he_normal", {}, lambda o, i: math.sqrt(2 / i), scale=-2.5)


@pytest.mark.parametrize("fmt", ["pytorch", "jax"])
def test_fresh_lsuv_gives_unit_variance_outputs(tmp_path, capsys, request, fmt):
    request.getfixturevalue("torch" if fmt == "pytorch" else "jax")
    module, argv = _fresh(tmp_path, fmt, "lsuv", {"tol": 0.01})
    assert module.main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    for entry in report["layers"]:
        assert entry["formula_std"] is None
        assert abs(entry["z_var"] - 1.0) <= 0.01, entry  # Var(Z[l]) = 1 on the batch, the LSUV rule
    assert report["options"] == {"tol": 0.01, "max_iter": 10}


@pytest.mark.parametrize("fmt", ["pytorch", "jax"])
def test_fresh_runs_as_a_command(tmp_path, request, fmt):
    request.getfixturevalue("torch" if fmt == "pytorch" else "jax")
    net = MLP((2, 10, 5, 1), "tanh")
    result = export.render(fmt, net, random_params(net, 0), init="xavier_normal", init_options={"gain": 5 / 3})
    script = tmp_path / result.filename
    script.write_text(result.text)
    done = run_script(script, "--fresh")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert [entry["shape"] for entry in report["layers"]] == [[10, 2], [5, 10], [1, 5]]
    for entry in report["layers"]:
        o, i = entry["shape"]
        assert entry["formula_std"] == pytest.approx(5 / 3 * math.sqrt(2 / (o + i)), rel=1e-12)


@pytest.mark.parametrize("init", ["ZerO", "eye", "zeros", "ones"])
@pytest.mark.parametrize("fmt", ["pytorch", "jax"])
def test_deterministic_inits_equal_initlab_bit_for_bit(tmp_path, request, fmt, init):
    request.getfixturevalue("torch" if fmt == "pytorch" else "jax")
    layers = (3, 10, 5, 16, 1)  # widening (ZerO's Hadamard block) and narrowing layers
    net = MLP(layers)
    module = load_script(tmp_path, export.render(fmt, net, random_params(net, 0), init=init).text, f"det_{fmt}_{init}")
    want = net.initialize(init, rng=0)
    if fmt == "pytorch":
        linears = [m for m in module.init_weights(module.build_model()) if hasattr(m, "weight")]
        got = [(m.weight.detach().numpy(), m.bias.detach().numpy()) for m in linears]
    else:
        got = [(np.asarray(W), np.asarray(b)) for W, b in module.init_params(module.jax.random.PRNGKey(0))]
    for l, (W, b) in enumerate(got, start=1):
        np.testing.assert_array_equal(W, want[f"W{l}"][0])
        np.testing.assert_array_equal(b, want[f"b{l}"][0, :, 0])


@pytest.mark.parametrize(("init", "options"), [(name, options) for name, options, _ in CASES] + [("lsuv", {})])
def test_jax_script_compiles_for_every_initializer(init, options):
    net = MLP((2, 10, 5, 1), "selu")
    for fmt in ("jax", "pytorch"):
        text = export.render(fmt, net, random_params(net, 0), init=init, init_options=options).text
        compile(text, f"initlab_network_{fmt}.py", "exec")


# ------------------------------------------------------------------------------------------------
# JSON
# ------------------------------------------------------------------------------------------------
def test_json_round_trip_is_bit_exact():
    net = MLP((2, 4, 3, 1), "leaky_relu", slope=0.05)
    params = random_params(net, 9)
    params["W1"][0, :] = [0.1, 1 / 3]
    params["W1"][1, :] = [-0.0, 5e-324]  # signed zero, the smallest subnormal
    params["b2"][0, 0] = 1.7976931348623157e308
    settings = {"dataset": "circles", "seed": 3, "model": 1, "iteration": 42, "hidden": [4, 3]}
    result = export.render("json", net, params, init="kaiming_normal", init_options=(("mode", "fan_out"),), scale=0.5,
                           settings=settings)  # fmt: skip
    assert (result.filename, result.media_type) == ("initlab_network.json", "application/json")
    obj = json.loads(result.text)
    assert obj["format"] == "initlab-network/1"
    assert obj["init_options"] == {"a": 0.0, "mode": "fan_out", "nonlinearity": "leaky_relu"}
    assert len(obj["params"]["b1"]) == 4  # biases as flat lists
    for source in (result.text, obj):
        net2, params2, info = export.load_json(source)
        assert net2 == net
        assert info == {
            "init": "kaiming_normal",
            "init_options": obj["init_options"],
            "scale": 0.5,
            "settings": settings,
        }
        for key, value in params.items():
            assert params2[key].shape == value.shape
            assert params2[key].tobytes() == value.tobytes(), key  # bit-exact, -0.0 included


def test_load_json_refuses_what_it_cannot_read():
    with pytest.raises(ValueError, match="not valid JSON"):
        export.load_json("{")
    with pytest.raises(ValueError, match="'format' field must be 'initlab-network/1'"):
        export.load_json({"format": "keras"})
    with pytest.raises(ValueError, match=r"lacks the field\(s\) \['params'\]"):
        export.load_json({"format": "initlab-network/1", "layers": [2, 1], "activation": "relu", "output": "sigmoid"})
    obj = json.loads(export.render("json", MLP((2, 3, 1)), random_params(MLP((2, 3, 1)), 0), init="zeros").text)
    obj["params"]["W2"] = [[1.0, 2.0]]
    with pytest.raises(ValueError, match=r"params\['W2'\]' parameter must have shape \(1, 3\)"):
        export.load_json(obj)


# ------------------------------------------------------------------------------------------------
# Bad input
# ------------------------------------------------------------------------------------------------
NET = MLP((2, 3, 1))


def test_refuses_unknown_format():
    with pytest.raises(
        ValueError, match=r"'format' parameter .* must be one of \{'pytorch', 'jax', 'json'\}. Got 'onnx'"
    ):
        export.render("onnx", NET, random_params(NET, 0), init="he_normal")


def test_refuses_params_that_do_not_fit():
    params = random_params(NET, 0)
    params["W2"] = np.ones((1, 4))
    with pytest.raises(ValueError, match=r"params\['W2'\]' parameter must have shape \(1, 3\).*Got shape \(1, 4\)"):
        export.render("json", NET, params, init="he_normal")
    with pytest.raises(ValueError, match=r"must have exactly the keys \['W1', 'b1', 'W2', 'b2'\]"):
        export.render("json", NET, {"W1": np.ones((3, 2))}, init="he_normal")
    stacked = {k: v[np.newaxis] for k, v in random_params(NET, 0).items()}
    with pytest.raises(ValueError, match=r"without the model axis .* select one model first"):
        export.render("json", NET, stacked, init="he_normal")
    params = random_params(NET, 0)
    params["b1"][0, 0] = np.nan
    with pytest.raises(ValueError, match=r"params\['b1'\]' parameter contains 1 NaN"):
        export.render("pytorch", NET, params, init="he_normal")


def test_refuses_bad_init_and_options():
    params = random_params(NET, 0)
    with pytest.raises(ValueError, match=r"'init' parameter .* must be one of .*'lsuv'.*Got 'he_norm'"):
        export.render("json", NET, params, init="he_norm")
    with pytest.raises(TypeError, match="Unknown option 'gain' for initializer 'kaiming_normal'"):
        export.render("json", NET, params, init="kaiming_normal", init_options={"gain": 2.0})
    with pytest.raises(ValueError, match="'mode' parameter of kaiming_normal must be one of"):
        export.render("json", NET, params, init="kaiming_normal", init_options={"mode": "fan_avg"})
    with pytest.raises(TypeError, match="'notebook_he' takes no options"):
        export.render("json", NET, params, init="notebook_he", init_options={"seed": 3})
    with pytest.raises(TypeError, match=r"Unknown option\(s\) \['init'\] for init 'lsuv'"):
        export.render("json", NET, params, init="lsuv", init_options={"init": "zeros"})
    with pytest.raises(ValueError, match="'tol' parameter must be > 0"):
        export.render("json", NET, params, init="lsuv", init_options={"tol": 0})
    with pytest.raises(TypeError, match="'scale' parameter must be a real number"):
        export.render("json", NET, params, init="he_normal", scale="2")


def test_refuses_bad_net_settings_and_sizes():
    params = random_params(NET, 0)
    with pytest.raises(
        TypeError, match="'net' parameter must be an initlab.network.MLP or an initlab.residual.ResidualMLP. Got tuple"
    ):
        export.render("json", (2, 3, 1), params, init="he_normal")
    with pytest.raises(ValueError, match="'settings' parameter must be JSON-able"):
        export.render("json", NET, params, init="he_normal", settings={"loss": float("nan")})
    with pytest.raises(TypeError, match="'settings' parameter must be a JSON-able dict"):
        export.render("json", NET, params, init="he_normal", settings=[1, 2])
    with pytest.raises(ValueError, match="'settings' parameter is 200,0.. characters"):
        export.render("json", NET, params, init="he_normal", settings={"x": "a" * 200_000})
    with pytest.raises(ValueError, match="1,002,001 weights and biases; an export embeds at most 1,000,000"):
        export.render("pytorch", MLP((1000, 1000, 1)), {}, init="he_normal")
    with pytest.raises(ValueError, match=r"Got 'x{99}\.\.\. \(100,002 characters\) instead"):
        export.render("x" * 100_000, NET, params, init="he_normal")  # the message quotes an excerpt, never all of it
