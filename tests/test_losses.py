"""Losses: against the naive formulas, finite where the notebook's is inf, gradients by central differences."""

import numpy as np
import pytest

from initlab import course, losses


def naive_bce(Z, Y):
    a = 1 / (1 + np.exp(-Z))
    return np.mean(-Y * np.log(a) - (1 - Y) * np.log(1 - a), axis=(-2, -1))


def central_differences(f, Z, h=1e-6):
    """d sum_k f(Z)_k / dZ, one entry at a time (models are independent, so this is each model's gradient)."""
    grad = np.zeros_like(Z)
    for idx in np.ndindex(Z.shape):
        Zp, Zm = Z.copy(), Z.copy()
        Zp[idx] += h
        Zm[idx] -= h
        grad[idx] = (f(Zp).sum() - f(Zm).sum()) / (2 * h)
    return grad


@pytest.fixture
def binary():
    rng = np.random.default_rng(0)
    return rng.normal(0, 2, (3, 1, 7)), rng.integers(0, 2, (1, 7)).astype(float)  # (K, 1, m), (1, m)


def test_bce_matches_the_naive_formula_per_model(binary):
    Z, Y = binary
    out = losses.binary_cross_entropy(Z, Y)
    assert out.shape == (3,)
    np.testing.assert_allclose(out, naive_bce(Z, Y), rtol=1e-13)


def test_bce_is_finite_where_the_notebook_loss_is_inf():
    Z = np.array([[[800.0, -800.0, 40.0]]])
    Y = np.array([[0.0, 1.0, 1.0]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        stable = losses.binary_cross_entropy(Z, Y)
    np.testing.assert_allclose(stable, [(800 + 800 + np.log1p(np.exp(-40))) / 3], rtol=1e-15)
    A = 1 / (1 + np.exp(-np.clip(Z, -700, 700)))
    assert np.isinf(losses.legacy_binary_cross_entropy(A, Y)).all()


def test_bce_gradient_matches_central_differences(binary):
    Z, Y = binary
    np.testing.assert_allclose(
        losses.binary_cross_entropy_grad(Z, Y),
        central_differences(lambda z: losses.binary_cross_entropy(z, Y), Z),
        rtol=1e-6,
        atol=1e-10,
    )


def test_legacy_bce_is_the_notebooks_compute_loss_to_the_bit(binary):
    Z, Y = binary
    A = 1 / (1 + np.exp(-Z))
    got = losses.legacy_binary_cross_entropy(A, Y)
    assert got.shape == (3,)
    for k in range(3):
        assert got[k] == course.compute_loss(A[k], Y)
    np.testing.assert_allclose(got, losses.binary_cross_entropy(Z, Y), rtol=1e-12)


def test_softmax_ce_int_labels_and_one_hot_agree_with_the_naive_formula():
    rng = np.random.default_rng(1)
    Z = rng.normal(0, 3, (2, 4, 6))  # (K, C, m)
    labels = rng.integers(0, 4, 6)
    onehot = losses.one_hot(labels, 4)
    assert onehot.shape == (4, 6) and np.all(onehot.sum(axis=0) == 1)
    p = np.exp(Z) / np.exp(Z).sum(axis=1, keepdims=True)
    naive = -np.log(p[:, labels, np.arange(6)]).mean(axis=-1)
    for Y in (labels, labels.reshape(1, -1), onehot):
        np.testing.assert_allclose(losses.softmax_cross_entropy(Z, Y), naive, rtol=1e-13)
        np.testing.assert_allclose(losses.softmax_cross_entropy_grad(Z, Y), (p - onehot) / 6, rtol=1e-12, atol=1e-16)


def test_softmax_ce_is_finite_for_huge_logits():
    Z = np.array([[[1e4, -1e4], [-1e4, 1e4]]])  # confidently wrong on both examples
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        loss = losses.softmax_cross_entropy(Z, np.array([1, 0]))
    np.testing.assert_allclose(loss, [2e4])


def test_softmax_ce_gradient_matches_central_differences():
    rng = np.random.default_rng(2)
    Z = rng.normal(0, 1, (2, 3, 5))
    Y = rng.integers(0, 3, 5)
    np.testing.assert_allclose(
        losses.softmax_cross_entropy_grad(Z, Y),
        central_differences(lambda z: losses.softmax_cross_entropy(z, Y), Z),
        rtol=1e-6,
        atol=1e-10,
    )
