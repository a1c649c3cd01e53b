"""Statistics over seeds: a mean with its 95 % confidence interval (Student's t).

Used by ``initlab train`` (over the seeds of one configuration) and by sweep summaries (over the
seeds of each group): one definition, so both print the same numbers.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from initlab.validation import check_real

__all__ = ["Estimate", "mean_ci"]


@dataclass(frozen=True)
class Estimate:
    """A mean over n values with the half width of its 95 % confidence interval (nan if n < 2)."""

    mean: float
    half_width: float
    n: int

    @property
    def low(self) -> float:
        return self.mean - self.half_width

    @property
    def high(self) -> float:
        return self.mean + self.half_width


def mean_ci(values: Iterable[float], confidence: float = 0.95) -> Estimate:
    r"""Mean of the finite ``values`` and the half width :math:`t_{(1+c)/2,\,n-1}\, s/\sqrt n` of its interval.

    Parameters
    ----------
    values : iterable of float; nan and inf are left out
    confidence : float in (0, 1)

    Returns
    -------
    Estimate
        ``mean`` nan for no values; ``half_width`` nan for fewer than two, 0 when all are equal.
    """
    confidence = check_real("confidence", confidence, min_value=0.0, max_value=1.0, min_inclusive=False)
    x = np.asarray([v for v in values if math.isfinite(v)], dtype=np.float64)
    n = x.size
    if n == 0:
        return Estimate(float("nan"), float("nan"), 0)
    mean = float(x.mean())
    if n == 1:
        return Estimate(mean, float("nan"), 1)
    from scipy.stats import t  # lazy: scipy costs ~0.3 s to import

    s = float(x.std(ddof=1))
    return Estimate(mean, float(t.ppf(0.5 + confidence / 2, n - 1)) * s / math.sqrt(n), n)
