"""initlab.studies.notebook_seeds: the quick run meets the study's own lines, under two root seeds."""

from __future__ import annotations

import json

import numpy as np
import pytest

from initlab import studies
from initlab.stats import mean_ci
from initlab.studies.base import result_dict


@pytest.mark.parametrize("rng", [0, 1])
def test_quick_meets_the_studys_own_lines(study_quick, rng):
    r = study_quick("notebook-seeds", rng)
    assert r.seeds >= 8
    d = r.data
    assert (np.asarray(d["zeros"]["distinct_units"]) == 1).all()  # (1) zeros: symmetry never breaks
    assert (np.asarray(d["he"]["distinct_units"])[:, :-1] > 1).all()  # hidden layers (the output has one unit)
    gap = mean_ci(np.asarray(d["he"]["test_accuracy"]) - np.asarray(d["random"]["test_accuracy"]))
    assert gap.low > 0  # (2) He beats randn * 10 on test accuracy, paired by seed
    legacy, stable = np.asarray(d["random"]["initial_loss_legacy"]), np.asarray(d["random"]["initial_loss_stable"])
    assert np.isinf(legacy[3]) and np.isfinite(stable).all()  # (3) the notebook's inf at seed 3, stable loss finite
    # seed 3 is the notebook's run: its published He test accuracy (96 %). Not the x10 run's 86 %: that
    # trajectory is chaotic, and the compiled engine's vectorized sums (their order follows the CPU's
    # SIMD width) decide it from a few hundred iterations on; test_course checks it under the notebook's
    # own arithmetic instead.
    assert d["he"]["test_accuracy"][3] == pytest.approx(0.96, abs=0.005)
    assert r.verdict.supported, str(r.verdict)


def test_the_root_seed_does_not_apply(study_quick):
    """Seeds are the notebook's own RandomState(0..K-1), so seed 3 is the notebook's run under any root seed."""
    a, b = study_quick("notebook-seeds", 0), study_quick("notebook-seeds", 1)
    assert a.verdict == b.verdict
    data = [json.dumps(result_dict(studies.get("notebook-seeds"), r)["data"]) for r in (a, b)]
    assert data[0] == data[1]
