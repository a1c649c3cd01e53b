"""Work too big for the machine is refused before it starts, in one line with the estimate; messages that do not mislead."""

from __future__ import annotations

import contextlib
import io
import json
import time

import numpy as np
import pytest

from initlab import budget
from initlab.cli import main
from initlab.diagnostics import distinct_units

SPEC = """
name = "big"
seeds = {seeds}
iterations = {iterations}
{extra}
[model]
{model}
[[optimizer]]
learning_rate = 0.1
[[init]]
name = "he_normal"
{more_inits}
"""


def _cli(argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def _spec(tmp_path, seeds=2, iterations=10, extra="", model="depth = 2\nwidth = 4", more_inits=""):
    path = tmp_path / "big.toml"
    path.write_text(SPEC.format(seeds=seeds, iterations=iterations, extra=extra, model=model, more_inits=more_inits))
    return path


@pytest.mark.parametrize("case, message", [
    (dict(iterations=10**12), "recording 10,000,000,001 losses needs about"),
    (dict(model="hidden = [100000, 100000]"), "One run of 2-100000-100000-1 on 300 examples"),
    (dict(seeds=10**8), "The 'seeds' key must be <= 1000000"),
    (dict(seeds=1000, more_inits='[[init]]\nname = "xavier_normal"\nscale = [' + ", ".join(f"{s}.5" for s in range(1001)) + "]"),
     "grid has 1,002,000 runs"),
])  # fmt: skip
def test_a_sweep_too_big_is_refused_before_anything_is_made(tmp_path, case, message):
    spec = _spec(tmp_path, **case)
    out = tmp_path / "out"
    for command in (["sweep", "plan", str(spec)], ["sweep", "run", str(spec), "--out", str(out), "--quiet"]):
        start = time.monotonic()
        code, stdout, err = _cli(command)
        assert code == 2 and err.count("\n") == 1 and message in err and "Traceback" not in err, err
        assert stdout == "" and time.monotonic() - start < 60
    assert not out.exists()


def test_train_too_big_is_refused_with_its_estimate(tmp_path):
    out = tmp_path / "t"
    code, _, err = _cli(["train", "--layers", "2,2000000,1", "--iterations", "2", "--out", str(out)])
    assert code == 2 and err.count("\n") == 1
    assert "Training 5 models of 2-2000000-1 on 300 examples needs about" in err and "fewer --seeds" in err
    assert not out.exists()


def test_the_memory_rule_is_the_formula_and_the_machine():
    layers, K, m = (2, 10, 5, 1), 3, 300
    units, P = 16, 2 * 10 + 10 + 10 * 5 + 5 + 5 + 1
    assert budget.training_bytes(layers, K, m, records=7) == 8 * K * (7 * units * m + 4 * P + 7)
    total = budget.machine_memory()
    if total is not None:
        budget.check_memory(int(0.5 * total), "half the machine", "")
        with pytest.raises(
            ValueError, match=r"twice the machine needs about .* of memory; this machine has .*\. Do less\."
        ):
            budget.check_memory(2 * total, "twice the machine", "Do less.")


def test_a_diverging_training_prints_no_raw_warning(tmp_path):
    code, _, err = _cli(
        ["train", "--lr", "1e300", "--iterations", "30", "--seeds", "2", "--out", str(tmp_path / "d"), "-q"]
    )
    assert code == 0 and "Warning" not in err and "overflow" not in err, err


def test_an_unknown_option_suggests_only_a_close_spelling():
    code, _, err = _cli(["reproduce", "--bogus"])
    assert (
        code == 2 and "No such option: --bogus." in err and "Possible options" not in err and "Did you mean" not in err
    )
    assert "`initlab reproduce --help` lists the options" in err
    code, _, err = _cli(["reproduce", "--ou", "x"])
    assert code == 2 and "Did you mean --out?" in err


def test_distinct_units_of_a_wide_layer_take_no_quadratic_time():
    """20,000 units: the old pairwise comparison took minutes (measured in benchmarks, not here); the count is right."""
    rng = np.random.default_rng(0)
    W = rng.normal(size=(1, 20_000, 2))
    W[0, 10_000:] = W[0, :10_000]  # every unit of the second half copies one of the first
    assert distinct_units(W, np.zeros((1, 20_000, 1))).tolist() == [10_000]
    assert distinct_units(np.zeros((1, 20_000, 2)), np.zeros((1, 20_000, 1))).tolist() == [1]


def test_a_loss_of_1e299_is_reported_as_divergence(tmp_path, capsys):
    code = main(
        ["train", "--lr", "1e300", "--iterations", "50", "--seeds", "3", "--out", str(tmp_path / "d"), "--json"]
    )
    result = json.loads(capsys.readouterr().out)
    assert code == 0
    assert result["diverged_at"] == [1, 1, 1] and result["diverged"] == [True, True, True]
    assert all(v is None for v in result["final_loss"])  # no loss of 1e299 is reported: nan (null in JSON)
