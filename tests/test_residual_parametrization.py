"""Parametrizations of residual nets: the groups get the rows of TP5's table written out here, muP at its base
width trains exactly as standard, and the refusals."""

from __future__ import annotations

import numpy as np
import pytest

from initlab import datasets, optimizers
from initlab.residual import ResidualMLP
from initlab.training import train


def _factors_by_group(net, values):
    V = net.views(values[np.newaxis])
    return {name: np.unique(v) for name, v in V.items()}


def test_mup_rows_follow_the_table_per_group():
    # width 64 over base 16: mu = 4. Table 3/8 (MuSGD/MuAdam/MuReadout), written out here:
    # input weights and every vector-like parameter (one width dimension): SGD x mu, Adam x 1;
    # hidden (branch) weights: SGD x mu_out/mu_in = 1, Adam x 1/mu; readout: effective W = w/mu with
    # Var(w) x mu, so SGD x (1/mu^2) mu = 1/mu, Adam x 1/mu, epsilon x mu; scalars (alpha, Fixup's biases) x 1.
    mu = 4.0
    net = ResidualMLP(2, 64, 1, 3, norm="layer", scalars="fixup", parametrization="mup", base_width=16)
    sgd = _factors_by_group(net, net.learning_rate_factors("momentum"))
    adam = _factors_by_group(net, net.learning_rate_factors(optimizers.get("adam")))
    eps = _factors_by_group(net, net.epsilon_factors())
    expected_sgd = {"W_in": mu, "b_in": mu, "ln_gain": mu, "ln_bias": mu, "W_branch": 1.0, "alpha": 1.0,
                    "scalar_bias": 1.0, "W_out": 1 / mu, "b_out": 1.0}  # fmt: skip
    expected_adam = {"W_in": 1.0, "b_in": 1.0, "ln_gain": 1.0, "ln_bias": 1.0, "W_branch": 1 / mu, "alpha": 1.0,
                     "scalar_bias": 1.0, "W_out": 1 / mu, "b_out": 1.0}  # fmt: skip
    assert set(sgd) == set(expected_sgd)
    for name in expected_sgd:
        assert sgd[name].tolist() == [expected_sgd[name]], name
        assert adam[name].tolist() == [expected_adam[name]], name
        assert eps[name].tolist() == [mu if name == "W_out" else 1.0], name


def test_mup_and_ntk_initial_scales():
    std = ResidualMLP(2, 64, 1, 2).initialize("he_normal", rng=3, models=2)
    mup = ResidualMLP(2, 64, 1, 2, parametrization="mup", base_width=16).initialize("he_normal", rng=3, models=2)
    np.testing.assert_array_equal(mup["W_in"], std["W_in"])
    np.testing.assert_array_equal(mup["W_branch"], std["W_branch"])
    np.testing.assert_allclose(mup["W_out"], std["W_out"] / 2.0, rtol=0, atol=0)  # 1/sqrt(mu), mu = 4
    ntk = ResidualMLP(2, 64, 1, 2, parametrization="ntk")
    np.testing.assert_array_equal(ntk.initialize("he_normal", rng=3, models=2)["W_branch"], std["W_branch"])
    lr = _factors_by_group(ntk, ntk.learning_rate_factors("gd"))
    assert lr["W_branch"].tolist() == [1 / 64] and lr["W_in"].tolist() == [1 / 2] and lr["b_in"].tolist() == [1.0]


@pytest.mark.parametrize("opt", ["sgd", "adam"])
def test_mup_at_its_base_width_trains_exactly_as_standard(opt):
    data = datasets.load("circles")
    kwargs = dict(norm="layer", scalars="alpha")
    std = ResidualMLP(2, 12, 1, 3, **kwargs)
    mup = ResidualMLP(2, 12, 1, 3, **kwargs, parametrization="mup", base_width=12)
    runs = []
    for net in (std, mup):
        params = net.initialize("rezero", rng=1, models=3)
        runs.append(train(net, params, data.X_train, data.Y_train, learning_rate=0.01, iterations=40, record_every=10,
                          optimizer=optimizers.get(opt), batch_size=64, rng=2))  # fmt: skip
    np.testing.assert_array_equal(runs[0].loss, runs[1].loss)
    for name in runs[0].params:
        np.testing.assert_array_equal(runs[0].params[name], runs[1].params[name])


def test_wider_mup_net_trains_and_differs_from_standard():
    data = datasets.load("circles")
    runs = []
    for p, base in (("standard", None), ("mup", 8)):
        net = ResidualMLP(2, 32, 1, 2, parametrization=p, base_width=base)
        runs.append(train(net, net.initialize("he_normal", rng=0, models=2), data.X_train, data.Y_train,
                          learning_rate=0.05, iterations=20, record_every=5))  # fmt: skip
    assert np.isfinite(runs[1].loss).all() and not np.array_equal(runs[0].loss, runs[1].loss)


def test_refusals():
    with pytest.raises(ValueError, match="base_width"):
        ResidualMLP(2, 16, 1, 2, base_width=8)
    with pytest.raises(ValueError, match="parametrization"):
        ResidualMLP(2, 16, 1, 2, parametrization="nope")
    net = ResidualMLP(2, 16, 1, 2, parametrization="mup", base_width=8)
    with pytest.raises(ValueError, match="gain\\^2/fan_in"):
        net.initialize("xavier_normal", rng=0)
    with pytest.raises(ValueError, match="lsuv"):
        net.initialize("lsuv", rng=0, X=np.ones((2, 5)))
    fixup = ResidualMLP(2, 16, 1, 2, scalars="fixup", parametrization="mup", base_width=8)
    assert np.all(fixup.initialize("fixup", rng=0)["W_out"] == 0)  # the structure still applies
    with pytest.raises(ValueError, match="gain\\^2/fan_in"):
        fixup.initialize("fixup", rng=0, layer_init="orthogonal")
    data = datasets.load("circles")  # the compiled engine trains muP residual nets (test_kernels_residual_optimizers)
    assert train(net, net.initialize("he_normal", rng=0), data.X_train, data.Y_train, iterations=2,
                 engine="numba").iterations == 2  # fmt: skip
