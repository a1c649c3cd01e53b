"""saxe2013: the quick run's own criteria under two root seeds, and the study's math against independent checks.

The criteria (module docstring, fixed before the run): orthogonal's log-log slope of learning time
against depth inside (-0.25, 0.25), Gaussian's above 0.25 (Fig. 6A); orthogonal products'
singular values within 1e-10 of 1, Gaussian products' mean sigma^2 and Var sigma^2 / exact inside
[0.8, 1.25] at every depth (Fig. 6B). The exact moments are checked against closed forms (Wishart,
Fuss-Catalan) and a Monte Carlo; the gradient against central differences; the learning-rate
walk against the whole grid.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import comb

from initlab.stats import mean_ci
from initlab.studies import saxe2013 as saxe


@pytest.mark.parametrize("rng", [0, 1])
def test_quick_verdict_holds_its_own_criteria(study_quick, rng):
    r = study_quick("saxe2013", rng=rng)
    d = r.data
    assert r.seeds >= 5 and d["width"] >= 256 and max(d["depths"]) >= 32
    # Fig. 6A: orthogonal depth independent, Gaussian slows (log-log slope per seed, 95 % interval over seeds)
    ortho, gauss = mean_ci(d["orthogonal"]["slopes"]), mean_ci(d["gaussian"]["slopes"])
    assert -saxe.SLOPE < ortho.low and ortho.high < saxe.SLOPE, ortho
    assert gauss.low > saxe.SLOPE, gauss
    # every seed found a rate that reached the threshold, at every depth, under both inits
    for name in ("orthogonal", "gaussian"):
        assert (np.asarray(d[name]["steps"]) < d["max_steps"]).all()
        assert np.isfinite(np.asarray(d[name]["rate"], dtype=float)).all()
    # Fig. 6B: orthogonal products exactly isometric; Gaussian: mean sigma^2 at 1, Var sigma^2 at its exact value
    p = d["products"]
    assert np.max(p["max_deviation"]) < saxe.EXACT
    lo, hi = saxe.BAND
    for mean, half in (*p["mean_sigma2"], *p["var_ratio"]):
        assert lo < mean - half and mean + half < hi
    assert r.verdict.supported, str(r.verdict)


def test_product_moments_match_closed_forms():
    n = 7
    assert saxe.product_moments(0, n) == (1.0, 1.0)
    # one Wishart matrix G = W^T W, W (n, n) of N(0, 1/n): E tr G^2 / n = 2 + 1/n, E (tr G)^2 / n^2 = 1 + 2/n^2
    a, b = saxe.product_moments(1, n)
    assert a == pytest.approx(2 + 1 / n, rel=1e-14) and b == pytest.approx(1 + 2 / n**2, rel=1e-14)
    # n -> infinity: the second moment of the Fuss-Catalan law, C(2D + 2, 2) / (2D + 1) = D + 1
    for D in (1, 2, 5, 32):
        a, b = saxe.product_moments(D, 10**7)
        assert a == pytest.approx(comb(2 * D + 2, 2, exact=True) / (2 * D + 1), rel=1e-4)
        assert b == pytest.approx(1.0, rel=1e-4)


def test_product_moments_match_monte_carlo_at_small_width():
    """Finite-width corrections: at n = 3, D = 2 the exact values differ from D + 1 = 3 by ~50 %."""
    n, D, R = 3, 2, 200_000
    g = np.random.default_rng(0)
    P = np.broadcast_to(np.eye(n), (R, n, n))
    for _ in range(D):
        P = (g.standard_normal((R, n, n)) / math.sqrt(n)) @ P
    G = np.swapaxes(P, 1, 2) @ P  # (R, n, n)
    m2 = np.trace(G, axis1=1, axis2=2) / n
    m4 = (G**2).sum(axis=(1, 2)) / n
    a, b = saxe.product_moments(D, n)
    assert a > 4.3  # far from the infinite-width 3: the check below can tell them apart
    for value, sample in ((1.0, m2), (a, m4), (b, m2**2)):
        assert abs(sample.mean() - value) < 5 * sample.std() / math.sqrt(R), (value, sample.mean())


def test_products_of_orthogonal_matrices_keep_every_singular_value_at_one():
    g = np.random.default_rng(3)
    sv = saxe.product_singular_values(saxe.INITS["orthogonal"], 20, 32, g)
    assert np.abs(sv - 1).max() < 1e-12
    sv = saxe.product_singular_values(saxe.INITS["gaussian"], 20, 32, g)
    assert sv.max() / sv.min() > 1e3  # Gaussian products do not


def _small_task(rng):
    X = rng.standard_normal((5, 40))
    Y = rng.standard_normal((3, 5)) @ X + 0.3 * rng.standard_normal((3, 40))
    return saxe.Task.from_data(X, Y), X, Y


def test_task_loss_is_the_mean_squared_error_and_best_is_least_squares():
    g = np.random.default_rng(1)
    task, X, Y = _small_task(g)
    P = g.standard_normal((3, 5))
    assert task.loss(P) == pytest.approx(((Y - P @ X) ** 2).sum() / (2 * X.shape[1]), rel=1e-12)
    assert task.loss(np.zeros((3, 5))) == pytest.approx(task.const, rel=1e-14)
    P_ls = np.linalg.lstsq(X.T, Y.T, rcond=None)[0].T  # least squares on the examples themselves
    assert task.best == pytest.approx(task.loss(P_ls), rel=1e-10)
    assert task.best < task.target() < task.const


def test_one_descent_step_is_the_gradient_by_central_differences():
    g = np.random.default_rng(2)
    task, _, _ = _small_task(g)
    Ws = [g.standard_normal(s) * 0.3 for s in ((4, 5), (6, 4), (3, 6))]  # a 5 -> 4 -> 6 -> 3 linear net
    assert task.loss(Ws[2] @ Ws[1] @ Ws[0]) > task.target()  # so that descend takes its step
    rate = 1e-3
    stepped = [W.copy() for W in Ws]
    steps, diverged = saxe.descend(stepped, task, rate, limit=1)
    assert steps is None and not diverged
    h = 1e-6
    for l, W in enumerate(Ws):
        numeric = np.zeros_like(W)
        for idx in np.ndindex(W.shape):
            loss = []
            for sign in (1, -1):
                moved = [V.copy() for V in Ws]
                moved[l][idx] += sign * h
                loss.append(task.loss(moved[2] @ moved[1] @ moved[0]))
            numeric[idx] = (loss[0] - loss[1]) / (2 * h)
        np.testing.assert_allclose((W - stepped[l]) / rate, numeric, rtol=1e-6, atol=1e-9)


def test_the_rate_walk_finds_the_fastest_rate_of_the_whole_grid():
    task = saxe.digits_task(np.random.default_rng(0))
    g = np.random.default_rng(4)
    for name in ("orthogonal", "gaussian"):
        init = saxe.INITS[name]
        Ws = [init(s, rng=g) for s in ((24, 64), (24, 24), (24, 24), (24, 24), (10, 24))]  # D = 5, width 24
        D, cap = len(Ws), 300
        with np.errstate(over="ignore", invalid="ignore"):
            steps, rate = saxe.fastest(Ws, task, cap)
            grid = {}
            for k in range(-14, 7):
                s, _ = saxe.descend([W.copy() for W in Ws], task, saxe.RATE_STEP**k / D, cap)
                grid[k] = s
        reached = {k: s for k, s in grid.items() if s is not None}
        assert steps == min(reached.values()), (name, grid)
        k = round(math.log(rate) / math.log(saxe.RATE_STEP))
        assert rate == pytest.approx(saxe.RATE_STEP**k) and grid[k] == steps  # the rate it names takes those steps
        assert min(grid) < k < max(grid)  # and the whole grid searched here has it inside
