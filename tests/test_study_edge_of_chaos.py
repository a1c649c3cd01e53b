"""The edge-of-chaos study's quick verdict under two root seeds, by its own criteria."""

from __future__ import annotations

import numpy as np
import pytest

from initlab import meanfield as mf
from initlab.stats import mean_ci
from initlab.studies import edge_of_chaos as eoc


@pytest.mark.parametrize("rng", [0, 1])
def test_quick_verdict(study_quick, rng):
    r = study_quick("edge-of-chaos", rng=rng)
    d = r.data
    assert r.seeds >= 4
    # (1) the critical point within 0.02 of the published 1.76, and chi1 = 1 there
    assert d["critical_sigma_w2"] == pytest.approx(eoc.PUBLISHED_CRITICAL, abs=eoc.TOLERANCE)
    assert mf.chi1(d["critical_sigma_w2"], eoc.SIGMA_B2) == pytest.approx(1.0, abs=1e-8)
    # (2) the largest xi_c of the grid at the grid point nearest the critical one
    grid, xi = np.asarray(d["grid"]), np.asarray(d["xi_c"], dtype=float)
    assert grid[np.argmax(xi)] == grid[np.argmin(np.abs(grid - d["critical_sigma_w2"]))]
    # (3) per phase: the 95 % interval of the mean deviation from the mean-field curve within +-0.05, and the
    # last layer's correlation moved from the inputs' 0.6 the way the phase says (up when ordered, down when chaotic)
    for phase, e in d["empirical"].items():
        emp, pred = np.asarray(e["emp"]), np.asarray(e["pred"])
        dev = mean_ci((emp - pred).mean(axis=1))
        assert -eoc.MAX_BIAS < dev.low and dev.high < eoc.MAX_BIAS, phase
        if phase == "ordered":
            assert emp[:, -1].mean() > eoc.START_CORRELATION + 0.2
        if phase == "chaotic":
            assert emp[:, -1].mean() < eoc.START_CORRELATION - 0.1
    assert r.verdict.supported, str(r.verdict)
