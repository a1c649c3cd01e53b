"""The MLP engine: gradients by central differences, the model axis, the notebook's numbers, bad input."""

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from initlab import activations, course
from initlab.network import (
    MLP,
    add_model_axis,
    forward_pass,
    layer_views,
    loss_from_output,
    parameter_count,
    remove_model_axis,
)

HIDDEN = activations.available()
KINKED = {"relu", "leaky_relu", "selu"}  # derivative jumps at z = 0


# --------------------------------------------------------------------------------------------
# Gradient checks
# --------------------------------------------------------------------------------------------
def engine_loss(net, params, X, T, loss="stable"):
    """Loss (K,) by the engine's forward pass on validated inputs (fast: no checks per call)."""
    L = net.n_layers
    Ws = [params[f"W{l}"] for l in range(1, L + 1)]
    bs = [params[f"b{l}"] for l in range(1, L + 1)]
    Zs, As = forward_pass(Ws, bs, X, net.hidden.forward, net.output_function)
    return loss_from_output(loss, net.output, Zs[-1], As[-1], T)


def numerical_grads(net, params, X, Y, loss="stable", h=1e-6):
    """Central differences, one parameter entry at a time, in all K models at once (they are independent)."""
    _, T = net.check_data(X, Y)
    grads = {}
    for key, value in params.items():
        g = np.zeros_like(value)
        for idx in np.ndindex(value.shape[1:]):
            at = (slice(None), *idx)
            original = value[at].copy()
            value[at] = original + h
            plus = engine_loss(net, params, X, T, loss)
            value[at] = original - h
            minus = engine_loss(net, params, X, T, loss)
            value[at] = original
            g[at] = (plus - minus) / (2 * h)
        grads["d" + key] = g
    return grads


def relative_error(a: dict, b: dict) -> np.ndarray:
    """||a - b|| / (||a|| + ||b||) over all parameters, per model: (K,)."""
    diff = sum(((a[k] - b[k]) ** 2).sum(axis=(1, 2)) for k in a)
    size = sum((a[k] ** 2).sum(axis=(1, 2)) for k in a) ** 0.5 + sum((b[k] ** 2).sum(axis=(1, 2)) for k in b) ** 0.5
    return np.sqrt(diff) / size


def moderate_bias(shape, *, rng):
    return rng.normal(0.0, 0.3, shape)


@pytest.mark.parametrize("K", [1, 3])
@pytest.mark.parametrize("depth", [1, 2, 3, 4])
@pytest.mark.parametrize("output", ["sigmoid", "softmax"])
@pytest.mark.parametrize("activation", HIDDEN)
@settings(max_examples=8, deadline=None, derandomize=True)
@given(
    n0=st.integers(1, 4),
    widths=st.lists(st.integers(1, 6), min_size=3, max_size=3),
    classes=st.integers(2, 4),
    m=st.integers(1, 12),
    seed=st.integers(0, 2**32 - 1),
)
def test_gradients_match_central_differences(activation, output, depth, K, n0, widths, classes, m, seed):
    n_out = 1 if output == "sigmoid" else classes
    net = MLP((n0, *widths[: depth - 1], n_out), activation, output, slope=0.1)
    rng = np.random.default_rng(seed)
    params = net.initialize("xavier_normal", rng=rng, models=K, bias_init=moderate_bias, gain=1.5)
    X = rng.normal(0.0, 1.0, (n0, m))
    Y = rng.integers(0, n_out if output == "softmax" else 2, (1, m))
    if activation in KINKED and depth > 1:
        # a perturbation of h moves Z by ~h|A|: keep the kink out of reach of the central differences
        _, record = net.forward(params, X, record=True)
        assume(min(np.min(np.abs(Z)) for Z in record.Z[:-1]) > 1e-3)
    loss, grads = net.loss_and_grads(params, X, Y)
    assert loss.shape == (K,) and np.all(np.isfinite(loss))
    assert all(grads["d" + k].shape == v.shape for k, v in params.items())
    err = relative_error(grads, numerical_grads(net, params, X, Y))
    assert np.all(err < 1e-6), err


def test_legacy_loss_has_the_same_gradient():
    net = MLP((2, 5, 1), "tanh")
    params = net.initialize("he_normal", rng=4, models=2)
    X = np.random.default_rng(5).normal(size=(2, 9))
    Y = (X[0:1] > 0).astype(int)
    loss_s, grads = net.loss_and_grads(params, X, Y, loss="stable")
    loss_l, grads_l = net.loss_and_grads(params, X, Y, loss="legacy")
    np.testing.assert_allclose(loss_l, loss_s, rtol=1e-12)
    for key in grads:
        np.testing.assert_array_equal(grads[key], grads_l[key])
    assert np.all(relative_error(grads, numerical_grads(net, params, X, Y, loss="legacy")) < 1e-6)


# --------------------------------------------------------------------------------------------
# The notebook
# --------------------------------------------------------------------------------------------


def test_notebook_dict_gives_the_notebooks_loss_and_gradients(circles):
    X, Y, _, _ = circles
    net = MLP(course.NOTEBOOK_LAYERS)
    params = course.initialize_parameters_he(list(course.NOTEBOOK_LAYERS))
    loss, grads = net.loss_and_grads(params, X, Y, loss="legacy")
    a3, cache = course.forward_propagation(X, params)
    assert isinstance(loss, float)
    assert loss == pytest.approx(course.compute_loss(a3, Y), rel=1e-14)
    expected = course.backward_propagation(X, Y, cache)
    assert set(grads) == {"dW1", "db1", "dW2", "db2", "dW3", "db3"}
    for key, value in grads.items():
        assert value.shape == params[key[1:]].shape  # returned without the model axis, as it came
        np.testing.assert_allclose(value, expected[key], rtol=1e-12, atol=1e-17)
    np.testing.assert_allclose(net.predict_proba(params, X), a3, rtol=1e-14)
    np.testing.assert_array_equal(net.predict(params, X), course.predict_dec(params, X).astype(int))


def test_model_axis_helpers_round_trip():
    params = course.initialize_parameters_he([2, 3, 1])
    with_axis = add_model_axis(params)
    assert with_axis["W1"].shape == (1, 3, 2)
    back = remove_model_axis(with_axis)
    assert all(np.array_equal(back[k], params[k]) for k in params)
    with pytest.raises(ValueError, match="length 1"):
        remove_model_axis({"W1": np.zeros((2, 3, 2))})


def test_k_models_at_once_equal_each_model_alone():
    net = MLP((3, 6, 4, 2), "gelu", "softmax")
    params = net.initialize("he_uniform", rng=7, models=4)
    X = np.random.default_rng(8).normal(size=(3, 20))
    Y = np.arange(20) % 2
    loss, grads = net.loss_and_grads(params, X, Y)
    for k in range(4):
        alone = {key: value[k] for key, value in params.items()}
        loss_k, grads_k = net.loss_and_grads(alone, X, Y)
        assert loss_k == pytest.approx(loss[k], rel=1e-13)
        for key in grads:
            np.testing.assert_allclose(grads_k[key], grads[key][k], rtol=1e-12, atol=1e-16)


# --------------------------------------------------------------------------------------------
# Initialization
# --------------------------------------------------------------------------------------------
def test_initialize_shapes_and_model_k_is_the_same_whatever_K():
    net = MLP((4, 7, 3, 1))
    p5 = net.initialize("he_normal", rng=11, models=5)
    assert {k: v.shape for k, v in p5.items()} == {
        "W1": (5, 7, 4), "b1": (5, 7, 1), "W2": (5, 3, 7), "b2": (5, 3, 1), "W3": (5, 1, 3), "b3": (5, 1, 1),
    }  # fmt: skip
    for K in (1, 2, 3):
        pK = net.initialize("he_normal", rng=11, models=K)
        for key in p5:
            np.testing.assert_array_equal(pK[key], p5[key][:K])
    assert not np.array_equal(p5["W1"][0], p5["W1"][1])  # each model its own stream
    assert np.all(p5["b1"] == 0)
    # model k is the k-th spawned stream of the seed
    stream = np.random.default_rng(np.random.SeedSequence(11).spawn(5)[3])
    expected_W1 = stream.standard_normal((7, 4)) * np.sqrt(2 / 4)
    np.testing.assert_allclose(p5["W1"][3], expected_W1, rtol=1e-15)


def test_initialize_with_one_stream_per_model_draws_any_slice_of_the_models():
    net = MLP((4, 7, 3, 1))
    p5 = net.initialize("he_normal", rng=11, models=5)
    chunk = net.initialize("he_normal", rng=[np.random.SeedSequence(11, spawn_key=(k,)) for k in (2, 3, 4)])
    for key in p5:
        np.testing.assert_array_equal(chunk[key], p5[key][2:5])
    with pytest.raises(ValueError, match=r"one stream per model \(models=2\)\. Got 3 streams"):
        net.initialize("he_normal", rng=[0, 1, 2], models=2)
    with pytest.raises(ValueError, match="Got 0 streams"):
        net.initialize("he_normal", rng=[])


def test_initialize_options_callable_bias_and_scale():
    net = MLP((50, 40, 1))
    fan_out = net.initialize("he_normal", rng=0, mode="fan_out")
    fan_in = net.initialize("he_normal", rng=0)
    np.testing.assert_allclose(fan_out["W1"] * np.sqrt(2 / 40) ** -1, fan_in["W1"] * np.sqrt(2 / 50) ** -1, rtol=1e-12)
    scaled = net.initialize("he_normal", rng=0, scale=0.5, bias_init=0.1)
    np.testing.assert_array_equal(scaled["W1"], 0.5 * fan_in["W1"])
    assert np.all(scaled["b1"] == 0.1)
    seen = []

    def ones(shape, *, rng):
        seen.append(shape)
        return np.ones(shape)

    custom = net.initialize(ones, models=2)
    assert np.all(custom["W1"] == 1) and seen == [(40, 50), (1, 40)] * 2
    with pytest.raises(TypeError, match="callable"):
        net.initialize(ones, mode="fan_out")


@pytest.mark.parametrize(
    ("kwargs", "error", "pattern"),
    [
        ({"init": "he_nromal"}, ValueError, r"'init'.*'he_normal'.*Got 'he_nromal'"),
        ({"models": 0}, ValueError, r"'models'.*>= 1"),
        ({"models": 2.5}, TypeError, r"'models'"),
        ({"bias_init": [1, 2]}, TypeError, r"'bias_init'"),
        ({"init": lambda shape, *, rng: np.zeros(3)}, ValueError, r"'init'.*shape"),
        ({"scale": float("inf")}, ValueError, r"'scale'"),
    ],
)
def test_initialize_rejects_bad_arguments(kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        MLP((2, 3, 1)).initialize(**kwargs)


# --------------------------------------------------------------------------------------------
# Forward record, predictions, softmax
# --------------------------------------------------------------------------------------------
def test_forward_record_holds_every_layer():
    net = MLP((2, 4, 3, 1), "tanh")
    params = net.initialize("xavier_uniform", rng=1, models=2)
    X = np.random.default_rng(2).normal(size=(2, 5))
    out, rec = net.forward(params, X, record=True)
    assert [z.shape for z in rec.Z] == [(2, 4, 5), (2, 3, 5), (2, 1, 5)]
    np.testing.assert_array_equal(rec.A[0], np.tanh(rec.Z[0]))
    np.testing.assert_allclose(rec.Z[1], params["W2"] @ rec.A[0] + params["b2"], rtol=1e-14)
    np.testing.assert_array_equal(out, rec.A[-1])
    np.testing.assert_array_equal(net.predict(params, X), (out > 0.5).astype(int))


def test_softmax_predictions_are_the_argmax_and_probabilities_sum_to_one():
    net = MLP((2, 5, 3), "relu", "softmax")
    params = net.initialize("he_normal", rng=3, models=2)
    X = np.random.default_rng(4).normal(size=(2, 8))
    proba = net.predict_proba(params, X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(net.predict(params, X), proba.argmax(axis=1)[:, None, :])


def test_parameter_views_share_one_flat_row_per_model():
    layers = (3, 4, 1)
    flat = np.arange(2 * parameter_count(layers), dtype=float).reshape(2, -1)
    Ws, bs = layer_views(flat, layers)
    assert parameter_count(layers) == 4 * 4 + 1 * 5
    assert Ws[0].shape == (2, 4, 3) and bs[1].shape == (2, 1, 1)
    Ws[1][1, 0, 2] = -1.0
    assert flat[1, 16 + 2] == -1.0


# --------------------------------------------------------------------------------------------
# Bad input: every message names the parameter
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "kwargs", "error", "pattern"),
    [
        (((2,),), {}, ValueError, r"'layers'.*at least 2"),
        (((2, 0, 1),), {}, ValueError, r"'layers'.*>= 1"),
        (((2, -3, 1),), {}, ValueError, r"'layers'.*>= 1"),
        (((2, 2.5, 1),), {}, TypeError, r"'layers'.*integers"),
        ((5,), {}, TypeError, r"'layers'"),
        (((2, 3, 1), "rleu"), {}, ValueError, r"'activation'.*'relu'.*'tanh'.*Got 'rleu'"),
        (((2, 3, 1), "relu", "softmx"), {}, ValueError, r"'output'.*'sigmoid'.*'softmax'"),
        (((2, 3, 2), "relu", "sigmoid"), {}, ValueError, r"'layers'.*1 unit.*sigmoid"),
        (((2, 3, 1), "relu", "softmax"), {}, ValueError, r"'layers'.*at least 2 units.*softmax"),
        (((2, 3, 1), "leaky_relu"), {"slope": float("nan")}, ValueError, r"'slope'"),
    ],
)
def test_mlp_rejects_bad_specifications(args, kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        MLP(*args, **kwargs)


def test_mlp_is_frozen():
    net = MLP([2, 3, 1])
    assert net.layers == (2, 3, 1)
    with pytest.raises(AttributeError):
        net.activation = "tanh"


@pytest.fixture
def small():
    net = MLP((2, 3, 1))
    return net, net.initialize("he_normal", rng=0, models=2), np.zeros((2, 4)), np.array([[0, 1, 1, 0]])


@pytest.mark.parametrize(
    ("change", "error", "pattern"),
    [
        ({"X": np.zeros((4, 2))}, ValueError, r"'X'.*layers\[0\]=2 rows.*Pass X\.T"),
        ({"X": np.zeros((3, 4))}, ValueError, r"'X'.*layers\[0\]=2 rows"),
        ({"X": np.zeros(4)}, ValueError, r"'X'.*2-D"),
        ({"X": np.array([[0.0, np.nan, 0, 0], [0, 0, np.inf, 0]])}, ValueError, r"'X'.*2 NaN or infinite"),
        ({"Y": np.array([[0, 1, 1]])}, ValueError, r"'Y'.*shape \(1, 4\) or \(4,\)"),
        ({"Y": np.array([[0, 1, 2, 0]])}, ValueError, r"'Y'.*0/1"),
        ({"loss": "stabel"}, ValueError, r"'loss'.*'stable'.*'legacy'"),
        ({"params": {"W1": np.zeros((2, 3, 2))}}, ValueError, r"'params'.*keys"),
        ({"params": "he"}, TypeError, r"'params'"),
    ],
)
def test_loss_and_grads_rejects_bad_input(small, change, error, pattern):
    net, params, X, Y = small
    args = {"params": params, "X": X, "Y": Y, "loss": "stable", **change}
    with pytest.raises(error, match=pattern):
        net.loss_and_grads(args["params"], args["X"], args["Y"], loss=args["loss"])


def test_parameter_shapes_are_checked_against_the_layers(small):
    net, params, X, Y = small
    bad = dict(params, W2=np.zeros((2, 1, 4)))
    with pytest.raises(ValueError, match=r"'params\['W2'\]'.*shape \(2, 1, 3\).*Got shape \(2, 1, 4\)"):
        net.loss_and_grads(bad, X, Y)
    mixed = dict(params, b1=np.zeros((3, 3, 1)))  # K=3 for b1, K=2 elsewhere
    with pytest.raises(ValueError, match=r"'params\['b1'\]'"):
        net.loss_and_grads(mixed, X, Y)
    with pytest.raises(ValueError, match=r"'params\['W1'\]'.*NaN"):
        net.loss_and_grads(dict(params, W1=np.full((2, 3, 2), np.nan)), X, Y)


def test_softmax_labels_are_checked():
    net = MLP((2, 3, 3), output="softmax")
    params = net.initialize(rng=0)
    X = np.zeros((2, 4))
    with pytest.raises(ValueError, match=r"'Y'.*integer class labels in \[0, 3\)"):
        net.loss_and_grads(params, X, [0, 1, 3, 0])
    with pytest.raises(ValueError, match=r"'Y'.*one-hot"):
        net.loss_and_grads(params, X, np.ones((3, 4)))
    with pytest.raises(ValueError, match=r"'loss'.*'legacy'.*sigmoid"):
        net.loss_and_grads(params, X, [0, 1, 2, 0], loss="legacy")
    loss_int, _ = net.loss_and_grads(params, X, [0, 1, 2, 0])
    loss_onehot, _ = net.loss_and_grads(params, X, np.eye(3)[:, [0, 1, 2, 0]])
    np.testing.assert_array_equal(loss_int, loss_onehot)


def test_initialize_lsuv_needs_x_and_refuses_what_it_does_not_use():
    net = MLP((3, 4, 1), "relu")
    X = np.random.default_rng(0).normal(size=(3, 50))
    with pytest.raises(TypeError, match=r"lsuv.*data-dependent.*'X'"):
        net.initialize("lsuv", rng=0)
    with pytest.raises(TypeError, match=r"'X' parameter.*data-dependent.*he_normal"):
        net.initialize("he_normal", X=X, rng=0)
    with pytest.raises(ValueError, match=r"'bias_init'.*'zeros'.*lsuv"):
        net.initialize("lsuv", X=X, rng=0, bias_init=0.1)
    with pytest.raises(TypeError, match=r"Unknown option.*'mode'.*tol, max_iter"):
        net.initialize("lsuv", X=X, rng=0, mode="fan_in")
    with pytest.raises(ValueError, match=r"'X'"):
        net.initialize("lsuv", X=X[:2], rng=0)  # 2 features for a 3-input network
