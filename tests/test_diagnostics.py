"""Diagnostics: symmetry counts, dead and saturated units on hand-made nets, statistics against a direct computation."""

import numpy as np
import pytest

from initlab import course, diagnostics
from initlab.network import MLP
from initlab.training import train

NOTEBOOK = MLP(course.NOTEBOOK_LAYERS)


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


@pytest.mark.parametrize("activation", ["tanh", "sigmoid"])
def test_layer_jacobians_match_central_differences(activation):
    """Each hidden layer's J = dA[l]/dA[l-1] at one example, and their product dA[L-1]/dx, by central differences."""
    net = MLP((3, 6, 5, 4, 2), activation, "softmax")
    params = net.initialize("xavier_normal", rng=4, models=2, bias_init=0.2)
    X = np.random.default_rng(5).normal(size=(3, 7))
    i, h = 4, 1e-6
    Js = diagnostics.layer_jacobians(net, params, X, example=i)
    assert [J.shape for J in Js] == [(2, 6, 3), (2, 5, 6), (2, 4, 5)]
    _, record = net.forward(params, X, record=True)
    g = {"tanh": np.tanh, "sigmoid": lambda z: 1 / (1 + np.exp(-z))}[activation]
    for k in range(2):
        for l, J in enumerate(Js, start=1):
            W, b = params[f"W{l}"][k], params[f"b{l}"][k][:, 0]
            a = X[:, i] if l == 1 else record.A[l - 2][k][:, i]  # the layer's input at example i
            numeric = np.column_stack(
                [(g(W @ (a + h * e) + b) - g(W @ (a - h * e) + b)) / (2 * h) for e in np.eye(a.size)]
            )
            np.testing.assert_allclose(J[k], numeric, rtol=1e-6, atol=1e-9)
        # the chain: the product of the layer Jacobians is d(last hidden layer)/dx through the whole network
        product = Js[2][k] @ Js[1][k] @ Js[0][k]

        def last_hidden(x, k=k):
            _, rec = net.forward({key: v[k : k + 1] for key, v in params.items()}, x[:, None], record=True)
            return rec.A[-2][0][:, 0]

        numeric = np.column_stack(
            [(last_hidden(X[:, i] + h * e) - last_hidden(X[:, i] - h * e)) / (2 * h) for e in np.eye(3)]
        )
        np.testing.assert_allclose(product, numeric, rtol=1e-6, atol=1e-9)


def test_mean_singular_value_against_the_svd_and_closed_forms():
    rng = np.random.default_rng(0)
    for shape in ((4, 7, 5), (3, 5, 9), (6, 6)):
        J = rng.normal(size=shape)
        np.testing.assert_allclose(
            diagnostics.mean_singular_value(J), np.linalg.svd(J, compute_uv=False).mean(axis=-1), rtol=1e-10
        )
    Q, _ = np.linalg.qr(rng.normal(size=(50, 50)))
    assert diagnostics.mean_singular_value(0.7 * Q) == pytest.approx(0.7, rel=1e-10)
    n = 600  # the quarter-circle law: 8 / (3 pi) for entries of variance 1/n, up to O(1/n)
    assert diagnostics.mean_singular_value(rng.normal(size=(n, n)) / np.sqrt(n)) == pytest.approx(
        8 / (3 * np.pi), abs=0.005
    )


def test_layer_jacobians_check_the_example():
    net = MLP((3, 4, 1), "tanh")
    params = net.initialize("xavier_normal", rng=0)
    X = np.zeros((3, 5))
    with pytest.raises(ValueError, match="'example' parameter must be <= 4"):
        diagnostics.layer_jacobians(net, params, X, example=5)
    assert diagnostics.layer_jacobians(net, params, X)[0].shape == (1, 4, 3)


def _distinct_units_pairwise(W, b, tol=1e-8):
    """The definition, row by row against every earlier row (quadratic): the reference for the fast count."""
    out = []
    for Rk in np.concatenate([W, b], axis=2):
        finite = np.isfinite(Rk)
        threshold = tol * (np.max(np.abs(Rk[finite])) if finite.any() else 0.0)
        count = 0
        for i in range(len(Rk)):
            with np.errstate(invalid="ignore"):
                copy = any(np.max(np.abs(Rk[i] - Rk[j])) <= threshold for j in range(i))
            count += not copy
        out.append(count)
    return np.array(out)


@pytest.mark.parametrize("seed", range(6))
def test_distinct_units_equals_the_pairwise_definition(seed):
    rng = np.random.default_rng(seed)
    K, n, d = 3, 40, 4
    W = np.round(rng.normal(size=(K, n, d)), 1)  # coarse values: many exact and near copies
    b = np.zeros((K, n, 1))
    W[:, 5] = W[:, 2] + 1e-12  # a near copy (within tol * max), not an exact one
    W[:, 7] = W[:, 3] + 1e-3  # close, but outside the tolerance
    W[0, 9, 0] = np.nan  # non-finite rows count, and match nothing
    W[1, 11:20] = W[1, 10]  # a block of exact copies
    W[2] = 0.0  # all the same (zeros init)
    W[2, 4, 1] = np.inf
    np.testing.assert_array_equal(diagnostics.distinct_units(W, b), _distinct_units_pairwise(W, b))


@pytest.mark.parametrize("seed", range(4))
def test_distinct_units_settles_random_draws_at_once_and_the_rest_by_definition(seed):
    """Random draws (all rows apart: the all-K fast path) next to models that are not: the same as the definition."""
    rng = np.random.default_rng(seed)
    K, n, d = 5, 30, 3
    W, b = rng.normal(size=(K, n, d)), rng.normal(size=(K, n, 1)) * 0.1
    W[1, 3] = W[1, 0]  # an exact copy
    b[1, 3] = b[1, 0]
    W[2, 8] = W[2, 1] + 1e-13  # a near copy
    b[2, 8] = b[2, 1]
    spread = np.argmax(W[3].max(axis=0) - W[3].min(axis=0))
    W[3, 4, spread] = W[3, 2, spread]  # equal in the most spread-out column only: still distinct rows
    W[4, 6, 0] = np.inf
    expected = _distinct_units_pairwise(W, b)
    assert expected[0] == n and expected[3] == n and expected[1] == expected[2] == n - 1
    np.testing.assert_array_equal(diagnostics.distinct_units(W, b), expected)
