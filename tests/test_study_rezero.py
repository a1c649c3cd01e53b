"""The rezero study: its two arms, its step counts and ratio, its lines, and its quick verdict under two root seeds."""

from __future__ import annotations

import numpy as np
import pytest

from initlab.studies import rezero as rz
from initlab.studies.base import Measured, Unit


def _softmax(z):
    e = np.exp(z - z.max(axis=-2, keepdims=True))
    return e / e.sum(axis=-2, keepdims=True)


def test_at_initialization_rezero_is_the_net_without_blocks():
    # alpha = 0: every block passes its input through, so the net is the one with zero blocks,
    # softmax(W_out relu(W_in x + b_in) + b_out), written out here without the engine.
    X = np.random.default_rng(3).normal(size=(64, 40))
    net = rz.network(6, "rezero")
    P = net.initialize("rezero", rng=[np.random.SeedSequence(5, spawn_key=(k,)) for k in range(3)])
    assert net.scalars == "alpha" and np.all(P["alpha"] == 0.0)
    shallow = _softmax(P["W_out"] @ np.maximum(P["W_in"] @ X + P["b_in"], 0.0) + P["b_out"])
    np.testing.assert_allclose(net.forward(P, X), shallow, rtol=1e-12, atol=1e-15)
    # the branches themselves are not zero: He matrices, variance 2 / width
    W = P["W_branch"]
    assert W.var() * rz.WIDTH == pytest.approx(2.0, rel=0.05)
    # the plain net of the same stream has the same matrices, alpha = 1 as a constant, and another output
    plain = rz.network(6, "he_normal")
    Q = plain.initialize("he_normal", rng=[np.random.SeedSequence(5, spawn_key=(k,)) for k in range(3)])
    assert plain.scalars == "none" and "alpha" not in Q
    for name in ("W_in", "W_branch", "W_out"):
        np.testing.assert_array_equal(P[name], Q[name])
    assert not np.allclose(plain.forward(Q, X), shallow)


def test_both_arms_of_a_seed_share_matrices_and_minibatches(monkeypatch):
    # measure() draws both arms from the same streams: the same matrices and the same minibatch order.
    seen = {}
    real = rz.train

    def spy(net, params, *args, **kwargs):
        seen[net.scalars] = (params, [np.random.default_rng(s).integers(1 << 30) for s in kwargs["rng"]])
        return real(net, params, *args, **kwargs)

    monkeypatch.setattr(rz, "train", spy)
    monkeypatch.setattr(rz, "STEPS", 20)
    for init in rz.ARMS:
        out = rz.measure("quick", Unit({"blocks": 3, "init": init}, 0, 2), root=4)
        assert out["loss"].shape == (2, 2) and out["test_accuracy"].shape == (2,)
    (p, order_p), (q, order_q) = seen["none"], seen["alpha"]
    for name in ("W_in", "W_branch", "W_out"):
        np.testing.assert_array_equal(p[name], q[name])
    assert order_p == order_q


def test_a_seed_is_the_same_in_any_unit(monkeypatch):
    monkeypatch.setattr(rz, "STEPS", 20)
    cell = {"blocks": 3, "init": "rezero"}
    whole = rz.measure("quick", Unit(cell, 0, 3), root=4)
    parts = [rz.measure("quick", Unit(cell, a, b), root=4) for a, b in ((0, 1), (1, 3))]
    for name in ("loss", "final_loss", "test_accuracy", "alpha_abs"):
        np.testing.assert_array_equal(whole[name], np.concatenate([p[name] for p in parts]))
    assert not np.array_equal(rz.measure("quick", Unit(cell, 0, 3), root=5)["loss"], whole["loss"])


def test_steps_to_threshold_and_the_speedup():
    n = rz.STEPS // rz.RECORD_EVERY
    loss = np.full((4, n), 1.0)
    loss[0, 6:] = 0.4  # reaches at step 60
    loss[1, 3] = rz.THRESHOLD  # exactly on it at step 30 counts
    loss[2, 5:] = np.nan  # diverged at 50: never reached
    final = np.array([0.4, 0.4, np.nan, 0.3])  # seed 3 reaches it only with its final parameters
    t = rz.steps_to_threshold(loss, final)
    np.testing.assert_array_equal(t[[0, 1, 3]], [60.0, 30.0, rz.STEPS])
    assert np.isnan(t[2])
    # plain / ReZero; a censored plain net counts as STEPS (lower bound), a censored ReZero as 0
    plain = np.array([300.0, np.nan, 90.0, 50.0])
    rezero = np.array([60.0, 50.0, np.nan, 0.0])
    np.testing.assert_allclose(rz.speedup(plain, rezero), [5.0, rz.STEPS / 50.0, 0.0, 50.0 / rz.RECORD_EVERY])


def _measured(plain_at: int, rezero_at: int, seeds: int = 2) -> Measured:
    """Fabricated units: every seed's loss drops to 0.1 at the given step."""
    n = rz.STEPS // rz.RECORD_EVERY
    pairs = []
    for init, at in (("he_normal", plain_at), ("rezero", rezero_at)):
        loss = np.where(np.arange(n) * rz.RECORD_EVERY >= at, 0.1, 2.0)[None].repeat(seeds, 0)
        numbers = {"loss": loss, "final_loss": np.full(seeds, 0.1), "test_accuracy": np.full(seeds, 0.9),
                   "diverged": np.zeros(seeds, bool), "train_accuracy": np.full(seeds, 0.95)}  # fmt: skip
        if init == "rezero":
            numbers["alpha_abs"] = np.full(seeds, 0.2)
        pairs.append((Unit({"blocks": 32, "init": init}, 0, seeds), numbers))
    return Measured(pairs, seeds)


def test_the_verdict_can_fail_and_says_by_how_much():
    # A plain net only twice as slow misses the factor 3: NOT SUPPORTED, margin 2 - 3.
    r = rz.reduce("quick", 2, _measured(plain_at=200, rezero_at=100))
    assert not r.verdict.supported and r.verdict.margin == pytest.approx(2.0 - rz.FACTOR)
    assert "smallest speedup over 2 seeds" in r.verdict.detail and "line 3: short by 1" in r.verdict.detail
    r = rz.reduce("quick", 2, _measured(plain_at=400, rezero_at=100))
    assert r.verdict.supported and r.verdict.margin == pytest.approx(4.0 - rz.FACTOR)


def test_the_lines_were_fixed_in_advance():
    # the constants the docstring states (fixed before the run)
    assert (rz.THRESHOLD, rz.FACTOR, rz.STEPS, rz.LEARNING_RATE, rz.BATCH, rz.WIDTH) == (0.5, 3.0, 500, 1e-3, 128, 32)
    assert rz.SIZES["quick"]["blocks"] == (32,) and rz.SIZES["default"]["blocks"] == (32, 64)
    for text in ("0.5 nats", "Adam", "digits", "500 steps", "width 32", "FACTOR"):
        assert text in rz.__doc__


@pytest.mark.parametrize("rng", [0, 1])
def test_quick_verdict(study_quick, rng):
    r = study_quick("rezero", rng=rng)
    d = r.data
    e = d["by_blocks"]["32"]
    t_plain, t_rezero = (np.asarray(e["steps"][a], dtype=float) for a in ("he_normal", "rezero"))
    assert r.seeds >= 3 and t_rezero.shape == (r.seeds,)
    # the step counts follow from the recorded curves and the fixed threshold
    for arm, t in (("he_normal", t_plain), ("rezero", t_rezero)):
        loss = np.asarray(e["loss"][arm], dtype=float)
        for k in range(r.seeds):
            below = np.flatnonzero(loss[k] <= rz.THRESHOLD)
            if below.size:
                assert t[k] == below[0] * rz.RECORD_EVERY
    # ReZero reaches the threshold in every seed, well inside the budget ...
    assert np.isfinite(t_rezero).all() and (t_rezero < rz.STEPS / rz.FACTOR).all()
    # ... the plain residual net of the same matrices does not (its forward pass explodes: ~2^(B/2) in scale)
    ratio = np.asarray(e["speedup"], dtype=float)
    assert r.verdict.supported
    assert r.verdict.margin == pytest.approx(ratio.min() - rz.FACTOR)
    assert (ratio >= rz.FACTOR).all()
    # ReZero's branch scales moved away from 0 during training
    assert (np.asarray(e["alpha_abs"], dtype=float) > 0).all()
