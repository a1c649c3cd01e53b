"""Summary statistics against values computed by hand (t quantiles from a printed table)."""

import math
from dataclasses import dataclass, field

import numpy as np
import pytest

from initlab.sweeps.summary import (
    Estimate,
    first_reach,
    format_estimate,
    mean_ci,
    median_run,
    seed_band,
    summarize,
    summary_rows,
)

# Student's t, 0.975 quantile, from a printed table (10 significant digits).
T975 = {1: 12.70620474, 2: 4.302652730, 3: 3.182446305, 9: 2.262157163}


def test_mean_ci_of_four_values():
    # mean 2.5; s^2 = (2.25 + 0.25 + 0.25 + 2.25) / 3 = 5/3; half width = t_{0.975,3} s / sqrt(4)
    e = mean_ci([1.0, 2.0, 3.0, 4.0])
    assert e.n == 4 and e.mean == 2.5
    assert e.half_width == pytest.approx(T975[3] * math.sqrt(5 / 3) / 2, rel=1e-9)
    assert (e.low, e.high) == pytest.approx((2.5 - e.half_width, 2.5 + e.half_width))


def test_mean_ci_of_ten_accuracies():
    values = [0.95, 0.97, 0.99, 0.67, 0.96, 0.98, 0.99, 0.94, 0.97, 0.98]
    # by hand: mean 9.40 / 10 = 0.94; squared deviations sum to 0.0834, s = sqrt(0.0834 / 9) = 0.096264
    e = mean_ci(values)
    assert e.mean == pytest.approx(0.94, abs=1e-15)
    assert e.half_width == pytest.approx(T975[9] * math.sqrt(0.0834 / 9) / math.sqrt(10), rel=1e-8)
    assert e.half_width == pytest.approx(0.06886, abs=1e-5)


def test_mean_ci_edge_cases():
    assert mean_ci([2.0, 2.0]) == Estimate(2.0, 0.0, 2)
    one = mean_ci([5.0])
    assert one.mean == 5.0 and one.n == 1 and math.isnan(one.half_width)
    none = mean_ci([])
    assert none.n == 0 and math.isnan(none.mean)
    assert mean_ci([1.0, float("nan"), 3.0, float("inf")]).n == 2  # non-finite values are left out
    assert mean_ci([1.0, 3.0], confidence=0.9).half_width == pytest.approx(
        6.313751515 * math.sqrt(2) / math.sqrt(2), rel=1e-8
    )


def test_first_reach_is_the_first_recorded_iteration_at_or_below_the_threshold():
    it = np.array([0, 100, 200, 300, 350])
    loss = np.array([0.9, 0.5, 0.09, 0.2, 0.05])
    assert first_reach(it, loss, 0.1) == 200
    assert first_reach(it, loss, 0.09) == 200  # <=
    assert first_reach(it, loss, 0.06) == 350  # the last record is the trained model's
    assert math.isnan(first_reach(it, loss, 0.01))
    assert math.isnan(first_reach(it[:2], np.array([np.nan, np.nan]), 0.1))  # diverged: never


@dataclass(frozen=True)
class Run:
    init: str
    final_loss: float
    train_accuracy: float
    test_accuracy: float
    loss: tuple
    status: str = "done"
    diverged_at: int = -1
    record_iterations: np.ndarray = field(default_factory=lambda: np.array([0, 100, 200]))

    @property
    def labels(self):
        return {"dataset": "circles", "network": "2-10-5-1", "activation": "relu", "init": self.init, "optimizer": "gd",
                "learning_rate": "0.01", "iterations": "200", "seed": "0"}  # fmt: skip


def runs():
    return [
        Run("he", 0.1, 0.90, 0.8, (0.5, 0.08, 0.1)),
        Run("he", 0.2, 1.00, 0.9, (0.5, 0.3, 0.05)),
        Run("he", 0.3, 0.95, 1.0, (0.6, 0.4, 0.3)),
        Run("zeros", 0.69, 0.5, 0.5, (0.7, 0.7, 0.69)),
        Run("zeros", float("nan"), 0.4, 0.6, (0.7, float("nan"), float("nan")), diverged_at=50),
        Run("zeros", float("nan"), float("nan"), float("nan"), (), status="failed"),
    ]


def test_summarize_by_hand():
    s = summarize(((r, np.array(r.loss) if r.status == "done" else None) for r in runs()), threshold=0.1)
    assert s.varying == ("init",) and s.threshold == 0.1
    he, zeros = s.groups
    assert he.labels["init"] == "he" and "seed" not in he.labels
    assert (he.runs, he.failed, he.diverged, he.reached) == (3, 0, 0.0, 2)
    assert he.final_loss.mean == pytest.approx(0.2)
    assert he.final_loss.half_width == pytest.approx(T975[2] * 0.1 / math.sqrt(3), rel=1e-8)  # s = 0.1
    assert he.train_accuracy.mean == pytest.approx(0.95)
    assert he.train_accuracy.half_width == pytest.approx(T975[2] * 0.05 / math.sqrt(3), rel=1e-8)
    assert he.test_accuracy.half_width == pytest.approx(T975[2] * 0.1 / math.sqrt(3), rel=1e-8)
    # iterations to loss <= 0.1: 100 and 200 (the third never): mean 150, s = 70.71, t_{0.975,1} s / sqrt 2 = 50 t
    assert he.iterations_to_threshold.mean == 150 and he.iterations_to_threshold.n == 2
    assert he.iterations_to_threshold.half_width == pytest.approx(50 * T975[1], rel=1e-8)
    # zeros: 2 finished (one diverged), 1 failed; the final loss only over the one that did not diverge
    assert (zeros.runs, zeros.failed, zeros.diverged, zeros.reached) == (2, 1, 0.5, 0)
    assert zeros.final_loss.n == 1 and zeros.final_loss.mean == 0.69
    assert zeros.train_accuracy.mean == pytest.approx(0.45)  # a diverged run counts with its last finite parameters


def test_summary_rows_show_the_varying_columns_and_the_numbers():
    s = summarize(((r, np.array(r.loss) if r.status == "done" else None) for r in runs()), threshold=0.1)
    header, rows = summary_rows(s)
    assert header == [
        "init",
        "seeds",
        "final loss",
        "train acc",
        "test acc",
        "iters to loss ≤ 0.1",
        "diverged",
        "failed",
    ]
    assert rows[0] == ["he", "3", "0.2 ± 0.25", "95.0 ± 12.4%", "90.0 ± 24.8%", "150 ± 635 (2/3)", "0%", "0"]
    assert rows[1] == ["zeros", "2", "0.69", "45.0 ± 63.5%", "55.0 ± 63.5%", "never (0/2)", "50%", "1"]


def test_format_estimate():
    assert format_estimate(Estimate(0.955, 0.021, 30), percent=True) == "95.5 ± 2.1%"
    assert format_estimate(Estimate(0.0648102, 0.00123, 10)) == "0.0648 ± 0.0012"
    assert format_estimate(Estimate(0.5, float("nan"), 1)) == "0.5"
    assert format_estimate(Estimate(float("nan"), float("nan"), 0)) == "–"


def test_seed_band_is_median_and_quartiles_ignoring_diverged():
    losses = np.array([[1.0, 0.5, 0.1], [2.0, 0.6, np.nan], [3.0, 0.7, 0.3], [4.0, 0.8, np.nan], [5.0, 0.9, np.nan]])
    median, low, high = seed_band(losses)
    np.testing.assert_allclose(median, [3.0, 0.7, 0.2])
    np.testing.assert_allclose(low, [2.0, 0.6, 0.15])
    np.testing.assert_allclose(high, [4.0, 0.8, 0.25])
    m, lo, hi = seed_band(np.full((3, 2), np.nan))
    assert np.isnan(m).all() and np.isnan(lo).all()


def test_median_run_uses_the_final_loss_with_diverged_last():
    rows = [Run("he", 0.3, 1, 1, ()), Run("he", 0.1, 1, 1, ()), Run("he", float("nan"), 1, 1, (), diverged_at=3),
            Run("he", 0.2, 1, 1, ())]  # fmt: skip
    assert median_run(rows).final_loss == 0.2  # order 0.1, 0.2, 0.3, diverged: the lower median
    assert median_run(rows[:3]).final_loss == 0.3
    assert median_run([]) is None
