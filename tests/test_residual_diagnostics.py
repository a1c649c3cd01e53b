"""Per-block diagnostics of residual MLPs: every field against torch autograd (an independent forward and
backward), the closed forms of He branches at initialization, and the record train() keeps."""

import os

import numpy as np
import pytest

if os.environ.get("INITLAB_REQUIRE_PEERS") == "1":  # .ci/run installs the peers extra: a missing torch fails
    import torch
else:  # `make test` without the peers extra: torch is the second implementation, so these tests skip
    torch = pytest.importorskip("torch")

from initlab.diagnostics import BlockStats, LayerStats, measure
from initlab.network import MLP
from initlab.residual import LN_EPS, ResidualMLP
from initlab.sweeps.catalogue import DIAGNOSTIC_FIELDS
from initlab.training import train

torch.set_num_threads(1)  # tiny tensors; the cores are shared

TORCH_G = {
    "relu": torch.relu,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "leaky_relu": lambda x: torch.nn.functional.leaky_relu(x, 0.01),
}
CASES = [
    ("none", "none", "relu", 2),
    ("layer", "alpha", "tanh", 3),
    ("none", "fixup", "leaky_relu", 2),
    ("layer", "fixup", "sigmoid", 1),
]


def perturbed(net, seed, K=3, spread=0.3):
    """Parameters with every group away from its initial constant (alpha != 1, scalar biases != 0, ...)."""
    params = net.initialize("he_normal", rng=seed, models=K)
    gen = np.random.default_rng(seed)
    return {k: v + spread * gen.normal(size=v.shape) for k, v in params.items()}


def data(n_in=3, m=40, seed=0):
    gen = np.random.default_rng(seed)
    return gen.normal(size=(n_in, m)), gen.integers(0, 2, size=(1, m))


def torch_blocks(net: ResidualMLP, params: dict, k: int, X: np.ndarray, Y: np.ndarray) -> dict:
    """One model's trunk, branches, hidden pre-activations and gradients, written from the module docstring in torch."""
    g, m, fixup = TORCH_G[net.activation], net.branch_depth, net.scalars == "fixup"
    P = {name: torch.tensor(v[k], requires_grad=True) for name, v in params.items()}
    x = torch.tensor(X)
    h = P["W_in"] @ x + P["b_in"]
    trunk, branch, hidden = [h], [], []
    for b in range(net.blocks):
        u = h
        if net.norm == "layer":
            mu = h.mean(0, keepdim=True)
            u = (
                P["ln_gain"][b] * (h - mu) / torch.sqrt(((h - mu) ** 2).mean(0, keepdim=True) + LN_EPS)
                + P["ln_bias"][b]
            )
        pre = []
        for j in range(m):
            v = P["W_branch"][b, j] @ (u + P["scalar_bias"][b, j] if fixup else u)
            v = v if fixup else v + P["b_branch"][b, j]
            if j < m - 1:
                s = v + P["scalar_bias"][b, m + j] if fixup else v
                pre.append(s)
                u = g(s)
        r = (P["alpha"][b] if net.scalars != "none" else 1.0) * v + (P["scalar_bias"][b, 2 * m - 1] if fixup else 0.0)
        h = h + r
        h.retain_grad()
        trunk.append(h)
        branch.append(r)
        hidden.append(torch.cat(pre, 0).detach().numpy() if pre else None)
    z = P["W_out"] @ g(h) + P["b_out"]
    loss = torch.nn.functional.binary_cross_entropy_with_logits(z, torch.tensor(Y, dtype=torch.float64))
    dtrunk = torch.autograd.grad(loss, trunk[1:], retain_graph=True)
    # the branch's part of dL/dh_{b-1}: the vector-Jacobian product of r_b with dL/dh_b
    dbranch = [torch.autograd.grad(r, trunk[b], grad_outputs=dtrunk[b], retain_graph=True)[0] for b, r in
               enumerate(branch)]  # fmt: skip
    loss.backward()
    return {
        "trunk": [t.detach().numpy() for t in trunk],
        "branch": [r.detach().numpy() for r in branch],
        "hidden": hidden,
        "dtrunk": [d.numpy() for d in dtrunk],
        "dbranch": [d.numpy() for d in dbranch],
        "grads": {name: t.grad.numpy() for name, t in P.items()},
    }


@pytest.mark.parametrize(("norm", "scalars", "activation", "depth"), CASES)
def test_every_block_field_matches_torch_autograd(norm, scalars, activation, depth):
    net = ResidualMLP(3, 6, 1, 4, branch_depth=depth, activation=activation, norm=norm, scalars=scalars)
    params, (X, Y) = perturbed(net, 1), data()
    stats = measure(net, params, X, Y)
    assert isinstance(stats, BlockStats) and stats.a_std.shape == (3, 4)
    for k in range(3):
        ref = torch_blocks(net, params, k, X, Y)
        h, r = ref["trunk"], ref["branch"]
        expected = {
            "a_mean": [t.mean() for t in h[1:]],
            "a_std": [t.std() for t in h[1:]],
            "z_mean": [t.mean() for t in r],
            "z_std": [t.std() for t in r],
            "trunk_mean_abs": [np.abs(t).mean() for t in h[1:]],
            "branch_mean_abs": [np.abs(t).mean() for t in r],
            "residual_scale": [np.sqrt((r[b] ** 2).mean() / (h[b] ** 2).mean()) for b in range(4)],
            "trunk_grad_std": [d.std() for d in ref["dtrunk"]],
            "branch_grad_std": [d.std() for d in ref["dbranch"]],
            "grad_W_norm": [np.linalg.norm(ref["grads"]["W_branch"][b]) for b in range(4)],
        }
        bias = ref["grads"]["scalar_bias"] if scalars == "fixup" else ref["grads"]["b_branch"]
        expected["grad_b_norm"] = [np.linalg.norm(bias[b]) for b in range(4)]
        if scalars != "none":
            expected["grad_alpha"] = ref["grads"]["alpha"]
        for field, values in expected.items():
            np.testing.assert_allclose(getattr(stats, field)[k], values, rtol=1e-9, atol=1e-15, err_msg=field)
        if scalars == "none":
            assert np.isnan(stats.grad_alpha).all()
        if depth == 1:  # no activation inside a one-layer branch
            assert np.isnan(stats.dead_fraction).all() and np.isnan(stats.saturated_fraction).all()
        elif activation in ("relu", "leaky_relu"):
            dead = [(s <= 0).all(axis=1).mean() for s in ref["hidden"]]
            np.testing.assert_array_equal(stats.dead_fraction[k], dead)
            assert np.isnan(stats.saturated_fraction).all()
        else:
            sat = [(np.abs(np.tanh(s)) > 0.99).mean(axis=1).__gt__(0.9).mean() for s in ref["hidden"]]
            np.testing.assert_array_equal(stats.saturated_fraction[k], sat)
    np.testing.assert_array_equal(stats.trunk_std, stats.a_std)
    np.testing.assert_array_equal(stats.branch_std, stats.z_std)
    np.testing.assert_array_equal(stats.units, [6] * 4)


def test_dead_and_saturated_units_are_counted():
    """Units pushed off the ReLU's live side (a large negative bias) and into tanh's flat tails (large weights)."""
    net = ResidualMLP(3, 8, 1, 2, activation="relu")
    params, (X, Y) = net.initialize(rng=0, models=2), data()
    params["b_branch"][1, 0, 0, :3] = -1e3  # model 1, block 1, first layer: 3 of 8 units dead
    stats = measure(net, params, X, Y)
    np.testing.assert_array_equal(stats.dead_fraction[1], [3 / 8, 0.0])
    assert stats.dead_fraction[0, 0] < 3 / 8
    net = ResidualMLP(3, 8, 1, 2, activation="tanh")
    params = net.initialize(rng=0, models=1, scale=1e3)
    stats = measure(net, params, X)
    assert np.all(stats.saturated_fraction > 0.5) and np.isnan(stats.dead_fraction).all()


def test_distinct_units_is_the_fewest_over_the_branch_layers():
    X, Y = data()
    he = ResidualMLP(3, 8, 1, 3)
    np.testing.assert_array_equal(measure(he, he.initialize(rng=0), X).distinct_units, [[8, 8, 8]])
    params = he.initialize(rng=0)
    params["W_branch"][0, 2, 1, 5] = params["W_branch"][0, 2, 1, 2]  # a copied row in block 3's last layer
    np.testing.assert_array_equal(measure(he, params, X).distinct_units, [[8, 8, 7]])
    fixup = ResidualMLP(3, 8, 1, 3, scalars="fixup")  # the last layer of every branch is 0 at initialization
    np.testing.assert_array_equal(measure(fixup, fixup.initialize("fixup", rng=0), X).distinct_units, [[1, 1, 1]])


def test_he_branches_at_initialization_follow_the_closed_form():
    """A He ReLU branch of 2 layers on a zero-mean trunk: E[F(h)^2] = 2 E[h^2] (the ReLU keeps half of
    Var(W_1 h) = 2 E[h^2], W_2 doubles it back), so the effective residual scale is sqrt(2) and the
    trunk's std grows by sqrt(3) per block. ReZero's zero alpha: scale 0 and a constant trunk."""
    X, Y = np.random.default_rng(0).normal(size=(8, 256)), data(n_in=8, m=256)[1]
    net = ResidualMLP(8, 64, 1, 4)  # seeds 0..4 give medians within 6 % of the closed forms
    stats = measure(net, net.initialize("he_normal", rng=0, models=6), X, Y)
    assert abs(np.median(stats.residual_scale) / np.sqrt(2) - 1) < 0.1
    growth = stats.a_std[:, 1:] / stats.a_std[:, :-1]
    assert abs(np.median(growth) / np.sqrt(3) - 1) < 0.1
    rezero = ResidualMLP(8, 64, 1, 4, scalars="alpha")
    stats = measure(rezero, rezero.initialize("rezero", rng=0, models=2), X, Y)
    assert np.all(stats.residual_scale == 0) and np.all(stats.z_std == 0) and np.all(stats.branch_grad_std == 0)
    np.testing.assert_array_equal(stats.a_std, stats.a_std[:, :1].repeat(4, axis=1))  # h_b = h_0
    assert np.all(stats.grad_alpha != 0) and np.all(stats.grad_W_norm == 0)  # alpha learns first; W sees alpha = 0


def test_without_labels_the_gradient_fields_are_nan_and_dict_without_axis_works():
    net = ResidualMLP(3, 5, 1, 2, scalars="alpha")
    X, Y = data()
    single = {k: v[0] for k, v in perturbed(net, 2, K=1).items()}
    stats = measure(net, single, X)
    assert stats.a_std.shape == (1, 2)
    for field in ("grad_W_norm", "grad_b_norm", "trunk_grad_std", "branch_grad_std", "grad_alpha"):
        assert np.isnan(getattr(stats, field)).all(), field
    assert np.isfinite(stats.residual_scale).all()
    with pytest.raises(ValueError, match="'params'.*keys"):
        measure(net, {"W1": 1}, X)


def test_train_records_block_stats_in_the_layer_record_format():
    net = ResidualMLP(3, 6, 1, 3, scalars="fixup")
    params, (X, Y) = net.initialize("fixup", rng=0, models=2), data()
    history = train(net, params, X, Y, iterations=25, record_every=10, diagnostics=True, learning_rate=0.1)
    np.testing.assert_array_equal(history.diagnostics_iterations, [0, 10, 20, 25])
    first, last = history.diagnostics[0], history.diagnostics[-1]
    assert all(isinstance(s, BlockStats) for s in history.diagnostics)
    for field in (*DIAGNOSTIC_FIELDS, "units"):  # what the sweep store and initlab train's report read by name
        assert field in LayerStats.__dataclass_fields__ and getattr(first, field).shape[-1] == 3, field
    # the initial record is measure() of the initial parameters, the last of the trained ones
    for stats, at in ((first, params), (last, history.params)):
        again = measure(net, at, X, Y)
        for field in BlockStats.__dataclass_fields__:
            np.testing.assert_array_equal(getattr(stats, field), getattr(again, field), err_msg=field)
    assert np.all(first.residual_scale == 0) and np.all(last.residual_scale > 0)  # Fixup's zero branches grow
    off = train(net, params, X, Y, iterations=25, record_every=10, learning_rate=0.1)
    np.testing.assert_array_equal(off.loss, history.loss)  # diagnostics do not change training
    for key in off.params:
        np.testing.assert_array_equal(off.params[key], history.params[key])


def test_mlp_diagnostics_are_still_layer_stats():
    net = MLP((3, 4, 1))
    X, Y = data()
    history = train(net, net.initialize(rng=0), X, Y, iterations=3, record_every=1, diagnostics=True)
    assert all(type(s) is LayerStats for s in history.diagnostics)


def test_a_diverged_model_gives_non_finite_statistics_without_warnings():
    net = ResidualMLP(3, 8, 1, 4)
    params, (X, Y) = net.initialize(rng=0, models=2), data()
    with np.errstate(all="raise"):
        history = train(net, params, X, Y, learning_rate=np.array([0.1, 1e30]), iterations=10, diagnostics=5)
    assert history.diverged.tolist() == [False, True]
    last = history.diagnostics[-1]
    assert np.isfinite(last.a_std[0]).all() and np.isfinite(last.residual_scale[0]).all()
    assert not np.isfinite(last.a_std[1]).all()
