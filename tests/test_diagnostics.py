"""Diagnostics: symmetry counts, dead and saturated units on hand-made nets, statistics against a direct computation."""

import numpy as np
import pytest

from initlab import course, diagnostics
from initlab.network import MLP
from initlab.training import train

NOTEBOOK = MLP(course.NOTEBOOK_LAYERS)


@pytest.fixture(scope="module")
def circles():
    return course.load_dataset()


def test_zeros_init_keeps_one_unit_per_layer_through_training(circles):
    X, Y, _, _ = circles
    params = NOTEBOOK.initialize("zeros", models=2)
    history = train(NOTEBOOK, params, X, Y, iterations=2000, diagnostics=500)
    np.testing.assert_array_equal(history.diagnostics_iterations, [0, 500, 1000, 1500, 2000])
    for stats in history.diagnostics:
        np.testing.assert_array_equal(stats.distinct_units, 1)
    assert diagnostics.measure(NOTEBOOK, history.params, X, Y).distinct_units.max() == 1


def test_constant_init_stays_symmetric_although_the_weights_move(circles):
    X, Y, _, _ = circles
    params = NOTEBOOK.initialize("constant", value=0.3, rng=0)
    history = train(NOTEBOOK, params, X, Y, learning_rate=0.1, iterations=300)
    assert not np.allclose(history.params["W1"], 0.3)
    np.testing.assert_array_equal(diagnostics.measure(NOTEBOOK, history.params, X, Y).distinct_units, [[1, 1, 1]])


def test_he_init_has_every_unit_distinct(circles):
    X, Y, _, _ = circles
    params = NOTEBOOK.initialize("he_normal", rng=0, models=3)
    stats = diagnostics.measure(NOTEBOOK, params, X, Y)
    np.testing.assert_array_equal(stats.distinct_units, [[10, 5, 1]] * 3)
    np.testing.assert_array_equal(stats.units, [10, 5, 1])


def test_copied_rows_are_counted_once():
    W = np.random.default_rng(0).normal(size=(2, 6, 3))
    b = np.zeros((2, 6, 1))
    W[0, 4] = W[0, 1]
    W[0, 5] = W[0, 1] * (1 + 1e-12)  # within tolerance
    W[1, 2] = W[1, 0] + 1e-3  # a real difference
    np.testing.assert_array_equal(diagnostics.distinct_units(W, b), [4, 6])
    b[0, 5] = 1.0  # same weights, other bias: another unit
    np.testing.assert_array_equal(diagnostics.distinct_units(W, b), [5, 6])


def test_dead_fraction_on_a_hand_made_layer():
    net = MLP((2, 4, 1))
    X = np.array([[1.0, -2.0, 3.0, 0.5], [0.0, 1.0, -1.0, 2.0]])
    params = {
        "W1": np.array([[[0.0, 0.0], [1.0, 1.0], [0.0, 0.0], [1.0, 0.0]]]),
        "b1": np.array([[[-1.0], [10.0], [0.0], [0.0]]]),  # unit 0: z = -1; unit 2: z = 0 on every example
        "W2": np.ones((1, 1, 4)),
        "b2": np.zeros((1, 1, 1)),
    }
    stats = diagnostics.measure(net, params, X)
    assert stats.dead_fraction[0, 0] == 0.5  # units 0 and 2 output 0 everywhere; unit 3 only sometimes
    assert np.isnan(stats.dead_fraction[0, 1])  # sigmoid output: no dead units
    assert np.isnan(stats.grad_W_norm).all()  # no labels, no gradients


def test_saturated_fraction_on_a_hand_made_tanh_layer():
    net = MLP((1, 3, 1), "tanh")
    X = np.linspace(-1, 1, 20)[np.newaxis] + 2.0  # in [1, 3]
    params = {
        "W1": np.array([[[100.0], [0.01], [1.0]]]),  # unit 0 saturated everywhere, unit 1 never, unit 2 from x > 2.65
        "b1": np.zeros((1, 3, 1)),
        "W2": np.array([[[1.0, 1.0, 1.0]]]) * 100,
        "b2": np.zeros((1, 1, 1)),
    }
    stats = diagnostics.measure(net, params, X, np.ones((1, 20)))
    assert stats.saturated_fraction[0, 0] == pytest.approx(1 / 3)
    assert stats.saturated_fraction[0, 1] == 1.0  # the sigmoid output is 1 on every example
    assert np.isnan(stats.dead_fraction[0, 0])


def test_statistics_equal_a_direct_computation():
    net = MLP((3, 5, 4, 2), "selu", "softmax")
    params = net.initialize("lecun_normal", rng=1, models=2, bias_init=0.1)
    X = np.random.default_rng(2).normal(size=(3, 40))
    Y = np.arange(40) % 2
    stats = diagnostics.measure(net, params, X, Y)
    _, record = net.forward(params, X, record=True)
    _, grads = net.loss_and_grads(params, X, Y)
    for l in range(3):
        np.testing.assert_allclose(stats.z_mean[:, l], record.Z[l].mean(axis=(1, 2)))
        np.testing.assert_allclose(stats.a_std[:, l], record.A[l].std(axis=(1, 2)))
        np.testing.assert_allclose(stats.grad_W_norm[:, l], np.linalg.norm(grads[f"dW{l + 1}"], axis=(1, 2)))
        np.testing.assert_allclose(stats.grad_b_norm[:, l], np.linalg.norm(grads[f"db{l + 1}"][..., 0], axis=1))
    assert np.isnan(stats.saturated_fraction).all() and np.isnan(stats.dead_fraction).all()  # selu, softmax
    assert stats.z_std.shape == (2, 3)


def test_measure_accepts_the_notebook_dict_and_checks_its_input(circles):
    X, Y, _, _ = circles
    stats = diagnostics.measure(NOTEBOOK, course.initialize_parameters_he([2, 10, 5, 1]), X, Y)
    assert stats.z_mean.shape == (1, 3)
    with pytest.raises(ValueError, match="'tol'"):
        diagnostics.measure(NOTEBOOK, course.initialize_parameters_he([2, 10, 5, 1]), X, Y, tol=-1)
    with pytest.raises(ValueError, match="'X'"):
        diagnostics.measure(NOTEBOOK, course.initialize_parameters_he([2, 10, 5, 1]), X.T, Y)
