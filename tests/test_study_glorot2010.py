"""initlab.studies.glorot2010: the quick run meets the study's own lines under two root seeds; the deep
layers follow the linear-regime closed forms; the per-layer numbers against a plain numpy computation;
the lines can fail."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from threadpoolctl import threadpool_limits

from initlab import seeding
from initlab.studies import glorot2010
from initlab.studies.base import Measured, Unit

SQRT3 = math.sqrt(3.0)
QUARTER_CIRCLE_MEAN = 8.0 / (3.0 * math.pi)  # mean singular value of an n x n matrix with entries of variance 1/n


def _interval(values):
    """95 % Student-t interval of the mean (scipy, not initlab.stats)."""
    values = np.asarray(values, dtype=float)
    half = stats.t.ppf(0.975, values.size - 1) * values.std(ddof=1) / math.sqrt(values.size)
    return values.mean() - half, values.mean() + half


@pytest.mark.parametrize("rng", [0, 1])
def test_quick_meets_the_studys_own_lines(study_quick, rng):
    """Every line of the docstring's Verdict, recomputed from the per-seed arrays with the docstring's numbers."""
    r = study_quick("glorot2010", rng)
    assert r.seeds >= 4 and r.data["width"] == 1000 and r.data["hidden"] == 5 and r.data["pixels"] == 1024
    for name, target in (("standard", 0.5), ("xavier", 0.8)):
        d = r.data[name]
        a, dz, dw, sv = (np.asarray(d[k], dtype=float) for k in ("a_std", "dz_std", "dw_std", "sv"))
        assert a.shape == dz.shape == dw.shape == (r.seeds, 5) and sv.shape == (r.seeds, 4)
        act = _interval(a[:, 4] / a[:, 0])  # R_A = std(A5) / std(A1)
        grad = _interval(dz[:, 0] / dz[:, 4])  # R_G = std(dZ1) / std(dZ5)
        if name == "standard":  # (1) both shrink by more than 2x
            assert act[1] < 0.5 and grad[1] < 0.5
        else:  # (2) both within a factor 2
            assert 0.5 < act[0] and act[1] < 2.0 and 0.5 < grad[0] and grad[1] < 2.0
        assert _interval(dw.max(axis=1) / dw.min(axis=1))[1] < 2.0  # (3) weight gradients: every two layers within 2x
        low, high = _interval(sv.mean(axis=1))  # (4) layers 2..5
        assert target - 0.1 < low and high < target + 0.1
    assert r.verdict.supported, str(r.verdict)
    assert "NOT" not in str(r.verdict) and r.verdict.margin > 0


def test_deep_layers_follow_the_linear_regime_closed_forms(study_quick):
    """Where tanh is nearly linear (small activations), standard init scales each layer by sqrt(n Var W) = 1/sqrt 3
    forward and backward, and the Jacobian's mean singular value is the quarter-circle law's 8/(3 pi) / sqrt 3."""
    r = study_quick("glorot2010", 0)
    a = np.asarray(r.data["standard"]["a_std"]).mean(axis=0)
    dz = np.asarray(r.data["standard"]["dz_std"]).mean(axis=0)
    assert a[4] < 0.05  # layer 5 is in the linear regime
    assert a[4] / a[3] == pytest.approx(1 / SQRT3, rel=0.02)
    assert dz[3] / dz[4] == pytest.approx(1 / SQRT3, rel=0.02)
    sv5 = np.asarray(r.data["standard"]["sv"])[:, -1]
    assert sv5.mean() == pytest.approx(QUARTER_CIRCLE_MEAN / SQRT3, abs=0.01)
    # Xavier on small Gaussian inputs (std 0.1): the linear regime everywhere, so both ratios near 1
    small = r.data["xavier/gaussian 0.1"]
    for key in ("act_log2_ratio", "grad_log2_ratio"):
        assert 0.9 < 2 ** small[key]["mean"] < 1.0


def test_layer_profiles_against_plain_numpy():
    """The study's per-layer numbers from a forward and backward pass written out here, and the Jacobian's
    mean singular value from numpy's SVD."""
    m = 7
    X, Y = glorot2010.inputs("shapeset", m, 0, 3)
    P = glorot2010.NET.initialize(glorot2010.INITS["xavier"], rng=[seeding.stream(0, 1, 3)])
    Ws = [P[f"W{l}"] for l in range(1, 7)]
    bs = [P[f"b{l}"] for l in range(1, 7)]
    got = glorot2010.layer_profiles(Ws, bs, X, Y, 2)

    A, Zs, As = X, [], [X]
    for W, b in zip(Ws, bs):
        Z = W[0] @ A + b[0]
        Zs.append(Z)
        A = np.tanh(Z) if len(Zs) < 6 else np.exp(Z - Z.max(axis=0)) / np.exp(Z - Z.max(axis=0)).sum(axis=0)
        As.append(A)
    T = np.eye(9)[:, Y[0]]
    dZ = (As[-1] - T) / m  # the mean cross-entropy's gradient w.r.t. the softmax's logits
    dzs, dws = [None] * 6, [None] * 6
    for l in range(5, -1, -1):
        dzs[l], dws[l] = dZ, dZ @ As[l].T
        if l:
            dZ = (Ws[l][0].T @ dZ) * (1 - np.tanh(Zs[l - 1]) ** 2)
    np.testing.assert_allclose(got["a_std"], [As[l].std() for l in range(1, 6)], rtol=1e-10)
    np.testing.assert_allclose(got["dz_std"], [dzs[l].std() for l in range(5)], rtol=1e-10)
    np.testing.assert_allclose(got["dw_std"], [dws[l].std() for l in range(5)], rtol=1e-10)

    def mean_sv(l, i):  # layer l's Jacobian diag(tanh'(z)) W at example i
        J = (1 - np.tanh(Zs[l - 1][:, i]) ** 2)[:, None] * Ws[l - 1][0]
        return np.linalg.svd(J, compute_uv=False).mean()

    with threadpool_limits(limits=1, user_api="blas"):
        expected = [np.mean([mean_sv(l, i) for i in (0, 1)]) for l in (2, 5)]
    assert got["sv"].shape == (4,)  # layers 2..5
    np.testing.assert_allclose(got["sv"][[0, 3]], expected, rtol=1e-9)


def test_inputs_share_one_draw_per_seed():
    X, Y = glorot2010.inputs("shapeset", 18, 4, 2)
    assert X.shape == (1024, 18) and X.min() >= 0.0 and X.max() <= 1.0
    np.testing.assert_array_equal(np.bincount(Y[0]), [2] * 9)
    Xpm, Ypm = glorot2010.inputs("shapeset [-1, 1]", 18, 4, 2)
    np.testing.assert_array_equal(Xpm, 2 * X - 1)
    np.testing.assert_array_equal(Ypm, Y)
    G1, L1 = glorot2010.inputs("gaussian 1", 18, 4, 2)
    G2, L2 = glorot2010.inputs("gaussian 0.25", 18, 4, 2)
    np.testing.assert_allclose(G2, 0.25 * G1)
    np.testing.assert_array_equal(L1, L2)
    assert not np.array_equal(glorot2010.inputs("shapeset", 18, 4, 3)[0], X)  # another seed, other images


def _measured(xavier_grad_per_layer: float, xavier_sv: float, seeds: int = 4) -> Measured:
    """Synthetic numbers: standard shrinks by 0.55 per layer both ways, Xavier's gradients by the given factor."""
    rng = np.random.default_rng(0)
    layers = np.arange(5)
    pairs = []
    for name in glorot2010.INITS:
        numbers = {}
        for kind in glorot2010.INPUTS:
            noise = 1 + 0.01 * rng.standard_normal((seeds, 5))
            shrink = 0.55 if name == "standard" else 0.95
            grad = 0.55 if name == "standard" else xavier_grad_per_layer
            numbers[f"{kind}/a_std"] = 0.5 * shrink**layers * noise
            numbers[f"{kind}/dz_std"] = 1e-4 * grad ** (4 - layers) * noise
            numbers[f"{kind}/dw_std"] = 1e-3 * noise
            numbers[f"{kind}/rms"] = np.full(seeds, 0.6)
            if kind == glorot2010.VERDICT_INPUT:
                numbers[f"{kind}/sv"] = (0.49 if name == "standard" else xavier_sv) + 0.005 * rng.standard_normal(
                    (seeds, 4)
                )
        pairs.append((Unit({"init": name}, 0, seeds), numbers))
    return Measured(pairs, seeds)


def test_the_lines_can_fail():
    ok = glorot2010.reduce("quick", 4, _measured(0.9, 0.78))
    assert ok.verdict.supported, str(ok.verdict)
    # Xavier's gradients shrinking 0.8x per layer (0.41x over 5 layers, the unit-variance Gaussian's): not flat
    flat = glorot2010.reduce("quick", 4, _measured(0.8, 0.78))
    assert not flat.verdict.supported and "xavier gradient ratio" in str(flat.verdict)
    assert flat.verdict.margin == pytest.approx(math.log2(0.8**4 / 0.5), abs=0.05)
    sv = glorot2010.reduce("quick", 4, _measured(0.9, 0.65))  # mean singular value 0.65: outside 0.8 +- 0.1
    assert not sv.verdict.supported and sv.verdict.margin == pytest.approx(-0.5, abs=0.15)
