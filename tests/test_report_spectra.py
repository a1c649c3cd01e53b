"""The Jacobian view of `initlab train`'s report (checked against numpy's SVD of Jacobians built here by hand),
the shared subset/histogram rules of initlab.spectra, and the self-contained report.html of `initlab coord-check`
and `initlab jacobian`."""

from __future__ import annotations

import html
import json
import re

import numpy as np
import pytest

from initlab import datasets, optimizers, spectra
from initlab.cli import main
from initlab.network import MLP
from initlab.report.train import JACOBIAN_EXAMPLES, JACOBIAN_FLOOR
from initlab.training import train


def hand_singular_values(Ws, bs, X) -> np.ndarray:
    """Per model k and column i: s of D2 W2 D1 W1 (relu, a 2-10-5-1 net's input -> last hidden layer), numpy's SVD."""
    out = []
    for k in range(Ws[0].shape[0]):
        per = []
        for i in range(X.shape[1]):
            x = X[:, i]
            z1 = Ws[0][k] @ x + bs[0][k, :, 0]
            z2 = Ws[1][k] @ np.maximum(z1, 0) + bs[1][k, :, 0]
            J = np.diag((z2 > 0) * 1.0) @ Ws[1][k] @ np.diag((z1 > 0) * 1.0) @ Ws[0][k]
            per.append(np.linalg.svd(J, compute_uv=False))
        out.append(per)
    return np.array(out)  # (K, e, 2)


def test_train_reports_the_jacobian_spectrum_at_init_and_after_training(tmp_path, capsys):
    out = tmp_path / "out"
    args = ["train", "--json", "--out", str(out), "--iterations", "40", "--seeds", "3", "--lr", "0.5"]
    assert main(args) == 0
    jac = json.loads(capsys.readouterr().out)["jacobian"]
    data = datasets.load("circles")
    net = MLP((2, 10, 5, 1), "relu", "sigmoid")
    init_rng, order_rng = np.random.default_rng(0).spawn(2)
    initial = net.initialize("he_normal", rng=init_rng, models=3)
    history = train(net, initial, data.X_train, data.Y_train, learning_rate=0.5, iterations=40, record_every=1,
                    optimizer=optimizers.get("gd"), rng=order_rng)  # fmt: skip
    columns = np.linspace(0, 299, 16).round().astype(int)  # 16 inputs spread over the 300, first and last
    assert jac["stop"] == 2 and jac["examples"] == JACOBIAN_EXAMPLES == 16
    page = html.unescape((out / "report.html").read_text())
    for when, P in (("initial", initial), ("final", history.params)):
        Ws = [P[f"W{l}"] for l in (1, 2)]
        bs = [P[f"b{l}"] for l in (1, 2)]
        s = hand_singular_values(Ws, bs, data.X_train[:, columns])  # (3, 16, 2)
        entry, hist = jac[when], jac[when]["histogram"]
        assert hist["values"] == s.size == 96 and sum(hist["counts"]) + hist["zeros"] == s.size
        assert hist["zeros"] == int((s <= JACOBIAN_FLOOR).sum())
        near = float(((s >= 0.5) & (s <= 2.0)).mean())
        assert hist["near_one"] == pytest.approx(near, abs=1e-12)
        assert hist["max"] == pytest.approx(s.max(), rel=1e-9)
        np.testing.assert_allclose(entry["mean_squared"], (s**2).reshape(3, -1).mean(axis=1), rtol=1e-9)
        # the histogram's bins: equal in log10 s over [lo, hi], the line at 1 inside
        logs = np.log10(s[s > JACOBIAN_FLOOR])
        assert hist["lo"] <= min(-1.0, logs.min()) and hist["hi"] >= max(1.0, logs.max())
        np.testing.assert_array_equal(hist["counts"], np.histogram(logs, bins=30, range=(hist["lo"], hist["hi"]))[0])
        assert f"{near:.1%} of the 96 singular values (the models pooled) lie within 2x of 1" in page
        assert entry["reading"] in page
    assert (out / "jacobian.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<h2>Jacobian spectrum</h2>" in page


def test_spread_columns_and_log_histogram_count_every_value():
    assert spectra.spread_columns(300, 16).tolist() == np.linspace(0, 299, 16).round().astype(int).tolist()
    assert spectra.spread_columns(5, 16).tolist() == [0, 1, 2, 3, 4]
    s = np.array([0.0, 1e-17, 0.3, 1.0, 1.9, 2.5, 40.0])
    h = spectra.log_histogram(s, bins=7, floor=1e-10)
    assert (h["values"], h["zeros"], sum(h["counts"])) == (7, 2, 5)
    assert h["near_one"] == pytest.approx(2 / 7) and h["lo"] == -1.0 and h["hi"] == pytest.approx(np.log10(40.0))
    assert spectra.log_histogram(s, bins=7)["zeros"] == 1  # the default floor: only an exact 0 (the playground's)
    assert spectra.log_histogram(np.zeros(3))["counts"] == [] and spectra.log_histogram(np.zeros(3))["near_one"] is None


def test_a_residual_net_has_no_jacobian_view_and_says_why(tmp_path, capsys):
    assert (
        main(["train", "--json", "--out", str(tmp_path / "r"), "--blocks", "2", "--iterations", "2", "--seeds", "1"])
        == 0
    )
    assert "for plain MLPs" in json.loads(capsys.readouterr().out)["jacobian"]["note"]
    assert not (tmp_path / "r" / "jacobian.png").exists()


def assert_self_contained(page: str) -> None:
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", page, re.I), "an external resource"
    assert "<script" not in page.lower() and "<link" not in page.lower()
    images = re.findall(r'<img [^>]*src="([^"]+)"', page)
    assert images and all(i.startswith("data:image/png;base64,") for i in images)


def test_coord_check_writes_a_self_contained_report(tmp_path, capsys):
    out = tmp_path / "cc"
    assert (
        main(["coord-check", "--widths", "16,32,64", "--depth", "1", "--seeds", "2", "--steps", "1", "--out", str(out)])
        == 0
    )
    capsys.readouterr()
    numbers = json.loads((out / "coord-check.json").read_text())
    page = (out / "report.html").read_text()
    assert_self_contained(page)
    text = html.unescape(page)
    for line in numbers["readings"] + numbers["change_readings"]:
        assert line in text
    assert "slope at init" in text and "slope after step 1" in text
    for name in numbers["layers"]:  # the slope table: one row per layer, one cell per step
        assert f"<td>{name}</td>" + "".join(f"<td>{c}</td>" for c in numbers["slopes"]["size"][name]) in text


def test_jacobian_writes_a_self_contained_report(tmp_path, capsys):
    out = tmp_path / "jac"
    assert main(["jacobian", "--layers", "8,8,8,1", "--seeds", "2", "--out", str(out)]) == 0
    capsys.readouterr()
    numbers = json.loads((out / "jacobian.json").read_text())
    page = (out / "report.html").read_text()
    assert_self_contained(page)
    text = html.unescape(page)
    assert numbers["reading"] in text and "the vertical line" in text and "layer 2" in text
    assert f"{numbers['near_one'][1]:.0%}" in text
