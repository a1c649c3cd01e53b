"""`initlab jacobian`: the same numbers as the library (and as an independent per-model computation), files, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from initlab import initializers, seeding
from initlab.cli import main
from initlab.network import MLP


def test_json_equals_an_independent_computation(capsys):
    assert main(["jacobian", "--width", "16", "--depth", "5", "--activation", "tanh", "--init", "orthogonal",
                 "--init-option", "gain=1.1", "--seeds", "3", "--examples", "2", "--seed", "7", "--json"]) == 0  # fmt: skip
    got = json.loads(capsys.readouterr().out)
    net = MLP((16,) * 6 + (1,), activation="tanh")
    draw, data = seeding.split(7)
    P = net.initialize(initializers.get("orthogonal", gain=1.1), rng=draw, models=3)
    X = data.standard_normal((16, 2))
    for k in range(3):  # the product of diag(g'(z_l)) W_l written per model and example, then numpy's SVD
        s = []
        for i in range(2):
            a, J = X[:, i], np.eye(16)
            for l in range(1, 6):
                z = P[f"W{l}"][k] @ a + P[f"b{l}"][k][:, 0]
                J = (1 - np.tanh(z) ** 2)[:, None] * (P[f"W{l}"][k] @ J)
                a = np.tanh(z)
            s.append(np.linalg.svd(J, compute_uv=False))
        lam = np.concatenate(s) ** 2
        assert got["mean_squared"][k] == pytest.approx(lam.mean(), rel=1e-12)
        assert got["relative_spread"][k] == pytest.approx(lam.var() / lam.mean() ** 2, rel=1e-9)
    assert got["layers"] == [16] * 6 + [1] and got["models"] == 3
    assert got["reading"].startswith("mean s^2")


def test_table_reading_and_files(tmp_path, capsys):
    out = tmp_path / "jac"
    assert main(["jacobian", "--layers", "8,8,8,1", "--init", "orthogonal", "--activation", "linear", "--seeds", "2",
                 "--out", str(out)]) == 0  # fmt: skip
    captured = capsys.readouterr()
    assert "model 1" in captured.out and "an isometry" in captured.out  # a linear orthogonal net is one exactly
    assert sorted(p.name for p in out.iterdir()) == ["jacobian.json", "jacobian.png", "report.html"]
    assert (out / "jacobian.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((out / "jacobian.json").read_text())["near_one"] == [1.0, 1.0]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--init", "nope"], "'--init' nope"),
        (["--stop", "99"], "'--stop'"),
        (["--start", "5", "--depth", "3"], "'--start'"),
        (["--examples", "0"], "'--examples'"),
        (["--layers", "2,x,1"], "'--layers'"),
        (["--activation", "nope"], "activation"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(args, needle, tmp_path, capsys):
    out = tmp_path / "never"
    assert main(["jacobian", "--out", str(out), *args]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and needle in captured.err and len(captured.err.strip().splitlines()) == 1
    assert not out.exists()
