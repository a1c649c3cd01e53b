"""The mup-lr-transfer study: its fixed lines, its model-axis layout, muP = SP at the base width, and its quick verdict."""

from __future__ import annotations

import math

import numpy as np
import pytest

from initlab import datasets, seeding, studies
from initlab.report import study as study_report
from initlab.studies import mup_lr_transfer as mlt
from initlab.studies.base import Unit
from initlab.training import train


def test_lines_are_fixed_constants():
    assert (mlt.MUP_RANGE_CEILING, mlt.SP_SHIFT_LINE, mlt.EDGE_LINE) == (1.5, 1.5, 0.5)
    assert mlt.LOG2_LRS == tuple(range(-12, 1)) and mlt.BASE_WIDTH == 32 and mlt.BATCH == 32
    assert mlt.SIZES["quick"]["widths"] == (32, 64, 128, 256) and mlt.SIZES["default"]["widths"][-1] == 512
    assert mlt.STUDY.default_seeds == {"quick": 2, "default": 3}


def test_sgd_learning_rate_factors_follow_tp5_table_3():
    # TP5 Table 3, SGD column, for the effective weights: input weights and hidden biases x mu (fan_out / base),
    # hidden weights x 1, output weights x 1/mu (fan_in / base); the output bias has no width: x 1.
    net = mlt.network(128, "mup")
    mu = 128 / mlt.BASE_WIDTH
    expected = {"W1": mu, "b1": mu, "W2": 1.0, "b2": mu, "W3": 1 / mu, "b3": 1.0}
    factors = net.learning_rate_factors("sgd")
    sizes = [(n_out * n_in, n_out) for n_out, n_in in net.weight_shapes]
    flat = np.concatenate([np.full(s, expected[f"{k}{l}"]) for l, pair in enumerate(sizes, 1)
                           for k, s in zip("Wb", pair)])  # fmt: skip
    np.testing.assert_allclose(factors, flat, rtol=1e-15)
    assert np.all(mlt.network(128, "standard").learning_rate_factors("sgd") == 1.0)


def test_mup_at_the_base_width_trains_exactly_as_standard():
    data = datasets.load("digits", n_train=200, n_test=50, rng=0)
    runs = []
    for p in ("standard", "mup"):
        net = mlt.network(mlt.BASE_WIDTH, p)
        P = net.initialize("he_normal", rng=seeding.streams(0, range(2), 0, mlt.BASE_WIDTH))
        runs.append(train(net, P, data.X_train, data.Y_train, learning_rate=np.array([0.05, 0.4]), iterations=30,
                          record_every=10, optimizer="sgd", batch_size=mlt.BATCH, rng=[1, 2]))  # fmt: skip
    a, b = runs
    assert np.array_equal(a.loss, b.loss) and np.array_equal(a.final_loss, b.final_loss)
    for k in a.params:
        assert np.array_equal(a.params[k], b.params[k]), k
    # and one doubling away they differ (the readout's init and every layer's rate)
    wide = [mlt.network(2 * mlt.BASE_WIDTH, p).initialize("he_normal", rng=[3]) for p in ("standard", "mup")]
    assert np.array_equal(wide[0]["W1"], wide[1]["W1"])
    np.testing.assert_allclose(wide[1]["W3"], wide[0]["W3"] / math.sqrt(2), rtol=1e-15)


def test_measure_is_one_train_call_per_rate_and_seed():
    # the model axis carries (seed, rate) pairs: model s * R + j is seed s at rate j, its own init and minibatches
    unit = Unit({"parametrization": "mup", "width": 64}, 1, 2)
    got = mlt.measure("quick", unit, root=5)
    assert got["loss"].shape == got["diverged"].shape == (1, len(mlt.LOG2_LRS))
    data = datasets.load("digits", rng=seeding.stream(5, 2))
    net = mlt.network(64, "mup")
    j = mlt.LOG2_LRS.index(-4)
    P = net.initialize("he_normal", rng=[seeding.stream(5, 0, 64, 1)])
    alone = train(net, P, data.X_train, data.Y_train, learning_rate=2.0**-4, iterations=mlt.SIZES["quick"]["steps"],
                  record_every=100, optimizer="sgd", batch_size=mlt.BATCH, rng=[seeding.stream(5, 1, 64, 1)])  # fmt: skip
    assert got["loss"][0, j] == pytest.approx(alone.final_loss[0], rel=1e-10)


def test_best_rate_and_criteria_on_made_up_curves():
    # a diverged seed makes its rate +inf; ties go to the smaller rate
    loss = np.array([[3.0, 1.0, 1.0, 0.5], [3.0, 1.0, 1.0, 0.2]])
    mean = mlt.seed_mean(loss, np.array([[0, 0, 0, 0], [0, 0, 0, 1]], dtype=bool))
    assert mean[-1] == math.inf and mlt.best_index(mean) == 1
    assert mlt.best_index(np.full(4, np.inf)) is None
    widths = [32, 64, 128, 256]
    at = {v: i for i, v in enumerate(mlt.LOG2_LRS)}
    ideal = {("mup", n): at[-4] for n in widths} | {("standard", n): at[-3 - k] for k, n in enumerate(widths)}
    margins = [m for _, m in mlt.criteria(ideal, widths)]
    assert margins == [1.5, 1.5, min(at[-6], len(mlt.LOG2_LRS) - 1 - at[-3]) - 0.5]
    flat = ideal | {("standard", n): at[-3] for n in widths}
    assert mlt.criteria(flat, widths)[1][1] == -1.5  # no shift: short by 1.5 steps
    # the reported left flank: the first crossing of the level, linear in log loss
    curve = np.array([1.0, 0.5, 0.05, 0.01] + [0.02] * (len(mlt.LOG2_LRS) - 4))
    assert mlt.reach_log2_lr(curve, 0.1) == pytest.approx(mlt.LOG2_LRS[1] + math.log(5) / math.log(10), rel=1e-12)
    assert mlt.reach_log2_lr(curve, 1.0) == mlt.LOG2_LRS[0] and mlt.reach_log2_lr(curve, 1e-3) is None
    edge = ideal | {("mup", 256): at[0]}
    assert mlt.criteria(edge, widths)[0][1] < 0 and mlt.criteria(edge, widths)[2][1] == -0.5


@pytest.mark.parametrize("rng", [0, 1])
def test_quick_verdict(study_quick, rng):
    r = study_quick("mup-lr-transfer", rng=rng)
    best = r.data["best_log2_lr"]
    widths = r.data["widths"]
    mup = [best[f"mup/{n}"] for n in widths]
    sp = [best[f"standard/{n}"] for n in widths]
    # muP at the base width is SP, to the bit
    assert r.data["mean_loss"][f"mup/{widths[0]}"].tolist() == r.data["mean_loss"][f"standard/{widths[0]}"].tolist()
    # what was measured: muP's best rate stays within a step, but SP's does not move the 2 steps the line asks for
    assert max(mup) - min(mup) <= 1
    assert sp[0] - sp[-1] < 2
    assert not r.verdict.supported, str(r.verdict)
    files = study_report.files(studies.get("mup-lr-transfer"), r)
    assert files["figure.png"][:8] == b"\x89PNG\r\n\x1a\n"
