r"""Parametrizations of an MLP: how initialization, forward multipliers and learning rates scale with width.

A *parametrization* (Yang & Hu et al. 2022, "Tensor Programs V", arXiv:2203.03466, section 2) says,
for every parameter array, three things as functions of its fans: the variance of its
initialization, a constant *multiplier* it is scaled by in the forward pass, and the factor its
learning rate is scaled by. Three of them here:

``standard``
    Today's: ``W`` drawn by the named initializer (He, LeCun, ...), no multiplier, one learning
    rate for every parameter. Every existing result is this one.
``ntk``
    The neural-tangent parametrization (Jacot et al. 2018): the forward pass computes
    :math:`W = w / \sqrt{\text{fan\_in}}` from stored weights of width-independent variance
    (:math:`w \sim N(0, \sigma^2)`; ``lecun_normal`` gives the :math:`N(0, 1)` of the paper, ``he_normal``
    :math:`\sigma^2 = 2`), one learning rate for all stored parameters. Biases have multiplier 1.
``mup``
    The maximal update parametrization, TP5's Table 3 (and its equivalent Table 8, the form the
    ``mup`` package implements with ``MuReadout``, ``MuSGD`` and ``MuAdam``), relative to a base
    model: each width dimension of size :math:`n` has the *width multiplier* :math:`\mu = n / n_\text{base}`
    (the input and output dimensions are finite: :math:`\mu = 1`). At :math:`\mu = 1` (width =
    ``base_width``) muP *is* standard; ``base_width=None`` takes :math:`n_\text{base} = 1`, Table 3
    literally (e.g. the output layer's variance :math:`1/\text{fan\_in}^2`).

The table (stored form)
-----------------------
For a weight with fan-in multiplier :math:`\mu_\text{in}` and fan-out multiplier
:math:`\mu_\text{out}` (each 1 where that dimension is finite), with :math:`\sigma^2_\text{SP}` the
named initializer's variance at that shape (:math:`\text{gain}^2 / \text{fan\_in}`), each row gives:
multiplier :math:`a`; :math:`\operatorname{Var}(w) / \sigma^2_\text{SP}`; learning-rate
factor of :math:`w` with SGD-like optimizers; with Adam.

- ntk, every weight: :math:`1/\sqrt{\text{fan\_in}}`; :math:`\text{fan\_in}`; 1; 1.
- ntk, every bias: 1; 1; 1; 1.
- mup, input weights (fan-in finite): 1; 1; :math:`\mu_\text{out}`; 1.
- mup, hidden weights: 1; 1; :math:`\mu_\text{out}/\mu_\text{in}`; :math:`1/\mu_\text{in}`.
- mup, output weights (fan-out finite): :math:`1/\mu_\text{in}`; :math:`\mu_\text{in}`; :math:`\mu_\text{in}`; 1.
- mup, bias of a hidden layer: 1; 1; :math:`\mu_\text{out}`; 1.
- mup, output bias (no width dimension): 1; 1; 1; 1.

The mup rows are the ``mup`` package's: ``MuReadout`` divides the readout's input by the width
multiplier and multiplies its SP-drawn weights by :math:`\sqrt{\mu}` (``_rescale_parameters``);
``MuSGD`` multiplies the learning rate of "vector-like" parameters (one width dimension: input
weights, hidden biases, the readout's weights) by their width multiplier and divides that of
"matrix-like" ones by :math:`\mu_\text{in}/\mu_\text{out}`; ``MuAdam`` divides the matrix-like
ones' by :math:`\mu_\text{in}`; a parameter with no width dimension (the output bias) is left alone.
"SGD-like" is gd, sgd and momentum; "Adam" is adam (:data:`FAMILIES`; TP5 appendix B.3).
Biases are drawn by ``bias_init`` at shape ``(n_l, 1)``, whose fan-in is 1: Table 3's
"1/fan_in with fan_in 1" for biases, unchanged by every row (the ``mup`` package rescales torch's
bias init, whose scale follows the layer's fan-in, to get the same). Table 3 gives the hidden
weights' SGD factor as 1 because it lets all widths grow together; with hidden layers of different
widths the package's :math:`\mu_\text{out}/\mu_\text{in}` is the general form (equal to 1 when they do).
Table 3 states scalings, not constants ("interpret the 1 as O(1)", the package's authors in
microsoft/mup issue #7): here the constants are those of the named initializer and the learning
rate at the base width, which is what makes muP there equal to standard.

Effective weights, and why that is exact
----------------------------------------
initlab keeps *effective* weights :math:`W = a w`, what the forward pass computes with, so the
engines, diagnostics and exports work unchanged. Training :math:`w` with multiplier :math:`a > 0`
is training :math:`W` with other factors, exactly (in real arithmetic). With
:math:`g_W = \partial L / \partial W`, the chain rule gives :math:`\partial L / \partial w = a\, g_W`, so

- *SGD-like*, learning rate :math:`\eta` on :math:`w`:
  :math:`\Delta W = a \Delta w = -a \cdot \eta\, a\, g_W = -(a^2 \eta)\, g_W`. Momentum's average is
  linear, :math:`v_w = a v_W`, and gives the same :math:`a^2 \eta`. **Learning rate** :math:`a^2 \eta`.
- *Adam*: :math:`v_w = a v_W` and :math:`s_w = a^2 s_W` (the averages of :math:`a g_W` and
  :math:`a^2 g_W^2`), so
  :math:`\Delta W = a \Delta w = -a \eta\, \frac{a \hat v_W}{a \sqrt{\hat s_W} + \varepsilon}
  = -(a \eta)\, \frac{\hat v_W}{\sqrt{\hat s_W} + \varepsilon / a}`.
  **Learning rate** :math:`a \eta` **and epsilon** :math:`\varepsilon / a`.
- *Initialization*: :math:`\operatorname{Var}(W) = a^2 \operatorname{Var}(w)`.

So a parametrization changes, per parameter array, the initial scale of :math:`W` relative to the
named initializer (:attr:`Scaling.init_std`), its learning rate factor (:meth:`Scaling.learning_rate`)
and, with Adam, its epsilon factor (:attr:`Scaling.epsilon`); nothing else. Written out for
:math:`W` (TP5's Table 3, which has no multipliers):

- ntk: init as standard; SGD factor :math:`1/\text{fan\_in}`; Adam :math:`1/\sqrt{\text{fan\_in}}`, epsilon :math:`\sqrt{\text{fan\_in}}`.
- mup: input weights and hidden biases: SGD :math:`\mu_\text{out}`, Adam 1; hidden weights: SGD
  :math:`\mu_\text{out}/\mu_\text{in}`, Adam :math:`1/\mu_\text{in}`; output weights: init std
  :math:`1/\sqrt{\mu_\text{in}}` of the initializer's (variance :math:`1/\text{fan\_in}^2` for
  ``base_width=1``), SGD :math:`1/\mu_\text{in}`, Adam :math:`1/\mu_\text{in}`, epsilon :math:`\mu_\text{in}`.

The factors are kept as exact fractions of squares (:class:`Scaling`), so a factor that is 1 in
the mathematics is ``1.0`` to the bit: muP at width = ``base_width`` trains bit-identically to standard.

Initializers
------------
The parametrization sets the width scaling, the named initializer the distribution and the gain.
The table is written for variances :math:`\text{gain}^2 / \text{fan\_in}`, so ``ntk`` and ``mup``
accept only the initializers of that form, :func:`initlab.initializers.variance_scaling` with
``mode="fan_in"`` (``he_normal``, ``he_uniform``, ``kaiming_*`` in their default mode, ``lecun_*``)
and ``zeros`` (:func:`check_initializer`); the others (Xavier's fan_avg, orthogonal, the notebook's
``random``, LSUV, arbitrary callables) carry their own width rule and are refused.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from initlab.initializers import Initializer
from initlab.validation import check_choice

__all__ = [
    "FAMILIES",
    "PARAMETRIZATIONS",
    "Scaling",
    "check_base_width",
    "check_initializer",
    "family",
    "table",
    "width_multipliers",
]

#: The parametrizations an MLP accepts (``MLP(..., parametrization=...)``).
PARAMETRIZATIONS = ("standard", "ntk", "mup")
#: Optimizer name -> the family whose column of the table applies (TP5 appendix B.3).
FAMILIES = {"gd": "sgd", "sgd": "sgd", "momentum": "sgd", "adam": "adam"}

_ONE = Fraction(1)


@dataclass(frozen=True)
class Scaling:
    r"""One parameter array's row of the table, in the stored form (exact fractions).

    Attributes
    ----------
    multiplier2 : Fraction, :math:`a^2`, the square of the forward multiplier (:math:`W = a w`)
    init2 : Fraction, :math:`\operatorname{Var}(w) / \sigma^2_\text{SP}`, the stored weights' variance
        relative to the named initializer's at that shape
    lr_sgd : Fraction, the learning-rate factor of :math:`w` with gd, sgd, momentum
    lr_adam : Fraction, the learning-rate factor of :math:`w` with Adam
    """

    multiplier2: Fraction = _ONE
    init2: Fraction = _ONE
    lr_sgd: Fraction = _ONE
    lr_adam: Fraction = _ONE

    @property
    def init_std(self) -> float:
        r"""Std of the effective :math:`W` relative to the named initializer's: :math:`\sqrt{a^2 \operatorname{Var}(w) / \sigma^2_\text{SP}}`."""
        return math.sqrt(self.multiplier2 * self.init2)

    def learning_rate(self, family: str) -> float:
        r"""The learning-rate factor of the effective :math:`W`: :math:`a^2 c` (``"sgd"``) or :math:`a c` (``"adam"``)."""
        if family == "sgd":
            return float(self.multiplier2 * self.lr_sgd)
        return math.sqrt(self.multiplier2 * self.lr_adam**2)

    @property
    def epsilon(self) -> float:
        r"""Adam's epsilon factor for the effective :math:`W`: :math:`1 / a`."""
        return math.sqrt(1 / self.multiplier2)


def family(optimizer) -> str:
    """``"sgd"`` (gd, sgd, momentum) or ``"adam"``, for an optimizer name or an :class:`initlab.optimizers.Optimizer`."""
    name = getattr(optimizer, "name", optimizer)
    return FAMILIES[check_choice("optimizer", name, FAMILIES)]


def check_base_width(base_width, parametrization: str, layers: tuple[int, ...]):
    """``base_width`` checked against the parametrization and the layers: None, an int >= 1 or L - 1 of them.

    An int is the base width of every hidden layer; a sequence gives one per hidden layer
    (``layers[1:-1]``). Only ``mup`` is relative to a base model: other parametrizations refuse it.
    Returns None, an int, or a tuple of ints.
    """
    check_choice("parametrization", parametrization, PARAMETRIZATIONS, owner="MLP")
    if base_width is None:
        return None
    if parametrization != "mup":
        raise ValueError(
            f"The 'base_width' parameter of MLP goes with parametrization='mup' (the base model muP is relative to). "
            f"Got base_width={base_width!r} with parametrization={parametrization!r}; leave it out."
        )
    hidden = len(layers) - 2
    example = f"e.g. {layers[1] if hidden else 1}, or one per hidden layer ({hidden} here)"
    values = (base_width,) if _is_int(base_width) else base_width
    if not isinstance(values, Sequence) or isinstance(values, str) or not all(_is_int(v) for v in values):
        raise TypeError(
            f"The 'base_width' parameter of MLP must be an integer >= 1, {example}. Got {base_width!r} instead."
        )
    if any(v < 1 for v in values) or (not _is_int(base_width) and len(values) != hidden):
        raise ValueError(
            f"The 'base_width' parameter of MLP must be an integer >= 1, {example}. Got {base_width!r} instead."
        )
    return int(base_width) if _is_int(base_width) else tuple(int(v) for v in values)


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def width_multipliers(layers: tuple[int, ...], base_width=None) -> tuple[Fraction, ...]:
    r"""The width multiplier :math:`\mu_l` of each dimension ``layers[l]``: 1 for the input and output, :math:`n_l / n_\text{base}` for hidden ones.

    ``base_width`` as :func:`check_base_width` returns it (None: base 1).
    """
    hidden = layers[1:-1]
    bases = (1,) * len(hidden) if base_width is None else base_width
    bases = (bases,) * len(hidden) if _is_int(bases) else bases
    return (_ONE, *(Fraction(n, b) for n, b in zip(hidden, bases)), _ONE)


def table(parametrization: str, layers: tuple[int, ...], base_width=None) -> tuple[tuple[Scaling, Scaling], ...]:
    """The table's rows for an MLP: ``((weights, bias) of layer 1, ..., of layer L)``.

    Parameters
    ----------
    parametrization : {"standard", "ntk", "mup"}
    layers : (n_0, ..., n_L)
    base_width : None, int or L - 1 ints (``mup`` only), see :func:`check_base_width`
    """
    base_width = check_base_width(base_width, parametrization, layers)
    shapes = list(zip(layers[1:], layers[:-1]))  # (fan_out, fan_in) of each W
    if parametrization == "standard":
        return tuple((Scaling(), Scaling()) for _ in shapes)
    if parametrization == "ntk":
        return tuple((Scaling(Fraction(1, fan_in), Fraction(fan_in)), Scaling()) for _, fan_in in shapes)
    mu = width_multipliers(layers, base_width)
    last = len(layers) - 1
    rows = []
    for l in range(1, last + 1):
        mu_in, mu_out = mu[l - 1], mu[l]
        in_wide, out_wide = 0 < l - 1, l < last  # which dimensions grow with width
        if in_wide and out_wide:  # hidden
            weight = Scaling(lr_sgd=mu_out / mu_in, lr_adam=1 / mu_in)
        elif in_wide:  # output (MuReadout)
            weight = Scaling(multiplier2=1 / mu_in**2, init2=mu_in, lr_sgd=mu_in)
        elif out_wide:  # input
            weight = Scaling(lr_sgd=mu_out)
        else:  # no hidden layer: nothing grows
            weight = Scaling()
        rows.append((weight, Scaling(lr_sgd=mu_out) if out_wide else Scaling()))
    return tuple(rows)


def check_initializer(parametrization: str, init, given=None) -> None:
    """Refuse (ValueError) an initializer whose variance is not ``gain^2 / fan_in`` under ``ntk`` or ``mup``.

    ``init`` is the resolved initializer (:class:`initlab.initializers.Initializer` or another
    callable); ``given`` what the user passed (a name), for the message. See "Initializers" above for why.
    """
    if parametrization == "standard":
        return
    if isinstance(init, Initializer):
        options = dict(init.options)
        if init.name == "zeros" or (init.name == "variance_scaling" and options.get("mode") == "fan_in"):
            return
        what = f"{given!r} ({init!r})" if isinstance(given, str) else repr(init)
    else:
        what = f"the callable {getattr(init, '__name__', type(init).__name__)}"
    raise ValueError(
        f"The 'init' parameter of MLP.initialize must have variance gain^2/fan_in under parametrization="
        f"{parametrization!r} (the table of TP5 is written for it): one of 'he_normal', 'he_uniform', 'kaiming_normal', "
        f"'kaiming_uniform' (mode 'fan_in'), 'lecun_normal', 'lecun_uniform', variance_scaling(mode='fan_in') or "
        f"'zeros'. Got {what} instead; use one of these, or parametrization='standard'."
    )
