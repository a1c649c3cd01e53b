"""`initlab coord-check`: the same numbers as the library, the table and readings, the files, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from initlab import coordcheck as cc
from initlab.cli import main


def test_json_equals_the_library(capsys):
    argv = ["coord-check", "--widths", "16,32,64", "--depth", "2", "--steps", "2", "--seeds", "2", "--seed", "3",
            "--parametrization", "mup", "--optimizer", "sgd", "--lr", "0.1", "--activation", "tanh", "--json"]  # fmt: skip
    assert main(argv) == 0
    got = json.loads(capsys.readouterr().out)
    X, Y = cc.digits_batch(128, rng=3)
    want = cc.coord_check(X, Y, widths=(16, 32, 64), depth=2, steps=2, seeds=2, rng=3, parametrization="mup",
                          optimizer="sgd", learning_rate=0.1, activation="tanh")  # fmt: skip
    np.testing.assert_allclose(got["size"], want.size, rtol=1e-12)
    np.testing.assert_allclose(got["change"], want.change, rtol=1e-12, atol=1e-300)
    mean, lo, hi = want.slope_summary("size")
    np.testing.assert_allclose(got["slope"]["size"]["mean"], mean.T, rtol=1e-10)
    np.testing.assert_allclose(got["slope"]["size"]["max"], hi.T, rtol=1e-10)
    assert got["readings"] == want.readings() and got["layers"] == ["layer 1", "layer 2", "output"]
    assert got["base_width"] == 16 and got["widths"] == [16, 32, 64] and got["seed"] == 3
    assert got["slope"]["change"]["mean"][0][0] is None  # no change at step 0: no slope, null in JSON


def test_table_readings_and_files(tmp_path, capsys):
    out = tmp_path / "cc"
    assert main(["coord-check", "--widths", "64,128,256", "--lr", "0.05", "--depth", "2", "--seeds", "2", "--steps", "1",
                 "--out", str(out)]) == 0  # fmt: skip
    captured = capsys.readouterr()
    assert "slope after step 1" in captured.out and "output grows like width^" in captured.out
    assert "standard parametrization blows up here" in captured.out
    assert sorted(p.name for p in out.iterdir()) == ["coord-check.json", "coord-check.png", "report.html"]
    assert (out / "coord-check.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((out / "coord-check.json").read_text())["parametrization"] == "standard"
    assert "wrote 3 files" in captured.err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--widths", "64"], "'--widths' option needs at least two different widths"),
        (["--widths", "64,x"], "'--widths' option must be comma-separated positive integers"),
        (["--lr", "-1"], "'--lr' option must be > 0"),
        (["--steps", "9"], "'--steps' option must be <= 5"),
        (["--optimizer", "adm"], "'--optimizer' option must be one of"),
        (["--base-width", "64"], "'--base-width' option of MLP goes with parametrization='mup'"),
        (["--widths", "64,1000000"], "GB of memory; this machine has"),
        (["--activation", "rleu"], "'--activation' option of MLP must be one of"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv, message, capsys, tmp_path):
    out = tmp_path / "never"
    assert main(["coord-check", "--widths", "16,32", "--seeds", "1", *argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists()
