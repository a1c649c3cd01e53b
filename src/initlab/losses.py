r"""Cross-entropy losses over a leading model axis: stable from logits, and the notebook's legacy one.

Layout: logits ``Z`` are ``(K, n_out, m)`` (models, output units, examples), targets ``Y`` are
``(n_out, m)`` and shared by the K models (they broadcast). Every loss is the *mean over
examples* and returns shape ``(K,)`` (more generally: ``Z``'s shape without its last two axes).
Every gradient is with respect to the logits, shaped like ``Z``; for both losses it is

.. math:: \frac{\partial L}{\partial Z} = \frac{1}{m}\,(\hat Y - Y),

with :math:`\hat Y` the sigmoid or softmax of ``Z``.

Stable versus legacy
--------------------
The notebook computes the binary cross-entropy from probabilities,
:math:`\frac1m \sum -y \log a - (1-y)\log(1-a)` with :math:`a = \sigma(z)` and ``np.nansum``. When
:math:`|z|` is large, :math:`a` rounds to exactly 0 or 1 and a wrong label gives ``log(0) = -inf``:
the notebook prints ``inf`` after ``randn * 10`` initialization. From logits,

.. math:: -y\log\sigma(z) - (1-y)\log(1-\sigma(z)) = \max(z, 0) - z y + \log(1 + e^{-|z|}),

which is finite for every finite :math:`z` (the form of TensorFlow's
``sigmoid_cross_entropy_with_logits``). The softmax cross-entropy uses the log-sum-exp trick,
:math:`\log\sum_c e^{z_c} = \max z + \log\sum_c e^{z_c - \max z}`.

The inner functions here trust their inputs (the engine calls them every iteration); shapes and
labels are validated once by :class:`initlab.network.MLP`.
"""

from __future__ import annotations

import numpy as np

from initlab.activations import sigmoid, softmax

__all__ = [
    "binary_cross_entropy",
    "binary_cross_entropy_grad",
    "legacy_binary_cross_entropy",
    "one_hot",
    "softmax_cross_entropy",
    "softmax_cross_entropy_grad",
]


def binary_cross_entropy(Z: np.ndarray, Y: np.ndarray) -> np.ndarray:
    r"""Mean binary cross-entropy from logits, stable: :math:`\frac1m\sum \max(z,0) - zy + \log(1+e^{-|z|})`.

    Parameters
    ----------
    Z : (K, 1, m) logits (any leading shape)
    Y : (1, m) targets in [0, 1]

    Returns
    -------
    loss : (K,) float64, finite for finite ``Z``
    """
    m = Z.shape[-1]
    per_example = np.maximum(Z, 0.0) - Z * Y + np.log1p(np.exp(-np.abs(Z)))  # (K, 1, m)
    return per_example.sum(axis=(-2, -1)) / m


def binary_cross_entropy_grad(Z: np.ndarray, Y: np.ndarray) -> np.ndarray:
    r"""Gradient of :func:`binary_cross_entropy` w.r.t. the logits: :math:`\frac1m(\sigma(Z) - Y)`.

    Written ``(1./m) * (sigmoid(Z) - Y)``, the notebook's ``1./m * (a3 - Y)``.

    Parameters
    ----------
    Z : (K, 1, m) logits
    Y : (1, m)

    Returns
    -------
    dZ : (K, 1, m)
    """
    return (1.0 / Z.shape[-1]) * (sigmoid(Z) - Y)


def one_hot(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Integer labels ``(m,)`` (or ``(1, m)``) in ``[0, n_classes)`` to a one-hot ``(n_classes, m)`` float64 array."""
    labels = np.asarray(labels).reshape(-1)
    out = np.zeros((n_classes, labels.size))
    out[labels, np.arange(labels.size)] = 1.0
    return out


def _as_targets(Y: np.ndarray, n_classes: int) -> np.ndarray:
    """One-hot ``(C, m)`` from one-hot or integer labels."""
    Y = np.asarray(Y)
    if Y.ndim == 2 and Y.shape[0] == n_classes and n_classes > 1:
        return Y
    return one_hot(Y, n_classes)


def softmax_cross_entropy(Z: np.ndarray, Y: np.ndarray) -> np.ndarray:
    r"""Mean softmax cross-entropy from logits: :math:`\frac1m\sum_i \big(\operatorname{LSE}(z_{:,i}) - \sum_c y_{ci} z_{ci}\big)`.

    Parameters
    ----------
    Z : (K, C, m) logits
    Y : (C, m) one-hot (or soft) targets, or integer labels (m,) or (1, m)

    Returns
    -------
    loss : (K,) float64, finite for finite ``Z``
    """
    C, m = Z.shape[-2], Z.shape[-1]
    Y = _as_targets(Y, C)
    z_max = Z.max(axis=-2, keepdims=True)  # (K, 1, m)
    lse = z_max + np.log(np.exp(Z - z_max).sum(axis=-2, keepdims=True))  # (K, 1, m)
    return (lse.sum(axis=(-2, -1)) - (Z * Y).sum(axis=(-2, -1))) / m


def softmax_cross_entropy_grad(Z: np.ndarray, Y: np.ndarray) -> np.ndarray:
    r"""Gradient of :func:`softmax_cross_entropy` w.r.t. the logits: :math:`\frac1m(\mathrm{softmax}(Z) - Y)`.

    Parameters
    ----------
    Z : (K, C, m)
    Y : (C, m) one-hot, or integer labels (m,) or (1, m)

    Returns
    -------
    dZ : (K, C, m)
    """
    Y = _as_targets(Y, Z.shape[-2])
    return (1.0 / Z.shape[-1]) * (softmax(Z) - Y)


def legacy_binary_cross_entropy(A: np.ndarray, Y: np.ndarray) -> np.ndarray:
    r"""The notebook's loss from probabilities: ``1./m * nansum(-log(a)*y - log(1-a)*(1-y))``, per model.

    Can be ``inf``: when :math:`a` rounds to 0 or 1 on a wrong label, :math:`\log 0 = -\infty`
    (silently, as in the notebook). ``nansum`` drops the :math:`0 \cdot \infty` terms of correct
    saturated labels. Kept to compare with the notebook; train with :func:`binary_cross_entropy`.

    Parameters
    ----------
    A : (K, 1, m) sigmoid outputs
    Y : (1, m) 0/1 labels

    Returns
    -------
    loss : (K,) float64, possibly ``inf``
    """
    m = Y.shape[-1]
    with np.errstate(divide="ignore", invalid="ignore"):  # log(0) is the notebook's inf
        logprobs = np.multiply(-np.log(A), Y) + np.multiply(-np.log(1 - A), 1 - Y)  # (K, 1, m)
    return 1.0 / m * np.nansum(logprobs, axis=(-2, -1))
