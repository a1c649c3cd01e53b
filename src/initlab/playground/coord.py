r"""The page's coordinate check (issue #16): the ``coord_check`` message, its limits, and the reply.

The page asks for :func:`initlab.coordcheck.coord_check` (TP5's coordinate check: mean
:math:`|h|` of every layer after :math:`t = 0..T` steps, against the width) for its own settings:

``{"action": "coord_check", "config": {<the page's train fields>}, "widths": [64, 128, 256], "steps": 3, "seeds": 2}``

``config`` goes through :func:`initlab.playground.config.validate` (the one check of the page's fields);
of it the check uses the activation, the depth (``len(hidden)``: every hidden layer has width :math:`n`),
the initializer with its options (the scale factor is not used, said in the reply's ``notes``), ``parametrization`` and ``base_width`` (None: the narrowest width, coordcheck's default, so
the parametrizations start from the same net there; the reply's ``setting`` says which), the optimizer
and learning rate (full batch: ``batch_size`` is not used), and ``seed`` (the K models' streams). The
fixed batch is the first :data:`EXAMPLES` training points of the page's data set (:func:`initlab.playground.session.page_data`,
the session's data rule). Residual nets, ``notebook_he`` and ``lsuv`` are refused (the check draws plain
MLPs by initializer name), naming the fix.

Limits (:data:`LIMITS`): 2 to :data:`MAX_WIDTHS` different widths in ``[8, 1024]``, 1 to 5 steps
(:data:`initlab.coordcheck.MAX_STEPS`), 1 to 8 seeds, and the cost estimated by
:func:`initlab.coordcheck.check_cost` at most :data:`MAX_SECONDS` (a page's check shares the CPU with
every tab's training; the CLI, ``initlab coord-check``, goes further). Errors are
``{"field", "message"}`` with fields ``coord_widths``, ``coord_steps``, ``coord_seeds`` or the config's
own, quoting at most ~100 characters of what came (:func:`initlab.validation.excerpt`).

The reply (:func:`reply`), all numbers JSON (nan: null, :mod:`initlab.jsonable`)::

    {"type": "coord_check", "setting": {...}, "widths": [W], "layers": [L names, "output" last],
     "size": (W, T + 1, L, K) mean |activation| (output: the logits), "slope": {"mean", "min", "max"}
     each (L, T + 1) over the seeds, "readings": [L sentences] (:meth:`~initlab.coordcheck.CoordCheck.readings`),
     "thresholds": {"flat", "blowup"} (the readings' slopes), "notes": [...], "wall_time", "estimate"}
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, replace

from initlab import coordcheck, initializers, residual
from initlab.jsonable import jsonable
from initlab.network import DATA_DEPENDENT
from initlab.validation import excerpt

from .config import NOTEBOOK_INIT, PlaygroundConfig, validate
from .session import page_data

__all__ = ["EXAMPLES", "LIMITS", "MAX_SECONDS", "MAX_WIDTHS", "CoordRequest", "batch", "compute", "reply", "run",
           "validate_request"]  # fmt: skip

#: Bounds of the check's own fields: (low, high) of every width, of steps, of seeds.
LIMITS = {"widths": (8, 1024), "steps": (1, coordcheck.MAX_STEPS), "seeds": (1, 8)}
#: The most widths of one check.
MAX_WIDTHS = 5
#: The longest check a page may ask for, in seconds estimated by :func:`initlab.coordcheck.check_cost`.
MAX_SECONDS = 20.0
#: Examples of the fixed batch: the first ones of the page's training set.
EXAMPLES = 128
#: The message's own keys besides ``action``.
KEYS = ("action", "config", "widths", "steps", "seeds")


@dataclass(frozen=True)
class CoordRequest:
    """A validated ``coord_check`` message: the page's config and the check's widths, steps and seeds."""

    config: PlaygroundConfig
    widths: tuple[int, ...]
    steps: int
    seeds: int
    seconds: float = 0.0  # the estimate of initlab.coordcheck.check_cost

    @property
    def depth(self) -> int:
        return len(self.config.hidden)


def _integer(errors: list, raw: dict, key: str, default: int) -> int:
    value = raw.get(key, default)
    lo, hi = LIMITS[key]
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not lo <= value <= hi:
        errors.append({"field": f"coord_{key}", "message": f"The coordinate check's '{key}' must be an integer from "
                                                           f"{lo} to {hi}. Got {excerpt(value)} instead."})  # fmt: skip
        return default
    return int(value)


def _widths(errors: list, raw: dict) -> tuple[int, ...]:
    value = raw.get("widths", [64, 128, 256, 512])
    lo, hi = LIMITS["widths"]
    good = isinstance(value, list) and all(
        isinstance(n, numbers.Integral) and not isinstance(n, bool) and lo <= n <= hi for n in value
    )
    if not good or not 2 <= len(set(value)) <= MAX_WIDTHS or len(value) > MAX_WIDTHS:
        errors.append({"field": "coord_widths", "message": f"The coordinate check's 'widths' must be 2 to {MAX_WIDTHS} "
                       f"different integers from {lo} to {hi}, e.g. 64,128,256,512. Got {excerpt(value)} instead."})  # fmt: skip
        return ()
    return tuple(sorted(set(int(n) for n in value)))


def _plain(errors: list, config: PlaygroundConfig) -> None:
    """The check trains plain MLPs drawn by initializer name: no residual nets, no notebook or LSUV draw."""
    if config.blocks:
        errors.append({"field": "blocks", "message": f"The coordinate check trains plain MLPs; this page has a "
                       f"residual net (blocks={config.blocks}). Set blocks to 0 (untick 'residual')."})  # fmt: skip
    elif config.init == NOTEBOOK_INIT or config.init in DATA_DEPENDENT or config.init in residual.STRUCTURAL:
        errors.append({"field": "init", "message": f"The coordinate check draws each width's net by initializer name; "
                       f"init {config.init!r} is not such a draw. Choose e.g. 'he_normal' (or 'lecun_normal')."})  # fmt: skip


def validate_request(message) -> tuple[CoordRequest | None, list[dict]]:
    """A ``coord_check`` message -> ``(CoordRequest, [])`` or ``(None, errors)``; never raises on user input.

    After the fields, the cost: :func:`initlab.coordcheck.check_cost` of the nets ``(2, n, ..., n, 1)``
    at :data:`EXAMPLES` examples (its memory check and its ValueError), then :data:`MAX_SECONDS`.
    """
    if not isinstance(message, dict):
        return None, [{"field": "message", "message": "A coordinate check is a JSON object."}]
    errors: list[dict] = []
    for key in message:
        if key not in KEYS:
            errors.append({"field": str(key)[:100], "message": f"Unknown field {excerpt(key)} of a coord_check message. "
                           f"Allowed: {', '.join(KEYS)} (the page's settings go in 'config')."})  # fmt: skip
    raw = message.get("config", {})
    config, config_errors = validate(raw)
    errors += config_errors
    widths, steps, seeds = _widths(errors, message), _integer(errors, message, "steps", 3), _integer(errors, message, "seeds", 2)  # fmt: skip
    if config is not None:
        _plain(errors, config)
    if errors:
        return None, errors
    request = CoordRequest(config, widths, steps, seeds)
    try:
        _, seconds = coordcheck.check_cost(_shapes(request), seeds, EXAMPLES, steps)
    except ValueError as exc:
        return None, [{"field": "coord_widths", "message": str(exc)}]
    if seconds > MAX_SECONDS:
        return None, [{"field": "coord_widths", "message": f"A coordinate check up to width {widths[-1]} with depth "
                       f"{request.depth}, {seeds} seeds and {steps} steps would take about {seconds:.0f} s here; the "
                       f"page runs at most {MAX_SECONDS:.0f} s. Drop the widest width, use fewer seeds or steps, or "
                       "run 'initlab coord-check' in a terminal."}]  # fmt: skip
    return replace(request, seconds=seconds), []


def _shapes(request: CoordRequest) -> list[tuple[int, ...]]:
    """The layers of each width's net: 2 inputs, ``depth`` hidden layers of n, 1 sigmoid output."""
    return [(2, *(n,) * request.depth, 1) for n in request.widths]


def batch(config: PlaygroundConfig):
    """``(X, Y)``: the first :data:`EXAMPLES` training points of the page's data set, ``(2, m)`` and ``(1, m)``."""
    data = page_data(config)
    return data.X_train[:, :EXAMPLES], data.Y_train[:, :EXAMPLES]


def run(request: CoordRequest, X, Y) -> coordcheck.CoordCheck:
    """The check of ``request`` on ``(X, Y)`` (:func:`initlab.coordcheck.coord_check`, BLAS on one thread there)."""
    c = request.config
    init = initializers.get(c.init, **dict(c.init_options)) if c.init_options else c.init  # bound to the page's options
    return coordcheck.coord_check(X, Y, widths=request.widths, depth=request.depth, activation=c.activation,
                                  parametrization=c.parametrization, base_width=c.base_width, init=init,
                                  optimizer=c.optimizer, learning_rate=c.learning_rate, steps=request.steps,
                                  seeds=request.seeds, rng=c.seed)  # fmt: skip


def reply(request: CoordRequest, result: coordcheck.CoordCheck, examples: int) -> dict:
    """The ``coord_check`` reply of ``result`` (module docstring), JSON-ready."""
    c = request.config
    mean, lo, hi = result.slope_summary("size")  # (T + 1, L) each
    notes = []
    if c.scale != 1.0:
        notes.append(f"The page's scale factor ({c.scale:g}) is not part of the check: the initializer's own scale.")
    if c.batch_size is not None:
        notes.append("full batch: the page's batch size is not used.")
    setting = {"dataset": c.dataset, "examples": int(examples),
               "depth": request.depth, "activation": result.activation, "init": c.init,
               "init_options": dict(c.init_options),
               "parametrization": result.parametrization, "base_width": result.base_width,
               "optimizer": result.optimizer, "learning_rate": result.learning_rate, "steps": result.steps,
               "seeds": result.seeds, "seed": c.seed}  # fmt: skip
    return jsonable({
        "type": "coord_check", "setting": setting, "widths": list(result.widths), "layers": list(result.layers),
        "size": result.size, "slope": {"mean": mean.T, "min": lo.T, "max": hi.T}, "readings": result.readings("size"),
        "thresholds": {"flat": coordcheck.FLAT, "blowup": coordcheck.BLOWUP}, "notes": notes, "wall_time": result.wall_time,
        "estimate": {"bytes": result.estimate[0], "seconds": result.estimate[1]},
    })  # fmt: skip


def compute(request: CoordRequest) -> dict:
    """:func:`batch`, :func:`run`, :func:`reply`: what the server's worker thread does."""
    X, Y = batch(request.config)
    return reply(request, run(request, X, Y), X.shape[1])
