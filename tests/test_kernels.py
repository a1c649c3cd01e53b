"""The compiled engine against the numpy engine: losses, parameters, divergence, threads, bad input.

The numpy engine (:func:`initlab.training.train`) is the reference. Agreement is asserted on
well-conditioned runs (learning rates where gradient descent is stable); at the edge of stability
a last-bit difference grows exponentially and the engines part ways, as numpy does with itself
after a one-ulp change of one weight (see ``initlab.kernels``' docstring).
"""

import numpy as np
import pytest

from initlab import activations, course, kernels
from initlab.network import MLP, parameter_count
from initlab.training import train

LOSS_RTOL = 1e-12  # relative, on every recorded loss
PARAM_RTOL = 1e-10  # relative to the largest magnitude of each parameter array


@pytest.fixture(scope="module")
def sectors(circles):
    """Three classes on the circles' points: the sector of the angle."""
    X = circles[0]
    labels = (np.floor((np.arctan2(X[1], X[0]) + np.pi) / (2 * np.pi / 3)).astype(int) % 3).reshape(1, -1)
    return X, labels


def assert_params_close(actual: dict, expected: dict, rtol: float = PARAM_RTOL):
    assert set(actual) == set(expected)
    for key in expected:
        assert actual[key].shape == expected[key].shape, key
        axes = (1, 2) if expected[key].ndim == 3 else None  # per model, when there is a model axis
        scale = np.max(np.abs(expected[key]), axis=axes, keepdims=True)
        difference = np.abs(actual[key] - expected[key])
        assert np.all(difference <= rtol * scale), f"{key}: {np.max(difference / scale):.2e} > {rtol:.0e} relative"


def numba_train(net, params, X, Y, **options):
    """``train`` with the compiled engine."""
    return train(net, params, X, Y, engine="numba", **options)


def both_engines(net, params, X, Y, **options):
    reference = train(net, params, X, Y, **options)
    compiled = train(net, params, X, Y, engine="numba", **options)
    return reference, compiled


def assert_engines_agree(net, params, X, Y, **options):
    reference, compiled = both_engines(net, params, X, Y, **options)
    np.testing.assert_array_equal(compiled.record_iterations, reference.record_iterations)
    np.testing.assert_allclose(compiled.loss, reference.loss, rtol=LOSS_RTOL, atol=0)
    assert_params_close(compiled.params, reference.params)
    np.testing.assert_array_equal(compiled.diverged_at, reference.diverged_at)
    return reference, compiled


# --------------------------------------------------------------------------------------------
# Agreement with the numpy engine
# --------------------------------------------------------------------------------------------
ARCHITECTURES = [((2, 10, 5, 1), 1), ((2, 8, 8, 6, 1), 3), ((2, 6, 6, 6, 6, 5, 1), 7)]  # depth 3, 4, 6; K


def _init_for(activation: str) -> str:
    return "he_normal" if activation in ("relu", "leaky_relu", "gelu") else "xavier_normal"


@pytest.mark.parametrize(("layers", "K"), ARCHITECTURES, ids=["depth3-K1", "depth4-K3", "depth6-K7"])
@pytest.mark.parametrize("activation", activations.available())
def test_every_activation_agrees_with_the_numpy_engine(circles, activation, layers, K):
    X, Y, _, _ = circles
    net = MLP(layers, activation, slope=0.1)
    params = net.initialize(_init_for(activation), rng=7, models=K)
    assert_engines_agree(net, params, X, Y, learning_rate=0.05, iterations=120, record_every=12)


@pytest.mark.parametrize("layers", [(2, 10, 5, 1), (2, 12, 10, 8, 6, 4, 1)], ids=["depth3", "depth6"])
@pytest.mark.parametrize(("activation", "init"), [("relu", "he_normal"), ("tanh", "xavier_normal")])
def test_long_runs_agree(circles, activation, init, layers):
    X, Y, _, _ = circles
    net = MLP(layers, activation)
    params = net.initialize(init, rng=3, models=3)
    reference, _ = assert_engines_agree(net, params, X, Y, learning_rate=0.01, iterations=1200, record_every=100)
    assert np.all(reference.loss[:, -1] < reference.loss[:, 0])  # it trained


@pytest.mark.parametrize(
    ("layers", "activation", "output"),
    [
        ((2, 1), "relu", "sigmoid"),
        ((2, 3), "tanh", "softmax"),
        ((1, 7, 1), "tanh", "sigmoid"),
        ((1, 13, 4, 1), "relu", "sigmoid"),
        ((2, 64, 33, 17, 1), "relu", "sigmoid"),
    ],
    ids=["no-hidden-layer", "no-hidden-softmax", "one-input", "one-input-relu", "wide-odd"],
)
def test_unusual_shapes_agree(sectors, layers, activation, output):
    X, labels = sectors
    X = X[: layers[0]]
    Y = labels if output == "softmax" else (labels > 0).astype(int)
    net = MLP(layers, activation, output)
    params = net.initialize("he_normal", rng=2, models=3)
    assert_engines_agree(net, params, X, Y, learning_rate=0.05, iterations=100, record_every=10)


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_softmax_agrees(sectors, activation):
    X, labels = sectors
    net = MLP((2, 8, 6, 3), activation, "softmax")
    params = net.initialize(_init_for(activation), rng=5, models=3)
    reference, _ = assert_engines_agree(net, params, X, labels, learning_rate=0.1, iterations=300, record_every=30)
    assert np.all(reference.loss[:, -1] < reference.loss[:, 0])


def test_per_model_learning_rates(circles):
    X, Y, _, _ = circles
    net = MLP((2, 10, 5, 1))
    params = net.initialize("he_normal", rng=11, models=3)
    lr = np.array([0.003, 0.03, 0.1])
    _, compiled = assert_engines_agree(net, params, X, Y, learning_rate=lr, iterations=400, record_every=50)
    np.testing.assert_array_equal(compiled.learning_rate, lr)
    for k in range(3):  # each model as if alone, to the bit
        alone = numba_train(net, {key: v[k : k + 1] for key, v in params.items()}, X, Y,
                                 learning_rate=lr[k], iterations=400, record_every=50)  # fmt: skip
        np.testing.assert_array_equal(alone.loss[0], compiled.loss[k])
        for key in params:
            np.testing.assert_array_equal(alone.params[key][0], compiled.params[key][k])


def test_legacy_loss_on_the_notebook_configuration(circles):
    X, Y, _, _ = circles
    net = MLP(course.NOTEBOOK_LAYERS)
    params = course.initialize_parameters_he(list(course.NOTEBOOK_LAYERS))  # the notebook's dict, no model axis
    reference, compiled = assert_engines_agree(net, params, X, Y, learning_rate=0.01, iterations=2000,
                                               record_every=100, loss="legacy")  # fmt: skip
    assert compiled.params["W1"].shape == (10, 2)  # as it came
    assert compiled.loss.shape == (1, 20)


def test_legacy_inf_loss_is_not_divergence(circles):
    X, Y, _, _ = circles
    net = MLP(course.NOTEBOOK_LAYERS)
    params = course.initialize_parameters_random(list(course.NOTEBOOK_LAYERS))  # randn * 10: saturated sigmoid
    compiled = numba_train(net, params, X, Y, iterations=100, record_every=50, loss="legacy")
    reference = train(net, params, X, Y, iterations=100, record_every=50, loss="legacy")
    assert np.isinf(compiled.loss[0, 0]) and np.isinf(reference.loss[0, 0])
    assert not compiled.diverged[0]
    np.testing.assert_allclose(compiled.loss[0, 1], reference.loss[0, 1], rtol=LOSS_RTOL)


# --------------------------------------------------------------------------------------------
# Divergence
# --------------------------------------------------------------------------------------------
def test_diverging_models_freeze_at_the_same_iteration_and_others_are_unaffected(circles):
    X, Y, _, _ = circles
    net = MLP((2, 6, 6, 6, 1), "leaky_relu")
    params = net.initialize("he_normal", rng=1, models=4)
    lr = np.array([0.01, 1e20, 0.05, 1e50])  # models 1 and 3 overflow after a few updates
    reference, compiled = assert_engines_agree(net, params, X, Y, learning_rate=lr, iterations=60, record_every=1)
    np.testing.assert_array_equal(compiled.diverged, [False, True, False, True])
    assert compiled.diverged_at[1] > 0 and compiled.diverged_at[3] > 0
    for k in (1, 3):  # nan from the iteration of divergence on (its logits were not finite)
        d = compiled.diverged_at[k]
        assert np.all(np.isfinite(compiled.loss[k, :d])) and np.all(np.isnan(compiled.loss[k, d:]))
    calm = numba_train(net, {key: v[[0, 2]] for key, v in params.items()}, X, Y,
                            learning_rate=lr[[0, 2]], iterations=60, record_every=1)  # fmt: skip
    np.testing.assert_array_equal(calm.loss, compiled.loss[[0, 2]])


def test_non_finite_logits_at_the_start_keep_the_initial_parameters(circles):
    X, Y, _, _ = circles
    net = MLP((2, 10, 5, 1))
    params = net.initialize("he_normal", rng=2, models=2)
    params["W2"][1] *= 1e200  # model 1's logits overflow at once
    params["W3"][1] *= 1e200
    reference, compiled = assert_engines_agree(net, params, X, Y, iterations=20, record_every=5)
    assert compiled.diverged_at[1] == 0 and np.all(np.isnan(compiled.loss[1]))
    for key in params:
        np.testing.assert_array_equal(compiled.params[key][1], params[key][1])


def test_a_non_finite_update_keeps_the_parameters_before_it(circles):
    X, Y, _, _ = circles
    X = X * 1e4  # large inputs: the first update of model 1 overflows, its logits were finite
    net = MLP((2, 10, 5, 1), "tanh")
    params = net.initialize("xavier_normal", rng=1, models=2)
    reference, compiled = both_engines(net, params, X, Y, learning_rate=[0.01, 1.7e308], iterations=10, record_every=1)
    np.testing.assert_array_equal(compiled.diverged_at, [-1, 0])
    np.testing.assert_array_equal(reference.diverged_at, [-1, 0])
    assert np.isfinite(compiled.loss[1, 0]) and np.all(np.isnan(compiled.loss[1, 1:]))
    np.testing.assert_allclose(compiled.loss, reference.loss, rtol=LOSS_RTOL)
    for key in params:
        np.testing.assert_array_equal(compiled.params[key][1], params[key][1])


# --------------------------------------------------------------------------------------------
# Threads, segments, the flat entry point
# --------------------------------------------------------------------------------------------
def test_results_do_not_depend_on_the_number_of_threads(circles):
    X, Y, _, _ = circles
    net = MLP((2, 10, 5, 1), "tanh")
    params = net.initialize("xavier_normal", rng=4, models=5)
    one = numba_train(net, params, X, Y, learning_rate=0.1, iterations=150, record_every=10, threads=1)
    two = numba_train(net, params, X, Y, learning_rate=0.1, iterations=150, record_every=10, threads=2)
    np.testing.assert_array_equal(one.loss, two.loss)
    for key in params:
        np.testing.assert_array_equal(one.params[key], two.params[key])


def test_segments_equal_one_call(circles):
    X, Y, _, _ = circles
    net = MLP((2, 10, 5, 1))
    K, P = 3, parameter_count(net.layers)
    params = net.initialize("he_normal", rng=6, models=K)
    theta0 = np.concatenate([np.concatenate([params[f"W{l}"].reshape(K, -1), params[f"b{l}"].reshape(K, -1)], axis=1)
                             for l in (1, 2, 3)], axis=1)  # fmt: skip
    T = Y.astype(float)
    lr = np.array([0.05, 1e200, 0.01])  # model 1 diverges in the first segment and is skipped after it
    runs = []
    for bounds in ([0, 400], [0, 130, 260, 400]):
        theta = theta0.copy()
        losses = np.full((K, 40), np.nan)
        diverged_at = np.full(K, -1, dtype=np.int64)
        for start, stop in zip(bounds[:-1], bounds[1:]):
            kernels.gd_flat(net, theta, X, T, lr, start=start, stop=stop, record_every=10, loss="stable",
                            losses=losses, diverged_at=diverged_at)  # fmt: skip
        runs.append((theta, losses, diverged_at))
    assert theta.shape == (K, P) and runs[0][2][1] >= 0
    for whole, pieces in zip(*runs):
        np.testing.assert_array_equal(whole, pieces)


def test_unsupported_network_raises_not_implemented(circles):
    X, Y, _, _ = circles
    assert all(kernels.supported(MLP((2, 3, 1), name)) is None for name in activations.available())
    assert kernels.supported(MLP((2, 3, 3), "relu", "softmax")) is None
    net = MLP((2, 3, 1))
    object.__setattr__(net, "activation", "swish")  # an activation added to the registry, not to the kernel
    with pytest.raises(NotImplementedError, match="engine='numpy'"):
        kernels.gd_flat(net, np.zeros((1, 13)), X, Y, np.ones(1), start=0, stop=1, record_every=1, loss="stable",
                        losses=np.full((1, 1), np.nan), diverged_at=np.full(1, -1))  # fmt: skip


@pytest.mark.parametrize(
    ("kwargs", "error", "pattern"),
    [
        ({"threads": 0}, ValueError, "threads"),
        ({"learning_rate": [0.1, 0.2]}, ValueError, "learning_rate"),
        ({"learning_rate": -1.0}, ValueError, "learning_rate"),
        ({"iterations": 1.5}, TypeError, "iterations"),
        ({"loss": "hinge"}, ValueError, "loss"),
    ],
)
def test_numba_train_rejects_bad_arguments(circles, kwargs, error, pattern):
    X, Y, _, _ = circles
    net = MLP((2, 3, 1))
    params = net.initialize("he_normal", rng=0, models=3)
    with pytest.raises(error, match=pattern):
        numba_train(net, params, X, Y, **{"iterations": 5, **kwargs})


def test_gd_flat_rejects_buffers_it_would_overrun(circles):
    X, Y, _, _ = circles
    net = MLP((2, 3, 1))
    good = dict(start=0, stop=10, record_every=5, loss="stable")
    theta = np.zeros((2, 13))
    with pytest.raises(ValueError, match="losses"):  # 2 records needed
        kernels.gd_flat(net, theta, X, Y, np.ones(2), losses=np.zeros((2, 1)), diverged_at=np.full(2, -1), **good)
    with pytest.raises(ValueError, match="theta"):  # not contiguous: the result would be lost
        kernels.gd_flat(
            net, np.zeros((13, 2)).T, X, Y, np.ones(2), losses=np.zeros((2, 2)), diverged_at=np.full(2, -1), **good
        )
    with pytest.raises(ValueError, match="diverged_at"):
        kernels.gd_flat(net, theta, X, Y, np.ones(2), losses=np.zeros((2, 2)), diverged_at=np.full(2, -1.0), **good)


# --------------------------------------------------------------------------------------------
# The kernel's own elementary functions
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "reference", "max_ulps"), [("_exp", np.exp, 1), ("_expm1", np.expm1, 4), ("_tanh", np.tanh, 2)]
)
def test_elementary_functions_match_numpy(name, reference, max_ulps):
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.standard_normal(300) * scale for scale in (1e-300, 1e-8, 0.1, 0.6, 3, 30, 300)])
    special = np.array([0.0, -0.0, 0.5, -0.5, 0.625, -0.625, 709.7, -708.5, -745.2, -746.0, np.inf, -np.inf, np.nan])
    x = np.concatenate([x[np.abs(x) < 709], special])
    f = getattr(kernels, name)
    got = np.array([f(v) for v in x])
    with np.errstate(over="ignore"):
        want = reference(x)
    regular = np.isfinite(want) & (want != 0)
    ulps = np.abs(got[regular] - want[regular]) / np.spacing(np.abs(want[regular]))
    assert ulps.max() <= max_ulps
    np.testing.assert_array_equal(got[~regular], want[~regular])  # 0, inf, nan (and signs) exactly


def test_pairwise_sum_is_numpys():
    rng = np.random.default_rng(1)
    for n in (1, 7, 8, 91, 128, 129, 300, 1000):
        x = rng.standard_normal((2, n)) * 10.0 ** rng.integers(-8, 8, (2, n))
        assert kernels._pairwise_sum(x.reshape(-1), n, n) == x.sum(axis=1)[1]


def test_logits_past_the_divergence_line_diverge_alike_in_both_engines(circles):
    """lr 1e300: the first update makes logits of ~1e299, finite but no loss; both engines freeze there."""
    X, Y, _, _ = circles
    net = MLP((2, 10, 5, 1))
    params = net.initialize("he_normal", rng=4, models=3)
    lr = np.array([0.01, 1e300, 1e120])
    reference, compiled = assert_engines_agree(net, params, X, Y, learning_rate=lr, iterations=20, record_every=1)
    np.testing.assert_array_equal(compiled.diverged, [False, True, True])
    assert compiled.diverged_at[1] == 1 and np.isfinite(compiled.loss[1, 0]) and np.isnan(compiled.loss[1, 1])
