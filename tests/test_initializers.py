"""Tests for initlab.initializers.

Distribution checks compare empirical moments with closed-form (or independently integrated)
values, within K standard errors derived from the sample size n:
SE(mean) = sigma / sqrt(n) and SE(var) = sqrt((mu4 - sigma^4) / n), mu4 the central 4th moment
(3 sigma^4 for a normal, 9 sigma^4 / 5 for a uniform, numerically integrated for a truncated normal).
Seeds are fixed, so every test is deterministic; K = 6 keeps a correct implementation passing for
any seed (two-sided tail 2e-9) while a wrong fan, gain or truncation factor (>= 2.5% off) fails.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from initlab import initializers as I

K = 6.0  # standard errors allowed
SHAPE = (400, 300)  # (n_out, n_in)
FAN_IN, FAN_OUT = 300, 400
N = SHAPE[0] * SHAPE[1]


# ------------------------------------------------------------------------------------------------
# Reference moments and checks (numpy only)
# ------------------------------------------------------------------------------------------------


def assert_moments(w, mean, var, mu4):
    """Empirical mean and variance of ``w`` within K standard errors of (mean, var)."""
    w = np.ravel(w)
    n = w.size
    assert abs(w.mean() - mean) <= K * math.sqrt(var / n), (w.mean(), mean)
    assert abs(w.var(ddof=1) - var) <= K * math.sqrt((mu4 - var**2) / n), (w.var(ddof=1), var)


def assert_normal(w, mean, std):
    assert_moments(w, mean, std**2, 3.0 * std**4)


def assert_uniform(w, lo, hi):
    """Moments of U(lo, hi), all samples inside, and the extremes close to the bounds.

    P(no sample within 1e-3 (hi - lo) of a bound) = (1 - 1e-3)^n, e^-120 for n = 120000.
    """
    width = hi - lo
    assert_moments(w, (lo + hi) / 2, width**2 / 12, width**4 / 80)
    assert w.min() >= lo and w.max() <= hi
    assert w.min() < lo + 1e-3 * width and w.max() > hi - 1e-3 * width


def truncnorm_reference(mean, std, a, b, grid=200_001):
    """(mean, var, mu4, x, cdf) of N(mean, std^2) restricted to [a, b], by the trapezoid rule."""
    x = np.linspace(a, b, grid)
    pdf = np.exp(-0.5 * ((x - mean) / std) ** 2 + 0.5 * min(((a - mean) / std) ** 2, ((b - mean) / std) ** 2))
    wts = np.full(grid, x[1] - x[0])
    wts[[0, -1]] *= 0.5
    mass = np.sum(pdf * wts)
    m = np.sum(x * pdf * wts) / mass
    var = np.sum((x - m) ** 2 * pdf * wts) / mass
    mu4 = np.sum((x - m) ** 4 * pdf * wts) / mass
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (pdf[1:] + pdf[:-1]) * np.diff(x))]) / mass
    return m, var, mu4, x, cdf


def assert_ks(w, x, cdf):
    """Kolmogorov-Smirnov: sup |F_n - F| <= 1.95 / sqrt(n) (P ~ 1e-3 under the null, large n)."""
    s = np.sort(np.ravel(w))
    n = s.size
    f = np.interp(s, x, cdf)
    d = max(np.max(np.arange(1, n + 1) / n - f), np.max(f - np.arange(n) / n))
    assert d <= 1.95 / math.sqrt(n), d


def fan(mode):
    return {"fan_in": FAN_IN, "fan_out": FAN_OUT, "fan_avg": (FAN_IN + FAN_OUT) / 2}[mode]


# ------------------------------------------------------------------------------------------------
# Fans and gains
# ------------------------------------------------------------------------------------------------


def test_fans_of_a_matrix_follow_the_out_in_convention():
    assert I.compute_fans((4, 3)) == (3, 4)  # W[l] has shape (n_l, n_{l-1}): fan_in = n_{l-1}


@given(st.lists(st.integers(1, 6), min_size=2, max_size=5))
def test_fans_of_nd_shapes_multiply_the_receptive_field(shape):
    r = math.prod(shape[2:])
    assert I.compute_fans(tuple(shape)) == (shape[1] * r, shape[0] * r)


@pytest.mark.parametrize("shape", [(5,), 5])
def test_fans_of_1d_shapes_raise_naming_shape(shape):
    with pytest.raises(ValueError, match=r"'shape'.*fewer than 2 dimensions"):
        I.compute_fans(shape)


@pytest.mark.parametrize(
    ("nonlinearity", "param", "gain"),
    [
        ("linear", None, 1.0),
        ("identity", None, 1.0),
        ("conv1d", None, 1.0),
        ("conv2d", None, 1.0),
        ("conv3d", None, 1.0),
        ("conv_transpose2d", None, 1.0),
        ("sigmoid", None, 1.0),
        ("tanh", None, 5.0 / 3),
        ("relu", None, math.sqrt(2.0)),
        ("leaky_relu", None, math.sqrt(2.0 / (1 + 0.01**2))),
        ("leaky_relu", 0, math.sqrt(2.0)),
        ("leaky_relu", 0.2, math.sqrt(2.0 / 1.04)),
        ("leaky_relu", math.sqrt(5), math.sqrt(1.0 / 3.0)),
        ("selu", None, 0.75),
        ("tanh", 0.3, 5.0 / 3),  # param is ignored except for leaky_relu
    ],
)
def test_calculate_gain_table(nonlinearity, param, gain):
    assert I.calculate_gain(nonlinearity, param) == pytest.approx(gain, rel=1e-15)


def test_calculate_gain_unsupported_nonlinearity_lists_supported():
    with pytest.raises(ValueError, match=r"'nonlinearity'.*'tanh'.*'leaky_relu'.*Got 'gelu'"):
        I.calculate_gain("gelu")


@pytest.mark.parametrize("param", ["0.1", True, [0.1], float("nan")])
def test_calculate_gain_rejects_non_number_slope(param):
    with pytest.raises(ValueError, match="negative_slope .* not a valid number"):
        I.calculate_gain("leaky_relu", param)


# ------------------------------------------------------------------------------------------------
# variance_scaling: the one formula
# ------------------------------------------------------------------------------------------------


def test_jax_truncation_constant_is_the_std_of_a_standard_normal_cut_at_two():
    _, var, _, _, _ = truncnorm_reference(0.0, 1.0, -2.0, 2.0)
    assert math.sqrt(var) == pytest.approx(0.87962566103423978, rel=1e-9)


@pytest.mark.parametrize("mode", ["fan_in", "fan_out", "fan_avg"])
@pytest.mark.parametrize("scale", [1.0, 2.0, 0.37])
def test_variance_scaling_normal(mode, scale):
    w = I.variance_scaling(scale, mode, "normal")(SHAPE, rng=1)
    assert_normal(w, 0.0, math.sqrt(scale / fan(mode)))


@pytest.mark.parametrize("mode", ["fan_in", "fan_out", "fan_avg"])
@pytest.mark.parametrize("scale", [1.0, 2.0, 0.37])
def test_variance_scaling_uniform(mode, scale):
    limit = math.sqrt(3 * scale / fan(mode))
    assert_uniform(I.variance_scaling(scale, mode, "uniform")(SHAPE, rng=2), -limit, limit)


@pytest.mark.parametrize("mode", ["fan_in", "fan_out", "fan_avg"])
@pytest.mark.parametrize("scale", [1.0, 2.0, 0.37])
def test_variance_scaling_truncated_normal(mode, scale):
    target_var = scale / fan(mode)
    s = math.sqrt(target_var) / 0.87962566103423978  # std of the normal before truncation
    w = I.variance_scaling(scale, mode, "truncated_normal")(SHAPE, rng=3)
    _, var1, mu4_1, x, cdf = truncnorm_reference(0.0, 1.0, -2.0, 2.0)
    assert_moments(w, 0.0, target_var, mu4_1 * s**4)
    assert np.abs(w).max() <= 2 * s
    assert w.max() > 2 * s * (1 - 5e-3) and w.min() < -2 * s * (1 - 5e-3)
    assert_ks(w / s, x, cdf)


def test_variance_scaling_defaults_are_jax_lecun_truncated():
    a = I.variance_scaling()(SHAPE, rng=4)
    b = I.variance_scaling(1.0, "fan_in", "truncated_normal")(SHAPE, rng=4)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"scale": 0.0}, r"'scale'.*> 0"),
        ({"mode": "fan_sum"}, r"'mode' parameter of variance_scaling.*'fan_avg'.*Got 'fan_sum'"),
        ({"distribution": "gaussian"}, r"'distribution'.*'truncated_normal'.*Got 'gaussian'"),
    ],
)
def test_variance_scaling_rejects_bad_options(kwargs, match):
    with pytest.raises(ValueError, match=match):
        I.variance_scaling(**kwargs)


# ------------------------------------------------------------------------------------------------
# Presets: torch's formulas, written out independently of variance_scaling
# ------------------------------------------------------------------------------------------------

NORMAL_PRESETS = [
    # (factory, options, std), std in torch's own form
    (I.xavier_normal, {}, math.sqrt(2.0 / (FAN_IN + FAN_OUT))),
    (I.xavier_normal, {"gain": 5 / 3}, 5 / 3 * math.sqrt(2.0 / (FAN_IN + FAN_OUT))),
    (I.kaiming_normal, {}, math.sqrt(2.0) / math.sqrt(FAN_IN)),
    (I.kaiming_normal, {"mode": "fan_out", "nonlinearity": "relu"}, math.sqrt(2.0) / math.sqrt(FAN_OUT)),
    (I.kaiming_normal, {"nonlinearity": "tanh"}, 5 / 3 / math.sqrt(FAN_IN)),
    (I.kaiming_normal, {"a": 0.2}, math.sqrt(2 / 1.04) / math.sqrt(FAN_IN)),
    (I.kaiming_normal, {"nonlinearity": "selu", "mode": "fan_out"}, 0.75 / math.sqrt(FAN_OUT)),
    (I.lecun_normal, {}, 1.0 / math.sqrt(FAN_IN)),
]

UNIFORM_PRESETS = [
    # (factory, options, bound)
    (I.xavier_uniform, {}, math.sqrt(6.0 / (FAN_IN + FAN_OUT))),
    (I.xavier_uniform, {"gain": 2.0}, 2.0 * math.sqrt(6.0 / (FAN_IN + FAN_OUT))),
    (I.kaiming_uniform, {}, math.sqrt(2.0) * math.sqrt(3.0 / FAN_IN)),
    (I.kaiming_uniform, {"a": math.sqrt(5)}, 1 / math.sqrt(FAN_IN)),  # torch's nn.Linear default
    (I.kaiming_uniform, {"mode": "fan_out", "nonlinearity": "tanh"}, 5 / 3 * math.sqrt(3.0 / FAN_OUT)),
    (I.lecun_uniform, {}, math.sqrt(3.0 / FAN_IN)),
]


@pytest.mark.parametrize(("factory", "options", "std"), NORMAL_PRESETS)
def test_normal_presets(factory, options, std):
    w = factory(**options)(SHAPE, rng=5)
    assert_normal(w, 0.0, std)
    assert np.abs(w).max() > 4 * std  # a plain normal, not one truncated at 2 std (P(|Z|>4) n ~ 8)


@pytest.mark.parametrize(("factory", "options", "bound"), UNIFORM_PRESETS)
def test_uniform_presets(factory, options, bound):
    assert_uniform(factory(**options)(SHAPE, rng=6), -bound, bound)


def test_presets_work_on_conv_kernels():
    shape = (16, 8, 3, 3)  # fan_in = 72
    assert_normal(I.kaiming_normal()(shape, rng=7), 0.0, math.sqrt(2.0 / 72))


def test_he_normal_is_the_notebooks_formula_bit_for_bit():
    expected = np.random.default_rng(8).standard_normal(SHAPE) * np.sqrt(2.0 / FAN_IN)
    np.testing.assert_array_equal(I.he_normal()(SHAPE, rng=8), expected)


def test_presets_are_variance_scaling():
    assert repr(I.he_normal()) == "variance_scaling(scale=2.0, mode='fan_in', distribution='normal')"
    assert repr(I.glorot_uniform()) == "variance_scaling(scale=1.0, mode='fan_avg', distribution='uniform')"


@pytest.mark.parametrize(
    ("alias", "canonical"),
    [("he_normal", "kaiming_normal"), ("he_uniform", "kaiming_uniform"),
     ("glorot_normal", "xavier_normal"), ("glorot_uniform", "xavier_uniform")],
)  # fmt: skip
def test_aliases_are_the_same_factory(alias, canonical):
    assert getattr(I, alias) is getattr(I, canonical)
    opts = {"gain": 1.3} if "xavier" in canonical else {"mode": "fan_out", "nonlinearity": "relu"}
    np.testing.assert_array_equal(I.get(alias, **opts)(SHAPE, rng=9), I.get(canonical, **opts)(SHAPE, rng=9))


def test_lecun_normal_is_kaiming_linear():
    np.testing.assert_array_equal(
        I.lecun_normal()(SHAPE, rng=10), I.kaiming_normal(nonlinearity="linear")(SHAPE, rng=10)
    )


def test_jax_he_normal_recipe_is_truncated():
    w = I.variance_scaling(2.0, "fan_in", "truncated_normal")(SHAPE, rng=11)
    s = math.sqrt(2.0 / FAN_IN) / 0.87962566103423978
    assert np.abs(w).max() <= 2 * s
    assert w.var(ddof=1) == pytest.approx(2.0 / FAN_IN, rel=K * math.sqrt(2 / N))


@pytest.mark.parametrize(
    ("factory", "kwargs", "error", "match"),
    [
        (I.kaiming_normal, {"mode": "fan_avg"}, ValueError, r"'mode' parameter of kaiming_normal.*'fan_in'"),
        (I.kaiming_uniform, {"nonlinearity": "gelu"}, ValueError, r"'nonlinearity'.*'relu'"),
        (I.kaiming_normal, {"a": "0.1"}, TypeError, r"'a' parameter must be a real number"),
        (I.xavier_normal, {"gain": 0.0}, ValueError, r"'gain'.*> 0"),
        (I.xavier_uniform, {"gain": float("inf")}, ValueError, r"'gain'.*finite"),
    ],
)
def test_presets_reject_bad_options(factory, kwargs, error, match):
    with pytest.raises(error, match=match):
        factory(**kwargs)


# ------------------------------------------------------------------------------------------------
# Plain distributions
# ------------------------------------------------------------------------------------------------


def test_normal():
    assert_normal(I.normal(mean=1.5, std=0.3)(SHAPE, rng=12), 1.5, 0.3)


def test_uniform():
    assert_uniform(I.uniform(a=-0.2, b=0.7)(SHAPE, rng=13), -0.2, 0.7)


def test_uniform_rejects_reversed_bounds():
    with pytest.raises(ValueError, match=r"'b' parameter must be >= 1.0"):
        I.uniform(a=1.0, b=0.0)


def test_random_is_randn_times_scale_from_the_generator():
    w = I.random(scale=10)(SHAPE, rng=14)
    np.testing.assert_array_equal(w, np.random.default_rng(14).standard_normal(SHAPE) * 10)
    assert_normal(w, 0.0, 10.0)
    assert I.get("random").options == (("scale", 10.0),)


@pytest.mark.parametrize(
    ("mean", "std", "a", "b"),
    [
        (0.0, 1.0, -2.0, 2.0),  # torch's defaults: normal proposal
        (0.5, 2.0, -1.0, 3.0),  # asymmetric, absolute bounds
        (0.0, 1.0, -0.1, 0.2),  # narrow around the mean: uniform proposal
        (0.0, 1.0, 3.0, 5.0),  # right tail: exponential proposal
        (0.0, 1.0, 5.0, 5.01),  # narrow, far in the tail: uniform proposal
        (0.0, 1.0, -6.0, -4.5),  # left tail, mirrored
        (3.0, 0.5, -1.0, 0.0),  # mean 6 std above the interval (torch warns here)
    ],
)
def test_truncated_normal_is_exact(mean, std, a, b):
    w = I.truncated_normal(mean=mean, std=std, a=a, b=b)((200, 300), rng=15)
    m, var, mu4, x, cdf = truncnorm_reference(mean, std, a, b)
    assert w.min() >= a and w.max() <= b
    assert_moments(w, m, var, mu4)
    assert_ks(w, x, cdf)


def test_truncated_normal_rejects_empty_interval():
    with pytest.raises(ValueError, match=r"'b' parameter must be > 1.0"):
        I.truncated_normal(a=1.0, b=1.0)


# ------------------------------------------------------------------------------------------------
# Structured matrices and constants
# ------------------------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 40), st.integers(1, 40), st.floats(0.1, 3.0), st.integers(0, 2**32 - 1))
def test_orthogonal_rows_or_columns_are_orthonormal(n_out, n_in, gain, seed):
    w = I.orthogonal(gain=gain)((n_out, n_in), rng=seed)
    gram = w @ w.T if n_out <= n_in else w.T @ w
    np.testing.assert_allclose(gram, gain**2 * np.eye(min(n_out, n_in)), rtol=0, atol=1e-12 * gain**2)


def test_orthogonal_flattens_trailing_dimensions():
    w = I.orthogonal()((6, 2, 3, 3), rng=16).reshape(6, -1)  # 6 rows of length 18
    np.testing.assert_allclose(w @ w.T, np.eye(6), rtol=0, atol=1e-12)


def test_orthogonal_is_haar_thanks_to_the_sign_fix():
    # Haar on O(n): E[W_00] = 0, E[W_00^2] = 1/n, Var(W_00^2) = 2(n-1)/(n^2 (n+2)).
    # Without q *= sign(diag(r)), LAPACK's QR makes W_00 = -|.|, mean ~ -0.6 for n = 3.
    n, draws = 3, 3000
    rng = np.random.default_rng(17)
    init = I.orthogonal()
    w00 = np.array([init((n, n), rng=rng)[0, 0] for _ in range(draws)])
    assert abs(w00.mean()) <= K * math.sqrt(1 / n / draws)
    assert abs(np.mean(w00**2) - 1 / n) <= K * math.sqrt(2 * (n - 1) / (n**2 * (n + 2)) / draws)


def test_orthogonal_needs_two_dimensions():
    with pytest.raises(ValueError, match=r"'shape' parameter of orthogonal"):
        I.orthogonal()((5,), rng=0)


@pytest.mark.parametrize(("sparsity", "zeros"), [(0.1, 5), (0.25, 13), (0.0, 0), (1.0, 50)])
def test_sparse_zeros_exactly_ceil_fraction_of_each_column(sparsity, zeros):
    w = I.sparse(sparsity, std=0.5)((50, 400), rng=18)
    np.testing.assert_array_equal(np.sum(w == 0.0, axis=0), zeros)
    if 0 < zeros < 50:
        assert len({tuple(np.flatnonzero(col == 0)) for col in w.T}) > 300  # random rows per column
        assert_normal(w[w != 0.0], 0.0, 0.5)


def test_sparse_is_2d_only():
    with pytest.raises(ValueError, match=r"'shape' parameter of sparse must be 2-D"):
        I.sparse(0.1)((4, 4, 3), rng=0)


@pytest.mark.parametrize("shape", [(3, 5), (5, 3), (4, 4), (1, 1)])
def test_eye_puts_identity_top_left(shape):
    np.testing.assert_array_equal(I.eye()(shape, rng=None), np.eye(*shape))


def test_eye_is_2d_only():
    with pytest.raises(ValueError, match=r"'shape' parameter of eye must be 2-D"):
        I.eye()((3, 3, 3), rng=None)


@pytest.mark.parametrize("shape", [(10, 2), (5, 10), (7, 7), (9, 4), (64, 3), (100, 100), (130, 40), (1, 5)])
def test_zero_hadamard_is_algorithm_1_of_the_paper(shape):
    """Against scipy's Sylvester Hadamard matrix (a second implementation): partial identity when not
    widening, else the top-left block of H_p / sqrt(p), p the next power of two."""
    from scipy.linalg import hadamard

    n_out, n_in = shape
    W = I.get("ZerO")(shape, rng=None)
    if n_out <= n_in:
        expected = np.eye(n_out, n_in)
    else:
        p = 2 ** math.ceil(math.log2(n_out))
        expected = hadamard(p)[:n_out, :n_in] / math.sqrt(p)
    np.testing.assert_array_equal(W, expected)
    np.testing.assert_array_equal(I.get("zero_hadamard")(shape, rng=1), W)  # an alias, and no randomness
    assert I.available()["zero_hadamard"].endswith("(alias of ZerO)")


@pytest.mark.slow
def test_zero_hadamard_trains_the_notebook_network_where_zeros_cannot():
    """Deterministic end to end (no random draw, full batch), so exact counts are the claim, not a lucky seed."""
    from initlab import course
    from initlab.diagnostics import measure
    from initlab.network import MLP
    from initlab.training import initialize_and_train

    X, Y, X_test, Y_test = course.load_dataset(plot=False)
    net = MLP((2, 10, 5, 1))
    kwargs = dict(learning_rate=0.1, iterations=15000, record_every=1000, X_test=X_test, Y_test=Y_test)
    zer = initialize_and_train(net, X, Y, init="ZerO", **kwargs)
    zeros = initialize_and_train(net, X, Y, init="zeros", **kwargs)
    # layer 1 starts with 2 distinct units of 10 (the Hadamard block of a 2-input layer repeats rows) ...
    assert measure(net, net.initialize("ZerO"), X).distinct_units[0].tolist() == [2, 5, 1]
    # ... and training separates them only up to a symmetry of the whole start: swapping units 1 and 3
    # of both hidden layers maps it to itself (W2 a partial identity, W3 = e_1), so they stay equal.
    # 5 groups remain: {0}, {1, 3}, {2, 4}, {5, 7, 9}, {6, 8}.
    assert measure(net, zer.params, X).distinct_units[0].tolist() == [5, 5, 1]
    W1 = zer.params["W1"][0]
    np.testing.assert_allclose(W1[1], W1[3], rtol=1e-9)  # equal up to rounding (BLAS sums rows in any order)
    np.testing.assert_allclose(W1[5], W1[9], rtol=1e-9)
    assert np.abs(W1[1] - W1[2]).max() > 0.1
    assert measure(net, zeros.params, X).distinct_units[0].tolist() == [1, 1, 1]
    assert zer.train_accuracy[0] > 0.95 and zer.test_accuracy[0] > 0.9  # it trains anyway
    assert zeros.train_accuracy[0] == 0.5


def test_constants():
    np.testing.assert_array_equal(I.zeros()((2, 3), rng=None), np.zeros((2, 3)))
    np.testing.assert_array_equal(I.ones()((2, 3), rng=None), np.ones((2, 3)))
    np.testing.assert_array_equal(I.constant(0.25)(4, rng=None), np.full(4, 0.25))  # biases: 1-D
    with pytest.raises(TypeError, match=r"'value' parameter must be a real number"):
        I.constant("1")


# ------------------------------------------------------------------------------------------------
# The protocol: shapes, dtypes, rng
# ------------------------------------------------------------------------------------------------

DEFAULT_OPTIONS = {"constant": {"value": 0.5}, "sparse": {"sparsity": 0.2}}


@pytest.mark.parametrize("name", sorted(I.available()))
def test_every_initializer_returns_fresh_float64_of_shape(name):
    init = I.get(name, **DEFAULT_OPTIONS.get(name, {}))
    a = init((7, 5), rng=np.random.default_rng(19))
    b = init((7, 5), rng=np.random.default_rng(19))
    assert a.shape == (7, 5) and a.dtype == np.float64
    np.testing.assert_array_equal(a, b)  # same seed, same array
    a[0, 0] = 123.0
    assert init((7, 5), rng=19)[0, 0] != 123.0  # int seed == Generator(seed), and nothing is shared


@pytest.mark.parametrize("name", ["variance_scaling", "he_normal", "normal", "uniform", "truncated_normal", "random",
                                  "orthogonal", "sparse"])  # fmt: skip
def test_different_seeds_give_different_arrays(name):
    init = I.get(name, **DEFAULT_OPTIONS.get(name, {}))
    assert not np.array_equal(init((7, 5), rng=1), init((7, 5), rng=2))


@pytest.mark.parametrize("shape", [(3, 0), (3, -1), (2.5, 3), "ab", None, (True, 3), ()])
def test_bad_shapes_name_the_parameter(shape):
    with pytest.raises(ValueError, match=r"'shape' parameter"):
        I.he_normal()(shape, rng=0)


def test_legacy_randomstate_is_refused():
    with pytest.raises(TypeError, match=r"'rng' parameter.*default_rng"):
        I.he_normal()((3, 2), rng=np.random.RandomState(0))


# ------------------------------------------------------------------------------------------------
# Registry: get, available, register
# ------------------------------------------------------------------------------------------------


def test_available_lists_formulas_and_aliases():
    names = I.available()
    assert {"zeros", "ones", "constant", "eye", "normal", "uniform", "truncated_normal", "random", "orthogonal",
            "sparse", "variance_scaling", "xavier_normal", "glorot_normal", "xavier_uniform", "glorot_uniform",
            "kaiming_normal", "he_normal", "kaiming_uniform", "he_uniform", "lecun_normal",
            "lecun_uniform"} <= set(names)  # fmt: skip
    assert "N(0, 2/fan_in)" in names["kaiming_normal"]
    assert names["he_normal"].endswith("(alias of kaiming_normal)")
    assert "alias" not in names["kaiming_normal"]


def test_get_unknown_name_lists_available():
    with pytest.raises(ValueError, match=r"Unknown initializer 'he_norml'\. Did you mean 'he_normal'\? "
                                         r"Available: 'constant', 'eye', .*'zeros'\."):  # fmt: skip
        I.get("he_norml")


def test_get_unknown_option_lists_allowed():
    with pytest.raises(TypeError, match=r"Unknown option 'mod' for initializer 'he_normal'\. "
                                        r"Did you mean mode\? Allowed: a, mode, nonlinearity\."):  # fmt: skip
        I.get("he_normal", mod="fan_out")
    with pytest.raises(TypeError, match=r"Unknown option 'gain' for initializer 'zeros'\. Allowed: none"):
        I.get("zeros", gain=2.0)


def test_get_missing_and_invalid_options():
    with pytest.raises(TypeError, match=r"Initializer 'sparse' requires option\(s\): sparsity"):
        I.get("sparse")
    with pytest.raises(ValueError, match=r"'sparsity'.*<= 1.0"):
        I.get("sparse", sparsity=1.5)
    init = I.get("variance_scaling", scale=2.0, distribution="uniform")
    assert repr(init) == "variance_scaling(scale=2.0, mode='fan_in', distribution='uniform')"


@pytest.fixture
def scratch_registry(monkeypatch):
    monkeypatch.setattr(I, "_REGISTRY", dict(I._REGISTRY))


def test_register_a_custom_factory(scratch_registry):
    @I.register("half_he")
    def half_he(*, mode: str = "fan_in"):
        """N(0, 1/fan)"""
        return I.variance_scaling(1.0, mode, "normal")

    assert I.available()["half_he"] == "N(0, 1/fan)"
    w = I.get("half_he", mode="fan_out")(SHAPE, rng=20)
    assert_normal(w, 0.0, math.sqrt(1.0 / FAN_OUT))
    with pytest.raises(TypeError, match=r"Unknown option 'gain' for initializer 'half_he'\. Allowed: mode\."):
        I.get("half_he", gain=1.0)


def test_register_twice_needs_overwrite(scratch_registry):
    with pytest.raises(ValueError, match=r"'he_normal' is already registered.*overwrite=True"):
        I.register("he_normal")(lambda: I.zeros())
    I.register("he_normal", summary="zeros, really", overwrite=True)(lambda: I.zeros())
    assert I.available()["he_normal"] == "zeros, really"
    np.testing.assert_array_equal(I.get("he_normal")((2, 2), rng=0), np.zeros((2, 2)))


def test_register_validates_its_arguments():
    with pytest.raises(TypeError, match=r"'name' parameter of register"):
        I.register("")
    with pytest.raises(TypeError, match=r"must decorate a callable"):
        I.register("not_callable")(3)


# ------------------------------------------------------------------------------------------------
# Optional: the same distributions as torch.nn.init
# ------------------------------------------------------------------------------------------------

TORCH_CASES = [
    # (initlab factory, options, torch function name, torch kwargs, uniform bound or None)
    (I.kaiming_normal, {}, "kaiming_normal_", {}, None),
    (I.kaiming_normal, {"mode": "fan_out", "nonlinearity": "relu"}, "kaiming_normal_",
     {"mode": "fan_out", "nonlinearity": "relu"}, None),
    (I.kaiming_uniform, {"a": math.sqrt(5)}, "kaiming_uniform_", {"a": math.sqrt(5)}, 1 / math.sqrt(FAN_IN)),
    (I.xavier_normal, {"gain": 5 / 3}, "xavier_normal_", {"gain": 5 / 3}, None),
    (I.xavier_uniform, {"gain": 2.0}, "xavier_uniform_", {"gain": 2.0}, 2.0 * math.sqrt(6 / (FAN_IN + FAN_OUT))),
    (I.truncated_normal, {"mean": 0.5, "std": 2.0, "a": -1.0, "b": 3.0}, "trunc_normal_",
     {"mean": 0.5, "std": 2.0, "a": -1.0, "b": 3.0}, None),
    (I.normal, {"mean": 1.0, "std": 0.2}, "normal_", {"mean": 1.0, "std": 0.2}, None),
]  # fmt: skip


@pytest.mark.parametrize(("factory", "options", "torch_name", "torch_kwargs", "bound"), TORCH_CASES)
def test_same_distribution_as_torch(factory, options, torch_name, torch_kwargs, bound, torch):
    ours = factory(**options)(SHAPE, rng=21).ravel()
    t = torch.empty(SHAPE, dtype=torch.float64)
    getattr(torch.nn.init, torch_name)(t, **torch_kwargs, generator=torch.Generator().manual_seed(21))
    theirs = t.numpy().ravel()
    n = N
    se_mean = math.sqrt((ours.var() + theirs.var()) / n)
    assert abs(ours.mean() - theirs.mean()) <= K * se_mean

    def var_se2(x):
        return (np.mean((x - x.mean()) ** 4) - x.var() ** 2) / n

    assert abs(ours.var() - theirs.var()) <= K * math.sqrt(var_se2(ours) + var_se2(theirs))
    if bound is not None:
        for x in (ours, theirs):
            assert np.abs(x).max() <= bound and np.abs(x).max() > bound * (1 - 1e-3)


def test_same_sparsity_and_eye_as_torch(torch):
    t = torch.empty((50, 40), dtype=torch.float64)
    torch.nn.init.sparse_(t, sparsity=0.25, std=0.5)
    ours = I.sparse(0.25, std=0.5)((50, 40), rng=22)
    np.testing.assert_array_equal(np.sum(ours == 0, axis=0), np.sum(t.numpy() == 0, axis=0))
    for shape in [(3, 5), (5, 3)]:
        np.testing.assert_array_equal(I.eye()(shape, rng=None), torch.nn.init.eye_(torch.empty(shape)).numpy())


def test_same_gains_and_fans_as_torch(torch):
    for name in ["linear", "conv2d", "sigmoid", "tanh", "relu", "leaky_relu", "selu"]:  # torch has no 'identity'
        assert I.calculate_gain(name) == torch.nn.init.calculate_gain(name)
    assert I.calculate_gain("leaky_relu", 0.2) == torch.nn.init.calculate_gain("leaky_relu", 0.2)
    for shape in [(4, 3), (8, 4, 3, 3), (2, 5, 7)]:
        assert I.compute_fans(shape) == torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
