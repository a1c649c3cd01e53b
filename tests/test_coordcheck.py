"""initlab.coordcheck: slopes of exact power laws, one step written out in closed form, readings, refusals."""

from __future__ import annotations

import math

import numpy as np
import pytest

from initlab import budget, seeding
from initlab import coordcheck as cc
from initlab.network import MLP


def test_fit_slopes_recovers_exact_power_laws_and_refuses_nonpositive_values():
    widths = np.array([64, 128, 256, 512])
    exps = np.array([[1.0, -0.5], [0.0, 0.25]])  # (2, 2): any trailing shape
    values = 3.0 * widths[:, None, None] ** exps  # (W, 2, 2)
    np.testing.assert_allclose(cc.fit_slopes(widths, values), exps, atol=1e-12)
    values[2, 0, 1] = 0.0
    values[1, 1, 0] = np.nan
    got = cc.fit_slopes(widths, values)
    assert np.isnan(got[0, 1]) and np.isnan(got[1, 0]) and got[1, 1] == pytest.approx(0.25)


def _one_example():
    X = np.array([[0.7], [-1.3], [0.4]])  # (3, 1): ||x||_1 = 2.4, ||x||^2 = 2.34
    return X, np.array([[1]])


def _initial(net: MLP, i: int, seeds: int, root: int) -> dict:
    """The nets coord_check draws at width index i: model k from seeding.stream(root, k, i) (its docstring)."""
    return net.initialize("he_normal", rng=[seeding.stream(root, k, i) for k in range(seeds)])


@pytest.mark.parametrize("parametrization", ["standard", "ntk", "mup"])
def test_adam_first_step_moves_the_first_layer_by_a_width_free_closed_form(parametrization):
    # A linear net d -> n -> 1, one example. Adam's first update is lr * g / (|g| + eps) = lr * sign(g) (to
    # eps/|g|): W1's gradient w2_i delta x_j has signs sign(w2_i delta) sign(x_j) and b1's sign(w2_i delta), so
    # every hidden unit moves by -sign(w2_i delta) (c_W ||x||_1 + c_b) lr: the change of layer 1 is the same at
    # every width (slope 0). The table's Adam factors of the input layer: standard and mup 1 and 1;
    # ntk 1/sqrt(fan_in) = 1/sqrt(3) for W1, 1 for b1 (initlab.parametrization).
    X, Y = _one_example()
    lr, widths = 1e-3, (8, 32, 128)
    r = cc.coord_check(X, Y, widths=widths, depth=1, activation="linear", parametrization=parametrization,
                       optimizer="adam", learning_rate=lr, steps=1, seeds=3, rng=5)  # fmt: skip
    c_w = 1 / math.sqrt(3) if parametrization == "ntk" else 1.0
    expected = lr * (c_w * np.abs(X).sum() + 1.0)
    np.testing.assert_allclose(r.change[:, 1, 0, :], expected, rtol=1e-4)  # |g|/(|g| + 1e-8), |g| >~ 1e-3 here
    assert np.all(np.abs(r.slopes("change")[1, 0]) < 1e-4)
    assert np.all(r.change[:, 0] == 0)  # nothing has moved at step 0


def test_gd_first_step_of_a_linear_net_matches_the_chain_rule_written_out():
    # gd, one example, d -> n -> 1 linear, sigmoid output: delta = sigmoid(z) - y, dW1 = w2^T delta x^T,
    # db1 = w2^T delta, so dh1 = -lr delta w2^T (||x||^2 + 1) and the layer's change is lr |delta| (||x||^2 + 1) mean|w2|:
    # computed here from the same initial draws, width by width and seed by seed.
    X, Y = _one_example()
    lr, widths, K = 0.05, (4, 16, 64), 2
    r = cc.coord_check(X, Y, widths=widths, depth=1, activation="linear", optimizer="gd", learning_rate=lr,
                       steps=1, seeds=K, rng=7)  # fmt: skip
    for i, n in enumerate(widths):
        net = MLP((3, n, 1), "linear")
        P = _initial(net, i, K, 7)
        h = P["W1"] @ X + P["b1"]  # (K, n, 1)
        z = P["W2"] @ h + P["b2"]  # (K, 1, 1)
        delta = 1 / (1 + np.exp(-z[:, 0, 0])) - 1.0
        expected = lr * np.abs(delta) * ((X**2).sum() + 1.0) * np.abs(P["W2"][:, 0, :]).mean(axis=1)
        np.testing.assert_allclose(r.change[i, 1, 0], expected, rtol=1e-10)
        np.testing.assert_allclose(r.size[i, 0, 0], np.abs(h).mean(axis=(1, 2)), rtol=1e-12)
        np.testing.assert_allclose(r.size[i, 0, 1], np.abs(z).mean(axis=(1, 2)), rtol=1e-12)


def test_standard_adam_blows_up_and_mup_does_not_in_the_readings():
    X, Y = cc.digits_batch(32)
    widths = (64, 128, 256, 512)
    sp = cc.coord_check(X, Y, widths=widths, depth=2, optimizer="adam", learning_rate=0.01, steps=1, seeds=2)
    mup = cc.coord_check(X, Y, widths=widths, depth=2, optimizer="adam", learning_rate=0.01, steps=1, seeds=2,
                         parametrization="mup")  # fmt: skip
    assert mup.base_width == 64 and sp.base_width is None
    assert sp.slopes()[1, -1].min() > cc.BLOWUP  # the logits after one step (theory: slope 1)
    assert "standard parametrization blows up here" in sp.readings()[-1]
    assert sp.readings()[0].startswith("layer 1: flat")  # finite fan-in: the first layer is width-free in both
    assert np.abs(mup.slopes()[1, :2]).max() < 0.25
    # at initialization muP's readout is 1/sqrt(width / base) smaller: the reading says so
    assert "at initialization already width^-0.5" in mup.readings()[-1]


def test_readings_wording():
    mean = np.array([0.0, 0.02, -0.05])
    assert cc._reading("layer 2", mean, mean, mean, "mup", "size").startswith("layer 2: flat after steps 1-2")
    grows = np.array([0.0, 0.9, 0.7])
    text = cc._reading("output", grows, grows - 0.1, grows + 0.1, "standard", "size")
    assert text.startswith("output grows like width^0.90 after step 1 (seeds 0.80 to 1.00)")
    slow = np.array([0.0, 0.3])
    assert "grows slowly" in cc._reading("layer 3", slow, slow, slow, "mup", "size")
    down = np.array([-0.5, -0.4])
    text = cc._reading("output", down, down, down, "mup", "size")
    assert "shrinks like width^-0.40" in text and "at initialization already width^-0.50" in text
    assert "no slope" in cc._reading("output", np.array([0.0, np.nan]), *[np.array([0.0, np.nan])] * 2, "mup", "size")


def test_a_diverged_model_is_not_recorded_after_it_diverges():
    X, Y = _one_example()
    # lr 1e100: the first update is finite and the logits after it are beyond 1e100 (initlab.state's divergence)
    r = cc.coord_check(X, Y, widths=(4, 8), depth=1, optimizer="gd", learning_rate=1e100, steps=2, seeds=1)
    assert np.isfinite(r.size[:, 0]).all() and np.isnan(r.size[:, 1:]).all() and np.isnan(r.change[:, 1:]).all()
    assert np.isnan(r.slopes()[1:]).all() and np.isfinite(r.slopes()[0]).all()
    r = cc.coord_check(X, Y, widths=(4, 8), depth=1, optimizer="gd", learning_rate=1e308, steps=1, seeds=1)
    assert np.isnan(r.size[:, 1]).all() and all("no slope" in line for line in r.readings())


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"widths": (64,)}, "'widths' parameter needs at least two different widths"),
        ({"widths": "64,128"}, "'widths' parameter must be a sequence"),
        ({"widths": (64, 0)}, "'widths' parameter must be >= 1"),
        ({"steps": 0}, "'steps' parameter must be >= 1"),
        ({"steps": 6}, "'steps' parameter must be <= 5"),
        ({"learning_rate": 0.0}, "'learning_rate' parameter must be > 0"),
        ({"optimizer": "adamw"}, "'optimizer' parameter must be one of"),
        ({"parametrization": "mu"}, "'parametrization' parameter must be one of"),
        ({"base_width": 64}, "'base_width' parameter of MLP goes with parametrization='mup'"),
        ({"parametrization": "mup", "init": "xavier_normal"}, "variance gain\\^2/fan_in"),
        ({"widths": (64, 10**6)}, "needs about .* GB of memory; this machine has"),
    ],
)
def test_bad_input_is_refused_naming_the_parameter(options, match):
    X, Y = cc.digits_batch(8)
    with pytest.raises((ValueError, TypeError), match=match):
        cc.coord_check(X, Y, **{"widths": (8, 16), "seeds": 1, **options})


def test_a_run_estimated_too_long_is_refused_before_any_work(monkeypatch):
    monkeypatch.setattr(cc, "FLOP_RATE", 1.0)  # one multiply-add per second: everything is too long
    called = []
    monkeypatch.setattr(cc, "_train_and_record", lambda *a: called.append(a))
    X, Y = cc.digits_batch(8)
    with pytest.raises(ValueError, match="minutes here .* Drop the widest widths"):
        cc.coord_check(X, Y, widths=(8, 16), seeds=1)
    assert not called


def test_cost_counts_the_widest_net_and_every_step():
    need, seconds = cc.check_cost([(64, 8, 8, 10), (64, 16, 16, 10)], 2, 32, 3)
    widest = budget.training_bytes((64, 16, 16, 10), 2, 32) + 8 * 2 * 32 * (16 + 16 + 10)
    assert need == widest
    weights = (64 * 8 + 8 * 8 + 8 * 10) + (64 * 16 + 16 * 16 + 16 * 10)
    assert seconds == pytest.approx(2.0 * 2 * 32 * weights * (3 * 3 + 3 + 1) / cc.FLOP_RATE)
