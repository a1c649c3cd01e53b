"""The residual kernel's parametrizations, optimizers and minibatches, against the numpy engine.

As in ``tests/test_kernels_residual.py``: the numpy engine (:class:`initlab.state.TrainingState`) is
the reference, recorded losses to 1e-12 relative and parameters to 1e-10 on well-conditioned runs,
the same iteration of divergence. Both engines draw the same minibatches (one stream per model, the
``rng`` of ``train``); the optimizer's state lives in the state, so the engines can take turns.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_kernels_optimizers import assert_refuses_overruns
from test_kernels_residual import Y3, X, Y, assert_agree, assert_same_divergence

from initlab import optimizers, seeding
from initlab.residual import ResidualMLP
from initlab.state import TrainingState
from initlab.training import train

pytest.importorskip("numba")
kernels_residual = pytest.importorskip("initlab.kernels_residual")

LEARNING_RATE = {"gd": 0.02, "sgd": 0.02, "momentum": 0.02, "adam": 0.003}  # well-conditioned for the nets below
# One net per optimizer, so that each rule meets another set of scalars: (net options, init, init options)
NETS = {
    "sgd": (dict(scalars="fixup"), "fixup", {}),
    "momentum": (dict(scalars="alpha", activation="tanh"), "skipinit", {"alpha0": 0.5}),
    "adam": (dict(), "he_normal", {}),
}


def run_both(net, params, *, Y=Y, **options):
    """``(compiled, numpy)`` histories of one run; ``rng`` (the minibatch streams) as given in ``options``."""
    return train(net, params, X, Y, engine="numba", threads=1, **options), train(net, params, X, Y, **options)


@pytest.mark.parametrize("parametrization", ["standard", "mup"])
@pytest.mark.parametrize("batch_size", [None, 64], ids=["full", "batch64"])  # 300 = 4 x 64 + 44: a short last batch
@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
def test_every_optimizer_agrees_with_the_numpy_engine(optimizer, batch_size, parametrization):
    options, init, init_options = NETS[optimizer]
    net = ResidualMLP(2, 8, 1, 3, parametrization=parametrization, base_width=2 if parametrization == "mup" else None,
                      **options)  # fmt: skip
    if parametrization == "mup":  # the factors are not all 1: a kernel ignoring them would part ways
        assert np.ptp(net.learning_rate_factors(optimizer)) >= 0.75
    params = net.initialize(init, rng=7, models=3, **init_options)
    fast, ref = run_both(net, params, learning_rate=LEARNING_RATE[optimizer], iterations=240, record_every=20,
                         optimizer=optimizer, batch_size=batch_size, rng=11)  # fmt: skip
    assert_agree(fast, ref)
    assert (ref.diverged_at == -1).all() and np.all(ref.loss[:, -1] < ref.loss[:, 0])  # it trained


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_softmax_with_minibatches(optimizer):
    net = ResidualMLP(2, 6, 3, 2, output="softmax", activation="tanh", scalars="fixup", parametrization="mup",
                      base_width=3)  # fmt: skip
    params = net.initialize("fixup", rng=3, models=3)
    fast, ref = run_both(net, params, Y=Y3, learning_rate=LEARNING_RATE[optimizer], iterations=150, record_every=10,
                         optimizer=optimizer, batch_size=50, rng=5)  # fmt: skip
    assert_agree(fast, ref)


@pytest.mark.parametrize("parametrization", ["ntk", "mup"])
def test_parametrized_gradient_descent_agrees(parametrization):
    """Full-batch gd under ntk and mup, one rate per model times each group's factor."""
    net = ResidualMLP(2, 8, 1, 3, scalars="alpha", parametrization=parametrization)
    params = net.initialize("lecun_normal", rng=3, models=3)
    fast, ref = run_both(net, params, learning_rate=np.array([0.01, 0.02, 0.04]), iterations=300, record_every=25)
    assert_agree(fast, ref)


def test_the_factors_change_the_run():
    """The comparisons above can fail: the same net trained at factors of 1 ends elsewhere than under muP."""
    mup = ResidualMLP(2, 8, 1, 3, parametrization="mup", base_width=2)
    standard = ResidualMLP(2, 8, 1, 3)
    params = mup.initialize("he_normal", rng=7, models=2)
    runs = [train(net, params, X, Y, learning_rate=0.02, iterations=100, engine="numba") for net in (mup, standard)]
    assert np.max(np.abs(runs[0].final_loss - runs[1].final_loss)) > 1e-3


def test_adam_epsilon_factors_of_mup_are_applied():
    """With a large epsilon, muP's per-parameter epsilon (epsilon / a) changes the run: both engines apply it."""
    net = ResidualMLP(2, 16, 1, 2, activation="tanh", parametrization="mup", base_width=2)
    assert np.ptp(net.epsilon_factors()) > 1.0
    params = net.initialize("lecun_normal", rng=5, models=2)
    options = dict(learning_rate=0.003, iterations=150, record_every=10, batch_size=50, rng=2)
    fast, ref = run_both(net, params, optimizer=optimizers.get("adam", epsilon=1e-2), **options)
    assert_agree(fast, ref)
    other = train(net, params, X, Y, optimizer=optimizers.get("adam", epsilon=2e-2), **options)
    assert np.max(np.abs(other.loss - ref.loss) / ref.loss) > 1e-6  # epsilon matters at this size


@pytest.mark.parametrize(("optimizer", "batch_size"), [("sgd", 32), ("momentum", None), ("adam", 64), ("adam", None)])
def test_diverging_models_freeze_at_the_same_iteration(optimizer, batch_size):
    net = ResidualMLP(2, 6, 1, 2, activation="leaky_relu")
    params = net.initialize("he_normal", rng=1, models=4)
    lr = {"adam": [0.003, 1e60, 0.001, 1e200], "sgd": [0.01, 1e20, 0.02, 1e50], "momentum": [0.01, 1e30, 0.02, 1e80]}
    fast, ref = run_both(net, params, learning_rate=np.array(lr[optimizer]), iterations=60, record_every=1,
                         optimizer=optimizer, batch_size=batch_size, rng=4)  # fmt: skip
    np.testing.assert_array_equal(ref.diverged, [False, True, False, True])
    assert_same_divergence(fast, ref, trained=[0, 2], diverged=[1, 3])
    for k in (1, 3):  # nan from the iteration of divergence on
        d = fast.diverged_at[k]
        assert np.all(np.isfinite(fast.loss[k, :d])) and np.all(np.isnan(fast.loss[k, d:]))


# --------------------------------------------------------------------------------------------
# One state, both engines: the optimizer's state and the minibatch order carry over
# --------------------------------------------------------------------------------------------
def _state(net, params, *, optimizer, batch_size, iterations, lr=0.003):
    """A TrainingState as train() builds it (lr: one for all models or one each), minibatch streams of seed 9."""
    Xc, T = net.check_data(X, Y)
    K = len(params["W_in"])
    return TrainingState(net, net.flatten(params), Xc, T, np.broadcast_to(lr, (K,)), iterations=iterations,
                         record_every=10, loss="stable", optimizer=optimizers.get(optimizer), batch_size=batch_size,
                         streams=seeding.model_streams(9, K))  # fmt: skip


def _advance(state, engine: str, n: int) -> None:
    if engine == "numpy":
        state.advance(n)
    else:
        kernels_residual.advance(state, n, threads=1)


@pytest.mark.parametrize("norm", ["none", "layer"])
def test_engines_take_turns_on_one_state(norm):
    """numpy 37, numba 100, numpy 23, numba 40 iterations (switches in mid-epoch) = numpy for all 200."""
    net = ResidualMLP(2, 8, 1, 3, activation="tanh", norm=norm, parametrization="mup", base_width=2)
    params = net.initialize("lecun_normal", rng=2, models=3)
    options = dict(optimizer="adam", batch_size=64, iterations=200)
    reference = _state(net, params, **options)
    reference.advance(200)
    mixed = _state(net, params, **options)
    for engine, n in (("numpy", 37), ("numba", 100), ("numpy", 23), ("numba", 40)):
        _advance(mixed, engine, n)
    assert mixed.iteration == reference.iteration == 200
    np.testing.assert_allclose(mixed.losses, reference.losses, rtol=1e-12, atol=0)
    for got, want in zip((mixed.theta, *mixed.opt_state), (reference.theta, *reference.opt_state)):
        scale = np.max(np.abs(want), axis=1, keepdims=True)
        assert np.all(np.abs(got - want) <= 1e-10 * scale)
    np.testing.assert_array_equal(mixed.order, reference.order)  # the streams were drawn alike
    assert [s.integers(1 << 30) for s in mixed.streams] == [s.integers(1 << 30) for s in reference.streams]


@pytest.mark.parametrize("first", ["numba", "numpy"])
def test_a_model_frozen_by_one_engine_stays_frozen_in_the_other(first):
    net = ResidualMLP(2, 6, 1, 2, activation="leaky_relu")
    params = net.initialize("he_normal", rng=1, models=4)
    lr = np.array([0.01, 1e20, 0.02, 1e50])
    options = dict(optimizer="sgd", batch_size=32, iterations=60, lr=lr)
    reference = _state(net, params, **options)
    reference.advance(60)
    assert list(reference.diverged_at >= 0) == [False, True, False, True] and reference.diverged_at.max() < 20
    mixed = _state(net, params, **options)
    for engine in (first, {"numba": "numpy", "numpy": "numba"}[first], first):
        _advance(mixed, engine, 20)
    np.testing.assert_array_equal(mixed.diverged_at, reference.diverged_at)
    np.testing.assert_array_equal(np.isnan(mixed.losses), np.isnan(reference.losses))
    np.testing.assert_allclose(mixed.losses, reference.losses, rtol=1e-12, atol=0)
    for k in range(4):
        scale = np.max(np.abs(reference.theta[k]))
        assert np.all(np.abs(mixed.theta[k] - reference.theta[k]) <= 1e-10 * scale)


def test_compiled_segments_equal_one_call():
    """Segments of any length (mid-epoch, across kernel calls) give the same bits as one call, optimizer state too."""
    net = ResidualMLP(2, 8, 1, 2, scalars="fixup", parametrization="mup", base_width=2)
    params = net.initialize("fixup", rng=6, models=3)
    runs = []
    for pieces in ([250], [3, 64, 1, 100, 82]):
        state = _state(net, params, optimizer="momentum", batch_size=48, iterations=250, lr=0.02)
        for n in pieces:
            kernels_residual.advance(state, n, threads=1)
        runs.append(state)
    whole, split = runs
    np.testing.assert_array_equal(whole.losses, split.losses)
    np.testing.assert_array_equal(whole.theta, split.theta)
    np.testing.assert_array_equal(whole.opt_state[0], split.opt_state[0])


def test_results_do_not_depend_on_the_number_of_threads():
    net = ResidualMLP(2, 8, 1, 2, activation="tanh", norm="layer", scalars="alpha")
    params = net.initialize("xavier_normal", rng=4, models=5)
    options = dict(learning_rate=0.003, iterations=100, record_every=10, optimizer="adam", batch_size=30, rng=1)
    one = train(net, params, X, Y, engine="numba", threads=1, **options)
    two = train(net, params, X, Y, engine="numba", threads=min(2, kernels_residual.max_threads()), **options)
    np.testing.assert_array_equal(one.loss, two.loss)
    for key in params:
        np.testing.assert_array_equal(one.params[key], two.params[key])


# --------------------------------------------------------------------------------------------
# Boundaries
# --------------------------------------------------------------------------------------------
def test_train_flat_rejects_buffers_it_would_overrun():
    net = ResidualMLP(2, 3, 1, 1)
    K, P, m = 2, net.parameter_count, X.shape[1]
    good = dict(start=0, stop=10, record_every=5, loss="stable", losses=np.full((K, 2), np.nan))
    T = Y.astype(float)

    def call(**kwargs):
        kernels_residual.train_flat(net, np.zeros((K, P)), X, T, np.ones(K), diverged_at=np.full(K, -1),
                                    **{**good, **kwargs})  # fmt: skip

    assert_refuses_overruns(call, K, P, m)
