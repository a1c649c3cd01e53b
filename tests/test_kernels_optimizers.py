"""The compiled engine's optimizers, minibatches and per-parameter learning rates, against the numpy engine.

The numpy engine (:class:`initlab.state.TrainingState`) is the reference, as in ``test_kernels.py``:
recorded losses to 1e-12 relative and parameters to 1e-10 on well-conditioned runs, the same
iteration of divergence on diverging ones. Both engines draw the same minibatches (one stream per
model); the optimizer's state lives in the state, so the engines can take turns on one run.
"""

import numpy as np
import pytest
from test_kernels import LOSS_RTOL, PARAM_RTOL, assert_engines_agree

from initlab import kernels, optimizers, seeding
from initlab.network import MLP
from initlab.state import TrainingState
from initlab.training import train

LEARNING_RATE = {"gd": 0.05, "sgd": 0.05, "momentum": 0.05, "adam": 0.01}  # well-conditioned for the nets below


@pytest.fixture(scope="module")
def sectors(circles):
    """Three classes on the circles' points: the sector of the angle (as in test_kernels)."""
    X = circles[0]
    labels = (np.floor((np.arctan2(X[1], X[0]) + np.pi) / (2 * np.pi / 3)).astype(int) % 3).reshape(1, -1)
    return X, labels


def _problem(output: str, parametrization: str, circles, sectors):
    """A sigmoid net on the circles or a softmax net on their three sectors, with 3 models."""
    if output == "sigmoid":
        X, Y, _, _ = circles
        net = MLP((2, 10, 5, 1), "tanh", parametrization=parametrization)
        init = "lecun_normal"
    else:
        X, Y = sectors
        net = MLP((2, 8, 6, 3), "relu", "softmax", parametrization=parametrization)
        init = "he_normal"
    return net, net.initialize(init, rng=7, models=3), X, Y


@pytest.mark.parametrize("output", ["sigmoid", "softmax"])
@pytest.mark.parametrize("parametrization", ["standard", "mup"])
@pytest.mark.parametrize("batch_size", [None, 64], ids=["full", "batch64"])  # 300 = 4 x 64 + 44: a short last batch
@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
def test_every_optimizer_agrees_with_the_numpy_engine(circles, sectors, optimizer, batch_size, parametrization, output):
    net, params, X, Y = _problem(output, parametrization, circles, sectors)
    if parametrization == "mup":  # the factors are not all 1: a kernel ignoring them would part ways
        assert np.ptp(net.learning_rate_factors(optimizer)) > 0.5
    reference, _ = assert_engines_agree(net, params, X, Y, learning_rate=LEARNING_RATE[optimizer], iterations=240,
                                        record_every=20, optimizer=optimizer, batch_size=batch_size, rng=11)  # fmt: skip
    assert np.all(reference.loss[:, -1] < reference.loss[:, 0])  # it trained


@pytest.mark.parametrize("parametrization", ["ntk", "mup"])
def test_parametrized_gradient_descent_agrees(circles, parametrization):
    """Full-batch gd under ntk and mup (their per-layer rates; the multipliers are in the effective weights)."""
    X, Y, _, _ = circles
    net = MLP((2, 10, 5, 1), parametrization=parametrization)
    params = net.initialize("he_normal", rng=3, models=3)
    lr = np.array([0.05, 0.1, 0.2])
    assert_engines_agree(net, params, X, Y, learning_rate=lr, iterations=400, record_every=25)


def test_adam_epsilon_factors_of_mup_are_applied(circles):
    """With a large epsilon, muP's per-parameter epsilon (epsilon / a) changes the run: both engines apply it."""
    X, Y, _, _ = circles
    net = MLP((2, 16, 8, 1), "tanh", parametrization="mup", base_width=2)
    assert np.ptp(net.epsilon_factors()) > 1.0
    params = net.initialize("lecun_normal", rng=5, models=2)
    options = dict(learning_rate=0.01, iterations=150, record_every=10, batch_size=50, rng=2)
    reference, _ = assert_engines_agree(net, params, X, Y, optimizer=optimizers.get("adam", epsilon=1e-2), **options)
    other = train(net, params, X, Y, optimizer=optimizers.get("adam", epsilon=2e-2), **options)
    assert np.max(np.abs(other.loss - reference.loss) / reference.loss) > 1e-6  # epsilon matters at this size


@pytest.mark.parametrize(("optimizer", "batch_size"), [("sgd", 32), ("momentum", None), ("adam", 64), ("adam", None)])
def test_diverging_models_freeze_at_the_same_iteration(circles, optimizer, batch_size):
    X, Y, _, _ = circles
    net = MLP((2, 6, 6, 1), "leaky_relu")
    params = net.initialize("he_normal", rng=1, models=4)
    lr = {"adam": [0.01, 1e60, 0.02, 1e200], "sgd": [0.01, 1e20, 0.05, 1e50], "momentum": [0.01, 1e30, 0.05, 1e80]}
    reference, compiled = assert_engines_agree(net, params, X, Y, learning_rate=np.array(lr[optimizer]), iterations=60,
                                               record_every=1, optimizer=optimizer, batch_size=batch_size, rng=4)  # fmt: skip
    np.testing.assert_array_equal(compiled.diverged, [False, True, False, True])
    for k in (1, 3):  # nan from the iteration of divergence on
        d = compiled.diverged_at[k]
        assert np.all(np.isfinite(compiled.loss[k, :d])) and np.all(np.isnan(compiled.loss[k, d:]))


# --------------------------------------------------------------------------------------------
# One state, both engines: the optimizer's state and the minibatch order carry over
# --------------------------------------------------------------------------------------------
def _state(net, params, X, Y, *, optimizer, batch_size, iterations, lr=0.01):
    """A TrainingState as train() builds it (lr: one for all models or one each), minibatch streams of seed 9."""
    X, T = net.check_data(X, Y)
    K = len(params["W1"])
    theta = np.concatenate([np.concatenate([params[f"W{l}"].reshape(K, -1), params[f"b{l}"].reshape(K, -1)], axis=1)
                            for l in range(1, len(net.layers))], axis=1)  # fmt: skip
    return TrainingState(net, theta, X, T, np.broadcast_to(lr, (K,)), iterations=iterations, record_every=10, loss="stable",
                         optimizer=optimizers.get(optimizer), batch_size=batch_size,
                         streams=seeding.model_streams(9, K))  # fmt: skip


@pytest.mark.parametrize("parametrization", ["standard", "mup"])
def test_engines_take_turns_on_one_state(circles, parametrization):
    """numpy 37, numba 100, numpy 23, numba 40 iterations (switches in mid-epoch) = numpy for all 200."""
    X, Y, _, _ = circles
    net = MLP((2, 10, 5, 1), "tanh", parametrization=parametrization)
    params = net.initialize("lecun_normal", rng=2, models=3)
    options = dict(optimizer="adam", batch_size=64, iterations=200)
    reference = _state(net, params, X, Y, **options)
    reference.advance(200)
    mixed = _state(net, params, X, Y, **options)
    for engine, n in (("numpy", 37), ("numba", 100), ("numpy", 23), ("numba", 40)):
        if engine == "numpy":
            mixed.advance(n)
        else:
            kernels.advance(mixed, n)
    assert mixed.iteration == reference.iteration == 200
    np.testing.assert_allclose(mixed.losses, reference.losses, rtol=LOSS_RTOL, atol=0)
    for got, want in zip((mixed.theta, *mixed.opt_state), (reference.theta, *reference.opt_state)):
        scale = np.max(np.abs(want), axis=1, keepdims=True)
        assert np.all(np.abs(got - want) <= PARAM_RTOL * scale)
    np.testing.assert_array_equal(mixed.order, reference.order)  # the streams were drawn alike
    assert [s.integers(1 << 30) for s in mixed.streams] == [s.integers(1 << 30) for s in reference.streams]


@pytest.mark.parametrize("first", ["numba", "numpy"])
def test_a_model_frozen_by_one_engine_stays_frozen_in_the_other(circles, first):
    X, Y, _, _ = circles
    net = MLP((2, 6, 6, 1), "leaky_relu")
    params = net.initialize("he_normal", rng=1, models=4)
    options = dict(optimizer="sgd", batch_size=32, iterations=60)
    reference = _state(net, params, X, Y, **options, lr=np.array([0.01, 1e20, 0.05, 1e50]))
    reference.advance(60)
    assert list(reference.diverged_at >= 0) == [False, True, False, True] and reference.diverged_at.max() < 20
    mixed = _state(net, params, X, Y, **options, lr=np.array([0.01, 1e20, 0.05, 1e50]))
    for engine in (first, {"numba": "numpy", "numpy": "numba"}[first], first):
        if engine == "numpy":
            mixed.advance(20)
        else:
            kernels.advance(mixed, 20)
    np.testing.assert_array_equal(mixed.diverged_at, reference.diverged_at)
    np.testing.assert_array_equal(np.isnan(mixed.losses), np.isnan(reference.losses))
    np.testing.assert_allclose(mixed.losses, reference.losses, rtol=LOSS_RTOL, atol=0)
    for k in (1, 3):  # the last finite parameters, not trained on by the other engine
        scale = np.max(np.abs(reference.theta[k]))
        assert np.all(np.abs(mixed.theta[k] - reference.theta[k]) <= PARAM_RTOL * scale)


def test_compiled_segments_equal_one_call(circles):
    """Segments of any length (mid-epoch, across kernel calls) give the same bits as one call, optimizer state too."""
    X, Y, _, _ = circles
    net = MLP((2, 10, 5, 1), parametrization="mup")
    params = net.initialize("he_normal", rng=6, models=3)
    runs = []
    for pieces in ([250], [3, 64, 1, 100, 82]):
        state = _state(net, params, X, Y, optimizer="momentum", batch_size=48, iterations=250, lr=0.05)
        for n in pieces:
            kernels.advance(state, n, threads=1)
        runs.append(state)
    whole, split = runs
    np.testing.assert_array_equal(whole.losses, split.losses)
    np.testing.assert_array_equal(whole.theta, split.theta)
    np.testing.assert_array_equal(whole.opt_state[0], split.opt_state[0])


def test_results_do_not_depend_on_the_number_of_threads(circles):
    X, Y, _, _ = circles
    net = MLP((2, 10, 5, 1), "tanh")
    params = net.initialize("xavier_normal", rng=4, models=5)
    options = dict(learning_rate=0.01, iterations=150, record_every=10, optimizer="adam", batch_size=30, rng=1)
    one = train(net, params, X, Y, engine="numba", threads=1, **options)
    two = train(net, params, X, Y, engine="numba", threads=2, **options)
    np.testing.assert_array_equal(one.loss, two.loss)
    for key in params:
        np.testing.assert_array_equal(one.params[key], two.params[key])


# --------------------------------------------------------------------------------------------
# Boundaries
# --------------------------------------------------------------------------------------------
def test_an_optimizer_without_a_compiled_form_is_refused_in_one_line(circles):
    X, Y, _, _ = circles
    net = MLP((2, 3, 1))
    custom = optimizers.Optimizer("nesterov", (), 1, False, optimizers.momentum().update)
    message = r"'numba'.*optimizer nesterov\(\) has no compiled form.*engine='numpy'"
    with pytest.raises(ValueError, match=message) as info:
        train(net, net.initialize(rng=0), X, Y, iterations=2, optimizer=custom, engine="numba")
    assert "\n" not in str(info.value)
    assert train(net, net.initialize(rng=0), X, Y, iterations=2, optimizer=custom).iterations == 2  # numpy does it


def test_train_flat_rejects_buffers_it_would_overrun(circles):
    X, Y, _, _ = circles
    net = MLP((2, 3, 1))
    K, P, m = 2, 13, X.shape[1]
    good = dict(start=0, stop=10, record_every=5, loss="stable", losses=np.full((K, 2), np.nan))

    def call(**kwargs):
        kernels.train_flat(net, np.zeros((K, P)), X, Y, np.ones(K), diverged_at=np.full(K, -1), **{**good, **kwargs})

    assert_refuses_overruns(call, K, P, m)


def assert_refuses_overruns(call, K: int, P: int, m: int) -> None:
    """``call(**options)``, a compiled engine's ``train_flat`` on K models of P parameters and m examples, 10
    iterations, refuses optimizer states, factors and minibatch orders it would read past, and runs what fits."""
    adam = optimizers.adam()
    with pytest.raises(ValueError, match="opt_state"):  # Adam keeps two arrays
        call(optimizer=adam, opt_state=(np.zeros((K, P)),))
    with pytest.raises(ValueError, match="opt_state"):
        call(optimizer=adam, opt_state=(np.zeros((K, P)), np.zeros((K, P - 1))))
    with pytest.raises(ValueError, match="lr_factors"):
        call(lr_factors=np.ones(P + 1))
    with pytest.raises(ValueError, match="epsilon_factors"):
        call(optimizer=adam, opt_state=(np.zeros((K, P)), np.zeros((K, P))), epsilon_factors=np.ones(P - 1))
    orders = np.tile(np.arange(m), (K, 1, 1))  # one epoch: 10 iterations of batch 100 need 4
    with pytest.raises(ValueError, match="orders"):
        call(optimizer=optimizers.sgd(), batch_size=100, orders=orders)
    with pytest.raises(ValueError, match="orders"):  # an index past the examples
        call(optimizer=optimizers.sgd(), batch_size=100, orders=np.full((K, 4, m), m))
    with pytest.raises(ValueError, match="orders"):
        call(optimizer=optimizers.sgd(), batch_size=100)
    call(optimizer=optimizers.sgd(), batch_size=100, orders=np.tile(np.arange(m), (K, 4, 1)))  # what fits runs


def test_the_fused_gd_loop_and_the_general_one_give_the_same_bits(circles):
    """Full-batch gd at one rate runs _train_one; with per-parameter factors it runs _train_model: same arithmetic."""
    X, Y, _, _ = circles
    net = MLP((2, 10, 5, 1), "tanh")
    K, P = 3, 91
    theta0 = np.random.default_rng(0).standard_normal((K, P)) * 0.5
    runs = []
    for lr, factors in ((np.array([0.02, 0.1, 0.4]), None), (np.array([0.01, 0.05, 0.2]), np.full(P, 2.0))):
        theta, losses, diverged_at = theta0.copy(), np.full((K, 30), np.nan), np.full(K, -1, dtype=np.int64)
        kernels.train_flat(net, theta, X, Y, lr, start=0, stop=300, record_every=10, loss="stable", losses=losses,
                           diverged_at=diverged_at, lr_factors=factors)  # fmt: skip
        runs.append((theta, losses, diverged_at))
    for fused, general in zip(*runs):
        np.testing.assert_array_equal(fused, general)
