r"""Activation functions and their derivatives: one registry, scikit-learn's ACTIVATIONS / DERIVATIVES.

Every function maps a pre-activation array ``z`` of any shape (in the engine ``(K, n_l, m)``:
models, units, examples) to an array of the same shape, float64, without warnings for any finite
``z``. Each takes an optional ``out=`` array (the training loop's preallocated buffers; a fresh
array when omitted); ``out`` may be ``z`` itself. Derivatives are functions of the
*pre-activation* ``z``: :math:`g'(z)`, so that ``dZ = dA * derivative(Z)`` in back-propagation.

``relu``
    :math:`\max(0, z)` (Nair & Hinton 2010).
``leaky_relu``
    :math:`z` if :math:`z > 0` else :math:`\text{slope}\cdot z` (Maas et al. 2013; slope 0.01).
``tanh``
    :math:`\tanh z`.
``sigmoid``
    :math:`1 / (1 + e^{-z})`, computed without overflow.
``linear``
    :math:`z`.
``selu``
    :math:`\lambda z` if :math:`z > 0` else :math:`\lambda\alpha(e^z - 1)` (Klambauer et al. 2017).
``gelu``
    tanh form :math:`\tfrac12 z (1 + \tanh(\sqrt{2/\pi}(z + 0.044715 z^3)))` (Hendrycks & Gimpel 2016).

GELU is the **tanh approximation** (GPT-2's and nanoGPT's ``gelu``, torch's
``GELU(approximate="tanh")``), not the exact :math:`z\,\Phi(z)`: numpy has no vectorized ``erf``,
``np.vectorize(math.erf)`` costs about 140 ns per element against 3 ns for ``np.tanh`` (measured:
more than a whole training step of the notebook's network, per hidden layer) and a hand-written rational ``erf`` would be one more formula to
get wrong. The two differ by less than :math:`10^{-3}` everywhere; the derivative below is exact
for the tanh form, so gradient checks hold to rounding.

The derivative of ``relu`` and ``leaky_relu`` at :math:`z = 0` is taken as 0 (resp. ``slope``), as
the notebook does (``np.int64(a > 0)``).

The output layer's functions, :func:`sigmoid` (binary) and :func:`softmax` (over the units axis),
are in :data:`OUTPUTS`; their gradients are taken together with the loss (``initlab.losses``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from initlab.validation import check_choice, check_real

__all__ = [
    "ACTIVATIONS",
    "DERIVATIVES",
    "OUTPUTS",
    "SELU_ALPHA",
    "SELU_SCALE",
    "Activation",
    "available",
    "gelu",
    "gelu_derivative",
    "get",
    "leaky_relu",
    "leaky_relu_derivative",
    "linear",
    "linear_derivative",
    "relu",
    "relu_derivative",
    "selu",
    "selu_derivative",
    "sigmoid",
    "sigmoid_derivative",
    "softmax",
    "tanh",
    "tanh_derivative",
]

#: SELU's constants (Klambauer et al. 2017, "Self-Normalizing Neural Networks", eq. 14).
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946

_GELU_C = math.sqrt(2.0 / math.pi)  # sqrt(2/pi) of the tanh form
_GELU_A = 0.044715


def relu(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    r""":math:`\max(0, z)`, elementwise. Shape of ``z``."""
    return np.maximum(z, 0.0, out=out)


def relu_derivative(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    r""":math:`1` where :math:`z > 0`, else :math:`0` (0 at the kink, as the notebook). Shape of ``z``."""
    return np.greater(z, 0.0, out=_buffer(z, out))


def leaky_relu(z: np.ndarray, slope: float = 0.01, out: np.ndarray | None = None) -> np.ndarray:
    r""":math:`z` where :math:`z > 0`, else :math:`\text{slope}\cdot z`. Shape of ``z``."""
    negative = z <= 0
    if out is None:
        out = np.array(z, dtype=np.float64)
    elif out is not z:
        np.copyto(out, z)
    return np.multiply(out, slope, out=out, where=negative)


def leaky_relu_derivative(z: np.ndarray, slope: float = 0.01, out: np.ndarray | None = None) -> np.ndarray:
    r""":math:`1` where :math:`z > 0`, else ``slope``. Shape of ``z``."""
    positive = z > 0
    out = _buffer(z, out)
    out.fill(slope)
    np.copyto(out, 1.0, where=positive)
    return out


def tanh(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    r""":math:`\tanh z`. Shape of ``z``."""
    return np.tanh(z, out=out)


def tanh_derivative(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    r""":math:`1 - \tanh^2 z`. Shape of ``z``."""
    t = np.tanh(z, out=out)
    np.multiply(t, t, out=t)
    return np.subtract(1.0, t, out=t)


def sigmoid(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    r""":math:`\sigma(z) = 1 / (1 + e^{-z})` without overflow.

    With :math:`e = e^{-|z|} \in (0, 1]`, :math:`\sigma(z) = 1 / (1 + e)` for :math:`z \ge 0` (the
    notebook's arithmetic, to the bit) and :math:`e / (1 + e)` for :math:`z < 0`, so ``exp`` never
    overflows and small probabilities keep their relative accuracy. Shape of ``z``.
    """
    positive = z >= 0
    e = np.abs(z, out=out)
    np.negative(e, out=e)
    np.exp(e, out=e)  # e^{-|z|}
    denominator = 1.0 + e
    np.copyto(e, 1.0, where=positive)  # numerator: 1 for z >= 0, e for z < 0
    return np.divide(e, denominator, out=e)


def sigmoid_derivative(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    r""":math:`\sigma(z)(1 - \sigma(z))`. Shape of ``z``."""
    s = sigmoid(z, out=out)
    return np.multiply(s, 1.0 - s, out=s)


def linear(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    r""":math:`z` (identity): ``z`` itself, or a copy in ``out``."""
    if out is None:
        return z
    np.copyto(out, z)
    return out


def linear_derivative(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    r""":math:`1`, ones shaped like ``z``."""
    out = _buffer(z, out)
    out.fill(1.0)
    return out


def selu(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    r""":math:`\lambda z` for :math:`z > 0`, else :math:`\lambda \alpha (e^z - 1)`.

    :math:`\lambda \approx 1.0507`, :math:`\alpha \approx 1.6733` (Klambauer et al. 2017).
    ``expm1`` of :math:`\min(z, 0)` keeps large positive ``z`` from overflowing in the unused
    branch. Shape of ``z``.
    """
    negative_part = np.minimum(z, 0.0)
    np.expm1(negative_part, out=negative_part)
    negative_part *= SELU_ALPHA  # alpha (e^z - 1) where z < 0, exactly 0 elsewhere
    out = np.maximum(z, 0.0, out=out)
    out += negative_part
    return np.multiply(out, SELU_SCALE, out=out)


def selu_derivative(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    r""":math:`\lambda` for :math:`z > 0`, else :math:`\lambda \alpha e^z`. Shape of ``z``."""
    positive = z > 0
    out = np.minimum(z, 0.0, out=out)
    np.exp(out, out=out)
    np.multiply(out, SELU_ALPHA, out=out)
    np.copyto(out, 1.0, where=positive)
    return np.multiply(out, SELU_SCALE, out=out)


def gelu(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    r"""GELU, tanh form: :math:`\tfrac12 z\,(1 + \tanh u)`, :math:`u = \sqrt{2/\pi}\,(z + 0.044715 z^3)`.

    Hendrycks & Gimpel 2016 (their tanh approximation); GPT-2's ``gelu``. See the module docstring
    for why not the erf form. Shape of ``z``.
    """
    t = np.tanh(_GELU_C * (z + _GELU_A * z**3))
    t += 1.0
    t *= 0.5
    return np.multiply(z, t, out=out)


def gelu_derivative(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    r""":math:`\tfrac12 (1 + \tanh u) + \tfrac12 z (1 - \tanh^2 u)\sqrt{2/\pi}(1 + 3 \cdot 0.044715\, z^2)`."""
    t = np.tanh(_GELU_C * (z + _GELU_A * z**3))
    du = _GELU_C * (1.0 + 3.0 * _GELU_A * z * z)  # du/dz
    return np.add(0.5 * (1.0 + t), 0.5 * z * (1.0 - t * t) * du, out=out)


def softmax(z: np.ndarray, axis: int = -2, out: np.ndarray | None = None) -> np.ndarray:
    r""":math:`e^{z_c - \max z} / \sum_{c'} e^{z_{c'} - \max z}` over ``axis`` (the units axis).

    Parameters
    ----------
    z : (..., C, m) logits
    axis : int
        Class axis; ``-2`` for the engine's ``(K, C, m)`` layout.
    out : optional array shaped like ``z`` for the result

    Returns
    -------
    (..., C, m) probabilities summing to 1 over ``axis``.
    """
    e = np.subtract(z, z.max(axis=axis, keepdims=True), out=out)
    np.exp(e, out=e)
    return np.divide(e, e.sum(axis=axis, keepdims=True), out=e)


def _buffer(z: np.ndarray, out: np.ndarray | None) -> np.ndarray:
    return np.empty(np.shape(z)) if out is None else out


#: Hidden-layer activations by name: ``ACTIVATIONS[name](z)``.
ACTIVATIONS: dict[str, Callable[..., np.ndarray]] = {
    "relu": relu,
    "leaky_relu": leaky_relu,
    "tanh": tanh,
    "sigmoid": sigmoid,
    "linear": linear,
    "selu": selu,
    "gelu": gelu,
}

#: Their derivatives with respect to the pre-activation: ``DERIVATIVES[name](z)``.
DERIVATIVES: dict[str, Callable[..., np.ndarray]] = {
    "relu": relu_derivative,
    "leaky_relu": leaky_relu_derivative,
    "tanh": tanh_derivative,
    "sigmoid": sigmoid_derivative,
    "linear": linear_derivative,
    "selu": selu_derivative,
    "gelu": gelu_derivative,
}

#: Output-layer functions by name; their gradient is taken with the loss (``initlab.losses``).
OUTPUTS: dict[str, Callable[..., np.ndarray]] = {"sigmoid": sigmoid, "softmax": softmax}

# Activations that take the ``slope`` option.
_SLOPED = frozenset({"leaky_relu"})


@dataclass(frozen=True)
class Activation:
    """A hidden-layer activation with its options bound.

    Attributes
    ----------
    name : str
    forward : callable ``forward(z, out=None) -> a``, same shape
    derivative : callable ``derivative(z, out=None) -> g'(z)``, same shape
    """

    name: str
    forward: Callable[..., np.ndarray]
    derivative: Callable[..., np.ndarray]


def available() -> tuple[str, ...]:
    """Names of the hidden-layer activations, in registry order."""
    return tuple(ACTIVATIONS)


def get(name: str, *, slope: float = 0.01) -> Activation:
    """Look up activation ``name`` and bind its options.

    Parameters
    ----------
    name : str
        One of :func:`available`.
    slope : float
        Negative-side slope of ``leaky_relu`` (ignored by the others).

    Returns
    -------
    Activation

    Raises
    ------
    ValueError
        Unknown ``name`` (the message lists the allowed ones) or a non-finite ``slope``.
    """
    check_choice("activation", name, ACTIVATIONS)
    if name in _SLOPED:
        slope = check_real("slope", slope)
        return Activation(
            name,
            functools.partial(ACTIVATIONS[name], slope=slope),
            functools.partial(DERIVATIVES[name], slope=slope),
        )
    return Activation(name, ACTIVATIONS[name], DERIVATIVES[name])
