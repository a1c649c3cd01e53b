"""`initlab train --blocks`'s report: the per-block view (figure, page, JSON) holds what training recorded, and
what it shows at initialization is the closed form (He branches grow the trunk x3 in second moment per block;
Fixup and ReZero keep it flat)."""

from __future__ import annotations

import html
import json

import numpy as np
import pytest

from initlab import datasets, optimizers
from initlab.cli import main
from initlab.report.train import BLOCK_FIELDS
from initlab.residual import ResidualMLP
from initlab.training import train

SHARED = ("z_std", "a_std", "grad_W_norm", "dead_fraction", "saturated_fraction", "distinct_units")


def run(args, out, capsys) -> dict:
    assert main(["train", "--json", "--out", str(out), *args]) == 0
    return json.loads(capsys.readouterr().out)


def as_array(rows) -> np.ndarray:
    return np.array([[np.nan if v is None else v for v in row] for row in rows], dtype=float)


def test_the_per_block_numbers_are_what_training_recorded_and_the_page_shows_them(tmp_path, capsys):
    args = ["--blocks", "3", "--layers", "2,8,1", "--init", "he_normal", "--iterations", "30", "--seeds", "2",
            "--optimizer", "adam", "--record-every", "10"]  # fmt: skip
    result = run(args, tmp_path / "out", capsys)
    # the same run from the library's parts (the documented stream split of --seed), diagnostics asked for
    data = datasets.load("circles")
    net = ResidualMLP(2, 8, 1, 3, scalars="none")
    init_rng, order_rng = np.random.default_rng(0).spawn(2)
    params = net.initialize("he_normal", rng=init_rng, models=2)
    history = train(net, params, data.X_train, data.Y_train, learning_rate=0.01, iterations=30, record_every=10,
                    optimizer=optimizers.get("adam"), rng=order_rng, diagnostics=30)  # fmt: skip
    diag = result["diagnostics"]
    assert diag["per"] == "block" and diag["iterations"] == [0, 30] and diag["units"] == [8, 8, 8]
    for when, stats in (("initial", history.diagnostics[0]), ("final", history.diagnostics[-1])):
        for field in SHARED + BLOCK_FIELDS:
            np.testing.assert_array_equal(as_array(diag[when][field]), getattr(stats, field), err_msg=field)
    # the trunk and the branch under their residual names are the shared fields
    np.testing.assert_array_equal(as_array(diag["initial"]["a_std"]), history.diagnostics[0].trunk_std)
    np.testing.assert_array_equal(as_array(diag["initial"]["z_std"]), history.diagnostics[0].branch_std)

    out = tmp_path / "out"
    assert (out / "blocks.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = (out / "report.html").read_text()
    assert "<h2>Per block</h2>" in page and 'id="blocks"' in page
    # the table's medians over seeds, block by block, at both times
    for b in range(3):
        for when, it in (("initial", 0), ("final", 30)):
            cells = [f"{np.median(as_array(diag[when][f])[:, b]):.4g}" for f in
                     ("a_std", "z_std", "trunk_grad_std", "branch_grad_std", "residual_scale")]  # fmt: skip
            row = f'<td class="num">{it:,}</td><td class="num">{b + 1}</td>' + "".join(
                f'<td class="num">{c}</td>' for c in cells
            )
            assert row in page
    assert "is for plain MLPs" in page  # the Jacobian view says why it is absent


def test_he_branches_grow_the_trunk_three_fold_per_block_as_the_closed_form_says(tmp_path, capsys):
    """The fixup study's closed form: a relu He branch of depth 2 reading a trunk of second moment q adds 2q in
    expectation over its weights, so E q_b = 3 q_(b-1) (q: the mean of h_b^2 over units and examples)."""
    B, K = 6, 8
    result = run(["--blocks", str(B), "--layers", "2,64,1", "--init", "he_normal", "--iterations", "1",
                  "--seeds", str(K)], tmp_path / "he", capsys)  # fmt: skip
    first = result["diagnostics"]["initial"]
    q = as_array(first["a_std"]) ** 2 + as_array(first["a_mean"]) ** 2  # (K, B): E h^2 = Var h + (E h)^2
    ratios = q[:, 1:] / q[:, :-1]  # each has expectation 3 given the block's input
    assert ratios.shape == (K, B - 1)
    assert ratios.mean() == pytest.approx(3.0, rel=0.1)
    assert np.median(np.log(q[:, -1] / q[:, 0]) / (B - 1)) == pytest.approx(np.log(3.0), abs=0.15)
    # the branch's own size: its second moment is the 2q it adds (relative to the trunk it reads)
    r2 = as_array(first["residual_scale"])[:, 1:] ** 2
    assert r2.mean() == pytest.approx(2.0, rel=0.15)
    page = html.unescape((tmp_path / "he" / "report.html").read_text())
    assert "at initialization, the trunk's standard deviation grows x" in page


@pytest.mark.parametrize("init", ["fixup", "rezero"])
def test_zero_branches_keep_the_trunk_flat_and_say_so(init, tmp_path, capsys):
    result = run(["--blocks", "5", "--layers", "2,16,1", "--init", init, "--iterations", "1", "--seeds", "2"],
                 tmp_path / init, capsys)  # fmt: skip
    first = result["diagnostics"]["initial"]
    trunk = as_array(first["a_std"])
    np.testing.assert_array_equal(trunk, trunk[:, :1] * np.ones((1, 5)))  # every branch adds exactly 0
    assert as_array(first["residual_scale"]).max() == 0.0
    page = html.unescape((tmp_path / init / "report.html").read_text())
    assert "at initialization, the trunk's standard deviation stays flat (x1 per block)" in page
    assert "the branches add nothing yet" in page
