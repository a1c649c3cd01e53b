"""initlab.export of residual nets: the exported PyTorch / JAX code reproduces ResidualMLP, its fresh init is the
paper's, JSON round-trips bit-exact.

Independent checks: the scripts' predictions against initlab's own ``ResidualMLP.forward`` (the numpy engine)
on perturbed weights; the fresh statistics against the papers' definitions written here (Fixup: Zhang, Dauphin &
Ma 2019, Sec. 3: the head and each branch's last layer 0, the other branch layers He times B^(-1/(2m-2));
ReZero / SkipInit: alpha = 0 / alpha0; zero_last: each branch's last layer 0; He: std sqrt(2 / fan_in));
muP's output layer against TP5 Table 3 (Var 1/fan_in^2 at the base width's ratio); LSUV's unit output variance.
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

from initlab import export
from initlab.residual import ResidualMLP, scalars_for

STD_RTOL = 0.03  # a (256, 256) matrix: relative SE of its sample std sqrt(1 / 2n) = 0.28%; 3% is > 10 SE


@pytest.fixture(scope="module")
def jax():
    """``jax`` for running the JAX export (skipped where missing; failed under INITLAB_REQUIRE_PEERS=1, as torch)."""
    if os.environ.get("INITLAB_REQUIRE_PEERS") == "1":
        import jax as module

        return module
    return pytest.importorskip("jax")


def load_script(tmp_path, text: str, name: str):
    """Import an exported script as a module (its functions without a new process)."""
    path = tmp_path / f"{name}.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_script(path, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(path), *args], capture_output=True, text=True, timeout=120)


def make_net(init="he_normal", norm="none", parametrization="standard", **kwargs) -> ResidualMLP:
    base = {"base_width": 4} if parametrization == "mup" else {}
    sizes = {"n_in": 3, "width": 8, "n_out": 1, "blocks": 3, **kwargs}
    return ResidualMLP(**sizes, norm=norm, scalars=scalars_for(init), parametrization=parametrization, **base)


def trained(net: ResidualMLP, init: str, seed: int, X=None) -> dict[str, np.ndarray]:
    """The init's parameters plus N(0, 0.3^2) noise on every group: zeros (Fixup's head, ReZero's alpha) moved off
    0, LayerNorm gains off 1, so that every parameter matters to the predictions."""
    params = net.initialize(init, rng=seed, models=1, **({"X": X} if init == "lsuv" else {}))
    rng = np.random.default_rng(seed + 1)
    return {name: value[0] + 0.3 * rng.normal(size=value.shape[1:]) for name, value in params.items()}


def points(net: ResidualMLP, seed: int) -> np.ndarray:
    return np.random.default_rng(seed + 100).normal(scale=1.5, size=(40, net.n_in))  # (m, n_in), rows


# ------------------------------------------------------------------------------------------------
# The trained network: the script predicts what ResidualMLP.forward predicts
# ------------------------------------------------------------------------------------------------
GRID = [(norm, init, par) for norm in ("none", "layer") for init in ("he_normal", "fixup", "rezero")
        for par in ("standard", "mup")]  # fmt: skip


def _script_predictions(tmp_path, fmt, net, params, init, name, P):
    module = load_script(tmp_path, export.render(fmt, net, params, init=init).text, name)
    return np.asarray(module.predict_proba(P.tolist()))


def _expected(net, params, P):
    out = net.forward(params, P.T)  # (n_out, m)
    return out[0] if net.output == "sigmoid" else out.T


@pytest.mark.parametrize(("norm", "init", "par"), GRID)
def test_pytorch_script_reproduces_residual_mlp(tmp_path, torch, norm, init, par):
    net = make_net(init, norm, par)
    params, P = trained(net, init, seed=len(init)), points(net, 1)
    want = _expected(net, params, P)
    got = _script_predictions(tmp_path, "pytorch", net, params, init, f"t_{norm}_{init}_{par}", P)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)
    assert np.ptp(want) > 1e-3  # not all on one plateau: the comparison has teeth


@pytest.mark.parametrize(("norm", "init", "par"), GRID)
def test_jax_script_reproduces_residual_mlp(tmp_path, jax, norm, init, par):
    net = make_net(init, norm, par)
    params, P = trained(net, init, seed=len(init)), points(net, 1)
    want = _expected(net, params, P)
    got = _script_predictions(tmp_path, "jax", net, params, init, f"j_{norm}_{init}_{par}", P)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)
    assert np.ptp(want) > 1e-3


@pytest.mark.parametrize("fmt", ["pytorch", "jax"])
def test_softmax_leaky_deeper_branches_and_every_structure(tmp_path, request, fmt):
    request.getfixturevalue("torch" if fmt == "pytorch" else "jax")
    for i, init in enumerate(("skipinit", "zero_last", "lsuv")):
        net = make_net(init, "layer" if i % 2 else "none", n_out=3, blocks=2, branch_depth=3,
                       activation="leaky_relu", output="softmax", slope=0.2)  # fmt: skip
        X = points(net, i).T
        params, P = trained(net, init, seed=i, X=X), points(net, 5)
        got = _script_predictions(tmp_path, fmt, net, params, init, f"s_{fmt}_{init}", P)
        np.testing.assert_allclose(got, _expected(net, params, P), rtol=0, atol=1e-9)


@pytest.mark.parametrize("fmt", ["pytorch", "jax"])
def test_script_runs_as_a_command(tmp_path, request, fmt):
    request.getfixturevalue("torch" if fmt == "pytorch" else "jax")
    net = make_net("fixup", "layer", "mup")
    params, P = trained(net, "fixup", seed=3), points(net, 3)
    settings = {"blocks": 3, "seed": 3, "model": 0, "iteration": 9}
    result = export.render(fmt, net, params, init="fixup", settings=settings)
    script = tmp_path / result.filename
    script.write_text(result.text)
    (tmp_path / "points.json").write_text(json.dumps(P.tolist()))
    done = run_script(script, "--points", str(tmp_path / "points.json"))
    assert done.returncode == 0, done.stderr[-2000:]
    np.testing.assert_allclose(json.loads(done.stdout), _expected(net, params, P), rtol=0, atol=1e-9)
    done = run_script(script)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout[: done.stdout.index("\n}") + 2])["settings"] == settings
    assert done.stdout.count(" -> ") == 4
    done = run_script(script, "--fresh", "--seed", "2")
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert report["alpha"] == [1.0, 1.0, 1.0]  # Fixup's multipliers start at 1
    assert [e["name"] for e in report["layers"]] == ["W_in", *["W_branch"] * 6, "W_out"]


# ------------------------------------------------------------------------------------------------
# The fresh init: the paper's definition
# ------------------------------------------------------------------------------------------------
def _fresh(tmp_path, fmt, init, sizes, options=None, seed=0):
    """A fresh net of ``sizes`` from the script of a small net with ``init``: {group: numpy array}."""
    net = make_net(init)
    module = load_script(tmp_path, export.render(fmt, net, trained(net, init, 0), init=init, init_options=options).text,
                         f"fresh_{fmt}_{init}_{seed}")  # fmt: skip
    return _draw(module, fmt, sizes, seed)


def _draw(module, fmt, sizes, seed):
    if fmt == "jax":
        params = module.init_params(module.jax.random.PRNGKey(seed), **sizes)
        return {name: np.asarray(value) for name, value in params.items()}
    module.torch.manual_seed(seed)
    model = module.init_weights(module.build_model(**sizes))
    groups = module.parameter_groups(model)
    return {name: np.stack([p.detach().numpy() for p in ps]) for name, ps in groups.items()}


def _he_std(fan_in):
    return math.sqrt(2.0 / fan_in)  # He et al. 2015, torch's kaiming_normal_ (gain sqrt(2), fan_in)


@pytest.mark.parametrize("fmt", ["pytorch", "jax"])
@pytest.mark.parametrize(("blocks", "depth"), [(4, 2), (16, 3)])
def test_fresh_fixup_is_the_papers(tmp_path, request, fmt, blocks, depth):
    request.getfixturevalue("torch" if fmt == "pytorch" else "jax")
    w, n_in = 256, 64
    sizes = {"n_in": n_in, "width": w, "blocks": blocks, "depth": depth}
    p = _fresh(tmp_path, fmt, "fixup", sizes)
    W = p["W_branch"].reshape(blocks, depth, w, w)  # torch's groups come flat over (block, layer)
    assert np.all(W[:, -1] == 0.0) and np.all(p["W_out"] == 0.0) and np.all(p["b_out"] == 0.0)
    assert np.all(p["alpha"] == 1.0) and np.all(p["scalar_bias"] == 0.0) and np.all(p["b_in"] == 0.0)
    want = _he_std(w) * blocks ** (-1.0 / (2 * depth - 2))  # Fixup, Sec. 3: L^(-1/(2m-2)) on He
    for b in range(blocks):
        for j in range(depth - 1):
            assert W[b, j].std() == pytest.approx(want, rel=STD_RTOL), (b, j)
            assert abs(W[b, j].mean()) < 5 * want / w  # centred: 5 SE of the mean of w^2 entries
    assert p["W_in"].std() == pytest.approx(_he_std(n_in), rel=STD_RTOL)  # W_in: layer_init, unscaled


@pytest.mark.parametrize("fmt", ["pytorch", "jax"])
def test_fresh_rezero_skipinit_zero_last_and_he(tmp_path, request, fmt):
    request.getfixturevalue("torch" if fmt == "pytorch" else "jax")
    w, blocks = 256, 2
    sizes = {"width": w, "blocks": blocks, "depth": 2}
    rezero = _fresh(tmp_path, fmt, "rezero", sizes)
    assert np.all(rezero["alpha"] == 0.0)  # ReZero: alpha = 0 exactly, the branches by He
    skip = _fresh(tmp_path, fmt, "skipinit", sizes, options={"alpha0": 0.25})
    assert np.all(skip["alpha"] == 0.25)
    zero_last = _fresh(tmp_path, fmt, "zero_last", sizes)
    last = zero_last["W_branch"].reshape(blocks, 2, w, w)
    assert np.all(last[:, 1] == 0.0) and "alpha" not in zero_last
    for W in last[:, 0]:  # the layers before the last: He
        assert W.std() == pytest.approx(_he_std(w), rel=STD_RTOL)
    he = _fresh(tmp_path, fmt, "he_normal", sizes)
    for p in (rezero, skip, he):
        for W in p["W_branch"].reshape(-1, w, w):
            assert W.std() == pytest.approx(_he_std(w), rel=STD_RTOL)
        assert np.all(p["b_branch"] == 0.0)


@pytest.mark.parametrize("fmt", ["pytorch", "jax"])
def test_fresh_mup_output_layer(tmp_path, request, fmt):
    request.getfixturevalue("torch" if fmt == "pytorch" else "jax")
    net = ResidualMLP(3, 64, 8, 2, output="softmax", parametrization="mup", base_width=16, norm="layer")
    module = load_script(tmp_path, export.render(fmt, net, trained(net, "he_normal", 0), init="he_normal").text,
                         f"mup_{fmt}")  # fmt: skip
    draws = [_draw(module, fmt, {}, seed) for seed in range(16)]
    W_out = np.stack([d["W_out"] for d in draws])  # 16 draws x (8, 64): 8,192 entries
    # TP5 Table 3, muP relative to a base width: the output layer's std is SP's times sqrt(base / width)
    assert W_out.std() == pytest.approx(_he_std(64) * math.sqrt(16 / 64), rel=STD_RTOL)
    W_branch = np.stack([d["W_branch"] for d in draws])
    assert W_branch.std() == pytest.approx(_he_std(64), rel=STD_RTOL)  # hidden: as SP
    assert all(np.all(d["ln_gain"] == 1.0) and np.all(d["ln_bias"] == 0.0) for d in draws)


@pytest.mark.parametrize("fmt", ["pytorch", "jax"])
def test_fresh_lsuv_gives_unit_variance_outputs(tmp_path, request, fmt):
    request.getfixturevalue("torch" if fmt == "pytorch" else "jax")
    net = make_net("lsuv", "layer")
    params = trained(net, "lsuv", 0, X=points(net, 0).T)
    module = load_script(tmp_path, export.render(fmt, net, params, init="lsuv", init_options={"tol": 0.01}).text,
                         f"lsuv_{fmt}")  # fmt: skip
    report = module.fresh_report(0)
    assert len(report["layers"]) == 1 + 3 * 2 + 1
    for entry in report["layers"]:
        assert entry["formula_std"] is None
        assert abs(entry["z_var"] - 1.0) <= 0.01, entry  # Var(W p) = 1 on the batch, LSUV's rule, in forward order


def test_param_groups_carry_the_factors(tmp_path, torch):
    net = make_net("fixup", "layer", "mup")
    module = load_script(tmp_path, export.render("pytorch", net, trained(net, "fixup", 0), init="fixup").text, "pg")
    model = module.load_trained(module.build_model())
    for family in ("sgd", "adam"):
        groups = module.param_groups(model, 0.1, family)
        lrs = np.concatenate([np.full(p.numel(), g["lr"] / 0.1) for g in groups for p in g["params"]])
        np.testing.assert_allclose(lrs, net.learning_rate_factors(family), rtol=1e-15)  # the same layout, per parameter
    optimizer = torch.optim.Adam(module.param_groups(model, 1e-3, "adam"))
    model(torch.ones(4, 3, dtype=torch.float64)).sum().backward()
    optimizer.step()  # the groups are torch's: every parameter once


# ------------------------------------------------------------------------------------------------
# JSON
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("init", "norm", "par", "options"), [
    ("fixup", "layer", "mup", {"layer_init": "xavier_normal"}),
    ("skipinit", "none", "standard", {"alpha0": 0.125}),
    ("he_normal", "layer", "ntk", None),
])  # fmt: skip
def test_json_round_trip_is_bit_exact(init, norm, par, options):
    net = make_net(init, norm, par, branch_depth=3, activation="tanh")
    params = trained(net, init, 4)
    params["W_in"][0, :] = [0.1, -0.0, 5e-324]  # signed zero, the smallest subnormal
    params["W_out"][0, 0] = 1.7976931348623157e308
    settings = {"blocks": 3, "seed": 4, "hidden": [8]}
    result = export.render("json", net, params, init=init, init_options=options, scale=0.5, settings=settings)
    obj = json.loads(result.text)
    assert obj["format"] == "initlab-residual-network/1"
    for source in (result.text, obj):
        net2, params2, info = export.load_json(source)
        assert net2 == net
        assert info == {"init": init, "init_options": obj["init_options"], "scale": 0.5, "settings": settings}
        assert list(params2) == list(params)
        for key, value in params.items():
            assert params2[key].shape == value.shape and params2[key].dtype == np.float64
            assert params2[key].tobytes() == value.tobytes(), key  # bit-exact, -0.0 included


def test_load_json_refuses_a_residual_file_that_does_not_fit():
    net = make_net("rezero")
    obj = json.loads(export.render("json", net, trained(net, "rezero", 0), init="rezero").text)
    obj["params"]["alpha"] = [1.0, 2.0]
    with pytest.raises(ValueError, match=r"params\['alpha'\]' parameter must have shape \(3,\)"):
        export.load_json(obj)
    del obj["blocks"]
    with pytest.raises(ValueError, match=r"lacks the field\(s\) \['blocks'\]"):
        export.load_json(obj)


# ------------------------------------------------------------------------------------------------
# Bad input
# ------------------------------------------------------------------------------------------------
def test_refuses_what_does_not_fit_the_residual_net():
    net, fixup = make_net(), make_net("fixup")
    params = trained(net, "he_normal", 0)
    with pytest.raises(ValueError, match=r"'fixup' .* needs ResidualMLP\(..., scalars='fixup'\); this net has "
                                         r"scalars='none'"):  # fmt: skip
        export.render("pytorch", net, params, init="fixup")
    with pytest.raises(ValueError, match=r"'init' parameter .* must be one of .*'zero_last'.*Got 'notebook_he'"):
        export.render("json", net, params, init="notebook_he")
    with pytest.raises(TypeError, match=r"Unknown option 'alpha0' for initializer 'rezero'"):
        export.render("json", make_net("rezero"), trained(make_net("rezero"), "rezero", 0), init="rezero",
                      init_options={"alpha0": 0.1})  # fmt: skip
    with pytest.raises(ValueError, match=r"'layer_init' parameter .* must be one of .*Got 'fixup'"):
        export.render("json", fixup, trained(fixup, "fixup", 0), init="fixup", init_options={"layer_init": "fixup"})
    mup = make_net(parametrization="mup")
    with pytest.raises(ValueError, match=r"init='lsuv' .* parametrization='mup'"):
        export.render("json", mup, trained(mup, "he_normal", 0), init="lsuv")
    stacked = {k: v[np.newaxis] for k, v in params.items()}
    with pytest.raises(ValueError, match=r"without the model axis \('W_in' of shape \(8, 3\)\)"):
        export.render("json", net, stacked, init="he_normal")
    with pytest.raises(ValueError, match=r"must be a dict with exactly the keys"):
        export.render("json", net, {"W_in": params["W_in"]}, init="he_normal")
    with pytest.raises(ValueError, match="an export embeds at most 1,000,000"):
        export.render("json", ResidualMLP(2, 512, 1, 4), {}, init="he_normal")
