"""LSUV on residual MLPs: every linear layer's output has unit variance on the batch (checked by a forward
written here from the module docstring, per model), for K models at once, and the data it needs is explicit."""

import numpy as np
import pytest

from initlab import activations
from initlab.lsuv import lsuv
from initlab.residual import LN_EPS, ResidualMLP

CONFIGS = [
    ("none", "none", "relu", 2),
    ("layer", "none", "tanh", 2),
    ("none", "alpha", "relu", 3),
    ("layer", "fixup", "leaky_relu", 2),
    ("none", "fixup", "tanh", 1),
]


@pytest.fixture(scope="module")
def batch():
    return np.random.default_rng(0).normal(size=(6, 300))


def layer_outputs(net: ResidualMLP, params: dict, k: int, X: np.ndarray) -> list[np.ndarray]:
    """Model k's linear-layer outputs in forward order (h_0, v_{b,j}, logits), with its biases, from the formulas."""
    g, m, fixup = activations.get(net.activation).forward, net.branch_depth, net.scalars == "fixup"
    h = params["W_in"][k] @ X + params["b_in"][k]
    out = [h]
    for b in range(net.blocks):
        u = h
        if net.norm == "layer":
            u = (h - h.mean(0)) / np.sqrt(h.var(0) + LN_EPS) * params["ln_gain"][k, b] + params["ln_bias"][k, b]
        for j in range(m):
            v = params["W_branch"][k, b, j] @ (u + (params["scalar_bias"][k, b, j] if fixup else 0.0))
            v = v if fixup else v + params["b_branch"][k, b, j]
            out.append(v)
            if j < m - 1:
                u = g(v + (params["scalar_bias"][k, b, m + j] if fixup else 0.0))
        alpha = params["alpha"][k, b] if net.scalars != "none" else 1.0
        h = h + alpha * v + (params["scalar_bias"][k, b, 2 * m - 1] if fixup else 0.0)
    out.append(params["W_out"][k] @ g(h) + params["b_out"][k])
    return out


@pytest.mark.parametrize(("norm", "scalars", "activation", "depth"), CONFIGS)
def test_every_linear_layer_has_unit_output_variance_for_k_models(batch, norm, scalars, activation, depth):
    net = ResidualMLP(6, 24, 1, 5, branch_depth=depth, activation=activation, norm=norm, scalars=scalars)
    params, log = lsuv(net, batch, rng=1, models=3, tol=0.05)
    L = 2 + 5 * depth
    assert log.variance_after.shape == (3, L) and log.converged.all() and np.all(log.rounds <= 10)
    variances = np.array([[Z.var() for Z in layer_outputs(net, params, k, batch)] for k in range(3)])  # (K, L)
    assert variances.shape == (3, L)
    assert np.all(np.abs(variances - 1) <= 0.05)
    np.testing.assert_allclose(log.variance_after, variances, rtol=1e-10)
    assert np.any(np.abs(log.variance_before - 1) > 0.05)  # the orthogonal start was not already there
    for name in ("b_in", "b_branch", "scalar_bias", "b_out"):  # LSUV's biases are 0
        assert name not in params or np.all(params[name] == 0)
    if scalars != "none":
        assert np.all(params["alpha"] == 1)


def test_the_matrices_are_rescaled_orthogonal_ones(batch):
    net = ResidualMLP(6, 16, 1, 3)
    params, log = lsuv(net, batch, rng=2, models=2, tol=0.01)
    for k in range(2):
        for b in range(3):
            for j in range(2):
                W = params["W_branch"][k, b, j]
                gram = W @ W.T
                np.testing.assert_allclose(gram, gram[0, 0] * np.eye(16), atol=1e-12)
    column = 1 + 2 * 2 + 1  # W_branch[2, 1]: layers in forward order W_in, W_branch[b, j], W_out
    assert log.variance_after[:, column] == pytest.approx(
        [np.var(layer_outputs(net, params, k, batch)[column]) for k in range(2)], rel=1e-12
    )


def test_the_trunk_variance_grows_linearly_as_the_docstring_says(batch):
    """Each branch adds a unit-variance output roughly uncorrelated with the trunk: Var(h_b) ~ 1 + b."""
    net = ResidualMLP(6, 64, 1, 12)
    params, _ = lsuv(net, batch, rng=0, models=4)
    passes = net.passes()
    work = passes.workspace(4, batch.shape[1])
    passes.forward(net.views(net.flatten(params)), batch, work)
    ratio = np.array([h.var() for h in work.trunk]) / (1 + np.arange(13))
    assert np.all(np.abs(ratio - 1) < 0.15)


def test_model_k_is_the_same_whatever_k_and_scale_multiplies(batch):
    net = ResidualMLP(6, 8, 1, 2, norm="layer")
    three, _ = lsuv(net, batch, rng=5, models=3)
    one, _ = lsuv(net, batch, rng=5, models=1)
    for key in one:
        np.testing.assert_array_equal(three[key][:1], one[key])
    doubled, _ = lsuv(net, batch, rng=5, models=1, scale=2.0)
    for key in one:
        factor = 2.0 if key.startswith("W_") else 1.0
        np.testing.assert_array_equal(doubled[key], factor * one[key])


def test_initialize_lsuv_is_lsuv_exactly_and_needs_its_data(batch):
    net = ResidualMLP(6, 8, 1, 3, scalars="alpha")
    expected, _ = lsuv(net, batch, rng=4, models=2, tol=0.02)
    got = net.initialize("lsuv", X=batch, rng=4, models=2, tol=0.02)
    assert set(got) == set(expected)
    for key in expected:
        np.testing.assert_array_equal(got[key], expected[key])
    other = net.initialize("lsuv", X=2 * batch + 1, rng=4, models=2, tol=0.02)  # data-dependent: other data, other W
    assert not np.allclose(other["W_in"], got["W_in"])
    assert not np.allclose(other["W_branch"], got["W_branch"])
    with pytest.raises(TypeError, match=r"init='lsuv' is data-dependent: it needs the 'X' parameter"):
        net.initialize("lsuv", rng=0)
    with pytest.raises(TypeError, match=r"'X' parameter is used only by the data-dependent.*Leave X out"):
        net.initialize("he_normal", X=batch)
    with pytest.raises(TypeError, match=r"Unknown option\(s\) \['layer_init'\] for init 'lsuv'"):
        net.initialize("lsuv", X=batch, layer_init="he_normal")
    with pytest.raises(ValueError, match=r"'X'.*6"):
        net.initialize("lsuv", X=batch[:3])
    with pytest.raises(ValueError, match=r"'init'.*lsuv"):
        net.initialize("lsuvv")


def test_a_zero_layer_is_logged_not_divided_by_zero(batch):
    """LSUV after Fixup's structure: each branch's last layer is 0, nothing to rescale (logged, not converged)."""
    net = ResidualMLP(6, 8, 1, 2, scalars="fixup")
    with np.errstate(all="raise"):
        params, log = lsuv(net, batch, rng=0, init="fixup")
    zero = [1 + 2 * b + 1 for b in range(2)] + [5]  # each W_branch[b, 1] and the head
    assert np.all(log.variance_after[0, zero] == 0) and not log.converged[0, zero].any()
    assert log.converged[0, [0, 1, 3]].all() and log.rounds[0, zero].sum() == 0
    assert all(np.all(np.isfinite(v)) for v in params.values())
