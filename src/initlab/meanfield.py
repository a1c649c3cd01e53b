r"""Mean-field signal propagation in wide random networks (Poole et al. 2016; Schoenholz et al. 2017).

A fully connected network with weights :math:`W_{ij} \sim N(0, \sigma_w^2 / n)` and biases
:math:`b_i \sim N(0, \sigma_b^2)`, in the limit of infinite width. The pre-activations of one
input are Gaussian with variance :math:`q^l`; of two inputs, jointly Gaussian with covariance
:math:`q^l_{12}` and correlation :math:`c^l = q^l_{12} / \sqrt{q^l_{11} q^l_{22}}`:

.. math::

    q^{l+1} = \sigma_w^2\, \mathbb E_{z}\big[\phi(\sqrt{q^l} z)^2\big] + \sigma_b^2, \qquad
    q^{l+1}_{12} = \sigma_w^2\, \mathbb E\big[\phi(u_1)\phi(u_2)\big] + \sigma_b^2,

with :math:`u_1 = \sqrt{q_{11}}\, z_1`, :math:`u_2 = \sqrt{q_{22}}\,(c z_1 + \sqrt{1-c^2}\, z_2)`,
:math:`z_1, z_2 \sim N(0, 1)` independent.

* :func:`q_star`: the fixed point :math:`q^*` of the variance map (fixed-point iteration);
* :func:`chi1`: :math:`\chi_1 = \sigma_w^2 \mathbb E[\phi'(\sqrt{q^*} z)^2]`, the slope of the
  correlation map at :math:`c = 1` (and the per-layer factor of gradient variance). ``chi1 < 1``:
  ordered phase (inputs become correlated, gradients vanish); ``> 1``: chaotic;
* :func:`c_star`: the stable fixed point of the correlation map (1 in the ordered phase);
* :func:`chi_c` and :func:`xi_c`: :math:`\chi_c = \sigma_w^2 \mathbb E[\phi'(u_1)\phi'(u_2)]` at
  :math:`c^*` and the correlation depth scale :math:`\xi_c = -1/\ln \chi_c` (at :math:`c^* = 1`,
  :math:`\chi_c = \chi_1`); it diverges at the critical point;
* :func:`critical_sigma_w2`: the :math:`\sigma_w^2` with :math:`\chi_1 = 1` (Brent's method).
  For tanh at :math:`\sigma_b^2 = 0.05` it is about 1.76 (Schoenholz et al. 2017, fig. 1);
* :func:`propagate`: the layer-by-layer variances and correlation of two inputs.

Expectations over :math:`N(0, 1)` use probabilists' Gauss–Hermite quadrature
(:func:`numpy.polynomial.hermite_e.hermegauss`, weights divided by :math:`\sqrt{2\pi}`), a tensor
grid for the two-dimensional ones, 101 nodes per dimension. Exact for polynomials of degree
< 202 (the linear closed forms are met to 1e-12). For tanh the error grows with the variance, as
:math:`\tanh(\sqrt q z)` approaches a step: against adaptive quadrature, 6e-12 at q = 1, 1e-7
at q = 2.5, 2e-5 at q = 5. The tanh fixed points met for :math:`\sigma_w^2 \le 4`,
:math:`\sigma_b^2 = 0.05` have :math:`q^* \le 2.2`.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from numpy.polynomial.hermite_e import hermegauss

from initlab import activations
from initlab.validation import check_int, check_real

__all__ = [
    "Propagation",
    "c_star",
    "chi1",
    "chi_c",
    "correlation_map",
    "critical_sigma_w2",
    "expect",
    "propagate",
    "q_star",
    "variance_map",
    "xi_c",
]

POINTS = 101  # quadrature nodes per dimension


@functools.lru_cache(maxsize=8)
def _nodes(points: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes z and weights w with sum(w f(z)) = E[f(Z)], Z ~ N(0, 1)."""
    z, w = hermegauss(points)
    return z, w / math.sqrt(2.0 * math.pi)


def expect(f, *, points: int = POINTS) -> float:
    """E[f(Z)] for Z ~ N(0, 1) by Gauss–Hermite quadrature; ``f`` maps an array of nodes to values."""
    z, w = _nodes(points)
    return float(np.dot(w, f(z)))


def _check(sigma_w2, sigma_b2, phi):
    sigma_w2 = check_real("sigma_w2", sigma_w2, min_value=0.0, min_inclusive=False)
    sigma_b2 = check_real("sigma_b2", sigma_b2, min_value=0.0)
    act = activations.get(phi)
    return sigma_w2, sigma_b2, act


def variance_map(q: float, sigma_w2: float, sigma_b2: float, phi: str = "tanh") -> float:
    r"""One layer of the variance map: :math:`\sigma_w^2 E[\phi(\sqrt q z)^2] + \sigma_b^2`."""
    sigma_w2, sigma_b2, act = _check(sigma_w2, sigma_b2, phi)
    return sigma_w2 * expect(lambda z: act.forward(math.sqrt(q) * z) ** 2) + sigma_b2


def q_star(
    sigma_w2: float, sigma_b2: float, phi: str = "tanh", *, q0: float = 1.0, tol: float = 1e-13, max_iter: int = 2_000
) -> float:
    r"""Fixed point :math:`q^*` of the variance map :math:`V(q) = \sigma_w^2 E[\phi(\sqrt q z)^2] + \sigma_b^2`
    reached from ``q0``.

    :math:`V` is increasing (for the activations here), so iterating it from ``q0`` moves
    monotonically to the fixed point whose basin holds ``q0``. The iteration stops when the
    remaining distance, estimated from the geometric rate of the last two steps, is below
    ``tol * max(1, q)``. Near a transition the rate :math:`V'(q^*)` approaches 1; after ``max_iter``
    steps the fixed point is solved for instead (Brent's method between the last iterate and 0, or
    a point found by doubling above it).

    Without bias and with :math:`\phi(0) = 0` (e.g. tanh at :math:`\sigma_b^2 = 0`), 0 is a fixed
    point and the others solve :math:`r(q) = V(q)/q = 1`; this case is decided exactly from
    :math:`r` (no iteration, which converges only like :math:`1/(2l)` at the critical point). For
    tanh :math:`r` falls from :math:`\sigma_w^2` (as :math:`q \to 0`) to 0, so :math:`q^* = 0` for
    :math:`\sigma_w^2 \le 1` and the unique positive root of :math:`r = 1` above (about
    :math:`(1 - 1/\sigma_w^2)/2` just above 1). (Below :math:`q = 10^{-12}` the roots are not
    resolved: :math:`q^* < 10^{-12}` is returned as 0.) When :math:`r(q_0) = 1` to 1e-12 (ReLU at
    :math:`\sigma_w^2 = 2`, linear at 1: every q is a fixed point), ``q0`` is returned.

    Returns ``inf`` when :math:`V` grows without bound (e.g. linear with :math:`\sigma_w^2 \ge 1`).
    """
    sigma_w2, sigma_b2, act = _check(sigma_w2, sigma_b2, phi)
    q = check_real("q0", q0, min_value=0.0)
    tol = check_real("tol", tol, min_value=0.0, min_inclusive=False)
    max_iter = check_int("max_iter", max_iter, min_value=1)
    z, w = _nodes(POINTS)

    def V(q: float) -> float:
        return sigma_w2 * float(np.dot(w, act.forward(math.sqrt(q) * z) ** 2)) + sigma_b2

    if V(0.0) == 0.0 and q > 0.0:
        return _q_star_through_zero(V, q)
    step, rate = math.inf, 1.0
    for _ in range(max_iter):
        q_new = V(q)
        if not math.isfinite(q_new) or q_new > _HUGE:
            return math.inf
        new_step = abs(q_new - q)
        if new_step == 0.0:
            return q_new
        rate = new_step / step if math.isfinite(step) else 1.0
        # a geometric tail with ratio `rate` still has new_step * rate / (1 - rate) to go
        if rate < 1.0 and new_step * rate <= tol * max(1.0, q_new) * (1.0 - rate):
            return q_new
        q, step = q_new, new_step
    return _q_star_by_bracket(V, q)


_HUGE = 1e150  # beyond this the variance map is taken to diverge
_TINY = 1e-12  # the smallest positive q* resolved without bias (see q_star)


def _q_star_by_bracket(V, q: float) -> float:
    """The fixed point of the increasing map ``V`` the iterates approach from ``q``, by Brent's method."""
    from scipy.optimize import brentq

    g = lambda x: V(x) - x  # noqa: E731
    if g(q) == 0.0:
        return q
    if g(q) < 0.0:  # falling: V(0) > 0 (this path has sigma_b2 > 0 or phi(0) != 0), so g changes sign on [0, q]
        return float(brentq(g, 0.0, q, xtol=1e-300, rtol=4 * np.finfo(float).eps))
    hi = 2.0 * q + 1.0
    while g(hi) > 0.0:
        if hi > _HUGE:
            return math.inf
        q, hi = hi, 2.0 * hi
    return float(brentq(g, q, hi, xtol=1e-300, rtol=4 * np.finfo(float).eps))


def _q_star_through_zero(V, q0: float) -> float:
    """:func:`q_star` when ``V(0) = 0``: 0 or a root of ``r(q) = V(q) / q = 1``, solved in ``log q``."""
    from scipy.optimize import brentq

    f = lambda t: V(math.exp(t)) / math.exp(t) - 1.0  # noqa: E731
    start = f(math.log(q0))
    if abs(start) <= 1e-12:
        return q0
    if start < 0.0:  # V(q0) < q0: the iterates fall, to 0 unless r crosses 1 below q0
        if f(math.log(_TINY)) <= 0.0:
            return 0.0
        lo, hi = math.log(_TINY), math.log(q0)
    else:
        lo = hi = math.log(q0)
        while f(hi) > 0.0:
            if hi > math.log(_HUGE):
                return math.inf
            lo, hi = hi, hi + 1.0
    return math.exp(brentq(f, lo, hi, xtol=1e-15, rtol=4 * np.finfo(float).eps))


def chi1(sigma_w2: float, sigma_b2: float, phi: str = "tanh") -> float:
    r""":math:`\chi_1 = \sigma_w^2 E[\phi'(\sqrt{q^*} z)^2]`: the slope of the correlation map at c = 1.

    At :math:`q^* = 0` (no bias, ordered phase) exactly its limit :math:`q \to 0^+`,
    :math:`\sigma_w^2 (\phi'(0^+)^2 + \phi'(0^-)^2)/2` (:math:`\sigma_w^2` for tanh, :math:`\sigma_w^2/2` for ReLU).
    """
    q = q_star(sigma_w2, sigma_b2, phi)
    act = activations.get(phi)
    if not math.isfinite(q):
        return math.inf
    if q == 0.0:
        return sigma_w2 * _slope2_at_zero(act)
    return sigma_w2 * expect(lambda z: act.derivative(math.sqrt(q) * z) ** 2)


def _expect2(f1, f2, q1: float, q2: float, c: float, points: int = POINTS) -> float:
    """E[f1(u1) f2(u2)] for (u1, u2) Gaussian with variances q1, q2 and correlation c."""
    z, w = _nodes(points)
    c = min(1.0, max(-1.0, c))
    u1 = math.sqrt(q1) * z  # (P,)
    u2 = math.sqrt(q2) * (c * z[:, None] + math.sqrt(1.0 - c * c) * z[None, :])  # (P, P): [i, j] = z1_i, z2_j
    return float(w @ (f1(u1)[:, None] * f2(u2)) @ w)


def correlation_map(c: float, sigma_w2: float, sigma_b2: float, phi: str = "tanh", *, q: float | None = None) -> float:
    r"""One layer of the correlation map at variance :math:`q` (default :math:`q^*`):
    :math:`(\sigma_w^2 E[\phi(u_1)\phi(u_2)] + \sigma_b^2) / q`."""
    sigma_w2, sigma_b2, act = _check(sigma_w2, sigma_b2, phi)
    q = q_star(sigma_w2, sigma_b2, phi) if q is None else q
    return (sigma_w2 * _expect2(act.forward, act.forward, q, q, c) + sigma_b2) / q


def c_star(
    sigma_w2: float, sigma_b2: float, phi: str = "tanh", *, c0: float = 0.0, tol: float = 1e-12, max_iter: int = 100_000
) -> float:
    r"""The stable fixed point :math:`c^*` of the correlation map, iterated from ``c0`` at :math:`q^*`.

    1 in the ordered phase (:math:`\chi_1 < 1`), below 1 in the chaotic phase. At :math:`q^* = 0`
    (no bias, :math:`\sigma_w^2 \phi'(0)^2 \le 1`) the map is 0/0; there :math:`c^* = 1`, its limit as
    :math:`\sigma_b^2 \to 0^+`.
    """
    sigma_w2, sigma_b2, act = _check(sigma_w2, sigma_b2, phi)
    q = q_star(sigma_w2, sigma_b2, phi)
    if q == 0.0:
        return 1.0

    def step(c: float) -> float:
        return min(1.0, (sigma_w2 * _expect2(act.forward, act.forward, q, q, c) + sigma_b2) / q)

    c = c0
    for i in range(max_iter):
        c_new = step(c)
        if abs(c_new - c) <= tol:
            return c_new
        c = c_new
        if i == 200:
            # Near the edge of chaos the iteration converges like chi_c^l with chi_c close to 1
            # (thousands of steps): solve step(c) = c by Brent's method between the iterate (below
            # c*, where step(c) > c) and just below 1 (the unstable fixed point, step(c) < c there).
            hi = 1.0 - 1e-12
            if step(c) > c and step(hi) < hi:
                from scipy.optimize import brentq

                return brentq(lambda x: step(x) - x, c, hi, xtol=tol, rtol=4 * np.finfo(float).eps)
    return c  # at the critical point convergence to 1 is algebraic, not geometric: the last iterate


def chi_c(sigma_w2: float, sigma_b2: float, phi: str = "tanh") -> float:
    r""":math:`\chi_c = \sigma_w^2 E[\phi'(u_1)\phi'(u_2)]` at :math:`q^*, c^*`; equals :func:`chi1` when :math:`c^* = 1`."""
    if chi1(sigma_w2, sigma_b2, phi) <= 1.0:
        return chi1(sigma_w2, sigma_b2, phi)
    act = activations.get(phi)
    q = q_star(sigma_w2, sigma_b2, phi)
    return sigma_w2 * _expect2(act.derivative, act.derivative, q, q, c_star(sigma_w2, sigma_b2, phi))


def xi_c(sigma_w2: float, sigma_b2: float, phi: str = "tanh") -> float:
    r"""Correlation depth scale :math:`\xi_c = -1/\ln \chi_c`: layers over which :math:`|c^l - c^*|` shrinks by e.

    ``inf`` at the critical point (:math:`\chi_c = 1`).
    """
    x = chi_c(sigma_w2, sigma_b2, phi)
    return math.inf if x >= 1.0 else -1.0 / math.log(x)


def _slope2_at_zero(act) -> float:
    r""":math:`(\phi'(0^+)^2 + \phi'(0^-)^2)/2 = \lim_{q \to 0^+} E[\phi'(\sqrt q z)^2]`, ``act`` piecewise smooth."""
    return float(np.mean(act.derivative(np.array([1e-300, -1e-300])) ** 2))


def critical_sigma_w2(sigma_b2: float, phi: str = "tanh", *, bracket: tuple[float, float] = (0.5, 10.0)) -> float:
    r"""The :math:`\sigma_w^2` where :math:`\chi_1 = 1`: the edge of chaos, by Brent's method on ``bracket``.

    Without bias and with :math:`\phi(0) = 0`, :math:`q^* = 0` and :math:`\chi_1 = \sigma_w^2 s_0`
    (:math:`s_0` = :func:`chi1`'s slope at 0) exactly up to :math:`\sigma_w^2 = 1/s_0`, where
    :math:`\chi_1` reaches 1; when :math:`\chi_1 > 1` just beyond (0.1 % above), :math:`1/s_0` is the
    answer, exactly: 1 for tanh, whose :math:`\chi_1 - 1 \approx \tfrac43 q^{*2}` above it is too
    small for root-finding to resolve.
    """
    from scipy.optimize import brentq

    sigma_b2 = check_real("sigma_b2", sigma_b2, min_value=0.0)
    lo, hi = bracket
    f = lambda s: chi1(s, sigma_b2, phi) - 1.0  # noqa: E731
    if not f(lo) < 0.0 < f(hi):
        raise ValueError(
            f"chi1 - 1 does not change sign on bracket={bracket} for phi={phi!r}, sigma_b2={sigma_b2}; "
            "widen the bracket."
        )
    act = activations.get(phi)
    if sigma_b2 == 0.0 and float(act.forward(np.zeros(1))[0]) == 0.0 and _slope2_at_zero(act) > 0.0:
        edge = 1.0 / _slope2_at_zero(act)
        if lo < edge < hi and f(edge) == 0.0 and f(edge * 1.001) > 0.0:
            return edge
    return float(brentq(f, lo, hi, xtol=1e-10))


@dataclass(frozen=True)
class Propagation:
    """Layer-by-layer mean-field moments of two inputs; arrays of shape (depth + 1,), index 0 = the first layer's input moments."""

    q11: np.ndarray
    q22: np.ndarray
    c: np.ndarray


def propagate(
    q11: float, q22: float, c: float, depth: int, sigma_w2: float, sigma_b2: float, phi: str = "tanh"
) -> Propagation:
    r"""Apply the variance and covariance maps ``depth`` times, starting from pre-activation moments ``q11, q22, c``.

    Index ``l`` is layer ``l + 1``'s pre-activation moments given layer 1's at index 0 (so the
    caller starts from the measured first-layer pre-activations of a finite network).
    """
    sigma_w2, sigma_b2, act = _check(sigma_w2, sigma_b2, phi)
    depth = check_int("depth", depth, min_value=0)
    z, w = _nodes(POINTS)
    Q1, Q2, C = [q11], [q22], [c]
    for _ in range(depth):
        n11 = sigma_w2 * float(np.dot(w, act.forward(math.sqrt(q11) * z) ** 2)) + sigma_b2
        n22 = sigma_w2 * float(np.dot(w, act.forward(math.sqrt(q22) * z) ** 2)) + sigma_b2
        n12 = sigma_w2 * _expect2(act.forward, act.forward, q11, q22, c) + sigma_b2
        q11, q22, c = n11, n22, min(1.0, n12 / math.sqrt(n11 * n22))
        Q1.append(q11), Q2.append(q22), C.append(c)
    return Propagation(np.array(Q1), np.array(Q2), np.array(C))
