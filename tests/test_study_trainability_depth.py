"""The trainability-depth study: its ensemble, its lines, and its quick verdict under two root seeds."""

from __future__ import annotations

import math

import numpy as np
import pytest

from initlab import meanfield as mf
from initlab.studies import trainability_depth as td
from initlab.studies.base import Unit


def test_the_ensemble_is_the_papers():
    # W ~ N(0, sigma_w^2 / n_in) in every layer (the input layer's n_in is 64), b ~ N(0, sigma_b^2).
    net = td.network(6)
    params = td.initialize(net, 3.0, [np.random.SeedSequence(7, spawn_key=(k,)) for k in range(40)])
    for l, (_n_out, n_in) in enumerate(net.weight_shapes, start=1):
        W, b = params[f"W{l}"], params[f"b{l}"]
        assert W.mean() == pytest.approx(0.0, abs=4 * math.sqrt(3.0 / n_in / W.size))
        assert W.var() * n_in == pytest.approx(3.0, rel=5 * math.sqrt(2.0 / W.size))
        assert b.var() == pytest.approx(td.SIGMA_B2, rel=5 * math.sqrt(2.0 / b.size))


def test_the_lines_are_the_papers_depth_scale():
    # 6 xi_c is the paper's white line: about 36 layers at sigma_w^2 = 1.2 and 54 at 3.0 (sigma_b^2 = 0.05).
    assert td.FAILS * mf.xi_c(1.2, td.SIGMA_B2) == pytest.approx(35.7, abs=0.1)
    assert td.FAILS * mf.xi_c(3.0, td.SIGMA_B2) == pytest.approx(54.3, abs=0.1)
    assert td.TRAINS < td.FAILS == 6.0
    # which cells are judged: at sigma_w^2 = 1 (xi_c = 3.63) 4 layers must train, 24 must not, 12 is not judged
    xi = mf.xi_c(1.0, td.SIGMA_B2)
    assert [td._mark(d, xi) for d in (4, 12, 24)] == [" a", "", " b"]


def test_a_seed_is_the_same_in_any_unit(monkeypatch):
    # Seed s of a cell draws only from its own streams: the numbers of seeds 0..2 do not depend on how they are chunked.
    monkeypatch.setattr(td, "STEPS", 20)
    cell = {"sigma_w2": 1.5, "depth": 3}
    whole = td.measure("quick", Unit(cell, 0, 3), root=4)
    parts = [td.measure("quick", Unit(cell, a, b), root=4) for a, b in ((0, 1), (1, 3))]
    for name in ("test_accuracy", "train_accuracy", "final_loss", "loss"):
        np.testing.assert_array_equal(whole[name], np.concatenate([p[name] for p in parts]))
    other = td.measure("quick", Unit(cell, 0, 3), root=5)
    assert not np.array_equal(other["loss"], whole["loss"])


@pytest.mark.parametrize("rng", [0, 1])
def test_quick_verdict(study_quick, rng):
    r = study_quick("trainability-depth", rng=rng)
    d = r.data
    acc, frac = np.asarray(d["test_accuracy"]), np.asarray(d["trained_fraction"])
    xi = np.array([mf.xi_c(s, td.SIGMA_B2) for s in d["sigma_w2"]])
    depths = np.asarray(d["depths"])
    assert r.seeds >= 3 and acc.shape == (len(xi), depths.size, r.seeds)
    # the trained fractions follow from the accuracies and the fixed threshold 0.3
    np.testing.assert_array_equal(frac, (acc >= 0.3).mean(axis=2))
    line_a = depths[None, :] <= td.TRAINS * xi[:, None]
    line_b = depths[None, :] >= td.FAILS * xi[:, None]
    assert line_a.any() and line_b.any()
    # (a) holds: every cell within 2 xi_c trains in most seeds ...
    assert (frac[line_a] > 0.5).all()
    # ... (b) does not: at sigma_w^2 = 1 (6 xi_c = 21.8) the 24-layer networks train in most seeds, so the study's
    # verdict is NOT SUPPORTED, by its smallest margin, that cell's 1/2 - trained fraction
    i, j = d["sigma_w2"].index(1.0), list(depths).index(24)
    assert line_b[i, j] and frac[i, j] > 0.5
    assert not r.verdict.supported
    assert r.verdict.margin == pytest.approx(0.5 - frac[line_b].max())
    assert r.verdict.margin == pytest.approx(min(frac[line_a].min() - 0.5, 0.5 - frac[line_b].max()))
