"""Optimizers: hand-computed steps, the limits where they equal gd, minibatches, and whether init matters with Adam."""

import math

import numpy as np
import pytest

from initlab import course, optimizers
from initlab.network import MLP
from initlab.training import initialize_and_train, train

NOTEBOOK = MLP(course.NOTEBOOK_LAYERS)


# --------------------------------------------------------------------------------------------
# Single steps, by hand
# --------------------------------------------------------------------------------------------
THETA = np.array([[1.0, -2.0, 0.5], [0.0, 3.0, -1.0]])  # K = 2 models, P = 3 parameters
GRAD = np.array([[0.5, -4.0, 0.0], [2.0, 0.25, -1.0]])
ALPHA = np.array([[0.1], [0.01]])  # one rate per model


def step(opt, theta, grads, state, t):
    return opt.step(theta, grads.copy(), ALPHA, state, t)


def test_gd_and_sgd_step_by_hand():
    for name in ("gd", "sgd"):
        opt = optimizers.get(name)
        assert opt.init_state(THETA) == ()
        new = step(opt, THETA, GRAD, (), 1)
        np.testing.assert_array_equal(new, [[1.0 - 0.05, -2.0 + 0.4, 0.5], [0.0 - 0.02, 3.0 - 0.0025, -1.0 + 0.01]])


def test_momentum_two_steps_by_hand():
    opt = optimizers.get("momentum", beta=0.9)
    state = opt.init_state(THETA)
    assert len(state) == 1 and state[0].shape == THETA.shape and not state[0].any()
    first = step(opt, THETA, GRAD, state, 1)
    # v = 0.1 g; W = W - alpha v
    np.testing.assert_allclose(state[0], [[0.05, -0.4, 0.0], [0.2, 0.025, -0.1]], rtol=1e-15)
    np.testing.assert_allclose(first, [[0.995, -1.96, 0.5], [-0.002, 2.99975, -0.999]], rtol=1e-14)
    second = step(opt, first, GRAD, state, 2)
    # v = 0.9 * 0.1 g + 0.1 g = 0.19 g
    np.testing.assert_allclose(state[0], 0.19 * GRAD, rtol=1e-14)
    np.testing.assert_allclose(second, first - ALPHA * 0.19 * GRAD, rtol=1e-14)


def adam_by_hand(theta, grads_per_step, alpha, beta1=0.9, beta2=0.999, eps=1e-8):
    """Adam on Python floats, one element at a time, the course's formulas."""
    theta = [[float(x) for x in row] for row in theta]
    K, P = len(theta), len(theta[0])
    v = [[0.0] * P for _ in range(K)]
    s = [[0.0] * P for _ in range(K)]
    for t, g in enumerate(grads_per_step, start=1):
        for k in range(K):
            for p in range(P):
                v[k][p] = beta1 * v[k][p] + (1 - beta1) * g[k][p]
                s[k][p] = beta2 * s[k][p] + (1 - beta2) * g[k][p] ** 2
                v_hat = v[k][p] / (1 - beta1**t)
                s_hat = s[k][p] / (1 - beta2**t)
                theta[k][p] = theta[k][p] - alpha[k][0] * v_hat / (math.sqrt(s_hat) + eps)
    return np.array(theta)


def test_adam_steps_by_hand():
    opt = optimizers.get("adam")
    state = opt.init_state(THETA)
    first = step(opt, THETA, GRAD, state, 1)
    # t = 1: v_hat = g, s_hat = g^2, so every parameter with g != 0 moves by alpha against the sign of g
    expected = THETA - ALPHA * np.sign(GRAD)
    np.testing.assert_allclose(first, expected, rtol=0, atol=1e-8 * 0.1 / 0.25)
    g2 = np.array([[-1.0, 2.0, 3.0], [0.5, 0.5, 0.5]])
    second = step(opt, first, g2, state, 2)
    np.testing.assert_allclose(second, adam_by_hand(THETA, [GRAD, g2], ALPHA), rtol=1e-14, atol=1e-15)


def test_adam_options_are_used():
    opt = optimizers.get("adam", beta1=0.5, beta2=0.75, epsilon=0.1)
    assert repr(opt) == "adam(beta1=0.5, beta2=0.75, epsilon=0.1)"
    state = opt.init_state(THETA)
    g2 = GRAD[::-1].copy()
    second = step(opt, step(opt, THETA, GRAD, state, 1), g2, state, 2)
    np.testing.assert_allclose(second, adam_by_hand(THETA, [GRAD, g2], ALPHA, 0.5, 0.75, 0.1), rtol=1e-14)


def test_step_leaves_theta_and_writes_out():
    opt = optimizers.get("gd")
    theta = THETA.copy()
    out = np.empty_like(theta)
    assert opt.step(theta, GRAD.copy(), 0.1, (), 1, out=out) is out
    np.testing.assert_array_equal(theta, THETA)


# --------------------------------------------------------------------------------------------
# Limits: the same trajectory as gd
# --------------------------------------------------------------------------------------------
def test_momentum_with_beta_zero_is_gd_bit_for_bit(circles):
    X, Y, _, _ = circles
    params = NOTEBOOK.initialize("he_normal", rng=4, models=3)
    lr = np.array([0.01, 0.05, 0.1])
    gd = train(NOTEBOOK, params, X, Y, learning_rate=lr, iterations=300, record_every=10)
    zero = train(NOTEBOOK, params, X, Y, learning_rate=lr, iterations=300, record_every=10,
                 optimizer=optimizers.get("momentum", beta=0.0))  # fmt: skip
    for key in params:
        np.testing.assert_array_equal(zero.params[key], gd.params[key])
    np.testing.assert_array_equal(zero.loss, gd.loss)
    assert zero.optimizer == "momentum(beta=0.0)" and gd.optimizer == "gd()"


def test_sgd_with_the_full_batch_is_gd(circles):
    """The minibatch path (a fresh permutation of all m columns every update) gives gd's trajectory up to summation order."""
    X, Y, _, _ = circles
    params = NOTEBOOK.initialize("he_normal", rng=5, models=2)
    gd = train(NOTEBOOK, params, X, Y, iterations=300, record_every=10)
    sgd = train(NOTEBOOK, params, X, Y, iterations=300, record_every=10, optimizer="sgd", batch_size=X.shape[1], rng=1)
    assert sgd.batch_size == 300 and gd.batch_size is None
    for key in params:
        np.testing.assert_allclose(sgd.params[key], gd.params[key], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(sgd.loss, gd.loss, rtol=1e-11)
    assert not np.array_equal(sgd.params["W1"], gd.params["W1"])  # really a different summation order


# --------------------------------------------------------------------------------------------
# Minibatches against an independent loop
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("batch_size", [100, 128])  # 3 equal batches per epoch; 128 + 128 + 44
def test_minibatches_follow_each_models_own_stream(circles, batch_size):
    X, Y, _, _ = circles
    m = X.shape[1]
    params = NOTEBOOK.initialize("he_normal", rng=6, models=2)
    iterations = 7  # two epochs and a bit
    history = train(NOTEBOOK, params, X, Y, learning_rate=0.05, iterations=iterations, record_every=3,
                     optimizer="sgd", batch_size=batch_size, rng=11)  # fmt: skip
    per_epoch = math.ceil(m / batch_size)
    for k, stream in enumerate(np.random.default_rng(11).spawn(2)):
        p = {key: v[k].copy() for key, v in params.items()}
        for i in range(iterations):
            if i % per_epoch == 0:
                order = stream.permutation(m)
            j = i % per_epoch
            cols = order[j * batch_size : (j + 1) * batch_size]
            if i % 3 == 0:  # the recorded loss is the whole training set's, before the update
                full, _ = NOTEBOOK.loss_and_grads(p, X, Y)
                assert history.loss[k, i // 3] == pytest.approx(full, rel=1e-12)
            _, grads = NOTEBOOK.loss_and_grads(p, X[:, cols], Y[:, cols])
            for key in p:
                p[key] = p[key] - 0.05 * grads["d" + key]
        for key in p:
            np.testing.assert_allclose(history.params[key][k], p[key], rtol=1e-12, atol=1e-15)


def test_model_k_is_the_same_whatever_k(circles):
    X, Y, _, _ = circles
    three = initialize_and_train(NOTEBOOK, X, Y, models=3, rng=8, optimizer="adam", batch_size=50, iterations=40,
                                 record_every=10, learning_rate=0.01)  # fmt: skip
    two = initialize_and_train(NOTEBOOK, X, Y, models=2, rng=8, optimizer="adam", batch_size=50, iterations=40,
                               record_every=10, learning_rate=0.01)  # fmt: skip
    for key in three.params:
        np.testing.assert_allclose(three.params[key][:2], two.params[key], rtol=1e-12, atol=1e-15)


def test_a_list_of_streams_gives_model_k_the_stream_rng_k(circles):
    X, Y, _, _ = circles
    params = NOTEBOOK.initialize("he_normal", rng=6, models=3)
    kwargs = dict(learning_rate=0.05, iterations=9, record_every=3, optimizer="sgd", batch_size=64)
    together = train(NOTEBOOK, params, X, Y, rng=[np.random.SeedSequence(s) for s in (4, 5, 6)], **kwargs)
    for k, s in enumerate((4, 5, 6)):  # model k alone, with its stream
        alone = train(
            NOTEBOOK, {key: v[k : k + 1] for key, v in params.items()}, X, Y, rng=[np.random.SeedSequence(s)], **kwargs
        )
        np.testing.assert_array_equal(together.loss[k], alone.loss[0])
    with pytest.raises(ValueError, match=r"one stream per model \(models=3\)\. Got 2 streams"):
        train(NOTEBOOK, params, X, Y, rng=[1, 2], **kwargs)


def test_adam_in_the_loop_equals_adam_by_hand(circles):
    X, Y, _, _ = circles
    params = NOTEBOOK.initialize("he_normal", rng=9, models=2)
    lr = np.array([0.01, 0.003])
    history = train(NOTEBOOK, params, X, Y, learning_rate=lr, iterations=15, record_every=5, optimizer="adam")
    for k in range(2):
        p = {key: v[k].copy() for key, v in params.items()}
        v = {key: np.zeros_like(a) for key, a in p.items()}
        s = {key: np.zeros_like(a) for key, a in p.items()}
        for t in range(1, 16):  # the course's update_parameters_with_adam, dict by dict
            _, grads = NOTEBOOK.loss_and_grads(p, X, Y)
            for key in p:
                v[key] = 0.9 * v[key] + (1 - 0.9) * grads["d" + key]
                s[key] = 0.999 * s[key] + (1 - 0.999) * np.power(grads["d" + key], 2)
                v_corrected = v[key] / (1 - 0.9**t)
                s_corrected = s[key] / (1 - 0.999**t)
                p[key] = p[key] - lr[k] * v_corrected / (np.sqrt(s_corrected) + 1e-8)
        for key in p:
            np.testing.assert_allclose(history.params[key][k], p[key], rtol=1e-12, atol=1e-15)


def test_a_diverging_minibatch_model_is_frozen_and_the_others_go_on(circles):
    X, Y, _, _ = circles
    params = NOTEBOOK.initialize("he_normal", rng=10, models=2)
    history = train(NOTEBOOK, params, X, Y, learning_rate=np.array([0.01, 1e305]), iterations=30, record_every=1,
                    optimizer="momentum", batch_size=64, rng=0)  # fmt: skip
    assert history.diverged.tolist() == [False, True]
    assert np.all(np.isfinite(history.params["W1"]))
    alone = train(NOTEBOOK, {k: v[:1] for k, v in params.items()}, X, Y, learning_rate=0.01, iterations=30,
                  record_every=1, optimizer="momentum", batch_size=64, rng=0)  # fmt: skip
    np.testing.assert_allclose(history.loss[0], alone.loss[0], rtol=1e-12)


# --------------------------------------------------------------------------------------------
# Does initialization still matter with Adam?
# --------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_adam_rescues_large_random_init_partly_and_zeros_not_at_all(circles):
    """48 seeds, paired: the same x10 random initial weights trained by gd and by Adam, 2,000 updates each.

    Adam lifts the mean training accuracy by several points (paired t > 2.5), yet stays far below
    He initialization trained by Adam; zeros stays at 50 % with one distinct unit per layer (Adam's
    elementwise steps cannot break the symmetry either).
    """
    X, Y, _, _ = circles
    common = dict(models=48, rng=2024, iterations=2000, record_every=2000)
    gd_random = initialize_and_train(NOTEBOOK, X, Y, init="random", learning_rate=0.01, **common)
    adam_random = initialize_and_train(NOTEBOOK, X, Y, init="random", optimizer="adam", learning_rate=0.03, **common)
    gain = adam_random.train_accuracy - gd_random.train_accuracy  # paired by seed
    t_stat = gain.mean() / (gain.std(ddof=1) / math.sqrt(gain.size))
    assert gain.mean() > 0.03 and t_stat > 2.5, (gain.mean(), t_stat)

    few = dict(models=8, rng=2024, iterations=2000, record_every=2000)
    adam_he = initialize_and_train(NOTEBOOK, X, Y, init="he_normal", optimizer="adam", learning_rate=0.03, **few)
    assert adam_he.train_accuracy.min() > 0.95
    assert adam_random.train_accuracy.mean() < adam_he.train_accuracy.mean() - 0.1  # partly: the gap stays

    adam_zeros = initialize_and_train(NOTEBOOK, X, Y, init="zeros", optimizer="adam", learning_rate=0.03,
                                      diagnostics=2000, **{**few, "models": 3})  # fmt: skip
    np.testing.assert_array_equal(adam_zeros.train_accuracy, 0.5)
    assert np.all(adam_zeros.diagnostics[-1].distinct_units == 1)


# --------------------------------------------------------------------------------------------
# Registry and bad input
# --------------------------------------------------------------------------------------------
def test_registry_lists_every_rule_with_its_formula():
    names = optimizers.available()
    assert list(names) == ["gd", "sgd", "momentum", "adam"]
    assert "beta" in names["momentum"] and "sqrt" in names["adam"]
    assert optimizers.get("gd").full_batch and not optimizers.get("sgd").full_batch
    assert optimizers.get("momentum").options == (("beta", 0.9),)


@pytest.mark.parametrize(
    ("name", "options", "error", "pattern"),
    [
        (
            "adamw",
            {},
            ValueError,
            r"'optimizer' parameter must be one of \{'gd', 'sgd', 'momentum', 'adam'\}. Got 'adamw'",
        ),
        (
            "adam",
            {"beta3": 0.9},
            TypeError,
            r"Unknown option 'beta3' for optimizer 'adam'. Did you mean beta2\? Allowed: beta1, beta2, epsilon",
        ),
        ("gd", {"beta": 0.9}, TypeError, r"for optimizer 'gd'.*Allowed: none"),
        ("momentum", {"beta": 1.0}, ValueError, r"'beta' parameter must be in \[0, 1\).*Got 1.0"),
        ("adam", {"beta2": -0.1}, ValueError, r"'beta2' parameter must be in \[0, 1\)"),
        ("adam", {"epsilon": 0}, ValueError, r"'epsilon' parameter must be > 0"),
        ("momentum", {"beta": "high"}, TypeError, r"'beta' parameter must be a real number"),
    ],
)
def test_get_rejects_bad_names_and_options(name, options, error, pattern):
    with pytest.raises(error, match=pattern):
        optimizers.get(name, **options)


@pytest.mark.parametrize(
    ("kwargs", "error", "pattern"),
    [
        ({"batch_size": 32}, ValueError, r"'batch_size' parameter goes with a minibatch optimizer.*'gd'"),
        ({"optimizer": "sgd", "batch_size": 301}, ValueError, r"'batch_size' parameter must be <= 300"),
        ({"optimizer": "sgd", "batch_size": 0}, ValueError, r"'batch_size' parameter must be >= 1"),
        ({"optimizer": "adam", "batch_size": 2.5}, TypeError, r"'batch_size' parameter must be an integer"),
        ({"optimizer": "rmsprop"}, ValueError, r"'optimizer' parameter must be one of"),
        ({"optimizer": "sgd", "batch_size": 8, "rng": np.random.RandomState(0)}, TypeError, r"legacy RandomState"),
    ],
)
def test_train_rejects_bad_optimizer_arguments(circles, kwargs, error, pattern):
    X, Y, _, _ = circles
    with pytest.raises(error, match=pattern):
        train(NOTEBOOK, NOTEBOOK.initialize(rng=0), X, Y, iterations=1, **kwargs)
