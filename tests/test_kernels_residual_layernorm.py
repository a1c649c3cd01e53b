"""The residual kernel's pre-LN branches (``norm="layer"``): against the numpy engine and against central differences.

The numpy engine (:class:`initlab.residual.ResidualPasses`) is the reference for whole runs, as in
``tests/test_kernels_residual.py``. Independently of it, the kernel's own gradient (read off one gd
step at learning rate 1) is checked against central differences of the kernel's own recorded loss,
with LayerNorm gains, biases and every scalar moved away from their initial values so that each
term of the backward pass counts.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_kernels_residual import Y3, X, Y, assert_agree, assert_same_divergence, both

from initlab.residual import ResidualMLP

pytest.importorskip("numba")
kernels_residual = pytest.importorskip("initlab.kernels_residual")

INITS = {"he_normal": "none", "fixup": "fixup", "rezero": "alpha", "zero_last": "none"}


@pytest.mark.parametrize("init", sorted(INITS))
@pytest.mark.parametrize("activation", ["relu", "tanh"])
@pytest.mark.parametrize("blocks", [1, 4])
def test_agrees_with_numpy(init, activation, blocks):
    net = ResidualMLP(2, 8, 1, blocks, activation=activation, norm="layer", scalars=INITS[init])
    # 0.01: at 0.02 tanh nets of 4 blocks hit a loss spike near iteration 280 where the numpy engine parts ways
    # with itself after a one-ulp change of one weight (measured), so no two engines can agree there
    fast, ref = both(net, init, learning_rate=0.01)
    assert_agree(fast, ref)
    assert (fast.diverged_at == -1).all()
    assert not np.allclose(ref.loss[:, 0], ref.loss[:, -1])  # it trained
    if init != "fixup":  # (Fixup's zero last layers keep the LN gradients near 0 for a while)
        assert np.ptp(fast.params["ln_gain"]) > 1e-4  # and the gains moved (they start at 1)


@pytest.mark.parametrize("depth", [1, 3])
@pytest.mark.parametrize("scalars,init", [("none", "he_normal"), ("fixup", "fixup"), ("alpha", "skipinit")])
def test_branch_depths_odd_width_and_softmax(depth, scalars, init):
    options = {"alpha0": 0.3} if init == "skipinit" else None
    net = ResidualMLP(2, 7, 3, 2, branch_depth=depth, output="softmax", activation="gelu", norm="layer",
                      scalars=scalars)  # fmt: skip
    fast, ref = both(net, init, Y=Y3, init_options=options, learning_rate=0.05, iterations=200)
    assert_agree(fast, ref)


def test_with_adam_minibatches_and_mup():
    net = ResidualMLP(2, 8, 1, 3, activation="tanh", norm="layer", scalars="alpha", parametrization="mup",
                      base_width=2)  # fmt: skip
    fast, ref = both(net, "lecun_normal", learning_rate=0.003, optimizer="adam", batch_size=64, streams=3)
    assert_agree(fast, ref)


def test_divergence_at_the_same_iteration():
    net = ResidualMLP(2, 6, 1, 3, norm="layer")
    rates = np.array([0.02, 1e30, 0.05, 1e150])
    fast, ref = both(net, "he_normal", learning_rate=rates, iterations=40, record_every=1, models=4)
    assert (ref.diverged_at[[1, 3]] >= 0).all() and (ref.diverged_at[[0, 2]] == -1).all()
    assert_same_divergence(fast, ref, trained=[0, 2], diverged=[1, 3])


# --------------------------------------------------------------------------------------------
# The kernel's gradient against central differences of the kernel's loss (no numpy engine)
# --------------------------------------------------------------------------------------------
def _kernel_losses(net, theta, T, learning_rate):
    """Each row's loss at iteration 0 and the row after one gd step (the kernel's forward and backward)."""
    theta = np.array(theta, order="C")  # trained in place: a copy
    losses, diverged_at = np.full((len(theta), 1), np.nan), np.full(len(theta), -1, dtype=np.int64)
    kernels_residual.gd_flat(net, theta, X, T, np.full(len(theta), learning_rate), start=0, stop=1, record_every=1,
                             loss="stable", losses=losses, diverged_at=diverged_at, threads=1)  # fmt: skip
    assert (diverged_at == -1).all()
    return losses[:, 0], theta


def _moved_parameters(net, rng) -> np.ndarray:
    """(P,) parameters with every group away from its initial value (gains off 1, biases and scalars off 0)."""
    params = net.initialize("he_normal", rng=rng, models=1)
    draw = np.random.default_rng(rng)
    for name, value in params.items():
        if not name.startswith("W"):
            value += 0.3 * draw.standard_normal(value.shape)
    params["W_out"] *= 0.5
    return net.flatten(params)[0]


@pytest.mark.parametrize(
    "net",
    [
        ResidualMLP(2, 5, 1, 2, activation="tanh", norm="layer"),
        ResidualMLP(2, 5, 1, 2, activation="tanh", norm="layer", scalars="alpha", branch_depth=1),
        ResidualMLP(2, 4, 3, 2, activation="gelu", norm="layer", scalars="fixup", output="softmax", branch_depth=3),
    ],
    ids=["none", "alpha-depth1", "fixup-softmax"],
)
def test_gradient_against_central_differences(net):
    T = Y.astype(float) if net.n_out == 1 else np.eye(3)[Y3[0]].T
    theta = _moved_parameters(net, 4)
    _, stepped = _kernel_losses(net, theta[np.newaxis], T, 1.0)
    grad = theta - stepped[0]  # one step at learning rate 1: theta - dL/dtheta
    h, P = 1e-6, theta.size
    shifted = np.repeat(theta[np.newaxis], 2 * P, axis=0)
    shifted[np.arange(P), np.arange(P)] += h
    shifted[P + np.arange(P), np.arange(P)] -= h
    losses, _ = _kernel_losses(net, shifted, T, 0.0)
    numeric = (losses[:P] - losses[P:]) / (2 * h)
    views = net.views(np.stack([grad, numeric]))
    for name in ("ln_gain", "ln_bias", "W_branch", "W_in", "W_out"):  # each group's gradient is not all zero
        assert np.abs(views[name][0]).max() > 1e-4, name
    np.testing.assert_allclose(grad, numeric, rtol=0, atol=1e-7 * np.abs(grad).max())
