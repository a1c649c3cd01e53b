"""initlab.meanfield against closed forms (linear activation), independent quadrature and the published critical point."""

from __future__ import annotations

import math

import numpy as np
import pytest

from initlab import meanfield as mf


def test_quadrature_is_exact_for_gaussian_moments():
    assert mf.expect(lambda z: np.ones_like(z)) == pytest.approx(1.0, abs=1e-14)
    assert mf.expect(lambda z: z**2) == pytest.approx(1.0, abs=1e-12)
    assert mf.expect(lambda z: z**4) == pytest.approx(3.0, abs=1e-11)
    assert mf.expect(lambda z: z**3) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("sigma_w2", [0.2, 0.5, 0.9])
@pytest.mark.parametrize("sigma_b2", [0.05, 1.0])
def test_linear_closed_forms(sigma_w2, sigma_b2):
    # q = sigma_w2 q + sigma_b2  ->  q* = sigma_b2 / (1 - sigma_w2); phi' = 1  ->  chi1 = sigma_w2.
    assert mf.q_star(sigma_w2, sigma_b2, "linear") == pytest.approx(sigma_b2 / (1 - sigma_w2), rel=1e-9)
    assert mf.chi1(sigma_w2, sigma_b2, "linear") == pytest.approx(sigma_w2, rel=1e-12)
    assert mf.xi_c(sigma_w2, sigma_b2, "linear") == pytest.approx(-1 / math.log(sigma_w2), rel=1e-9)
    # The correlation map is affine for a linear network: (sigma_w2 c q + sigma_b2) / q.
    q = mf.q_star(sigma_w2, sigma_b2, "linear")
    for c in (-0.5, 0.0, 0.3, 0.9):
        assert mf.correlation_map(c, sigma_w2, sigma_b2, "linear") == pytest.approx(
            (sigma_w2 * c * q + sigma_b2) / q, abs=1e-10
        )
    assert mf.c_star(sigma_w2, sigma_b2, "linear") == pytest.approx(1.0, abs=1e-8)


def test_linear_diverges_at_and_above_one():
    assert mf.q_star(1.5, 0.1, "linear") == math.inf
    assert mf.chi1(1.5, 0.1, "linear") == math.inf


def test_propagate_linear_matches_the_affine_recursion():
    s_w2, s_b2 = 0.8, 0.3
    p = mf.propagate(2.0, 0.5, 0.2, 6, s_w2, s_b2, "linear")
    q1, q2, q12 = 2.0, 0.5, 0.2 * math.sqrt(2.0 * 0.5)
    for l in range(1, 7):
        q1, q2, q12 = s_w2 * q1 + s_b2, s_w2 * q2 + s_b2, s_w2 * q12 + s_b2
        assert p.q11[l] == pytest.approx(q1, rel=1e-10)
        assert p.q22[l] == pytest.approx(q2, rel=1e-10)
        assert p.c[l] == pytest.approx(q12 / math.sqrt(q1 * q2), abs=1e-10)


def test_tanh_variance_map_matches_adaptive_quadrature():
    from scipy.integrate import quad

    # Gauss-Hermite loses accuracy as tanh(sqrt(q) z) approaches a step (see the module docstring).
    def density(z):
        return math.exp(-z * z / 2) / math.sqrt(2 * math.pi)

    for q, tol in ((0.1, 1e-12), (1.0, 1e-10), (2.5, 3e-7)):
        exact, _ = quad(lambda z, q=q: math.tanh(math.sqrt(q) * z) ** 2 * density(z), -12, 12, epsabs=1e-14, limit=200)
        assert mf.variance_map(q, 1.7, 0.05) == pytest.approx(1.7 * exact + 0.05, abs=1.7 * tol)


def test_tanh_without_bias_is_critical_at_one():
    # sigma_b2 = 0, sigma_w2 < 1: q* = 0 and chi1 = sigma_w2 tanh'(0)^2 = sigma_w2.
    assert mf.q_star(0.5, 0.0) == pytest.approx(0.0, abs=1e-12)
    assert mf.chi1(0.5, 0.0) == pytest.approx(0.5, abs=1e-9)


def test_tanh_critical_point_matches_schoenholz_2017():
    # Schoenholz et al. 2017, fig. 1: at sigma_b^2 = 0.05 the order-to-chaos transition is at sigma_w^2 ~ 1.76.
    critical = mf.critical_sigma_w2(0.05)
    assert critical == pytest.approx(1.76, abs=0.02)
    assert mf.chi1(critical, 0.05) == pytest.approx(1.0, abs=1e-8)


def test_phases_either_side_of_the_critical_point():
    assert mf.chi1(1.2, 0.05) < 1 and mf.c_star(1.2, 0.05) == pytest.approx(1.0, abs=1e-6)
    assert mf.chi1(3.0, 0.05) > 1 and mf.c_star(3.0, 0.05) < 0.5
    assert mf.chi_c(1.2, 0.05) == pytest.approx(mf.chi1(1.2, 0.05))
    assert mf.chi_c(3.0, 0.05) < 1  # c* is stable in the chaotic phase too
    # the depth scale grows toward the critical point from both sides
    assert mf.xi_c(1.2, 0.05) < mf.xi_c(1.6, 0.05) < mf.xi_c(1.75, 0.05)
    assert mf.xi_c(3.0, 0.05) < mf.xi_c(2.0, 0.05) < mf.xi_c(1.8, 0.05)


def test_bad_input_is_refused_with_the_parameter_name():
    with pytest.raises(ValueError, match="sigma_w2"):
        mf.q_star(-1.0, 0.05)
    with pytest.raises(ValueError, match="sigma_b2"):
        mf.chi1(1.0, -0.1)
    with pytest.raises(ValueError, match="activation"):
        mf.q_star(1.0, 0.05, "tnah")


def test_c_star_near_the_edge_is_the_fixed_point_of_the_plain_iteration():
    """Near criticality c_star switches from iterating to Brent's method; both must give the same fixed point."""
    sigma_w2, sigma_b2 = 1.8, 0.05  # chi_c close to 1: the plain iteration needs tens of thousands of steps
    q = mf.q_star(sigma_w2, sigma_b2)
    c = 0.0
    for _ in range(60_000):
        c = min(1.0, mf.correlation_map(c, sigma_w2, sigma_b2, q=q))
    fast = mf.c_star(sigma_w2, sigma_b2)
    assert fast == pytest.approx(c, abs=1e-12)
    assert mf.correlation_map(fast, sigma_w2, sigma_b2, q=q) == pytest.approx(fast, abs=1e-13)


# ---- the critical line and the depth scales of Schoenholz et al. 2017 --------------------------------------------


def _tanh_moment(q: float, power: int = 2, derivative: bool = False) -> float:
    """E[tanh(sqrt(q) z)^power] (or of tanh') by adaptive quadrature, independent of the module's nodes."""
    from scipy.integrate import quad

    f = (lambda x: 1.0 / math.cosh(x) ** 2) if derivative else math.tanh
    density = lambda z: math.exp(-z * z / 2) / math.sqrt(2 * math.pi)  # noqa: E731
    return quad(lambda z: f(math.sqrt(q) * z) ** power * density(z), -12, 12, epsabs=1e-14, limit=200)[0]


@pytest.mark.parametrize(("sigma_b2", "published"), [(0.0, 1.0), (0.05, 1.7610), (0.3, 2.5051)])
def test_critical_sigma_w2_matches_the_published_points(sigma_b2, published):
    # PAPERS.md / Schoenholz et al. 2017 fig. 1: the order-to-chaos line of tanh passes these points.
    critical = mf.critical_sigma_w2(sigma_b2)
    assert critical == pytest.approx(published, abs=5e-5)
    if sigma_b2 == 0.0:
        assert critical == 1.0  # exactly: q* = 0 and chi1 = sigma_w2 up to 1, chi1 > 1 beyond
    else:
        # independently: chi1 = sigma_w2 E[tanh'(sqrt(q*) z)^2] = 1 with q* the fixed point by adaptive quadrature
        from scipy.optimize import brentq

        q = brentq(lambda q: critical * _tanh_moment(q) + sigma_b2 - q, 1e-6, 10.0, xtol=1e-14)
        assert critical * _tanh_moment(q, derivative=True) == pytest.approx(1.0, abs=1e-7)


@pytest.mark.parametrize("sigma_w2", [0.3, 0.7, 0.99, 1.0])
def test_tanh_without_bias_is_exactly_zero_up_to_the_critical_point(sigma_w2):
    # sigma_b2 = 0: tanh(x)^2 < x^2, so V(q) < sigma_w2 q <= q for q > 0: the only fixed point is q* = 0 (at
    # sigma_w2 = 1 the iteration only creeps to it, like 1/(2l)); there chi1 = sigma_w2 tanh'(0)^2 and c* = 1.
    assert mf.q_star(sigma_w2, 0.0) == 0.0
    assert mf.chi1(sigma_w2, 0.0) == pytest.approx(sigma_w2, rel=1e-15)
    assert mf.c_star(sigma_w2, 0.0) == 1.0
    expected = math.inf if sigma_w2 == 1.0 else -1.0 / math.log(sigma_w2)
    assert mf.xi_c(sigma_w2, 0.0) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("sigma_w2", [1.001, 1.01, 1.5, 3.0])
def test_tanh_without_bias_above_one_has_a_positive_fixed_point_and_is_chaotic(sigma_w2):
    q = mf.q_star(sigma_w2, 0.0)
    assert q > 0.0
    assert sigma_w2 * _tanh_moment(q) == pytest.approx(q, rel=1e-8)  # a fixed point, by independent quadrature
    if sigma_w2 < 1.02:  # series: 1/sigma_w2 = 1 - 2q + (17/3) q^2 + ...
        assert q == pytest.approx((1 - 1 / sigma_w2) / 2, rel=0.05)
    assert mf.chi1(sigma_w2, 0.0) > 1.0  # chi1 - 1 ~ (4/3) q*^2 just above 1
    assert mf.c_star(sigma_w2, 0.0) == pytest.approx(0.0, abs=1e-12)  # odd map without bias: c* = 0


def test_xi_c_matches_schoenholz_2017():
    # The paper's depth scales at sigma_b^2 = 0.05: xi_c = 5.94 at sigma_w^2 = 1.2 (ordered, xi_c = -1/ln chi1)
    # and 9.05 at 3.0 (chaotic, xi_c = -1/ln chi_c with chi_c = sigma_w2 E[tanh'(u1) tanh'(u2)] at q*, c*).
    assert mf.xi_c(1.2, 0.05) == pytest.approx(5.94, abs=0.005)
    assert mf.xi_c(3.0, 0.05) == pytest.approx(9.05, abs=0.005)
    # independently: adaptive quadrature in 1-D and a Gauss-Legendre tensor grid in 2-D (not Gauss-Hermite)
    from scipy.optimize import brentq

    s_b2 = 0.05
    q12 = brentq(lambda q: 1.2 * _tanh_moment(q) + s_b2 - q, 1e-6, 10.0, xtol=1e-14)
    assert -1.0 / math.log(1.2 * _tanh_moment(q12, derivative=True)) == pytest.approx(mf.xi_c(1.2, s_b2), rel=1e-7)
    q3 = brentq(lambda q: 3.0 * _tanh_moment(q) + s_b2 - q, 1e-6, 10.0, xtol=1e-14)
    x, w = np.polynomial.legendre.leggauss(400)
    z, w = 10.0 * x, 10.0 * w * np.exp(-50.0 * x**2) / math.sqrt(2 * math.pi)  # N(0, 1) on [-10, 10]

    def pair(f, c):
        u1 = math.sqrt(q3) * z[:, None]
        u2 = math.sqrt(q3) * (c * z[:, None] + math.sqrt(1 - c * c) * z[None, :])
        return float(w @ (f(u1) * f(u2)) @ w)

    c = brentq(lambda c: (3.0 * pair(np.tanh, c) + s_b2) / q3 - c, 0.0, 0.99, xtol=1e-13)
    chi_c = 3.0 * pair(lambda u: 1.0 / np.cosh(u) ** 2, c)
    assert c == pytest.approx(mf.c_star(3.0, s_b2), abs=1e-8)
    assert -1.0 / math.log(chi_c) == pytest.approx(mf.xi_c(3.0, s_b2), rel=1e-6)
