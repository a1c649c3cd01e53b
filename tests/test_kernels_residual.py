"""The compiled residual engine (initlab.kernels_residual) against the numpy engine, the reference.

Both engines run with BLAS on one thread (``train`` pins it for the numpy engine; run the tests with
OPENBLAS_NUM_THREADS=1). Agreement: recorded losses to 1e-12 relative, parameters to 1e-10 on
well-conditioned runs (the plain-MLP kernel's standard); the same iteration of divergence.
"""

from __future__ import annotations

import numpy as np
import pytest

from initlab import course, optimizers
from initlab.residual import ResidualMLP
from initlab.training import train

pytest.importorskip("numba")
kernels_residual = pytest.importorskip("initlab.kernels_residual")

X, Y, _, _ = course.load_dataset()
Y3 = (np.arange(X.shape[1]) % 3)[np.newaxis]  # three classes for softmax nets (labels need not be learnable)


def both(net, init, *, learning_rate=0.05, iterations=300, record_every=10, Y=Y, models=3, rng=1, init_options=None,
         streams=None, **options):  # fmt: skip
    """Histories of the numba and numpy engines from the same initial parameters (``rng``) and minibatch streams."""
    params = net.initialize(init, rng=rng, models=models, **(init_options or {}))
    run = dict(learning_rate=learning_rate, iterations=iterations, record_every=record_every, rng=streams, **options)
    return train(net, params, X, Y, engine="numba", threads=1, **run), train(net, params, X, Y, **run)


def assert_agree(fast, ref, *, loss_rtol=1e-12, param_atol=1e-10):
    np.testing.assert_array_equal(fast.diverged_at, ref.diverged_at)
    assert np.isfinite(ref.loss).any()
    np.testing.assert_array_equal(np.isnan(fast.loss), np.isnan(ref.loss))
    np.testing.assert_allclose(fast.loss, ref.loss, rtol=loss_rtol, atol=0)
    assert sorted(fast.params) == sorted(ref.params)
    for name in ref.params:
        np.testing.assert_allclose(fast.params[name], ref.params[name], rtol=0, atol=param_atol, err_msg=name)


def assert_same_divergence(fast, ref, *, trained, diverged):
    """Runs where some models diverge: the same iterations of divergence and the same nan losses; the trained
    models' parameters to 1e-10, the diverged ones' last finite (huge) parameters to 1e-12 relative."""
    np.testing.assert_array_equal(fast.diverged_at, ref.diverged_at)
    np.testing.assert_array_equal(np.isnan(fast.loss), np.isnan(ref.loss))
    np.testing.assert_allclose(fast.loss, ref.loss, rtol=1e-12)
    for name in ref.params:
        np.testing.assert_allclose(fast.params[name][trained], ref.params[name][trained], rtol=0, atol=1e-10)
        np.testing.assert_allclose(fast.params[name][diverged], ref.params[name][diverged], rtol=1e-12)


INITS = {"he_normal": "none", "fixup": "fixup", "rezero": "alpha", "zero_last": "none"}


@pytest.mark.parametrize("init", sorted(INITS))
@pytest.mark.parametrize("activation", ["relu", "tanh"])
@pytest.mark.parametrize("blocks", [1, 3, 8])
def test_agrees_with_numpy_sigmoid(init, activation, blocks):
    net = ResidualMLP(2, 8, 1, blocks, activation=activation, scalars=INITS[init])
    fast, ref = both(net, init, learning_rate=0.02 if blocks < 8 else 0.01)  # 0.05: tanh He B=3 is chaotic
    assert_agree(fast, ref)
    assert (fast.diverged_at == -1).all()
    assert not np.allclose(ref.loss[:, 0], ref.loss[:, -1])  # it trained: the comparison is not of constants


@pytest.mark.parametrize("init", sorted(INITS))
@pytest.mark.parametrize("blocks", [1, 3, 8])
def test_agrees_with_numpy_softmax(init, blocks):
    net = ResidualMLP(2, 6, 3, blocks, output="softmax", activation="tanh", scalars=INITS[init])
    fast, ref = both(net, init, Y=Y3, learning_rate=0.05 if blocks < 8 else 0.01, iterations=200)
    assert_agree(fast, ref)


@pytest.mark.parametrize("activation", ["leaky_relu", "sigmoid", "linear", "selu", "gelu"])
def test_other_activations(activation):
    net = ResidualMLP(2, 5, 1, 2, activation=activation, scalars="fixup", slope=-0.2)
    fast, ref = both(net, "fixup", learning_rate=0.02, iterations=200)
    assert_agree(fast, ref)


@pytest.mark.parametrize("depth", [1, 3])
@pytest.mark.parametrize("scalars,init", [("none", "he_normal"), ("fixup", "fixup"), ("alpha", "skipinit")])
def test_branch_depths_and_odd_width(depth, scalars, init):
    options = {"alpha0": 0.3} if init == "skipinit" else None
    net = ResidualMLP(2, 7, 1, 2, branch_depth=depth, scalars=scalars)
    fast, ref = both(net, init, init_options=options, learning_rate=0.03, iterations=200)
    assert_agree(fast, ref)


def test_divergence_at_the_same_iteration():
    """Deep plain residual nets with He branches blow up within a few iterations (#15's Fixup argument)."""
    net = ResidualMLP(2, 8, 1, 16)
    fast, ref = both(net, "he_normal", learning_rate=0.01, iterations=50, record_every=1, models=4, rng=0)
    assert (ref.diverged_at >= 0).all() and (ref.diverged_at < 10).all()
    np.testing.assert_array_equal(fast.diverged_at, ref.diverged_at)
    np.testing.assert_array_equal(np.isnan(fast.loss), np.isnan(ref.loss))
    np.testing.assert_allclose(fast.loss, ref.loss, rtol=1e-10)  # huge logits: a few more ulps than the 1e-12 line
    for name in ref.params:  # the last finite parameters
        np.testing.assert_allclose(fast.params[name], ref.params[name], rtol=1e-10, atol=1e-10, err_msg=name)


def test_mixed_divergence_and_segments():
    """Models that diverge and models that train, per-model learning rates, diagnostics splitting the run."""
    net = ResidualMLP(2, 8, 1, 4)
    rates = np.array([0.02, 1e4, 0.01, 1e8])
    fast, ref = both(net, "he_normal", learning_rate=rates, iterations=120, record_every=7, models=4, diagnostics=25)
    assert (ref.diverged_at[[1, 3]] >= 0).all() and (ref.diverged_at[[0, 2]] == -1).all()
    np.testing.assert_array_equal(fast.diverged_at, ref.diverged_at)
    np.testing.assert_allclose(fast.loss, ref.loss, rtol=1e-12)
    for name in ref.params:  # trained models to 1e-10; the diverged ones' last finite (huge) parameters relatively
        np.testing.assert_allclose(fast.params[name][[0, 2]], ref.params[name][[0, 2]], rtol=0, atol=1e-10)
        np.testing.assert_allclose(fast.params[name][[1, 3]], ref.params[name][[1, 3]], rtol=1e-12)
    assert len(fast.diagnostics) == len(ref.diagnostics) == 6


def test_threads_do_not_change_the_numbers():
    net = ResidualMLP(2, 8, 1, 3, scalars="fixup")
    params = net.initialize("fixup", rng=2, models=5)
    runs = [train(net, params, X, Y, learning_rate=0.05, iterations=60, engine="numba", threads=t)
            for t in (1, min(2, kernels_residual.max_threads()))]  # fmt: skip
    np.testing.assert_array_equal(runs[0].loss, runs[1].loss)
    for name in runs[0].params:
        np.testing.assert_array_equal(runs[0].params[name], runs[1].params[name])


def test_legacy_loss():
    net = ResidualMLP(2, 8, 1, 2)
    fast, ref = both(net, "he_normal", loss="legacy", iterations=100)
    assert_agree(fast, ref)


def test_an_optimizer_without_a_compiled_form_is_refused_in_one_line():
    """Every net, parametrization, norm and batch size compiles; an optimizer the kernel does not know is refused."""
    net = ResidualMLP(2, 8, 1, 2, norm="layer", parametrization="mup")
    custom = optimizers.Optimizer("nesterov", (), 1, False, optimizers.momentum().update)
    params = net.initialize("he_normal", rng=0, models=2)
    with pytest.raises(ValueError) as info:
        train(net, params, X, Y, iterations=5, optimizer=custom, batch_size=32, engine="numba")
    message = str(info.value)
    assert "optimizer nesterov() has no compiled form" in message and "engine='numpy'" in message
    assert "\n" not in message


def test_supported():
    for net in (ResidualMLP(2, 4, 1, 2, scalars="fixup"), ResidualMLP(2, 4, 1, 2, norm="layer", scalars="alpha"),
                ResidualMLP(2, 4, 1, 2, parametrization="ntk"), ResidualMLP(2, 4, 3, 2, output="softmax")):  # fmt: skip
        for optimizer in ("gd", "sgd", "momentum", "adam"):
            assert kernels_residual.supported(net, "stable", optimizers.get(optimizer), 32) is None
    assert kernels_residual.supported(ResidualMLP(2, 4, 1, 2), "legacy", "gd") is None
    assert "residual MLPs only" in kernels_residual.supported(object())
    assert "loss 'other'" in kernels_residual.supported(ResidualMLP(2, 4, 1, 2), "other")


def test_gd_flat_checks_its_buffers():
    net = ResidualMLP(2, 4, 1, 2)
    theta = np.zeros((2, net.parameter_count + 1))
    with pytest.raises(ValueError, match="'theta'"):
        kernels_residual.gd_flat(net, theta, X, Y.astype(float), np.ones(2), start=0, stop=1, record_every=1,
                                 loss="stable", losses=np.full((2, 1), np.nan),
                                 diverged_at=np.full(2, -1, dtype=np.int64))  # fmt: skip


def test_a_cache_built_against_other_helpers_is_dropped(tmp_path, monkeypatch):
    """numba keys this module's cache on its own file; the stamp of kernels.py makes a change there count too."""
    from initlab import kernels_residual

    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    stale = tmp_path / "sub" / "kernels_residual._train-12.py311.nbi"
    stale.parent.mkdir()
    stale.write_text("old")
    other = tmp_path / "kernels._exp-1.py311.nbi"
    other.write_text("not ours")
    (tmp_path / "kernels_residual.kernels-sha256").write_text("a hash of some other kernels.py")
    kernels_residual._drop_stale_cache()
    assert not stale.exists() and other.exists()
    stamp = (tmp_path / "kernels_residual.kernels-sha256").read_text()
    assert len(stamp) == 64
    stale.write_text("built against this kernels.py")
    kernels_residual._drop_stale_cache()  # the stamp matches: nothing is removed
    assert stale.exists()
