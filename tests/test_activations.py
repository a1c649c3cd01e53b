"""Activations: each derivative against central differences, stability, out= buffers, the registry."""

import math

import numpy as np
import pytest

from initlab import activations
from initlab.activations import ACTIVATIONS, DERIVATIVES, OUTPUTS

NAMES = activations.available()


def grid():
    """Points away from the kinks of relu / leaky_relu / selu at 0 (central differences straddle them)."""
    z = np.linspace(-6.0, 6.0, 241)
    return z[np.abs(z) > 1e-3].reshape(3, -1)


def test_registry_pairs_every_activation_with_its_derivative():
    assert set(ACTIVATIONS) == set(DERIVATIVES) == set(NAMES)
    assert set(NAMES) >= {"relu", "leaky_relu", "tanh", "sigmoid", "linear", "selu", "gelu"}
    assert set(OUTPUTS) == {"sigmoid", "softmax"}


@pytest.mark.parametrize("name", NAMES)
def test_derivative_matches_central_differences(name):
    act = activations.get(name, slope=0.2)
    z, h = grid(), 1e-6
    numeric = (act.forward(z + h) - act.forward(z - h)) / (2 * h)
    np.testing.assert_allclose(act.derivative(z), numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", NAMES)
def test_out_buffer_gives_the_same_values_also_in_place(name):
    act = activations.get(name, slope=0.3)
    z = grid()
    for fn in (act.forward, act.derivative):
        fresh = fn(z.copy())
        out = np.empty_like(z)
        assert fn(z, out=out) is out
        np.testing.assert_array_equal(out, fresh)
        in_place = z.copy()
        np.testing.assert_array_equal(fn(in_place, out=in_place), fresh)


@pytest.mark.parametrize("name", NAMES)
def test_no_warnings_for_huge_inputs(name):
    z = np.array([-1e308, -1e4, -745.0, -40.0, 0.0, 40.0, 745.0, 1e4])
    act = activations.get(name)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        if name == "gelu":  # z**3 overflows beyond ~1e102: restrict to the usable range
            z = z[np.abs(z) < 1e100]
        a, d = act.forward(z), act.derivative(z)
    assert np.all(np.isfinite(a)) and np.all(np.isfinite(d))


def test_sigmoid_is_stable_and_matches_the_notebook_for_z_nonnegative():
    z = np.array([0.0, 0.5, 3.0, 30.0, 800.0])
    np.testing.assert_array_equal(activations.sigmoid(z), 1 / (1 + np.exp(-z)))
    with np.errstate(over="raise"):
        s = activations.sigmoid(np.array([-800.0, -30.0, -1.0]))
    # e / (1 + e) keeps tiny probabilities accurate where 1 - sigmoid(-z) would round to 0
    np.testing.assert_allclose(s, [0.0, math.exp(-30) / (1 + math.exp(-30)), 1 / (1 + math.e)], rtol=1e-15)
    assert activations.sigmoid(np.array([-700.0]))[0] > 0


def test_selu_constants_and_continuity():
    assert activations.SELU_ALPHA == pytest.approx(1.6732632423543772)
    assert activations.SELU_SCALE == pytest.approx(1.0507009873554805)
    eps = 1e-12
    left, right = activations.selu(np.array([-eps, eps]))
    assert abs(left - right) < 1e-11
    # the self-normalizing fixed point: mean 0, variance 1 for standard normal inputs
    z = np.random.default_rng(0).standard_normal(2_000_000)
    a = activations.selu(z)
    assert abs(a.mean()) < 3e-3 and abs(a.var() - 1) < 3e-3


def test_gelu_is_the_tanh_form_close_to_the_erf_form():
    z = np.linspace(-5, 5, 201)
    tanh_form = 0.5 * z * (1 + np.tanh(math.sqrt(2 / math.pi) * (z + 0.044715 * z**3)))
    np.testing.assert_allclose(activations.gelu(z), tanh_form, rtol=1e-14, atol=1e-16)
    erf_form = np.array([0.5 * x * (1 + math.erf(x / math.sqrt(2))) for x in z])
    assert np.max(np.abs(activations.gelu(z) - erf_form)) < 1e-3


def test_leaky_relu_slope_is_bound_by_get():
    act = activations.get("leaky_relu", slope=0.25)
    np.testing.assert_array_equal(act.forward(np.array([-4.0, 2.0])), [-1.0, 2.0])
    np.testing.assert_array_equal(act.derivative(np.array([-4.0, 0.0, 2.0])), [0.25, 0.25, 1.0])


def test_relu_derivative_is_zero_at_the_kink_as_the_notebook():
    np.testing.assert_array_equal(activations.relu_derivative(np.array([-1.0, 0.0, 1.0])), [0.0, 0.0, 1.0])


def test_softmax_sums_to_one_over_units_and_survives_huge_logits():
    z = np.array([[[1000.0, -5.0], [999.0, 5.0], [-1000.0, 0.0]]])  # (K=1, C=3, m=2)
    with np.errstate(over="raise", invalid="raise"):
        p = activations.softmax(z)
    np.testing.assert_allclose(p.sum(axis=-2), 1.0)
    np.testing.assert_allclose(p[0, :, 0], [1 / (1 + math.exp(-1)), 1 / (1 + math.e), 0.0], rtol=1e-15)


def test_unknown_activation_names_the_parameter_and_lists_the_allowed():
    with pytest.raises(ValueError, match=r"'activation'.*'relu'.*'gelu'.*Got 'rleu'"):
        activations.get("rleu")


def test_non_finite_slope_is_rejected():
    with pytest.raises(ValueError, match="'slope'"):
        activations.get("leaky_relu", slope=float("nan"))
