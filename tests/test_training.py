"""Training: the notebook's cost trace, K models at once, divergence, History, bad input."""

import contextlib
import io

import numpy as np
import pytest

from initlab import course
from initlab.network import MLP
from initlab.training import History, initialize_and_train, train

NOTEBOOK = MLP(course.NOTEBOOK_LAYERS)  # (2, 10, 5, 1), relu, sigmoid


def notebook_model(X, Y, initialization):
    with contextlib.redirect_stdout(io.StringIO()):  # model prints its costs
        return course.model(X, Y, initialization=initialization)


# --------------------------------------------------------------------------------------------
# The notebook's numbers
# --------------------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize(
    ("initialization", "init_fn"),
    [("he", course.initialize_parameters_he), ("zeros", course.initialize_parameters_zeros)],
)
def test_notebook_cost_trace_is_reproduced(circles, initialization, init_fn):
    X, Y, X_test, Y_test = circles
    expected = notebook_model(X, Y, initialization)
    params = init_fn(list(course.NOTEBOOK_LAYERS))
    history = train(NOTEBOOK, params, X, Y, learning_rate=0.01, iterations=15000, record_every=1000,
                    loss="legacy", X_test=X_test, Y_test=Y_test)  # fmt: skip
    assert history.loss.shape == (1, 15)
    np.testing.assert_array_equal(history.record_iterations, np.arange(0, 15000, 1000))
    np.testing.assert_allclose(history.loss[0], expected.costs, rtol=1e-9, atol=0)
    assert set(history.params) == set(expected) and history.params["W1"].shape == (10, 2)  # as it came
    for key in expected:
        np.testing.assert_allclose(history.params[key], expected[key], rtol=1e-7, atol=1e-12)
    accuracy = {"he": (0.99333333, 0.96), "zeros": (0.5, 0.5)}[initialization]
    np.testing.assert_allclose([history.train_accuracy[0], history.test_accuracy[0]], accuracy, atol=1e-8)
    assert not history.diverged[0] and history.diverged_at[0] == -1


@pytest.mark.slow
def test_notebook_random_init_inf_first_loss_is_not_divergence(circles):
    X, Y, X_test, Y_test = circles
    params = course.initialize_parameters_random(list(course.NOTEBOOK_LAYERS))
    history = train(NOTEBOOK, params, X, Y, loss="legacy", X_test=X_test, Y_test=Y_test)
    assert np.isinf(history.loss[0, 0]) and np.all(np.isfinite(history.loss[0, 1:]))
    assert not history.diverged[0]
    # Its accuracies (the notebook: 83 % / 86 %) are not checked here: the trajectory is chaotic, so this
    # process's exp and BLAS kernels decide them; test_course checks them under the notebook's own arithmetic.


def test_large_random_init_gives_a_finite_stable_loss_where_legacy_is_inf(circles):
    X, Y, _, _ = circles
    params = NOTEBOOK.initialize("random", rng=0, models=4)  # randn * 10
    legacy, _ = NOTEBOOK.loss_and_grads(params, X, Y, loss="legacy")
    stable, _ = NOTEBOOK.loss_and_grads(params, X, Y, loss="stable")
    assert np.all(np.isinf(legacy))
    assert np.all(np.isfinite(stable)) and np.all(stable > 1)
    history = train(NOTEBOOK, params, X, Y, iterations=1, record_every=1)
    np.testing.assert_array_equal(history.loss[:, 0], stable)
    assert not history.diverged.any()


# --------------------------------------------------------------------------------------------
# K models at once
# --------------------------------------------------------------------------------------------
def test_each_of_k_models_trains_as_it_would_alone(circles):
    X, Y, _, _ = circles
    params = NOTEBOOK.initialize("he_normal", rng=5, models=3)
    lr = np.array([0.01, 0.05, 0.2])
    together = train(NOTEBOOK, params, X, Y, learning_rate=lr, iterations=300, record_every=50)
    assert together.loss.shape == (3, 6)
    for k in range(3):
        alone = train(NOTEBOOK, {key: v[k : k + 1] for key, v in params.items()}, X, Y,
                      learning_rate=lr[k], iterations=300, record_every=50)  # fmt: skip
        np.testing.assert_allclose(together.loss[k], alone.loss[0], rtol=1e-11)
        for key in params:
            np.testing.assert_allclose(together.params[key][k], alone.params[key][0], rtol=1e-10, atol=1e-14)
    np.testing.assert_array_equal(together.learning_rate, lr)


def test_train_does_not_modify_the_initial_parameters(circles):
    X, Y, _, _ = circles
    params = NOTEBOOK.initialize("he_normal", rng=1, models=2)
    copy = {k: v.copy() for k, v in params.items()}
    history = train(NOTEBOOK, params, X, Y, iterations=20)
    assert all(np.array_equal(params[k], copy[k]) for k in params)
    assert not np.array_equal(history.params["W1"], params["W1"])
    assert isinstance(history, History) and history.wall_time > 0


def test_loss_decreases_on_a_softmax_problem():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2, 150))
    labels = (X[0] > 0).astype(int) + (X[1] > 0).astype(int)  # 3 classes
    net = MLP((2, 16, 3), "tanh", "softmax")
    history = train(net, net.initialize("xavier_normal", rng=1, models=2), X, labels,
                    learning_rate=0.5, iterations=2000, record_every=100, X_test=X, Y_test=labels)  # fmt: skip
    assert np.all(history.loss[:, -1] < 0.5 * history.loss[:, 0])
    assert np.all(history.train_accuracy > 0.9)
    np.testing.assert_array_equal(history.train_accuracy, history.test_accuracy)


# --------------------------------------------------------------------------------------------
# Divergence
# --------------------------------------------------------------------------------------------
def test_a_diverging_model_is_frozen_and_the_others_go_on(circles):
    X, Y, _, _ = circles
    net = MLP((2, 10, 5, 1), "linear")  # a linear net with a huge step blows up geometrically
    params = net.initialize("he_normal", rng=0, models=3)
    lr = np.array([0.01, 1e6, 0.01])
    with np.errstate(all="raise"):  # the loop handles overflow silently
        history = train(net, params, X, Y, learning_rate=lr, iterations=200, record_every=1)
    np.testing.assert_array_equal(history.diverged, [False, True, False])
    at = history.diverged_at[1]
    assert 0 < at < 200 and history.diverged_at[0] == history.diverged_at[2] == -1
    assert np.all(np.isnan(history.loss[1, at + 1 :])) and np.all(np.isfinite(history.loss[1, :at]))
    assert all(np.all(np.isfinite(v)) for v in history.params.values())
    # frozen at its last finite parameters: training it for `at` iterations gives them again
    single = {k: v[1:2] for k, v in params.items()}
    replay = train(net, single, X, Y, learning_rate=1e6, iterations=at, record_every=1)
    for key in params:
        np.testing.assert_allclose(history.params[key][1], replay.params[key][0], rtol=1e-12)
    others = train(
        net, {k: v[[0, 2]] for k, v in params.items()}, X, Y, learning_rate=0.01, iterations=200, record_every=1
    )
    np.testing.assert_allclose(history.loss[[0, 2]], others.loss, rtol=1e-12)


def test_non_finite_logits_freeze_a_model_at_iteration_zero(circles):
    X, Y, _, _ = circles
    params = NOTEBOOK.initialize("he_normal", rng=2, models=2)
    params["W1"][0] *= 1e200
    params["W2"][0] *= 1e200  # Z2 overflows to inf
    history = train(NOTEBOOK, params, X, Y, iterations=50, record_every=10, diagnostics=25)
    np.testing.assert_array_equal(history.diverged_at, [0, -1])
    assert np.all(np.isnan(history.loss[0])) and np.all(np.isfinite(history.loss[1]))
    np.testing.assert_array_equal(history.params["W1"][0], params["W1"][0])
    assert len(history.diagnostics) == 3  # iterations 0, 25 and the end, also with a frozen model


def test_all_models_diverging_ends_cleanly(circles):
    X, Y, _, _ = circles
    params = NOTEBOOK.initialize("he_normal", rng=2, models=1)
    params["W1"] *= 1e200
    params["W2"] *= 1e200
    history = train(NOTEBOOK, params, X, Y, iterations=30, record_every=10)
    assert history.diverged.all() and np.isnan(history.loss).all()


# --------------------------------------------------------------------------------------------
# Records and diagnostics
# --------------------------------------------------------------------------------------------
def test_records_and_diagnostics_schedule(circles):
    X, Y, _, _ = circles
    params = NOTEBOOK.initialize("he_normal", rng=3, models=2)
    history = train(NOTEBOOK, params, X, Y, iterations=25, record_every=10, diagnostics=True)
    np.testing.assert_array_equal(history.record_iterations, [0, 10, 20])
    np.testing.assert_array_equal(history.diagnostics_iterations, [0, 10, 20, 25])
    assert history.diagnostics[0].z_mean.shape == (2, 3)
    off = train(NOTEBOOK, params, X, Y, iterations=25, record_every=10)
    assert off.diagnostics == () and off.diagnostics_iterations.size == 0
    np.testing.assert_array_equal(off.loss, history.loss)  # diagnostics do not change training
    with pytest.raises(ValueError, match=r"'iterations' parameter must be >= 1"):  # the CLI's rule too
        train(NOTEBOOK, params, X, Y, iterations=0)


# --------------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "error", "pattern"),
    [
        ({"learning_rate": -0.1}, ValueError, r"'learning_rate'.*> 0"),
        ({"learning_rate": np.array([0.1, 0.2, 0.3])}, ValueError, r"'learning_rate'.*K=2"),
        ({"learning_rate": np.array([0.1, 0.0])}, ValueError, r"'learning_rate'.*> 0"),
        ({"iterations": -1}, ValueError, r"'iterations'.*>= 1"),
        ({"record_every": 0}, ValueError, r"'record_every'.*>= 1"),
        ({"diagnostics": 0}, ValueError, r"'diagnostics'.*>= 1"),
        ({"loss": "exact"}, ValueError, r"'loss'.*'stable'"),
        ({"X_test": np.zeros((2, 5))}, ValueError, r"'X_test' and 'Y_test'"),
        ({"X_test": np.zeros((3, 5)), "Y_test": np.zeros((1, 5))}, ValueError, r"'X_test'.*layers\[0\]=2"),
        (
            {"X_test": np.zeros((2, 5)), "Y_test": np.zeros((1, 4))},
            ValueError,
            r"'Y_test'.*one label per column of X_test",
        ),
    ],
)
def test_train_rejects_bad_arguments(circles, kwargs, error, pattern):
    X, Y, _, _ = circles
    params = NOTEBOOK.initialize("he_normal", rng=0, models=2)
    with pytest.raises(error, match=pattern):
        train(NOTEBOOK, params, X, Y, **{"iterations": 1, **kwargs})


# --------------------------------------------------------------------------------------------
# Optimizers, final loss, progress, the shared recipe
# --------------------------------------------------------------------------------------------
def test_final_loss_is_the_loss_of_the_trained_parameters(circles):
    X, Y, _, _ = circles
    params = NOTEBOOK.initialize("he_normal", rng=12, models=3)
    for loss in ("stable", "legacy"):
        history = train(NOTEBOOK, params, X, Y, iterations=50, record_every=10, loss=loss)
        expected, _ = NOTEBOOK.loss_and_grads(history.params, X, Y, loss=loss)
        np.testing.assert_allclose(history.final_loss, expected, rtol=1e-13)
    assert history.optimizer == "gd()" and history.batch_size is None


def test_progress_is_reported_at_records_and_at_the_end(circles):
    X, Y, _, _ = circles
    seen = []
    train(NOTEBOOK, NOTEBOOK.initialize(rng=0), X, Y, iterations=25, record_every=10, progress=seen.append)
    assert seen == [0, 10, 20, 25]


def test_initialize_and_train_is_initialize_then_train_on_split_streams(circles):
    X, Y, X_test, Y_test = circles
    history = initialize_and_train(NOTEBOOK, X, Y, init="xavier_uniform", init_options={"gain": 2.0}, models=3, rng=5,
                                   optimizer="sgd", batch_size=100, iterations=30, record_every=10,
                                   X_test=X_test, Y_test=Y_test)  # fmt: skip
    init_rng, order_rng = np.random.default_rng(5).spawn(2)
    params = NOTEBOOK.initialize("xavier_uniform", rng=init_rng, models=3, gain=2.0)
    expected = train(NOTEBOOK, params, X, Y, optimizer="sgd", batch_size=100, rng=order_rng, iterations=30,
                     record_every=10, X_test=X_test, Y_test=Y_test)  # fmt: skip
    for key in params:
        np.testing.assert_array_equal(history.params[key], expected.params[key])
    np.testing.assert_array_equal(history.test_accuracy, expected.test_accuracy)
    assert history.optimizer == "sgd()" and history.batch_size == 100
    with pytest.raises(TypeError, match=r"'init_options' parameter must be a dict"):
        initialize_and_train(NOTEBOOK, X, Y, init_options=["gain", 2.0], iterations=1)


# --------------------------------------------------------------------------------------------
# engine="numba": the compiled kernel behind the same train()
# --------------------------------------------------------------------------------------------
def test_numba_engine_matches_numpy_engine_with_diagnostics_and_progress():
    from initlab import datasets
    from initlab.network import MLP
    from initlab.training import train

    data = datasets.load("moons", rng=1)
    net = MLP((2, 16, 8, 1), activation="relu")
    params = net.initialize("he_normal", rng=3, models=4)
    for key in ("W1", "W2", "W3"):
        params[key][3] *= 1e110  # model 3's logits overflow to inf at once
    lr = np.array([0.05, 0.1, 0.2, 0.1])
    runs = {}
    for engine in ("numpy", "numba"):
        seen = []
        runs[engine] = (train(net, params, data.X_train, data.Y_train, learning_rate=lr, iterations=600, record_every=50,
                              diagnostics=200, progress=seen.append, engine=engine), seen)  # fmt: skip
    (a, seen_a), (b, seen_b) = runs["numpy"], runs["numba"]
    assert np.array_equal(a.diverged_at, b.diverged_at) and a.diverged[3] and not a.diverged[:3].any()
    np.testing.assert_allclose(b.loss, a.loss, rtol=1e-12, atol=0)
    for key in a.params:
        np.testing.assert_allclose(b.params[key], a.params[key], rtol=1e-10, atol=1e-13)
    assert np.array_equal(a.diagnostics_iterations, b.diagnostics_iterations)
    np.testing.assert_allclose(b.diagnostics[-1].a_std, a.diagnostics[-1].a_std, rtol=1e-9)
    assert seen_b[-1] == seen_a[-1] == 600


def test_numba_engine_refuses_what_it_cannot_do():
    from initlab import optimizers
    from initlab.network import MLP
    from initlab.training import train

    net = MLP((2, 4, 1))
    params = net.initialize("he_normal", rng=0)
    X = np.random.default_rng(0).standard_normal((2, 20))
    Y = (X[:1] > 0).astype(float)
    custom = optimizers.Optimizer("nesterov", (), 1, False, optimizers.momentum().update)  # no compiled form
    with pytest.raises(ValueError, match="'engine' parameter 'numba' cannot train this network: optimizer nesterov"):
        train(net, params, X, Y, optimizer=custom, iterations=2, engine="numba")
    with pytest.raises(ValueError, match="The 'engine' parameter of .*|'engine' parameter must be one of"):
        train(net, params, X, Y, iterations=2, engine="jax")


def test_initialize_and_train_gives_init_options_to_the_initializer_not_the_scale_factor():
    """'random' has its own 'scale' option (its std); MLP.initialize's 'scale' multiplies the draw: not to be mixed."""
    from initlab import initializers, seeding
    from initlab.network import MLP
    from initlab.training import initialize_and_train

    net = MLP((2, 8, 1))
    X = np.random.default_rng(0).normal(size=(2, 20))
    Y = (X[0] > 0).astype(float)[np.newaxis]
    history = initialize_and_train(net, X, Y, init="random", init_options={"scale": 0.5}, models=2, rng=4,
                                   iterations=1, record_every=1, learning_rate=1e-12)  # fmt: skip
    expected = net.initialize(initializers.get("random", scale=0.5), rng=seeding.split(4)[0], models=2)
    np.testing.assert_allclose(history.params["W1"], expected["W1"], rtol=1e-9)  # one update of lr 1e-12
    assert 0.3 < expected["W1"].std() < 0.7  # std 0.5, not 0.5 x 10 or 10 x 0.5
