"""The dynamical-isometry study: its critical point, its theory line, and its quick verdict under two root seeds."""

from __future__ import annotations

import math

import numpy as np
import pytest

from initlab import meanfield as mf
from initlab.studies import dynamical_isometry as di


def test_tanh_point_is_critical_with_the_stated_q_star():
    w2, b2 = di.tanh_point()
    assert mf.chi1(w2, b2) == pytest.approx(1.0, abs=1e-8)
    assert mf.q_star(w2, b2) == pytest.approx(1 / 64, rel=1e-6)
    assert 1.0 < w2 < 1.1 and 0 < b2 < 1e-4  # near the linear net's (1, 0), as a small q* must be


def test_theory_spread_is_the_papers_formula_by_an_independent_quadrature():
    # sigma^2 = L (mu2/mu1^2 - 1 - s1), mu_k = E[phi'(h)^(2k)], h ~ N(0, q*); s1 = 0 orthogonal, -1 Gaussian
    w2, b2 = di.tanh_point()
    q = mf.q_star(w2, b2)
    h = np.random.default_rng(0).standard_normal(2_000_000) * math.sqrt(q)
    d = 1 - np.tanh(h) ** 2
    ratio = np.mean(d**4) / np.mean(d**2) ** 2
    assert di.theory_spread("tanh-orthogonal", 128) == pytest.approx(128 * (ratio - 1), rel=0.02)
    assert di.theory_spread("tanh-gaussian", 8) == pytest.approx(8 * ratio, rel=1e-3)
    assert di.theory_spread("relu-orthogonal", 32) == 32 and di.theory_spread("relu-gaussian", 32) == 64


def test_lines_are_fixed_constants():
    assert (di.NEAR_ONE_LINE, di.GAUSSIAN_RATIO, di.GROWTH_LINE, di.RELU_NEAR_ONE_CEILING) == (0.9, 10.0, 2.0, 0.5)
    assert di.DEPTHS == (8, 32, 128) and di.GROWTH_DEPTH == 32


@pytest.mark.parametrize("rng", [0, 1])
def test_quick_verdict(study_quick, rng):
    r = study_quick("dynamical-isometry", rng=rng)
    d = r.data
    spread = {k: np.asarray(v) for k, v in d["spread"].items()}
    s_orth = np.asarray(d["spectra"]["tanh-orthogonal/128"])
    # (1) orthogonal tanh at depth 128: nearly every singular value within 2x of 1
    assert np.mean((s_orth >= 0.5) & (s_orth <= 2)) >= di.NEAR_ONE_LINE
    # (2) Gaussian tanh spreads far more at the same depth and point
    assert spread["tanh-gaussian/128"].min() >= di.GAUSSIAN_RATIO * spread["tanh-orthogonal/128"].max()
    # (3) the others spread with depth; the orthogonal tanh spread follows the theory within 25 %
    for k in ("tanh-gaussian", "relu-orthogonal", "relu-gaussian"):
        assert spread[f"{k}/32"].min() >= di.GROWTH_LINE * spread[f"{k}/8"].max(), k
    for L in di.DEPTHS:
        assert spread[f"tanh-orthogonal/{L}"].mean() == pytest.approx(d["theory"][f"tanh-orthogonal/{L}"], rel=0.25)
    # (4) ReLU: few singular values near 1
    for k in ("relu-orthogonal", "relu-gaussian"):
        s = np.asarray(d["spectra"][f"{k}/128"])
        assert np.mean((s >= 0.5) & (s <= 2)) <= di.RELU_NEAR_ONE_CEILING
    assert r.verdict.supported, str(r.verdict)
