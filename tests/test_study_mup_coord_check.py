"""The mup-coord-check study: its lines, its seeds, lines that can fail, and its quick verdict under two root seeds."""

from __future__ import annotations

import numpy as np
import pytest

from initlab import coordcheck
from initlab.studies import mup_coord_check as mc
from initlab.studies.base import Measured, Unit


def test_lines_and_setting_are_the_docstrings():
    assert (mc.GROWTH_LINE, mc.FLAT_CEILING) == (0.5, 0.25)
    assert (mc.OPTIMIZER, mc.LEARNING_RATE, mc.STEPS, mc.DEPTH, mc.EXAMPLES) == ("adam", 0.01, 3, 3, 128)
    assert mc.SIZES["default"]["widths"] == (64, 128, 256, 512, 1024, 2048)
    assert mc.SIZES["quick"]["widths"] == (64, 128, 256, 512, 1024)
    for text in ("GROWTH_LINE` (0.5", "FLAT_CEILING` (0.25", "64..1024", "64..2048"):
        assert text in mc.__doc__


def test_a_seed_is_the_same_in_any_unit(monkeypatch):
    monkeypatch.setitem(mc.SIZES, "quick", {"widths": (8, 16)})
    both = mc.measure("quick", Unit({"parametrization": "mup"}, 0, 3), 4)
    last = mc.measure("quick", Unit({"parametrization": "mup"}, 2, 3), 4)
    np.testing.assert_array_equal(both["size"][2:], last["size"])
    np.testing.assert_array_equal(both["slope"][2:], last["slope"])


def _fake(sp_slope: float, mup_slope: float) -> Measured:
    """Sizes that are exact power laws in width: standard's output width^sp_slope after every step, muP's every layer."""
    widths = np.asarray(mc.SIZES["quick"]["widths"], dtype=float)
    L, T, K = mc.DEPTH + 1, mc.STEPS, 3
    pairs = []
    for p, s in (("standard", sp_slope), ("mup", mup_slope)):
        exps = np.zeros((T + 1, L))
        exps[1:, -1 if p == "standard" else slice(None)] = s
        size = widths[None, :, None, None] ** exps[None, None] * np.ones((K, 1, 1, 1))  # (K, W, T + 1, L)
        slope = coordcheck.fit_slopes(widths, np.moveaxis(size, 0, -1)).transpose(2, 0, 1)  # (K, T + 1, L)
        pairs.append((Unit({"parametrization": p}, 0, K), {"size": size, "change": size, "slope": slope,
                                                             "wall": np.zeros(K)}))  # fmt: skip
    return Measured(pairs, K)


def test_the_lines_can_fail():
    good = mc.reduce("quick", 3, _fake(1.0, 0.05)).verdict
    assert good.supported and good.margin == pytest.approx(0.2)
    flat_sp = mc.reduce("quick", 3, _fake(0.3, 0.05)).verdict
    assert not flat_sp.supported and flat_sp.margin == pytest.approx(-0.2) and "standard" in flat_sp.detail
    mup_grows = mc.reduce("quick", 3, _fake(1.0, -0.4)).verdict
    assert not mup_grows.supported and mup_grows.margin == pytest.approx(-0.15)


@pytest.mark.parametrize("rng", [0, 1])
def test_quick_verdict_is_the_docstrings_lines(study_quick, rng):
    """Both criteria recomputed from the recorded sizes with the docstring's numbers."""
    r = study_quick("mup-coord-check", rng)
    d = r.data
    widths = np.asarray(d["widths"], dtype=float)
    sp, mup = np.asarray(d["size"]["standard"]), np.asarray(d["size"]["mup"])  # (W, T + 1, L, K)
    assert sp.shape == (5, 4, 4, r.seeds) and r.seeds >= 3
    # (1) standard: the output's log-log slope after steps 1-3, in every seed, at least 0.5 (theory: 1)
    x = np.log(widths) - np.log(widths).mean()
    sp_slopes = np.einsum("w,wtk->tk", x, np.log(sp[:, 1:, -1, :])) / (x @ x)
    assert sp_slopes.min() >= 0.5
    # (2) muP: the seeds' mean curve of every layer and the output, slope within +-0.25 after steps 1-3
    mup_slopes = np.einsum("w,wtl->tl", x, np.log(mup[:, 1:].mean(axis=-1))) / (x @ x)
    assert np.abs(mup_slopes).max() <= 0.25
    assert r.verdict.supported, str(r.verdict)
    assert r.verdict.margin == pytest.approx(min(sp_slopes.min() - 0.5, 0.25 - np.abs(mup_slopes).max()))
    # the first layer (finite fan-in) is width-free under both, as the theory says
    assert np.abs(np.asarray(d["slope"]["standard"])[:, 1:, 0]).max() < 0.1
