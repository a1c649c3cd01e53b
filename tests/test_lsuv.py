"""LSUV: every layer of deep nets has unit output variance on the batch, checked by an independent forward pass."""

import numpy as np
import pytest

from initlab.lsuv import lsuv
from initlab.network import MLP


@pytest.fixture(scope="module")
def batch():
    return np.random.default_rng(0).normal(size=(64, 256))


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_every_layer_of_a_20_layer_net_has_unit_variance(batch, activation):
    net = MLP((64,) + (64,) * 19 + (1,), activation)  # 20 weight layers of width 64
    params, log = lsuv(net, batch, rng=1, models=2, tol=0.1)
    _, record = net.forward(params, batch, record=True)
    variances = np.stack([Z.var(axis=(1, 2)) for Z in record.Z], axis=1)  # (K, L)
    assert variances.shape == (2, 20)
    assert np.all(np.abs(variances - 1) <= 0.1)
    np.testing.assert_allclose(log.variance_after, variances, rtol=1e-10)
    assert log.converged.all() and np.all(log.rounds <= 10)
    assert all(np.all(params[f"b{l}"] == 0) for l in range(1, 21))


def test_orthogonal_start_and_log(batch):
    net = MLP((64, 32, 32, 1), "tanh")
    params, log = lsuv(net, batch, rng=3, models=1, tol=0.01)
    W2 = params["W2"][0]
    # a rescaled orthogonal matrix: W W^T is a multiple of the identity
    gram = W2 @ W2.T
    np.testing.assert_allclose(gram, gram[0, 0] * np.eye(32), atol=1e-12)
    assert log.rounds.shape == (1, 3) and np.all(log.rounds >= 1)
    assert np.all(np.abs(log.variance_before - 1) > 0.01)  # orthogonal alone was not at variance 1
    assert np.all(np.abs(log.variance_after - 1) <= 0.01)


def test_model_k_is_the_same_whatever_k(batch):
    net = MLP((64, 16, 1), "relu")
    three, _ = lsuv(net, batch, rng=5, models=3)
    one, _ = lsuv(net, batch, rng=5, models=1)
    for key in one:
        np.testing.assert_allclose(three[key][:1], one[key], rtol=1e-14)


def test_a_dead_layer_is_logged_not_divided_by_zero(batch):
    net = MLP((64, 8, 1), "relu")
    with np.errstate(all="raise"):
        params, log = lsuv(net, batch, rng=0, init="zeros")
    assert log.variance_after[0, 0] == 0 and not log.converged.any() and log.rounds.sum() == 0
    assert all(np.all(np.isfinite(v)) for v in params.values())


@pytest.mark.parametrize(
    ("kwargs", "error", "pattern"),
    [
        ({"tol": 0.0}, ValueError, r"'tol'.*> 0"),
        ({"max_iter": 0}, ValueError, r"'max_iter'.*>= 1"),
        ({"models": 0}, ValueError, r"'models'.*>= 1"),
        ({"init": "orthogonl"}, ValueError, r"'init'.*'orthogonal'"),
    ],
)
def test_lsuv_rejects_bad_arguments(batch, kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        lsuv(MLP((64, 8, 1)), batch, **kwargs)
    with pytest.raises(ValueError, match=r"'X'.*layers\[0\]=3"):
        lsuv(MLP((3, 8, 1)), batch)


@pytest.mark.parametrize("rng", [5, [np.random.SeedSequence(5, spawn_key=(k,)) for k in range(3)]])
def test_mlp_initialize_lsuv_is_lsuv_exactly(batch, rng):
    net = MLP((64, 32, 16, 1), "relu")
    expected, _ = lsuv(net, batch, rng=rng, models=3 if isinstance(rng, int) else None, tol=0.05)
    got = net.initialize("lsuv", X=batch, rng=rng, models=3 if isinstance(rng, int) else None, tol=0.05)
    assert set(got) == set(expected)
    for key in expected:
        np.testing.assert_array_equal(got[key], expected[key])


def test_mlp_initialize_lsuv_layer_outputs_have_unit_variance(batch):
    """The paper's criterion |Var(Z[l]) - 1| <= Tol_var on the batch, by an independent forward pass;
    ``scale`` then multiplies every weight of that result."""
    net = MLP((64, 48, 48, 48, 1), "tanh")
    params = net.initialize("lsuv", X=batch, rng=2, models=2, tol=0.1)
    A = batch
    for l in range(1, 5):
        Z = params[f"W{l}"] @ A + params[f"b{l}"]  # (K, n_l, m)
        assert np.all(np.abs(Z.var(axis=(1, 2)) - 1) <= 0.1)
        A = np.tanh(Z)
    scaled = net.initialize("lsuv", X=batch, rng=2, models=2, tol=0.1, scale=3.0)
    np.testing.assert_array_equal(scaled["W2"], 3.0 * params["W2"])
    np.testing.assert_array_equal(scaled["b2"], params["b2"])
