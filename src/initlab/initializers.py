r"""Weight initializers: one variance formula, many names.

Shape convention (stated once, used everywhere)
-----------------------------------------------
A weight matrix has shape ``(n_out, n_in)``, like the deeplearning.ai notebook's ``W[l]`` of shape
``(n_l, n_{l-1})`` and torch's ``(out_features, in_features)``. Hence

.. math:: \text{fan\_in} = \text{shape}[1] \cdot r, \qquad \text{fan\_out} = \text{shape}[0] \cdot r,
          \qquad r = \textstyle\prod \text{shape}[2:]

(``r`` is the receptive field of a convolution kernel, 1 for a matrix; torch's
``_calculate_fan_in_and_fan_out``). Fans of a 1-D shape are undefined and raise.

The protocol
------------
An *initializer* is a callable ``init(shape, *, rng) -> ndarray`` returning a fresh float64 array of
``shape``; ``rng`` is a ``numpy.random.Generator`` (``None``, an int seed or a ``SeedSequence`` are
normalized once by ``check_rng``). A *factory* takes options (keyword arguments) and returns an
initializer: ``kaiming_normal(mode="fan_out")((64, 32), rng=rng)``. ``get(name, **options)`` looks a
factory up by name, ``available()`` lists names with their formulas, ``@register(name)`` adds one.

One formula
-----------
Every variance-based initializer is a one-line specialization of :func:`variance_scaling`
(JAX's semantics): ``Var(W) = scale / fan`` with ``fan`` one of ``fan_in``, ``fan_out``,
``fan_avg = (fan_in + fan_out) / 2``, drawn from a plain normal, a normal truncated at two standard
deviations (rescaled so the variance is still ``scale / fan``) or a uniform ``U(-l, l)``,
``l = sqrt(3 scale / fan)``.

- ``xavier_normal`` (= ``glorot_normal``): N(0, gain^2 * 2 / (fan_in + fan_out)), plain [Glorot10]_
- ``xavier_uniform`` (= ``glorot_uniform``): U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out)) [Glorot10]_
- ``kaiming_normal`` (= ``he_normal``): N(0, gain^2 / fan), plain; gain = sqrt(2) by default [He15]_
- ``kaiming_uniform`` (= ``he_uniform``): U(-b, b), b = gain * sqrt(3 / fan) [He15]_
- ``lecun_normal``: N(0, 1 / fan_in), plain [LeCun98]_
- ``lecun_uniform``: U(-b, b), b = sqrt(3 / fan_in) [LeCun98]_
- ``orthogonal``: gain * a Haar-random (semi-)orthogonal matrix, not a variance formula [Saxe13]_
- ``sparse``: N(0, std^2) with a fixed fraction of zeros per column, independent of the fan [Martens10]_
- ``ZerO`` (= ``zero_hadamard``): identity, partial identity or a truncated Hadamard matrix; no randomness [Zhao22]_

The torch-named ones take ``torch.nn.init``'s options with torch's meaning and draw from the same
distributions. Every ``*_normal`` preset here is a *plain* normal, as in torch and in the notebook
(``np.random.randn(...) * np.sqrt(2 / n_in)``); JAX's and Keras' ``he_normal``, ``glorot_normal`` and
``lecun_normal`` are *truncated* normals -- get those with
``variance_scaling(2.0, "fan_in", "truncated_normal")`` (He), ``variance_scaling(1.0, "fan_avg",
"truncated_normal")`` (Glorot) and ``variance_scaling(1.0, "fan_in", "truncated_normal")`` (LeCun).

References
----------
.. [Glorot10] X. Glorot and Y. Bengio, "Understanding the difficulty of training deep feedforward
   neural networks", AISTATS 2010.
.. [He15] K. He, X. Zhang, S. Ren and J. Sun, "Delving Deep into Rectifiers: Surpassing Human-Level
   Performance on ImageNet Classification", ICCV 2015.
.. [LeCun98] Y. LeCun, L. Bottou, G. Orr and K.-R. Mueller, "Efficient BackProp", in Neural Networks:
   Tricks of the Trade, 1998.
.. [Saxe13] A. M. Saxe, J. L. McClelland and S. Ganguli, "Exact solutions to the nonlinear dynamics
   of learning in deep linear neural networks", arXiv:1312.6120, 2013.
.. [Martens10] J. Martens, "Deep learning via Hessian-free optimization", ICML 2010.
.. [Zhao22] J. Zhao, F. Schäfer and A. Anandkumar, "ZerO Initialization: Initializing Neural Networks
   with only Zeros and Ones", TMLR 2022.
"""

from __future__ import annotations

import difflib
import inspect
import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from initlab.validation import check_choice, check_real, check_rng, check_shape

__all__ = [
    "Initializer",
    "available",
    "calculate_gain",
    "compute_fans",
    "constant",
    "describe",
    "eye",
    "get",
    "glorot_normal",
    "glorot_uniform",
    "he_normal",
    "he_uniform",
    "kaiming_normal",
    "kaiming_uniform",
    "lecun_normal",
    "lecun_uniform",
    "normal",
    "ones",
    "orthogonal",
    "random",
    "register",
    "sparse",
    "truncated_normal",
    "uniform",
    "variance_scaling",
    "xavier_normal",
    "xavier_uniform",
    "zero_hadamard",
    "zeros",
]

# Standard deviation of a standard normal truncated to (-2, 2) (JAX's constant): dividing by it
# restores the requested variance after truncation.
_TRUNCATED_STD = 0.87962566103423978

_MODES = ("fan_in", "fan_out", "fan_avg")
_DISTRIBUTIONS = ("normal", "truncated_normal", "uniform")


# ----------------------------------------------------------------------------------------------
# The callable and the registry
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Initializer:
    """A bound initializer: ``init(shape, *, rng) -> ndarray`` (float64, fresh, of ``shape``).

    ``name`` and ``options`` only describe it (they make the ``repr`` readable in logs and sweep
    records); ``sample(shape, rng)`` does the work on an already validated shape and Generator.
    """

    name: str
    options: tuple[tuple[str, Any], ...]
    sample: Callable[[tuple[int, ...], np.random.Generator], np.ndarray] = field(repr=False, compare=False)

    def __call__(self, shape, *, rng) -> np.ndarray:
        """Return a new float64 array of ``shape`` drawn with ``rng``.

        Parameters
        ----------
        shape : tuple of positive int, usually (n_out, n_in)
        rng : numpy.random.Generator (or None / int seed / SeedSequence, normalized once)
        """
        return self.sample(check_shape("shape", shape), check_rng(rng))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.options)
        return f"{self.name}({args})"


def _initializer(name: str, sample, **options) -> Initializer:
    return Initializer(name, tuple(options.items()), sample)


@dataclass(frozen=True)
class _Entry:
    factory: Callable[..., Callable]
    summary: str


_REGISTRY: dict[str, _Entry] = {}


def register(name: str, *, summary: str | None = None, overwrite: bool = False):
    """Decorator adding ``factory`` to the registry under ``name``; returns ``factory`` unchanged.

    ``factory(**options)`` must return an initializer ``init(shape, *, rng) -> ndarray``. Its
    keyword parameters are the options :func:`get` accepts (checked against its signature).

    Parameters
    ----------
    name : str
        Registry key, e.g. ``"my_init"``.
    summary : str, optional
        One-line formula shown by :func:`available`; defaults to the factory docstring's first line.
    overwrite : bool
        Replace an existing entry of the same name instead of raising.

    Examples
    --------
    >>> @register("halved_he")
    ... def halved_he():
    ...     "N(0, 1/fan_in)"
    ...     return variance_scaling(1.0, "fan_in", "normal")
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"The 'name' parameter of register must be a non-empty string. Got {name!r} instead.")

    def decorator(factory):
        if not callable(factory):
            raise TypeError(f"register({name!r}) must decorate a callable factory. Got {factory!r} instead.")
        if name in _REGISTRY and not overwrite:
            raise ValueError(
                f"Initializer {name!r} is already registered ({_REGISTRY[name].factory.__qualname__}); "
                "pass overwrite=True to replace it."
            )
        text = summary if summary is not None else (inspect.getdoc(factory) or "").strip().split("\n")[0]
        _REGISTRY[name] = _Entry(factory, text)
        return factory

    return decorator


def available() -> dict[str, str]:
    """Registered names, sorted (ignoring case), each with its one-line formula (aliases say what they alias).

    Returns
    -------
    dict of str to str, e.g. ``{"he_normal": "N(0, gain^2/fan), ... (alias of kaiming_normal)", ...}``
    """
    first_name: dict[int, str] = {}
    for key in _REGISTRY:  # insertion order: the canonical name was registered first
        first_name.setdefault(id(_REGISTRY[key].factory), key)
    out = {}
    for key in sorted(_REGISTRY, key=str.casefold):
        entry = _REGISTRY[key]
        canonical = first_name[id(entry.factory)]
        out[key] = entry.summary + (f" (alias of {canonical})" if canonical != key else "")
    return out


def describe() -> dict[str, dict]:
    """Every registered name with its one-line formula and the options :func:`get` takes: the one listing
    that ``initlab initializers`` prints and the playground offers.

    Returns
    -------
    dict of str to dict, sorted as :func:`available`:
    ``{"he_normal": {"summary": "N(0, gain^2/fan), ...", "options": [{"name": "a", "default": 0.0, "required": False}, ...]}, ...}``;
    an option's ``default`` is None where it is ``required``.
    """
    out = {}
    for key, summary in available().items():
        params = inspect.signature(_REGISTRY[key].factory).parameters.values()
        options = [{"name": p.name, "default": None if p.default is p.empty else p.default, "required": p.default is p.empty}
                   for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]  # fmt: skip
        out[key] = {"summary": summary, "options": options}
    return out


def get(name: str, **options) -> Callable:
    """Return the initializer ``name`` with ``options`` bound: ``get("he_normal", mode="fan_out")``.

    Parameters
    ----------
    name : str
        A key of :func:`available`.
    **options
        Keyword options of that factory (see its signature); anything else is an error.

    Returns
    -------
    init : callable ``init(shape, *, rng) -> ndarray`` (float64)

    Raises
    ------
    ValueError
        Unknown ``name`` (the message lists the registered ones) or an invalid option value.
    TypeError
        Unknown or missing option (the message lists the allowed ones).
    """
    if not isinstance(name, str) or name not in _REGISTRY:
        names = sorted(_REGISTRY, key=str.casefold)
        hint = difflib.get_close_matches(name, names, n=1) if isinstance(name, str) else []
        did_you_mean = f" Did you mean {hint[0]!r}?" if hint else ""
        listing = ", ".join(repr(n) for n in names)
        raise ValueError(f"Unknown initializer {name!r}.{did_you_mean} Available: {listing}.")
    factory = _REGISTRY[name].factory
    params = inspect.signature(factory).parameters.values()
    if not any(p.kind is p.VAR_KEYWORD for p in params):
        allowed = [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        unknown = [k for k in options if k not in allowed]
        if unknown:
            allowed_text = ", ".join(allowed) if allowed else "none (it takes no options)"
            hints = [m for k in unknown for m in difflib.get_close_matches(k, allowed, n=1)]
            did_you_mean = f" Did you mean {', '.join(hints)}?" if hints else ""
            plural = "s" if len(unknown) > 1 else ""
            bad = ", ".join(repr(k) for k in unknown)
            raise TypeError(
                f"Unknown option{plural} {bad} for initializer {name!r}.{did_you_mean} Allowed: {allowed_text}."
            )
        required = [
            p.name
            for p in params
            if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name not in options
        ]
        if required:
            raise TypeError(f"Initializer {name!r} requires option(s): {', '.join(required)}.")
    return factory(**options)


# ----------------------------------------------------------------------------------------------
# Fans and gains
# ----------------------------------------------------------------------------------------------


def compute_fans(shape) -> tuple[int, int]:
    r"""Return ``(fan_in, fan_out)`` of a weight of ``shape`` (``(n_out, n_in, *kernel)``).

    .. math:: \text{fan\_in} = n_\text{in} \prod \text{kernel}, \quad
              \text{fan\_out} = n_\text{out} \prod \text{kernel}

    as torch's ``_calculate_fan_in_and_fan_out``.

    Parameters
    ----------
    shape : (n_out, n_in) or (n_out, n_in, k_1, ..., k_d)

    Raises
    ------
    ValueError
        If ``shape`` has fewer than 2 dimensions.
    """
    shape = check_shape("shape", shape)
    if len(shape) < 2:
        raise ValueError(
            "The 'shape' parameter must have at least 2 dimensions (n_out, n_in): fan in and fan out can not "
            f"be computed for tensor with fewer than 2 dimensions. Got {shape} instead."
        )
    receptive_field = math.prod(shape[2:])
    return shape[1] * receptive_field, shape[0] * receptive_field


_LINEAR_GAIN = ("linear", "identity", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                "conv_transpose3d", "sigmoid")  # fmt: skip
_NONLINEARITIES = (*_LINEAR_GAIN, "tanh", "relu", "leaky_relu", "selu")


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    r"""Recommended gain for ``nonlinearity``, torch's table (``torch.nn.init.calculate_gain``).

    ==================  ==========================================
    nonlinearity        gain
    ==================  ==========================================
    linear / identity   :math:`1`
    conv{1,2,3}d        :math:`1` (also ``conv_transpose{1,2,3}d``)
    sigmoid             :math:`1`
    tanh                :math:`5/3`
    relu                :math:`\sqrt{2}`
    leaky_relu          :math:`\sqrt{2 / (1 + \text{negative\_slope}^2)}`
    selu                :math:`3/4`
    ==================  ==========================================

    Parameters
    ----------
    nonlinearity : str
        One of the names above. ``"identity"`` is in torch's docstring table but not its code (torch
        2.13 raises for it); it is accepted here with gain 1.
    param : float, optional
        ``negative_slope`` of ``leaky_relu``; 0.01 when None (torch's default). Ignored otherwise.

    Returns
    -------
    float

    Raises
    ------
    ValueError
        Unsupported ``nonlinearity`` (the message lists the supported ones), or a ``param`` for
        ``leaky_relu`` that is not a real number.
    """
    return math.sqrt(_gain_squared(nonlinearity, param, owner="calculate_gain"))


def _gain_squared(nonlinearity: str, param, *, owner: str) -> float:
    """calculate_gain(nonlinearity, param) ** 2, the table written once in the form variance_scaling
    takes as ``scale``: squaring sqrt(2) would give 2.0000000000000004, not 2."""
    check_choice("nonlinearity", nonlinearity, _NONLINEARITIES, owner=owner)
    if nonlinearity in _LINEAR_GAIN:
        return 1.0
    if nonlinearity == "tanh":
        return 25.0 / 9.0
    if nonlinearity == "relu":
        return 2.0
    if nonlinearity == "selu":
        return 9.0 / 16.0  # torch's empirical 3/4 (pytorch PR 50664); use 'linear' for self-normalizing nets
    # leaky_relu
    if param is None:
        negative_slope = 0.01
    elif isinstance(param, numbers.Real) and not isinstance(param, bool) and math.isfinite(param):
        negative_slope = float(param)
    else:
        raise ValueError(
            f"negative_slope {param!r} not a valid number: the 'param' parameter of calculate_gain must be a "
            "finite real number (the negative slope of leaky_relu) or None for 0.01."
        )
    return 2.0 / (1.0 + negative_slope**2)


# ----------------------------------------------------------------------------------------------
# Sampling kernels (trust their inputs)
# ----------------------------------------------------------------------------------------------


def _norm_cdf_diff(lo: float, hi: float) -> float:
    """P(lo <= Z <= hi) for a standard normal Z, accurate in either tail."""
    if lo >= 0.0:
        return 0.5 * (math.erfc(lo / math.sqrt(2.0)) - math.erfc(hi / math.sqrt(2.0)))
    if hi <= 0.0:
        return 0.5 * (math.erfc(-hi / math.sqrt(2.0)) - math.erfc(-lo / math.sqrt(2.0)))
    return 0.5 * (math.erf(hi / math.sqrt(2.0)) - math.erf(lo / math.sqrt(2.0)))


def _standard_truncated_normal(rng: np.random.Generator, size: int, lo: float, hi: float) -> np.ndarray:
    r"""``size`` exact draws of a standard normal conditioned on ``lo <= Z <= hi`` (``lo < hi``).

    Rejection sampling with whichever proposal accepts most often (Robert 1995, "Simulation of
    truncated normal variables"): the normal itself when the interval holds at least 30% of the
    mass; otherwise, on the side of 0 where the interval lies, a uniform on ``[lo, hi]`` (accept
    with :math:`e^{-(z^2 - m^2)/2}`, ``m`` the point nearest 0) or a shifted exponential with rate
    :math:`\lambda = (\alpha + \sqrt{\alpha^2 + 4})/2` (accept with :math:`e^{-(z - \lambda)^2/2}`).
    Every draw uses ``rng`` only; the result is exact in distribution.
    """
    if hi <= 0.0:  # mirror to the right half-line
        return -_standard_truncated_normal(rng, size, -hi, -lo)
    out = np.empty(size)
    pending = np.arange(size)
    if _norm_cdf_diff(lo, hi) >= 0.3:
        method = "normal"
    elif lo <= 0.0:  # a narrow interval around 0: the density varies little on it
        method = "uniform"
    else:
        lam = 0.5 * (lo + math.sqrt(lo * lo + 4.0))
        # acceptance(exponential) / acceptance(uniform), the normalizing mass cancels
        ratio = lam * (hi - lo) * math.exp(lam * lo - 0.5 * lam * lam - 0.5 * lo * lo)
        method = "exponential" if ratio > 1.0 else "uniform"
    m_sq = 0.0 if lo <= 0.0 else lo * lo
    while pending.size:
        k = pending.size
        if method == "normal":
            z = rng.standard_normal(k)
            ok = (z >= lo) & (z <= hi)
        elif method == "uniform":
            z = rng.uniform(lo, hi, k)
            ok = rng.random(k) <= np.exp(-0.5 * (z * z - m_sq))
        else:
            z = lo + rng.standard_exponential(k) / lam
            ok = (z <= hi) & (rng.random(k) <= np.exp(-0.5 * (z - lam) ** 2))
        out[pending[ok]] = z[ok]
        pending = pending[~ok]
    return out


def _fan(shape: tuple[int, ...], mode: str) -> float:
    fan_in, fan_out = compute_fans(shape)
    return {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": 0.5 * (fan_in + fan_out)}[mode]


# ----------------------------------------------------------------------------------------------
# The one formula
# ----------------------------------------------------------------------------------------------


@register("variance_scaling")
def variance_scaling(scale: float = 1.0, mode: str = "fan_in", distribution: str = "truncated_normal") -> Initializer:
    r"""Var(W) = scale / fan, fan in {fan_in, fan_out, fan_avg}; normal | truncated_normal | uniform.

    JAX's ``jax.nn.initializers.variance_scaling`` (Keras' ``VarianceScaling``). With
    :math:`\sigma^2 = \text{scale} / \text{fan}`:

    - ``"normal"``: :math:`W \sim N(0, \sigma^2)`;
    - ``"truncated_normal"``: :math:`W = s Z`, :math:`Z \sim N(0, 1)` truncated to :math:`[-2, 2]`,
      :math:`s = \sigma / 0.8796\ldots`, so :math:`|W| \le 2 s` and :math:`\mathrm{Var}(W) = \sigma^2`;
    - ``"uniform"``: :math:`W \sim U(-l, l)`, :math:`l = \sqrt{3 \sigma^2}`.

    ``fan_avg`` is :math:`(\text{fan\_in} + \text{fan\_out}) / 2`. The arguments may be passed
    positionally, as in JAX: ``variance_scaling(2.0, "fan_in", "truncated_normal")``.

    Parameters
    ----------
    scale : float > 0
    mode : {"fan_in", "fan_out", "fan_avg"}
    distribution : {"normal", "truncated_normal", "uniform"}

    Returns
    -------
    init : Initializer
        ``init(shape, *, rng)``; ``shape`` is ``(n_out, n_in, *kernel)`` (at least 2-D).
    """
    scale = check_real("scale", scale, min_value=0.0, min_inclusive=False)
    check_choice("mode", mode, _MODES, owner="variance_scaling")
    check_choice("distribution", distribution, _DISTRIBUTIONS, owner="variance_scaling")

    def sample(shape, rng):
        sigma = math.sqrt(scale / _fan(shape, mode))
        if distribution == "normal":
            return rng.standard_normal(shape) * sigma
        if distribution == "truncated_normal":
            z = _standard_truncated_normal(rng, math.prod(shape), -2.0, 2.0).reshape(shape)
            return z * (sigma / _TRUNCATED_STD)
        return rng.uniform(-1.0, 1.0, shape) * (math.sqrt(3.0) * sigma)

    return _initializer("variance_scaling", sample, scale=scale, mode=mode, distribution=distribution)


# ----------------------------------------------------------------------------------------------
# Presets: one line each on top of variance_scaling
# ----------------------------------------------------------------------------------------------


def _positive_gain(gain) -> float:
    return check_real("gain", gain, min_value=0.0, min_inclusive=False)


def _kaiming_scale(a, mode: str, nonlinearity: str, owner: str) -> tuple[float, str]:
    """torch's (a, mode, nonlinearity) -> variance_scaling's (scale, mode): scale = gain^2."""
    a = check_real("a", a)
    check_choice("mode", mode, ("fan_in", "fan_out"), owner=owner)
    return _gain_squared(nonlinearity, a, owner=owner), mode


@register("xavier_normal")
def xavier_normal(*, gain: float = 1.0) -> Initializer:
    r"""N(0, gain^2 * 2/(fan_in + fan_out)), plain normal (torch's xavier_normal_).

    Glorot & Bengio 2010. :math:`W \sim N(0, \sigma^2)`,
    :math:`\sigma = \text{gain} \sqrt{2 / (\text{fan\_in} + \text{fan\_out})}`; i.e.
    ``variance_scaling(gain**2, "fan_avg", "normal")``. JAX's / Keras' ``glorot_normal`` is the
    truncated one: ``variance_scaling(1.0, "fan_avg", "truncated_normal")``.

    Parameters
    ----------
    gain : float > 0
        Multiplier of the standard deviation, e.g. ``calculate_gain("tanh")``.

    Returns
    -------
    init : Initializer, for shapes ``(n_out, n_in, *kernel)``
    """
    return variance_scaling(_positive_gain(gain) ** 2, "fan_avg", "normal")


@register("xavier_uniform")
def xavier_uniform(*, gain: float = 1.0) -> Initializer:
    r"""U(-a, a), a = gain * sqrt(6/(fan_in + fan_out)) (torch's xavier_uniform_).

    Glorot & Bengio 2010, eq. 16 for ``gain = 1``; ``variance_scaling(gain**2, "fan_avg", "uniform")``.
    Same as JAX's / Keras' ``glorot_uniform`` when ``gain = 1``.

    Parameters
    ----------
    gain : float > 0

    Returns
    -------
    init : Initializer, for shapes ``(n_out, n_in, *kernel)``
    """
    return variance_scaling(_positive_gain(gain) ** 2, "fan_avg", "uniform")


@register("kaiming_normal")
def kaiming_normal(*, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu") -> Initializer:
    r"""N(0, gain^2/fan), gain = calculate_gain(nonlinearity, a); default N(0, 2/fan_in), plain normal.

    He et al. 2015 (torch's ``kaiming_normal_``, the notebook's He init
    ``np.random.randn(n_l, n_{l-1}) * np.sqrt(2 / n_{l-1})``). :math:`W \sim N(0, \sigma^2)`,
    :math:`\sigma = \text{gain} / \sqrt{\text{fan}}`; i.e. ``variance_scaling(gain**2, mode, "normal")``.
    torch's defaults (``nonlinearity="leaky_relu"``, ``a=0``) give :math:`\text{gain} = \sqrt{2}`.
    ``he_normal`` is this function. JAX's / Keras' ``he_normal`` is a *truncated* normal; get it with
    ``variance_scaling(2.0, "fan_in", "truncated_normal")``.

    Parameters
    ----------
    a : float
        Negative slope of the rectifier (used by ``nonlinearity="leaky_relu"`` only).
    mode : {"fan_in", "fan_out"}
        ``fan_in`` keeps the forward activations' variance, ``fan_out`` the backward gradients'.
    nonlinearity : str
        A name accepted by :func:`calculate_gain`, e.g. ``"relu"``, ``"tanh"``.

    Returns
    -------
    init : Initializer, for shapes ``(n_out, n_in, *kernel)``
    """
    return variance_scaling(*_kaiming_scale(a, mode, nonlinearity, "kaiming_normal"), "normal")


@register("kaiming_uniform")
def kaiming_uniform(*, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu") -> Initializer:
    r"""U(-b, b), b = gain * sqrt(3/fan), gain = calculate_gain(nonlinearity, a); default b = sqrt(6/fan_in).

    He et al. 2015 (torch's ``kaiming_uniform_``); ``variance_scaling(gain**2, mode, "uniform")``, the
    same as JAX's / Keras' ``he_uniform`` for the defaults. ``he_uniform`` is this function.

    Parameters
    ----------
    a : float
        Negative slope of the rectifier (``nonlinearity="leaky_relu"`` only).
    mode : {"fan_in", "fan_out"}
    nonlinearity : str
        A name accepted by :func:`calculate_gain`.

    Returns
    -------
    init : Initializer, for shapes ``(n_out, n_in, *kernel)``
    """
    return variance_scaling(*_kaiming_scale(a, mode, nonlinearity, "kaiming_uniform"), "uniform")


@register("lecun_normal")
def lecun_normal() -> Initializer:
    r"""N(0, 1/fan_in), plain normal.

    LeCun et al. 1998, "Efficient BackProp" (sec. 4.6): unit-variance inputs to each unit.
    ``variance_scaling(1.0, "fan_in", "normal")``, equal to ``kaiming_normal(nonlinearity="linear")``.
    JAX's / Keras' ``lecun_normal`` (the SELU initializer) is the truncated one:
    ``variance_scaling(1.0, "fan_in", "truncated_normal")``.

    Returns
    -------
    init : Initializer, for shapes ``(n_out, n_in, *kernel)``
    """
    return variance_scaling(1.0, "fan_in", "normal")


@register("lecun_uniform")
def lecun_uniform() -> Initializer:
    r"""U(-b, b), b = sqrt(3/fan_in).

    LeCun et al. 1998; ``variance_scaling(1.0, "fan_in", "uniform")``, as JAX's / Keras' ``lecun_uniform``.

    Returns
    -------
    init : Initializer, for shapes ``(n_out, n_in, *kernel)``
    """
    return variance_scaling(1.0, "fan_in", "uniform")


# Aliases: the same factory object under a second name.
glorot_normal = register("glorot_normal")(xavier_normal)
glorot_uniform = register("glorot_uniform")(xavier_uniform)
he_normal = register("he_normal")(kaiming_normal)
he_uniform = register("he_uniform")(kaiming_uniform)


# ----------------------------------------------------------------------------------------------
# Constants and plain distributions
# ----------------------------------------------------------------------------------------------


@register("zeros")
def zeros() -> Initializer:
    """0 everywhere (the notebook's zeros init: all units stay identical).

    Returns
    -------
    init : Initializer, any shape; ``rng`` is accepted and unused
    """
    return _initializer("zeros", lambda shape, rng: np.zeros(shape))


@register("ones")
def ones() -> Initializer:
    """1 everywhere.

    Returns
    -------
    init : Initializer, any shape; ``rng`` is accepted and unused
    """
    return _initializer("ones", lambda shape, rng: np.ones(shape))


@register("constant")
def constant(value: float) -> Initializer:
    """value everywhere (torch's constant_).

    Parameters
    ----------
    value : float

    Returns
    -------
    init : Initializer, any shape; ``rng`` is accepted and unused
    """
    value = check_real("value", value)
    return _initializer("constant", lambda shape, rng: np.full(shape, value), value=value)


@register("normal")
def normal(*, mean: float = 0.0, std: float = 1.0) -> Initializer:
    r"""N(mean, std^2) (torch's normal_).

    Parameters
    ----------
    mean : float
    std : float >= 0

    Returns
    -------
    init : Initializer, any shape
    """
    mean = check_real("mean", mean)
    std = check_real("std", std, min_value=0.0)
    return _initializer("normal", lambda shape, rng: rng.normal(mean, std, shape), mean=mean, std=std)


@register("uniform")
def uniform(*, a: float = 0.0, b: float = 1.0) -> Initializer:
    r"""U(a, b) (torch's uniform_).

    Parameters
    ----------
    a : float
        Lower bound.
    b : float >= a
        Upper bound.

    Returns
    -------
    init : Initializer, any shape
    """
    a = check_real("a", a)
    b = check_real("b", b, min_value=a)
    return _initializer("uniform", lambda shape, rng: rng.uniform(a, b, shape), a=a, b=b)


@register("truncated_normal")
def truncated_normal(*, mean: float = 0.0, std: float = 1.0, a: float = -2.0, b: float = 2.0) -> Initializer:
    r"""N(mean, std^2) conditioned on a <= W <= b; a, b absolute bounds (torch's trunc_normal_).

    Unlike :func:`variance_scaling`'s ``"truncated_normal"``, the bounds are absolute values, not
    multiples of ``std``, and ``std`` is that of the normal *before* truncation (so the result has a
    smaller variance). Exact rejection sampling for any ``a < b``, also far in a tail (where torch
    warns that its values "may be incorrect").

    Parameters
    ----------
    mean : float
    std : float > 0
    a : float
        Lower bound.
    b : float > a
        Upper bound.

    Returns
    -------
    init : Initializer, any shape
    """
    mean = check_real("mean", mean)
    std = check_real("std", std, min_value=0.0, min_inclusive=False)
    a = check_real("a", a)
    b = check_real("b", b, min_value=a, min_inclusive=False)
    lo, hi = (a - mean) / std, (b - mean) / std

    def sample(shape, rng):
        w = mean + std * _standard_truncated_normal(rng, math.prod(shape), lo, hi).reshape(shape)
        return np.clip(w, a, b)  # rounding of mean + std*z may step one ulp outside [a, b]

    return _initializer("truncated_normal", sample, mean=mean, std=std, a=a, b=b)


@register("random")
def random(*, scale: float = 10.0) -> Initializer:
    r"""N(0, scale^2): the notebook's "random" init, randn(n_out, n_in) * scale (default 10: too large).

    Draws from the Generator, so the numbers differ from the notebook's legacy global-seed stream
    (``initlab.course`` reproduces those).

    Parameters
    ----------
    scale : float >= 0

    Returns
    -------
    init : Initializer, any shape
    """
    scale = check_real("scale", scale, min_value=0.0)
    return _initializer("random", lambda shape, rng: rng.standard_normal(shape) * scale, scale=scale)


# ----------------------------------------------------------------------------------------------
# Structured matrices
# ----------------------------------------------------------------------------------------------


@register("orthogonal")
def orthogonal(*, gain: float = 1.0) -> Initializer:
    r"""gain * a Haar-random (semi-)orthogonal matrix: W W^T = gain^2 I if n_out <= n_in, else W^T W.

    Saxe et al. 2013 (torch's ``orthogonal_``). Draw :math:`A \sim N(0, 1)` of shape
    ``(n_out, n_in * prod(kernel))`` (transposed when wide), factor :math:`A = QR` and fix signs,
    :math:`Q \leftarrow Q\, \mathrm{diag}(\mathrm{sign}(\mathrm{diag}\, R))`, so that :math:`Q` is
    Haar-distributed (Mezzadri 2007), then reshape to ``shape`` and multiply by ``gain``.

    Parameters
    ----------
    gain : float
        Multiplier; the rows (or columns) have norm ``|gain|``.

    Returns
    -------
    init : Initializer, for shapes ``(n_out, n_in, *kernel)`` (at least 2-D)
    """
    gain = check_real("gain", gain)

    def sample(shape, rng):
        if len(shape) < 2:
            raise ValueError(
                f"The 'shape' parameter of orthogonal must have at least 2 dimensions. Got {shape} instead."
            )
        rows = shape[0]
        cols = math.prod(shape[1:])
        wide = rows < cols
        a = rng.standard_normal((rows, cols))
        q, r = np.linalg.qr(a.T if wide else a)  # (max, min) @ (min, min)
        q *= np.sign(np.diag(r))
        return (q.T if wide else q).reshape(shape) * gain

    return _initializer("orthogonal", sample, gain=gain)


def _require_2d(owner: str, shape: tuple[int, ...]) -> None:
    if len(shape) != 2:
        raise ValueError(f"The 'shape' parameter of {owner} must be 2-D (n_out, n_in). Got {shape} instead.")


@register("eye")
def eye() -> Initializer:
    """Identity in the top-left corner: W[i, j] = 1 if i == j else 0 (torch's eye_).

    For non-square ``(n_out, n_in)`` as many inputs as possible pass through unchanged.

    Returns
    -------
    init : Initializer, for 2-D shapes ``(n_out, n_in)``; ``rng`` is accepted and unused
    """

    def sample(shape, rng):
        _require_2d("eye", shape)
        return np.eye(*shape)

    return _initializer("eye", sample)


@register("zero_hadamard")
@register("ZerO")
def zero_hadamard() -> Initializer:
    r"""ZerO: only zeros, ones and a Hadamard transform (Zhao et al. 2022); deterministic.

    Zhao, Schäfer & Anandkumar 2022, "ZerO Initialization: Initializing Neural Networks with only
    Zeros and Ones" (TMLR), Algorithm 1, for ``W`` of shape ``(n_out, n_in)``:

    - ``n_out <= n_in``: the partial identity, ``W[i, j] = 1`` if ``i == j`` else 0 (as :func:`eye`);
    - ``n_out > n_in``: the top-left ``n_out x n_in`` block of the normalized Sylvester-Hadamard
      matrix of order :math:`p = 2^{\lceil \log_2 n_{out} \rceil}`,
      :math:`W_{ij} = (-1)^{\mathrm{popcount}(i \,\&\, j)} / \sqrt{p}`.

    A widening layer that is a partial identity leaves its extra units at zero, forever alike (the
    zeros problem). The Hadamard signs give them nonzero, sign-varied weights instead. Rows repeat
    when ``n_in`` is small (``(10, 2)`` has two distinct rows), and training separates repeated
    units only as far as the whole start is not symmetric: on the notebook's ``(2, 10, 5, 1)``
    ReLU network, swapping units 1 and 3 of both hidden layers maps the ZerO start to itself, so
    those stay equal forever, and layer 1 ends with 5 distinct units of 10 (zeros: 1). It still
    trains (99 % train, 95 % test accuracy at learning rate 0.1, 15,000 iterations; tested).
    No random draw anywhere: ``rng`` is accepted and unused, every seed gives the same network.

    Returns
    -------
    init : Initializer, for 2-D shapes ``(n_out, n_in)``
    """

    def sample(shape, rng):
        _require_2d("ZerO", shape)
        n_out, n_in = shape
        if n_out <= n_in:
            return np.eye(n_out, n_in)
        p = 1 << (n_out - 1).bit_length()  # the smallest power of two >= n_out
        signs = np.bitwise_count(np.bitwise_and.outer(np.arange(n_out), np.arange(n_in))) & 1  # (n_out, n_in)
        return (1.0 - 2.0 * signs) / math.sqrt(p)

    return _initializer("ZerO", sample)


@register("sparse")
def sparse(sparsity: float, *, std: float = 0.01) -> Initializer:
    r"""N(0, std^2) with ceil(sparsity * n_out) zeros at random rows of every column (torch's sparse_).

    Martens 2010, "Deep learning via Hessian-free optimization": each unit (column here, as in
    torch) keeps only a few non-zero incoming weights, so the scale does not depend on the fan.

    Parameters
    ----------
    sparsity : float in [0, 1]
        Fraction of each column set to zero: ``math.ceil(sparsity * n_out)`` entries, exactly as
        torch (so floating point rounds ``0.3 * 10`` up to 4).
    std : float >= 0
        Standard deviation of the non-zero entries.

    Returns
    -------
    init : Initializer, for 2-D shapes ``(n_out, n_in)``
    """
    sparsity = check_real("sparsity", sparsity, min_value=0.0, max_value=1.0)
    std = check_real("std", std, min_value=0.0)

    def sample(shape, rng):
        _require_2d("sparse", shape)
        rows, cols = shape
        w = rng.normal(0.0, std, shape)
        num_zeros = math.ceil(sparsity * rows)
        zero_rows = np.argsort(rng.random(shape), axis=0)[:num_zeros]  # (num_zeros, cols), a random subset per column
        w[zero_rows, np.arange(cols)] = 0.0
        return w

    return _initializer("sparse", sample, sparsity=sparsity, std=std)
