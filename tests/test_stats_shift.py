"""stats.shift_ci: the Hodges-Lehmann shift and its exact signed-rank interval, checked against scipy's
exact Wilcoxon test (an independent implementation) and against the published critical values."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy.stats import wilcoxon

from initlab.stats import shift_ci, signed_rank_cdf


@pytest.mark.parametrize("n", [1, 2, 5, 6, 8, 10])
def test_null_law_by_enumerating_every_sign(n):
    sums = [sum(r * s for r, s in zip(range(1, n + 1), signs)) for signs in itertools.product((0, 1), repeat=n)]
    counts = np.bincount(sums, minlength=n * (n + 1) // 2 + 1)
    np.testing.assert_allclose(signed_rank_cdf(n), np.cumsum(counts) / 2**n, rtol=0, atol=1e-15)


@pytest.mark.parametrize(("n", "critical"), [(6, 0), (7, 2), (8, 3), (10, 8), (15, 25), (20, 52)])
def test_critical_values_match_the_table(n, critical):
    # the two-sided 5 % critical values of Wilcoxon's T (e.g. Zar, Biostatistical Analysis, table B.12)
    x = np.arange(1.0, n + 1) * (-1) ** np.arange(n)  # any values: only the order statistics used depend on them
    s = shift_ci(x)
    i, j = np.triu_indices(n)
    walsh = np.sort((x[i] + x[j]) / 2)
    assert (s.low, s.high) == (walsh[critical], walsh[-1 - critical])
    assert s.coverage == pytest.approx(1 - 2 * signed_rank_cdf(n)[critical])
    assert s.coverage >= 0.95


@pytest.mark.parametrize("seed", range(6))
def test_interval_is_where_scipy_exact_test_does_not_reject(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(6, 16))
    x = rng.standard_t(2, size=n) * 3 + 1  # heavy tails, as paired accuracies with a stalled seed
    s = shift_ci(x)
    eps = 1e-7
    level = 1 - s.coverage  # the exact level the interval was built at
    for end, inside, outside in ((s.low, s.low + eps, s.low - eps), (s.high, s.high - eps, s.high + eps)):
        p_in = wilcoxon(x - inside, method="exact").pvalue
        p_out = wilcoxon(x - outside, method="exact").pvalue
        assert p_in > level - 1e-12, (end, p_in)
        assert p_out <= level + 1e-12, (end, p_out)
    assert s.low <= s.estimate <= s.high


def test_one_far_value_moves_an_end_by_one_order_statistic_only():
    # the case that made fixup's Student interval useless: five seeds within a point, one reference seed stalled
    d = np.array([-0.4, 0.2, 0.9, -1.1, 0.5, 40.0])
    s = shift_ci(d)
    assert s.low == pytest.approx(-1.1) and s.high == 40.0
    from initlab.stats import mean_ci

    assert mean_ci(d).low < -5  # Student's lower end is dragged down by the far value on the other side


def test_edges():
    assert math.isnan(shift_ci([]).estimate)
    few = shift_ci([1.0, 2.0, 3.0, 4.0, 5.0])  # 2^-5 = 0.031 > 0.025: no exact 95 % interval
    assert (few.low, few.high, few.estimate) == (-math.inf, math.inf, 3.0)
    assert shift_ci([1.0, float("nan"), 2.0, 3.0, 4.0, 5.0, 6.0]).n == 6
    with pytest.raises(ValueError, match="confidence"):
        shift_ci([1.0, 2.0], confidence=1.5)
