"""Input checks at the public boundary, with messages that say how to fix the problem.

Every check raises ``ValueError`` or ``TypeError`` whose message names the parameter, what is
allowed, and what came (scikit-learn's style). Inner engine functions trust their inputs; only
public functions call these. The CLI turns these errors into one line on stderr and exit 2.
"""

from __future__ import annotations

import difflib
import math
import numbers
from collections.abc import Iterable

import numpy as np

__all__ = [
    "DTYPES",
    "excerpt",
    "check_dtype",
    "check_choice",
    "check_int",
    "check_options",
    "check_real",
    "check_finite_array",
    "check_rng",
    "check_shape",
]


def excerpt(value, limit: int = 100) -> str:
    """``repr(value)``, cut to about ``limit`` characters: what a message quotes of what it was given.

    Error messages never grow with their input (a 10 MB string makes a short message, not a 20 MB one).
    """
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


def check_choice(name: str, value, allowed: Iterable[str], *, owner: str | None = None) -> str:
    """Return ``value`` if it is one of ``allowed``; otherwise raise a ValueError listing them."""
    allowed = list(allowed)
    if not isinstance(value, str) or value not in allowed:
        where = f" of {owner}" if owner else ""
        options = ", ".join(repr(a) for a in allowed)
        raise ValueError(f"The '{name}' parameter{where} must be one of {{{options}}}. Got {excerpt(value)} instead.")
    return value


def check_options(owner: str, options, allowed: Iterable[str]) -> dict:
    """Return ``options`` as a dict if every key is one of ``allowed``; otherwise raise a TypeError listing them.

    ``owner`` names what takes the options in the message, e.g. ``"optimizer 'adam'"``.
    """
    allowed = list(allowed)
    options = dict(options)
    unknown = [k for k in options if k not in allowed]
    if unknown:
        listing = ", ".join(allowed) if allowed else "none (it takes no options)"
        hints = [m for k in unknown[:5] for m in difflib.get_close_matches(str(k)[:100], allowed, n=1)]
        did_you_mean = f" Did you mean {', '.join(hints)}?" if hints else ""
        bad = ", ".join(excerpt(k) for k in unknown[:5]) + (
            f" (and {len(unknown) - 5} more)" if len(unknown) > 5 else ""
        )
        raise TypeError(
            f"Unknown option{'s' if len(unknown) > 1 else ''} {bad} for {owner}.{did_you_mean} Allowed: {listing}."
        )
    return options


def check_int(name: str, value, *, min_value: int | None = None, max_value: int | None = None) -> int:
    """Return ``value`` as int if it is an integer within [min_value, max_value]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(
            f"The '{name}' parameter must be an integer. Got {excerpt(value)} ({type(value).__name__}) instead."
        )
    value = int(value)
    if min_value is not None and value < min_value:
        raise ValueError(f"The '{name}' parameter must be >= {min_value}. Got {excerpt(value)} instead.")
    if max_value is not None and value > max_value:
        raise ValueError(f"The '{name}' parameter must be <= {max_value}. Got {excerpt(value)} instead.")
    return value


def check_real(
    name: str,
    value,
    *,
    min_value: float | None = None,
    max_value: float | None = None,
    min_inclusive: bool = True,
) -> float:
    """Return ``value`` as float if it is a finite real number within the given range."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"The '{name}' parameter must be a real number. Got {excerpt(value)} ({type(value).__name__}) instead."
        )
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"The '{name}' parameter must be finite. Got {excerpt(value)} instead.")
    if min_value is not None and (value < min_value or (not min_inclusive and value == min_value)):
        op = ">=" if min_inclusive else ">"
        raise ValueError(f"The '{name}' parameter must be {op} {min_value}. Got {excerpt(value)} instead.")
    if max_value is not None and value > max_value:
        raise ValueError(f"The '{name}' parameter must be <= {max_value}. Got {excerpt(value)} instead.")
    return value


def check_finite_array(name: str, value, *, ndim: int | None = None, dtype=np.float64) -> np.ndarray:
    """Return ``value`` as a finite ndarray of ``dtype`` with ``ndim`` dimensions."""
    try:
        arr = np.asarray(value, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"The '{name}' parameter must be a numeric array. Got {type(value).__name__}: {exc}") from None
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"The '{name}' parameter must be a {ndim}-D array. Got shape {arr.shape} instead.")
    if arr.size and not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(
            f"The '{name}' parameter contains {bad} NaN or infinite value(s); remove or impute them first."
        )
    return arr


def check_learning_rate(learning_rate, K: int) -> np.ndarray:
    """A positive float, or a (K,) array of them (one per model) -> (K,) float64."""
    if np.ndim(learning_rate) == 0:
        return np.full(K, check_real("learning_rate", learning_rate, min_value=0.0, min_inclusive=False))
    lr = check_finite_array("learning_rate", learning_rate, ndim=1)
    if lr.shape != (K,):
        raise ValueError(
            f"The 'learning_rate' parameter must be a number or an array of K={K} numbers (one per model). Got shape {lr.shape} instead."
        )
    if not np.all(lr > 0):
        raise ValueError(f"The 'learning_rate' parameter must be > 0 for every model. Got {lr[lr <= 0][:5]} instead.")
    return lr


#: The floating-point types training computes in (``dtype=``): float64 (the default, the notebook's) or float32.
DTYPES = ("float64", "float32")


def check_dtype(dtype, *, name: str = "dtype") -> np.dtype:
    """``dtype`` as a numpy dtype if it is one of :data:`DTYPES` (a name, ``numpy.float32``, a ``numpy.dtype``).

    The one rule for every door (``train``, sweeps, studies, the CLI's ``--dtype``). float32 halves
    memory and doubles the SIMD width; float64 stays the default (see :func:`initlab.training.train`).
    """
    try:
        resolved = np.dtype(dtype) if dtype is not None and not isinstance(dtype, bool) else None
    except TypeError:
        resolved = None
    if resolved is None or resolved.name not in DTYPES:
        raise ValueError(
            f"The '{name}' parameter must be one of {{{', '.join(repr(d) for d in DTYPES)}}}. Got {excerpt(dtype)} "
            "instead. Use 'float64' (the default) for the notebook's precision, 'float32' for speed."
        )
    return resolved


def check_rng(rng) -> np.random.Generator:
    """Normalize ``rng`` (None, an int seed, a SeedSequence or a Generator) to a Generator."""
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, np.random.RandomState):
        raise TypeError(
            "The 'rng' parameter must be None, an int seed, a numpy.random.SeedSequence or a "
            "numpy.random.Generator. Got a legacy RandomState; use numpy.random.default_rng(seed) instead."
        )
    try:
        return np.random.default_rng(rng)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            "The 'rng' parameter must be None, an int seed, a numpy.random.SeedSequence or a "
            f"numpy.random.Generator. Got {excerpt(rng)}: {exc}"
        ) from None


def check_shape(name: str, value, *, min_ndim: int = 1) -> tuple[int, ...]:
    """Return ``value`` as a tuple of positive ints with at least ``min_ndim`` entries.

    A bare integer ``n`` is read as ``(n,)``, as numpy does.
    """
    try:
        dims = (value,) if isinstance(value, numbers.Integral) else tuple(value)
    except TypeError:
        dims = None
    if dims is None or not all(isinstance(d, numbers.Integral) and not isinstance(d, bool) and d > 0 for d in dims):
        raise ValueError(
            f"The '{name}' parameter must be a tuple of positive integers, e.g. (3, 2). Got {excerpt(value)} instead."
        )
    if len(dims) < min_ndim:
        raise ValueError(f"The '{name}' parameter must have at least {min_ndim} dimension(s). Got {dims} instead.")
    return tuple(int(d) for d in dims)
