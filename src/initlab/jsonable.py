"""How initlab writes numbers where the format has no nan or infinity: a non-finite number becomes null.

JSON has no ``NaN`` or ``Infinity`` (Python's :func:`json.dumps` writes them anyway, as tokens
that strict parsers and browsers refuse), and SQLite stores a NaN as NULL. So every writer of
initlab's results (``results.json`` of ``initlab reproduce`` and ``initlab train``, the
playground's messages, a sweep's store) follows one rule:

* a finite number is written as itself (a Python ``float`` or ``int``);
* ``nan``, ``+inf`` and ``-inf`` are written as ``null`` (``None``), read as "no finite value"
  (a sweep's store reads it back as ``nan``, the playground shows ``nan``). Where the kind of
  non-finite value matters, the writer says it in a field of its own (``results.json`` of
  ``initlab reproduce`` keeps the loss from the logits next to the notebook's infinite one).

:func:`finite_or_none` is the rule for one number; :func:`jsonable` applies it to a whole
nested structure of dicts, lists, tuples and numpy arrays, and turns numpy scalars into the
Python ones :mod:`json` knows.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["finite_or_none", "jsonable"]


def finite_or_none(x) -> float | None:
    """``float(x)`` when it is finite, else ``None``: ``2.5 -> 2.5``, ``nan, inf, -inf -> None``.

    Parameters
    ----------
    x : a real number (Python or numpy scalar, or a 0-d array)
    """
    x = float(x)
    return x if math.isfinite(x) else None


def jsonable(obj):
    """``obj`` with every non-finite float made ``None`` (:func:`finite_or_none`), ready for :func:`json.dumps`.

    Dicts (keys made ``str``), lists and tuples (made lists) are walked; a numpy array becomes
    nested lists (``ndarray.tolist``, its shape kept as nesting); a numpy float, integer or bool
    becomes the Python one. A Python ``int`` or ``bool`` is kept (never made a float), and anything
    else (strings, ``None``) is returned as it is.
    """
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, (float, np.floating)):
        return finite_or_none(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj
