"""What a playground run may ask for: the limits, the clean config, and the one validation function.

Every request (``POST /api/validate`` and each ``train`` message on the WebSocket) goes through
:func:`validate`, which never raises on user input: it returns a :class:`PlaygroundConfig` or a list of
``{"field", "message"}`` errors, one per bad field, each naming what was allowed and what came.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass

from initlab import activations, datasets, initializers, optimizers
from initlab.validation import excerpt

__all__ = ["DATASETS", "LIMITS", "NOTEBOOK", "NOTEBOOK_INIT", "PlaygroundConfig", "options", "validate"]

#: The data sets of the page: the 2-D binary problems (one sigmoid output, a boundary to draw).
DATASETS = ("circles", "moons", "spirals", "xor", "gaussian_quantiles")
#: The notebook's He draw (``course.initialize_parameters_he``, seed from the config), bit-exact.
NOTEBOOK_INIT = "notebook_he"

#: Bounds of every numeric field: small enough that one tab cannot hog the shared CPU for long.
LIMITS = {
    "depth": (1, 8),  # hidden layers
    "width": (1, 64),  # units per hidden layer
    "iterations": (1, 100_000),
    "learning_rate": (1e-6, 10.0),
    "noise": (0.0, 1.0),
    "scale": (0.0, 1000.0),
    "seed": (0, 2**32 - 1),
}


@dataclass(frozen=True)
class PlaygroundConfig:
    """One run of the page, validated."""

    dataset: str = "circles"
    noise: float | None = None  # None: the data set's default (circles: the notebook's data)
    hidden: tuple[int, ...] = (10, 5)  # units per hidden layer
    activation: str = "relu"
    init: str = "he_normal"  # an initializer name or NOTEBOOK_INIT
    init_options: tuple[tuple[str, object], ...] = ()
    scale: float = 1.0  # multiplies every initial weight
    optimizer: str = "gd"
    learning_rate: float = 0.01
    batch_size: int | None = None  # examples per update (sgd, momentum, adam); None: all of them
    iterations: int = 15000
    seed: int = 3

    def to_json(self) -> dict:
        out = asdict(self)
        out["hidden"] = list(self.hidden)
        out["init_options"] = dict(self.init_options)
        return out


#: The notebook's experiment: circles, 2-10-5-1 relu, He from seed 3, gradient descent at 0.01, 15,000 iterations.
NOTEBOOK = PlaygroundConfig(init=NOTEBOOK_INIT)


def options() -> dict:
    """The choices and limits the page offers (``GET /api/options``), from the registries."""
    notebook = "the notebook's He: randn(n_l, n_{l-1}) * sqrt(2/n_{l-1}) from RandomState(seed), course.py"
    inits = {NOTEBOOK_INIT: {"summary": notebook, "options": []}, **initializers.describe()}
    all_sets = datasets.available()
    return {
        "datasets": {name: all_sets[name] for name in DATASETS},
        "activations": list(activations.available()),
        "initializers": inits,
        "optimizers": optimizers.available(),
        "limits": {k: list(v) for k, v in LIMITS.items()},
        "defaults": PlaygroundConfig().to_json(),
        "notebook": NOTEBOOK.to_json(),
    }


class _Errors(list):
    def add(self, field: str, message: str) -> None:
        self.append({"field": field, "message": message})


def _number(errors: _Errors, raw: dict, field: str, default, *, integer: bool, low_open: bool = False):
    value = raw.get(field, default)
    lo, hi = LIMITS[field]
    kind = "an integer" if integer else "a number"
    ok_type = isinstance(value, numbers.Integral) if integer else isinstance(value, numbers.Real)
    if isinstance(value, bool) or not ok_type or (not integer and not math.isfinite(value)):
        errors.add(
            field, f"The '{field}' field must be {kind} between {lo:g} and {hi:g}. Got {excerpt(value)} instead."
        )
        return default
    if value < lo or value > hi or (low_open and value == lo):
        errors.add(field, f"The '{field}' field must be between {lo:g} and {hi:g}. Got {value:g} instead.")
        return default
    return int(value) if integer else float(value)


def _choice(errors: _Errors, raw: dict, field: str, default, allowed) -> str:
    value = raw.get(field, default)
    if not isinstance(value, str) or value not in allowed:
        listing = ", ".join(repr(a) for a in allowed)
        errors.add(field, f"The '{field}' field must be one of {{{listing}}}. Got {excerpt(value)} instead.")
        return default
    return value


def _batch_size(errors: _Errors, raw: dict, dataset: str, optimizer: str) -> int | None:
    """None, or examples per update that the optimizer takes and the data set has (the library's one rule)."""
    value = raw.get("batch_size")
    if value is None or any(e["field"] in ("dataset", "optimizer") for e in errors):
        return None
    try:
        return optimizers.check_batch_size(value, optimizers.get(optimizer), datasets.default_sizes(dataset)[0])
    except (TypeError, ValueError) as exc:
        errors.add("batch_size", str(exc))
        return None


def validate(raw) -> tuple[PlaygroundConfig | None, list[dict]]:
    """A request's JSON -> ``(PlaygroundConfig, [])``, or ``(None, errors)`` with one ``{field, message}`` per bad field.

    Missing fields take :class:`PlaygroundConfig`'s defaults; unknown fields are errors (a typo would
    otherwise be silently ignored). ``action`` is allowed and ignored.
    """
    errors = _Errors()
    if not isinstance(raw, dict):
        return None, [
            {"field": "config", "message": f"The config must be a JSON object. Got {type(raw).__name__} instead."}
        ]
    d = PlaygroundConfig()
    known = set(PlaygroundConfig.__dataclass_fields__) | {"action"}
    for key in raw:
        if key not in known:
            errors.add(
                str(key)[:100], f"Unknown field {excerpt(key)}. Allowed: {', '.join(sorted(known - {'action'}))}."
            )

    dataset = _choice(errors, raw, "dataset", d.dataset, DATASETS)
    noise = raw.get("noise")
    if noise is not None:
        noise = _number(errors, raw, "noise", None, integer=False)
    hidden = raw.get("hidden", list(d.hidden))
    (dlo, dhi), (wlo, whi) = LIMITS["depth"], LIMITS["width"]
    if not isinstance(hidden, (list, tuple)) or not dlo <= len(hidden) <= dhi:
        errors.add("hidden", f"The 'hidden' field must list {dlo} to {dhi} hidden layers (units per layer, e.g. [10, 5]). Got {excerpt(hidden)} instead.")  # fmt: skip
        hidden = d.hidden
    elif not all(isinstance(n, numbers.Integral) and not isinstance(n, bool) and wlo <= n <= whi for n in hidden):
        errors.add(
            "hidden",
            f"Every hidden layer must have between {wlo} and {whi} units. Got {excerpt(list(hidden))} instead.",
        )
        hidden = d.hidden
    activation = _choice(errors, raw, "activation", d.activation, activations.available())
    init = _choice(errors, raw, "init", d.init, (NOTEBOOK_INIT, *initializers.available()))
    init_options = raw.get("init_options") or {}
    if not isinstance(init_options, dict):
        errors.add(
            "init_options",
            f"The 'init_options' field must be an object of option names to values. Got {excerpt(init_options)} instead.",
        )
        init_options = {}
    elif init == NOTEBOOK_INIT and init_options:
        errors.add(
            "init_options",
            f"The {NOTEBOOK_INIT!r} initializer takes no options (the notebook's formula). Got {excerpt(init_options)}.",
        )
    elif init != NOTEBOOK_INIT and not any(e["field"] == "init" for e in errors):
        try:
            initializers.get(init, **init_options)
        except (TypeError, ValueError) as exc:
            errors.add("init_options", f"Initializer {excerpt(init)}: {exc}")
    scale = _number(errors, raw, "scale", d.scale, integer=False)
    optimizer = _choice(errors, raw, "optimizer", d.optimizer, optimizers.available())
    learning_rate = _number(errors, raw, "learning_rate", d.learning_rate, integer=False)
    batch_size = _batch_size(errors, raw, dataset, optimizer)
    iterations = _number(errors, raw, "iterations", d.iterations, integer=True)
    seed = _number(errors, raw, "seed", d.seed, integer=True)
    if errors:
        return None, list(errors)
    config = PlaygroundConfig(dataset=dataset, noise=noise, hidden=tuple(int(n) for n in hidden), activation=activation, init=init,
                       init_options=tuple(sorted(init_options.items())), scale=scale, optimizer=optimizer,
                       learning_rate=learning_rate, batch_size=batch_size, iterations=iterations, seed=seed)  # fmt: skip
    return config, []
