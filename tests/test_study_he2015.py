"""initlab.studies.he2015: the quick run meets the study's own lines under two root seeds; the
measurements at initialization against an independent computation; the lines can fail."""

from __future__ import annotations

import math

import numpy as np
import pytest

from initlab import studies
from initlab.network import MLP
from initlab.stats import mean_ci
from initlab.studies import he2015
from initlab.studies.base import Measured, Unit

LN2 = math.log(2.0)


def _inside(est, lo, hi):
    return lo < est.low and est.high < hi


@pytest.mark.parametrize("rng", [0, 1])
def test_quick_meets_the_studys_own_lines(study_quick, rng):
    """The verdict's criteria, recomputed from the data with the docstring's numbers (not the module's)."""
    r = study_quick("he2015", rng)
    assert r.seeds >= 5 and tuple(r.data["depths"]) == (30,)
    assert r.data["width"] >= 128
    he, xav = r.data["30/he_normal"], r.data["30/lecun_normal"]
    for e, band in ((he, (0.85, 1.15)), (xav, (0.4, 0.6))):
        assert _inside(mean_ci(e["forward_ratio"]), *band)  # (1) forward: holds / halves per layer
        assert _inside(mean_ci(e["backward_ratio"]), *band)  # (2) backward: holds / halves per layer (eq. 13)
    # (3) the gradient reaching layer 1: log2 ratio within -(L-1)/2 +- 0.5, L = 30
    dz1 = mean_ci(0.5 * np.log2(np.asarray(xav["dz_ms"])[:, 0] / np.asarray(he["dz_ms"])[:, 0]))
    assert _inside(dz1, -14.5 - 0.5, -14.5 + 0.5)
    # (4) Xavier never leaves ln 2 by more than 0.01; He's lowest loss is below Xavier's by more than 0.05
    assert mean_ci(np.abs(np.asarray(xav["loss"]) - LN2).max(axis=1)).high < 0.01
    assert mean_ci(np.asarray(xav["loss"]).min(axis=1) - np.asarray(he["loss"]).min(axis=1)).low > 0.05
    assert r.verdict.supported, str(r.verdict)


def test_xavier_is_he_scaled_by_one_over_sqrt2_on_the_same_seed(study_quick):
    """The paired design the docstring relies on: Z^[l] under Xavier is exactly 2^(-l/2) of He's (zero biases)."""
    r = study_quick("he2015", 0)
    he, xav = np.asarray(r.data["30/he_normal"]["z_std"]), np.asarray(r.data["30/lecun_normal"]["z_std"])
    layers = np.arange(1, he.shape[1] + 1)
    np.testing.assert_allclose(xav, he * 2.0 ** (-layers / 2), rtol=1e-10)


def test_init_profile_against_a_per_example_loop_and_finite_differences():
    """dZ of every layer from a plain per-example backward loop; dW1 from central differences of the loss."""
    rng = np.random.default_rng(3)
    net = MLP((2, 8, 8, 6, 1), activation="relu")
    P = net.initialize("he_normal", rng=[int(rng.integers(2**32)) for _ in range(2)])
    X = rng.standard_normal((2, 9))
    Y = (rng.random((1, 9)) < 0.5).astype(float)
    got = he2015.init_profile(net, P, *net.check_data(X, Y))
    L, m = net.n_layers, X.shape[1]
    for k in range(2):
        W = [P[f"W{l}"][k] for l in range(1, L + 1)]
        dz2 = np.zeros(L)
        zs = []
        for i in range(m):
            a, z_list = X[:, i], []
            for l in range(L):
                z = W[l] @ a
                z_list.append(z)
                a = np.maximum(z, 0) if l < L - 1 else z
            zs.append(z_list)
            dz = np.array([1 / (1 + np.exp(-z_list[-1][0])) - Y[0, i]]) / m  # d(mean BCE)/d logit
            dz2[L - 1] += dz @ dz
            for l in range(L - 2, -1, -1):
                dz = (W[l + 1].T @ dz) * (z_list[l] > 0)
                dz2[l] += dz @ dz
        units = np.array(net.layers[1:])
        np.testing.assert_allclose(got["dz_ms"][k], dz2 / (units * m), rtol=1e-10)
        z_all = [np.stack([zs[i][l] for i in range(m)], axis=1) for l in range(L)]
        np.testing.assert_allclose(got["z_std"][k], [z.std() for z in z_all], rtol=1e-10)

        def loss(W1, W=W):
            a = X
            for l, Wl in enumerate([W1] + W[1:]):
                z = Wl @ a
                a = np.maximum(z, 0) if l < L - 1 else z
            return np.mean(np.logaddexp(0, z) - Y * z)

        h, g = 1e-6, np.zeros_like(W[0])
        for idx in np.ndindex(*W[0].shape):
            e = np.zeros_like(W[0])
            e[idx] = h
            g[idx] = (loss(W[0] + e) - loss(W[0] - e)) / (2 * h)
        assert got["grad_W1"][k] == pytest.approx(np.linalg.norm(g), rel=1e-6)


def test_time_to_leave_is_the_first_record_below_ln2_minus_the_gap_or_the_budget():
    loss = np.array([[0.70, 0.69, 0.60, 0.70], [0.69, 0.69, 0.69, 0.69], [0.5, 0.7, 0.7, 0.7]])
    at = np.array([0, 10, 20, 30])
    np.testing.assert_array_equal(he2015.time_to_leave(loss, at, 40), [20, 40, 0])


def _fake(depths, iterations, *, xavier_leaves_at):
    """Measured numbers that meet every line, except that Xavier leaves ln 2 at ``xavier_leaves_at``."""
    K = 4
    pairs = []
    for depth in depths:
        for init in he2015.INITS:
            xav = init == he2015.XAVIER
            jitter = np.linspace(-0.01, 0.01, K)
            time = np.full(K, xavier_leaves_at if xav else 100)
            pairs.append((Unit({"depth": depth, "init": init}, 0, K), {
                "z_std": np.ones((K, depth)), "dz_ms": np.full((K, depth), 2.0 ** -(depth - 1) if xav else 1.0),
                "grad_W1": np.ones(K), "forward_ratio": (0.5 if xav else 1.0) + jitter,
                "backward_ratio": (0.5 if xav else 1.0) + jitter,
                "loss": np.full((K, 3), LN2 if xav else 0.3), "iterations": np.tile([0, 10, iterations], (K, 1)),
                "final_loss": np.full(K, LN2 if xav else 0.3), "train_accuracy": np.full(K, 0.5),
                "lowest_loss": np.full(K, LN2 if xav else 0.3) + jitter, "largest_deviation": np.full(K, 1e-4),
                "time_to_leave": time + np.arange(K)}))  # fmt: skip
    return Measured(pairs, K)


def test_the_22_layer_line_fails_when_xavier_leaves_ln2_as_early_as_he():
    """Fig. 2's line is not a stall: it fails only when Xavier is not later than He."""
    iterations = he2015.SIZES["default"]["iterations"]
    later = he2015.reduce("default", 4, _fake((22, 30), iterations, xavier_leaves_at=iterations))
    assert later.verdict.supported, str(later.verdict)
    same = he2015.reduce("default", 4, _fake((22, 30), iterations, xavier_leaves_at=100))
    assert not same.verdict.supported and "22 layers: he leaves ln 2 earlier" in same.verdict.detail


def test_chunking_does_not_change_a_seed(monkeypatch):
    monkeypatch.setitem(he2015.SIZES, "quick", {"depths": (6,), "iterations": 30})
    reference = studies.run("he2015", size="quick", seeds=4, rng=5)
    monkeypatch.setattr(he2015, "CHUNK", 3)
    assert {u.stop - u.first for u in he2015.plan("quick", 4)} == {3, 1}
    again = studies.run("he2015", size="quick", seeds=4, rng=5)
    for key in ("6/he_normal", "6/lecun_normal"):
        for name, value in reference.data[key].items():
            np.testing.assert_array_equal(again.data[key][name], value)
    other = studies.run("he2015", size="quick", seeds=4, rng=6)
    assert not np.array_equal(other.data["6/he_normal"]["loss"], reference.data["6/he_normal"]["loss"])
