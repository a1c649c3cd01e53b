r"""Update rules for K models at once: the notebook's gradient descent, minibatch SGD, momentum, Adam.

The formulas are those of the deeplearning.ai specialization's "Optimization methods" notebook
(course 2, week 2), with its symbols and its arithmetic order. For every parameter array
:math:`W` with gradient :math:`dW`, learning rate :math:`\alpha` and update counter
:math:`t = 1, 2, \ldots`:

``gd``
    :math:`W \leftarrow W - \alpha\, dW` (the Initialization notebook's, full batch).
``sgd``
    the same rule, applied to the gradient of a minibatch (``batch_size`` of
    :func:`initlab.training.train`).
``momentum``
    :math:`v \leftarrow \beta v + (1 - \beta)\, dW`, :math:`W \leftarrow W - \alpha v`.
``adam``
    :math:`v \leftarrow \beta_1 v + (1 - \beta_1)\, dW`, :math:`s \leftarrow \beta_2 s + (1 - \beta_2)\, dW^2`,
    :math:`\hat v = v / (1 - \beta_1^t)`, :math:`\hat s = s / (1 - \beta_2^t)`,
    :math:`W \leftarrow W - \alpha \hat v / (\sqrt{\hat s} + \varepsilon)` (Kingma & Ba 2015).

Layout
------
The rules are elementwise, so they apply to any arrays with a leading model axis ``K``; the
training loop passes every model's parameters as one flat row, ``theta`` of shape ``(K, P)``
(:func:`initlab.network.layer_views`). The state (``v``, ``s``) has the shape of ``theta``, one row
per model, and starts at zero (:meth:`Optimizer.init_state`). ``alpha`` is a scalar or one rate
per model, ``(K, 1)``, or one per model and parameter, ``(K, P)`` (anything that broadcasts against
``theta``: a parametrization's per-layer rates, :mod:`initlab.parametrization`). ``momentum`` with
:math:`\beta = 0` is ``gd`` to the bit: :math:`0 \cdot v + 1 \cdot dW = dW` exactly.

``get(name, **options)`` returns an :class:`Optimizer`; ``available()`` lists the names with
their formulas (one registry, as :mod:`initlab.initializers`).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from initlab.validation import check_choice, check_int, check_options, check_real

__all__ = ["Optimizer", "adam", "available", "check_batch_size", "gd", "get", "momentum", "sgd", "with_epsilon_factors"]

#: ``step(theta, grads, alpha, state, t, out) -> out``: the update of one iteration (see :class:`Optimizer`).
StepFunction = Callable[[np.ndarray, np.ndarray, Any, tuple, int, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Optimizer:
    """An update rule with its options bound.

    Attributes
    ----------
    name : str
    options : tuple of (name, value) pairs, for the ``repr`` and records
    state_size : int
        How many state arrays (each shaped like ``theta``) the rule keeps: 0 (gd, sgd), 1 (``v``
        of momentum), 2 (``v`` and ``s`` of Adam).
    full_batch : bool
        True for ``gd``: the notebook's full-batch rule takes no ``batch_size``.
    """

    name: str
    options: tuple[tuple[str, Any], ...]
    state_size: int = 0
    full_batch: bool = False
    update: StepFunction = field(default=None, repr=False, compare=False)

    def init_state(self, theta: np.ndarray) -> tuple[np.ndarray, ...]:
        """Zero state arrays shaped like ``theta`` (K, ...) and of its float dtype: ``()``, ``(v,)`` or ``(v, s)``."""
        return tuple(np.zeros_like(theta, dtype=_float_dtype(theta)) for _ in range(self.state_size))

    def step(
        self, theta: np.ndarray, grads: np.ndarray, alpha, state: tuple, t: int, out: np.ndarray | None = None
    ) -> np.ndarray:
        r"""One update of K models: the new parameters, written into ``out``.

        Parameters
        ----------
        theta : (K, ...) parameters before the update (not modified)
        grads : (K, ...) their gradients; **overwritten** (used as scratch space)
        alpha : float or (K, 1) learning rates, broadcasting against ``theta``
        state : tuple of ``state_size`` arrays (K, ...), updated in place
        t : int >= 1
            The update counter (Adam's bias correction :math:`1 - \beta^t`).
        out : (K, ...) array, not ``theta``; a new one of theta's dtype when omitted (float32 stays
            float32 when ``alpha`` and the state are float32 too: no step upcasts then)

        Returns
        -------
        theta_new : (K, ...), ``out``
        """
        if out is None:
            out = np.empty_like(theta, dtype=_float_dtype(theta))
        return self.update(theta, grads, alpha, state, t, out)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.options)
        return f"{self.name}({args})"


def _float_dtype(theta) -> np.dtype:
    """float32 for float32 parameters (the float32 path keeps its state in float32), float64 otherwise."""
    return np.dtype(np.float32) if getattr(theta, "dtype", None) == np.float32 else np.dtype(np.float64)


@dataclass(frozen=True)
class _Entry:
    factory: Callable[..., Optimizer]
    summary: str


_REGISTRY: dict[str, _Entry] = {}


def _register(name: str, summary: str):
    def decorator(factory):
        _REGISTRY[name] = _Entry(factory, summary)
        return factory

    return decorator


def available() -> dict[str, str]:
    """Optimizer names, in registry order, each with its update rule in one line."""
    return {name: entry.summary for name, entry in _REGISTRY.items()}


def get(name: str, **options) -> Optimizer:
    """The optimizer ``name`` with ``options`` bound: ``get("adam", beta1=0.8)``.

    Parameters
    ----------
    name : str
        One of :func:`available`: ``"gd"``, ``"sgd"``, ``"momentum"``, ``"adam"``.
    **options
        That rule's options (``beta`` of momentum; ``beta1``, ``beta2``, ``epsilon`` of Adam).

    Raises
    ------
    ValueError
        Unknown ``name`` (the message lists the names) or an option value out of range.
    TypeError
        An option the rule does not take (the message lists those it takes).
    """
    check_choice("optimizer", name, _REGISTRY)
    factory = _REGISTRY[name].factory
    check_options(f"optimizer {name!r}", options, inspect.signature(factory).parameters)
    return factory(**options)


def check_batch_size(batch_size, optimizer: Optimizer, m: int | None = None, *, name: str = "batch_size") -> int | None:
    """None (the full batch) or an int in ``[1, m]`` that ``optimizer`` can take: the one rule for every door.

    The notebook's full-batch rule ``gd`` takes no ``batch_size``; ``m`` (the training examples)
    bounds it when known. ``name`` is the parameter as the caller's user wrote it (``--batch-size``).
    """
    if batch_size is None:
        return None
    if optimizer.full_batch:
        raise ValueError(
            f"The '{name}' parameter goes with a minibatch optimizer ('sgd', 'momentum' or 'adam'); "
            f"optimizer {optimizer.name!r} is the notebook's full-batch gradient descent. Got {name}={batch_size!r}; "
            "drop it or choose optimizer 'sgd'."
        )
    return check_int(name, batch_size, min_value=1, max_value=m)


def _beta(name: str, value) -> float:
    """A decay rate in [0, 1)."""
    value = check_real(name, value)
    if not 0.0 <= value < 1.0:
        raise ValueError(
            f"The '{name}' parameter must be in [0, 1) (0 forgets at once, near 1 averages over many steps). "
            f"Got {value} instead."
        )
    return value


# --------------------------------------------------------------------------------------------
# The rules. Each writes the new parameters into ``out``, uses ``grads`` as scratch and keeps the
# course's arithmetic order (x = a * x + b * g, then W - lr * x): the same bits as its code.
# --------------------------------------------------------------------------------------------
def _gd_update(theta, grads, alpha, state, t, out):
    step = np.multiply(alpha, grads, out=grads)
    return np.subtract(theta, step, out=out)  # the notebook's W = W - learning_rate * dW


@_register("gd", "W <- W - lr * dW on the whole training set (the notebook's; default)")
def gd() -> Optimizer:
    r"""Full-batch gradient descent, :math:`W \leftarrow W - \alpha\, dW` (the Initialization notebook's)."""
    return Optimizer("gd", (), 0, True, _gd_update)


@_register("sgd", "W <- W - lr * dW on minibatches of batch_size, reshuffled every epoch")
def sgd() -> Optimizer:
    r"""Minibatch stochastic gradient descent: :math:`W \leftarrow W - \alpha\, dW_\text{batch}`.

    The rule of ``gd`` on the gradient of a minibatch; :func:`initlab.training.train` draws the
    minibatches (``batch_size``; ``None`` is the full batch, i.e. ``gd``).
    """
    return Optimizer("sgd", (), 0, False, _gd_update)


@_register("momentum", "v <- beta v + (1 - beta) dW; W <- W - lr * v  (beta 0.9)")
def momentum(*, beta: float = 0.9) -> Optimizer:
    r"""Gradient descent with momentum: :math:`v \leftarrow \beta v + (1-\beta)\, dW`, :math:`W \leftarrow W - \alpha v`.

    Parameters
    ----------
    beta : float in [0, 1)
        Decay of the moving average of the gradients; 0 is plain gradient descent.
    """
    beta = _beta("beta", beta)
    one_minus_beta = 1 - beta

    def update(theta, grads, alpha, state, t, out):
        (v,) = state
        np.multiply(v, beta, out=v)
        np.add(v, np.multiply(grads, one_minus_beta, out=grads), out=v)  # v = beta * v + (1 - beta) * dW
        return np.subtract(theta, np.multiply(alpha, v, out=grads), out=out)  # W = W - learning_rate * v

    return Optimizer("momentum", (("beta", beta),), 1, False, update)


@_register("adam", "v, s <- moving averages of dW, dW^2; W <- W - lr * v^ / (sqrt(s^) + eps)  (0.9, 0.999, 1e-8)")
def adam(*, beta1: float = 0.9, beta2: float = 0.999, epsilon: float = 1e-8) -> Optimizer:
    r"""Adam (Kingma & Ba 2015), as the course writes it, with bias correction.

    .. math::

        v &\leftarrow \beta_1 v + (1-\beta_1)\, dW, \qquad \hat v = v / (1 - \beta_1^t) \\
        s &\leftarrow \beta_2 s + (1-\beta_2)\, dW^2, \qquad \hat s = s / (1 - \beta_2^t) \\
        W &\leftarrow W - \alpha\, \hat v / (\sqrt{\hat s} + \varepsilon)

    The first step moves every parameter by about :math:`\alpha` (:math:`\hat v / \sqrt{\hat s} = \pm 1`),
    whatever the gradient's scale.

    Parameters
    ----------
    beta1 : float in [0, 1)
        Decay of the first moment (the gradients).
    beta2 : float in [0, 1)
        Decay of the second moment (squared gradients).
    epsilon : float > 0
        Keeps the division finite where :math:`\hat s = 0`.
    """
    beta1 = _beta("beta1", beta1)
    beta2 = _beta("beta2", beta2)
    epsilon = check_real("epsilon", epsilon, min_value=0.0, min_inclusive=False)
    return Optimizer("adam", (("beta1", beta1), ("beta2", beta2), ("epsilon", epsilon)), 2, False,
                     _adam_update(beta1, beta2, epsilon))  # fmt: skip


def _adam_update(beta1: float, beta2: float, epsilon) -> StepFunction:
    """Adam's step with its options bound; ``epsilon`` a float, or an array broadcasting against ``theta`` (P,)."""

    def update(theta, grads, alpha, state, t, out):
        v, s = state
        np.multiply(v, beta1, out=v)
        np.add(v, np.multiply(grads, 1 - beta1, out=out), out=v)  # v = beta1 * v + (1 - beta1) * dW
        np.multiply(grads, grads, out=grads)  # dW ** 2
        np.multiply(s, beta2, out=s)
        np.add(s, np.multiply(grads, 1 - beta2, out=grads), out=s)  # s = beta2 * s + (1 - beta2) * dW ** 2
        v_corrected = np.divide(v, 1 - beta1**t, out=out)
        denominator = np.divide(s, 1 - beta2**t, out=grads)  # s_corrected
        np.sqrt(denominator, out=denominator)
        np.add(denominator, epsilon, out=denominator)
        step = np.multiply(alpha, v_corrected, out=out)
        np.divide(step, denominator, out=step)  # learning_rate * v_corrected / (sqrt(s_corrected) + epsilon)
        return np.subtract(theta, step, out=out)

    return update


def with_epsilon_factors(optimizer: Optimizer, factors: np.ndarray, dtype=np.float64) -> Optimizer:
    r"""``optimizer`` with Adam's :math:`\varepsilon` multiplied by ``factors`` (P,), one per parameter; others unchanged.

    A parametrization's multiplier :math:`a` turns Adam's epsilon of the stored weights into
    :math:`\varepsilon / a` for the effective ones (:mod:`initlab.parametrization`). The result has the
    same name and options (its ``repr`` and records do not change); gd, sgd and momentum have no
    epsilon and come back as they are. ``dtype``: the parameters' (the epsilons are computed in
    float64 and rounded once to it, so a float32 step adds a float32 array).
    """
    if optimizer.name != "adam":
        return optimizer
    options = dict(optimizer.options)
    epsilon = (options["epsilon"] * np.asarray(factors, dtype=np.float64)).astype(dtype, copy=False)
    update = _adam_update(options["beta1"], options["beta2"], epsilon)
    return Optimizer(optimizer.name, optimizer.options, optimizer.state_size, optimizer.full_batch, update)
