"""What a playground run may ask for: the limits, the clean config, and the one validation function.

Every request (``POST /api/validate`` and each ``train`` message on the WebSocket) goes through
:func:`validate`, which never raises on user input: it returns a :class:`PlaygroundConfig` or a list of
``{"field", "message"}`` errors, one per bad field, each naming what was allowed and what came.
Short names people type in URLs (``lr``, ``k``, ...) are accepted through the one table :data:`ALIASES`.

Size: a run trains ``seeds`` models of ``P`` parameters at once (``parameter_count((2, *hidden, 1))``, or a
residual net's :attr:`~initlab.residual.ResidualMLP.parameter_count`); ``seeds * P`` is bounded by
:data:`MAX_PARAMETERS` (one tab's memory and snapshot cost stay small).

Residual nets (issue #15): ``blocks = 0`` (the default) is the plain MLP of ``hidden``; ``blocks = B >= 1``
is :class:`initlab.residual.ResidualMLP` ``(2, width, 1, B, branch_depth=m, norm=norm,
scalars=scalars_for(init))`` with ``hidden = [width]``, one entry, the trunk's width. The structural
initializers (:data:`initlab.residual.STRUCTURAL`: fixup, rezero, skipinit, zero_last) are offered only
then; ``notebook_he`` only for the plain MLP (``lsuv`` for both: :meth:`ResidualMLP.initialize` takes it).

Parametrizations (issue #16): ``parametrization`` (URL ``param``) is ``MLP(..., parametrization=)`` of
:mod:`initlab.parametrization`, ``base_width`` muP's base hidden width (``mup`` only). ``ntk`` and ``mup``
go with the plain MLP (``blocks = 0``) and a ``gain^2 / fan_in`` initializer (he_*, lecun_*, kaiming_* in
mode fan_in, zeros: :func:`initlab.parametrization.check_initializer`); anything else is an error naming both.
"""

from __future__ import annotations

import inspect
import math
import numbers
from dataclasses import asdict, dataclass

from initlab import activations, datasets, initializers, lsuv, optimizers, parametrization, residual
from initlab.network import DATA_DEPENDENT, LSUV_OPTIONS, check_lsuv_options, parameter_count
from initlab.validation import excerpt

__all__ = ["ALIASES", "DATASETS", "LIMITS", "MAX_PARAMETERS", "NOTEBOOK", "NOTEBOOK_INIT", "PlaygroundConfig",
           "check_speed", "options", "parameters_per_model", "validate"]  # fmt: skip

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
    "seeds": (1, 32),  # K models trained at once (the engine's model axis)
    "speed": (1, 100_000),  # iterations per second
    "blocks": (0, 32),  # residual blocks; 0: the plain MLP
    "branch_depth": (1, 4),  # linear layers per residual branch
    "base_width": (1, 64),  # muP's base hidden width (as the widths)
}
#: The most parameters one run trains at once: ``seeds * parameter_count`` (e.g. 32 seeds of 2-10-5-1: 2,816).
MAX_PARAMETERS = 400_000
#: Short names accepted for fields (a URL's ``?lr=0.1&k=8``): alias -> field. Served in ``options()["aliases"]``.
ALIASES = {
    "lr": "learning_rate",
    "bs": "batch_size",
    "batch": "batch_size",
    "iters": "iterations",
    "act": "activation",
    "k": "seeds",
    "data": "dataset",
    "layers": "hidden",
    "init_scale": "scale",
    "m": "branch_depth",  # the issue's (and the papers') name for the layers per branch
    "param": "parametrization",
}
#: Keys of a ``train`` message that are not config fields (the server reads them).
MESSAGE_KEYS = ("action", "paused")


@dataclass(frozen=True)
class PlaygroundConfig:
    """One run of the page, validated."""

    dataset: str = "circles"
    noise: float | None = None  # None: the data set's default (circles: the notebook's data)
    hidden: tuple[int, ...] = (10, 5)  # units per hidden layer
    activation: str = "relu"
    init: str = "he_normal"  # an initializer name, NOTEBOOK_INIT, or "lsuv" (data-dependent: on the training inputs)
    init_options: tuple[tuple[str, object], ...] = ()
    scale: float = 1.0  # multiplies every initial weight
    optimizer: str = "gd"
    learning_rate: float = 0.01
    batch_size: int | None = None  # examples per update (sgd, momentum, adam); None: all of them
    iterations: int = 15000
    seed: int = 3
    seeds: int = 1  # K models: model k is row k of MLP.initialize(rng=seed, models=K); notebook_he: seed + k
    speed: int | None = 1000  # iterations per second (pacing, to watch it happen); None: as fast as it goes
    blocks: int = 0  # residual blocks B; 0: the plain MLP of `hidden`; B >= 1: a ResidualMLP of width hidden[0]
    branch_depth: int = 2  # m, linear layers per branch (residual nets only)
    norm: str = "none"  # "layer": a LayerNorm at the start of every branch (residual nets only)
    parametrization: str = "standard"  # "ntk", "mup": initlab.parametrization (plain MLPs only)
    base_width: int | None = None  # muP's base hidden width (mup only); None: base 1, TP5's Table 3 literally

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
    defaults = inspect.signature(lsuv.lsuv).parameters
    lsuv_options = [{"name": n, "default": defaults[n].default, "required": False} for n in LSUV_OPTIONS]
    inits = {NOTEBOOK_INIT: {"summary": notebook, "options": []}, **initializers.describe(),
             "lsuv": {"summary": lsuv.SUMMARY, "options": lsuv_options}, **_structural()}  # fmt: skip
    all_sets = datasets.available()
    return {
        "datasets": {name: all_sets[name] for name in DATASETS},
        "activations": list(activations.available()),
        "initializers": inits,
        "optimizers": optimizers.available(),
        "limits": {k: list(v) for k, v in LIMITS.items()},
        "max_parameters": MAX_PARAMETERS,
        "aliases": dict(ALIASES),
        "defaults": PlaygroundConfig().to_json(),
        "notebook": NOTEBOOK.to_json(),
        "structural": list(residual.STRUCTURAL),  # offered with blocks >= 1 only
        "plain_only": [NOTEBOOK_INIT],  # offered with blocks = 0 only
        "norms": list(residual.NORMS),
        "parametrizations": list(parametrization.PARAMETRIZATIONS),
    }


def _structural() -> dict:
    """``{name: {"summary", "options"}}`` of the structural initializers (formula and paper, as the others)."""
    defaults = {"layer_init": "he_normal", "alpha0": 0.0}
    return {name: {"summary": f"{formula} (residual nets; {paper})",
                   "options": [{"name": o, "default": defaults[o], "required": False} for o in allowed]}
            for name, (formula, paper, _, allowed) in residual.STRUCTURAL.items()}  # fmt: skip


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


def _resolve_aliases(errors: _Errors, raw: dict) -> dict:
    """``raw`` with every alias of :data:`ALIASES` renamed to its field; an alias given with its field (or
    with another alias of it) is an error, named by the alias."""
    out = {k: v for k, v in raw.items() if k not in ALIASES}
    given: dict[str, str] = {}  # field -> the name it came under
    for key, value in raw.items():
        field = ALIASES.get(key)
        if field is None:
            continue
        other = field if field in raw else given.get(field)
        if other is not None:
            errors.add(key, f"{key!r} is a short name for {field!r}, and {other!r} was given too. Give one of them.")
            continue
        given[field] = key
        out[field] = value
    return out


def _unknown(errors: _Errors, raw: dict) -> None:
    known = set(PlaygroundConfig.__dataclass_fields__)
    for key in raw:
        if key not in known and key not in MESSAGE_KEYS:
            shorts = ", ".join(f"{a} ({f})" for a, f in ALIASES.items())
            errors.add(str(key)[:100], f"Unknown field {excerpt(key)}. Allowed: {', '.join(sorted(known))}; short names: {shorts}.")  # fmt: skip
    if "paused" in raw and not isinstance(raw["paused"], bool):
        errors.add("paused", f"The 'paused' field must be true or false. Got {excerpt(raw['paused'])} instead.")


def _hidden(errors: _Errors, raw: dict, default: tuple[int, ...]) -> tuple[int, ...]:
    hidden = raw.get("hidden", list(default))
    (dlo, dhi), (wlo, whi) = LIMITS["depth"], LIMITS["width"]
    if not isinstance(hidden, (list, tuple)) or not dlo <= len(hidden) <= dhi:
        errors.add("hidden", f"The 'hidden' field must list {dlo} to {dhi} hidden layers (units per layer, e.g. [10, 5]). Got {excerpt(hidden)} instead.")  # fmt: skip
        return default
    if not all(isinstance(n, numbers.Integral) and not isinstance(n, bool) and wlo <= n <= whi for n in hidden):
        errors.add(
            "hidden",
            f"Every hidden layer must have between {wlo} and {whi} units. Got {excerpt(list(hidden))} instead.",
        )
        return default
    return tuple(int(n) for n in hidden)


def _init_options(errors: _Errors, raw: dict, init: str) -> dict:
    """The initializer's options, checked by the initializer's own factory (or :func:`check_lsuv_options`)."""
    init_options = raw.get("init_options") or {}
    if not isinstance(init_options, dict):
        errors.add(
            "init_options",
            f"The 'init_options' field must be an object of option names to values. Got {excerpt(init_options)} instead.",
        )
        return {}
    if init == NOTEBOOK_INIT and init_options:
        errors.add(
            "init_options",
            f"The {NOTEBOOK_INIT!r} initializer takes no options (the notebook's formula). Got {excerpt(init_options)}.",
        )
    elif init != NOTEBOOK_INIT and not any(e["field"] == "init" for e in errors):
        try:
            if init in DATA_DEPENDENT:
                check_lsuv_options(init_options)
            elif init in residual.STRUCTURAL:  # the library's own check: a one-block net of width 1 draws it
                net = residual.ResidualMLP(2, 1, 1, 1, scalars=residual.scalars_for(init))
                net.initialize(init, rng=0, models=1, **init_options)
            else:
                initializers.get(init, **init_options)
        except (TypeError, ValueError) as exc:
            errors.add("init_options", f"Initializer {excerpt(init)}: {exc}")
    return init_options


def _residual(errors: _Errors, raw: dict, hidden: tuple[int, ...], init: str) -> tuple[int, int, str]:
    """``(blocks, branch_depth, norm)``, and the rules tying them to ``hidden`` and ``init`` (module docstring)."""
    d = PlaygroundConfig()
    blocks = _number(errors, raw, "blocks", d.blocks, integer=True)
    branch_depth = _number(errors, raw, "branch_depth", d.branch_depth, integer=True)
    norm = _choice(errors, raw, "norm", d.norm, residual.NORMS)
    bad_init = any(e["field"] == "init" for e in errors)
    if blocks == 0:
        for field, value, default in (("branch_depth", branch_depth, d.branch_depth), ("norm", norm, d.norm)):
            if value != default:
                errors.add(field, f"The '{field}' field applies to residual nets (blocks >= 1). Got {field}={value!r} "
                                  f"with blocks=0 (a plain MLP); set blocks (e.g. 8) or leave {field} out.")  # fmt: skip
        if init in residual.STRUCTURAL and not bad_init:
            _, paper, _, _ = residual.STRUCTURAL[init]
            errors.add("init", f"The 'init' field {init!r} ({paper}) is a structural initializer of residual nets: it "
                               "needs blocks >= 1. Got blocks=0 (a plain MLP); set blocks (e.g. 8) or choose a "
                               "per-matrix initializer such as 'he_normal'.")  # fmt: skip
        return blocks, branch_depth, norm
    if init == NOTEBOOK_INIT and not bad_init:
        errors.add("init", f"The 'init' field {init!r} is the notebook's draw for the plain MLP (blocks=0); this net "
                           f"has blocks={blocks}. Use 'he_normal' (the same formula), or set blocks=0.")  # fmt: skip
    if len(hidden) != 1 and not any(e["field"] == "hidden" for e in errors):
        errors.add("hidden", f"With blocks={blocks} the net is residual and 'hidden' is its one trunk width, e.g. "
                             f"[16]. Got {list(hidden)}; give one width (or set blocks=0 for an MLP).")  # fmt: skip
    return blocks, branch_depth, norm


def _parametrization(errors: _Errors, raw: dict, init: str, init_options: dict, blocks: int) -> tuple[str, int | None]:
    """``(parametrization, base_width)``, and the rules tying them to ``blocks`` and ``init`` (module docstring)."""
    d = PlaygroundConfig()
    name = _choice(errors, raw, "parametrization", d.parametrization, parametrization.PARAMETRIZATIONS)
    base = raw.get("base_width")
    if base is not None:
        base = _number(errors, raw, "base_width", None, integer=True)
        if base is not None and name != "mup":
            errors.add("base_width", f"The 'base_width' field goes with parametrization 'mup' (the base model muP is "
                                     f"relative to). Got base_width={base} with parametrization {name!r}; leave it "
                                     "out or choose 'mup'.")  # fmt: skip
    if name == "standard" or any(e["field"] in ("init", "init_options", "parametrization") for e in errors):
        return name, base
    if blocks:
        errors.add("parametrization", f"The 'parametrization' field {name!r} applies to the plain MLP; this net has "
                                      f"blocks={blocks} (residual nets are standard only). Set blocks=0 or "
                                      "parametrization 'standard'.")  # fmt: skip
    elif init in (NOTEBOOK_INIT, *DATA_DEPENDENT):
        errors.add("parametrization", f"The 'parametrization' field {name!r} sets each layer's scale from the width; "
                                      f"init {init!r} sets it itself. Choose a fan_in initializer such as 'he_normal' "
                                      "(or 'lecun_normal'), or parametrization 'standard'.")  # fmt: skip
    else:
        try:
            parametrization.check_initializer(name, initializers.get(init, **init_options), init)
        except ValueError as exc:
            errors.add("parametrization", f"The 'parametrization' field {name!r} with init {init!r}: {exc}")
    return name, base


def _net_text(config: PlaygroundConfig) -> str:
    if config.blocks:
        m = config.branch_depth
        return (
            f"a residual net of width {config.hidden[0]} with {config.blocks} blocks of {m} layer{'s' if m > 1 else ''}"
        )
    return _hidden_text(config.hidden)


def parameters_per_model(config: PlaygroundConfig) -> int:
    """P of one model of ``config``'s network (residual scalars, LayerNorm gains and all)."""
    if config.blocks:
        net = residual.ResidualMLP(2, config.hidden[0], 1, config.blocks, branch_depth=config.branch_depth,
                                   norm=config.norm, scalars=residual.scalars_for(config.init))  # fmt: skip
        return net.parameter_count
    return parameter_count((2, *config.hidden, 1))


def _hidden_text(hidden: tuple[int, ...]) -> str:
    if len(set(hidden)) == 1:
        return f"{hidden[0]}x{len(hidden)} hidden layer{'s' if len(hidden) > 1 else ''}"
    return f"hidden layers {list(hidden)}"


def _check_size(errors: _Errors, config: PlaygroundConfig) -> None:
    """``seeds * parameter_count <= MAX_PARAMETERS``; notebook_he's seeds ``seed + k`` within RandomState's range."""
    P = parameters_per_model(config)
    if config.seeds * P > MAX_PARAMETERS:
        errors.add("seeds", f"{_net_text(config)} with {config.seeds} seeds trains {config.seeds * P:,} "
                            f"parameters at once ({P:,} per model); the most is {MAX_PARAMETERS:,}: use fewer seeds "
                            f"(at most {max(1, MAX_PARAMETERS // P)} here) or a smaller network.")  # fmt: skip
    top = LIMITS["seed"][1]
    if config.init == NOTEBOOK_INIT and config.seed + config.seeds - 1 > top:
        errors.add("seed", f"With init {NOTEBOOK_INIT!r} model k uses seed + k, which must stay <= {top}. Got seed "
                           f"{config.seed} with {config.seeds} seeds; use a seed <= {top - config.seeds + 1}.")  # fmt: skip


def validate(raw) -> tuple[PlaygroundConfig | None, list[dict]]:
    """A request's JSON -> ``(PlaygroundConfig, [])``, or ``(None, errors)`` with one ``{field, message}`` per bad field.

    Missing fields take :class:`PlaygroundConfig`'s defaults; unknown fields are errors (a typo would
    otherwise be silently ignored). A short name of :data:`ALIASES` stands for its field (not both at
    once). ``action`` and ``paused`` (a bool) are the message's own keys, allowed and not part of the config.
    """
    errors = _Errors()
    if not isinstance(raw, dict):
        return None, [
            {"field": "config", "message": f"The config must be a JSON object. Got {type(raw).__name__} instead."}
        ]
    d = PlaygroundConfig()
    raw = _resolve_aliases(errors, raw)
    _unknown(errors, raw)
    dataset = _choice(errors, raw, "dataset", d.dataset, DATASETS)
    noise = raw.get("noise")
    if noise is not None:
        noise = _number(errors, raw, "noise", None, integer=False)
    hidden = _hidden(errors, raw, d.hidden)
    activation = _choice(errors, raw, "activation", d.activation, activations.available())
    init = _choice(errors, raw, "init", d.init,
                   (NOTEBOOK_INIT, *initializers.available(), *DATA_DEPENDENT, *residual.STRUCTURAL))  # fmt: skip
    blocks, branch_depth, norm = _residual(errors, raw, hidden, init)
    init_options = _init_options(errors, raw, init)
    param, base_width = _parametrization(errors, raw, init, init_options, blocks)
    scale = _number(errors, raw, "scale", d.scale, integer=False)
    optimizer = _choice(errors, raw, "optimizer", d.optimizer, optimizers.available())
    learning_rate = _number(errors, raw, "learning_rate", d.learning_rate, integer=False)
    batch_size = _batch_size(errors, raw, dataset, optimizer)
    iterations = _number(errors, raw, "iterations", d.iterations, integer=True)
    seed = _number(errors, raw, "seed", d.seed, integer=True)
    seeds = _number(errors, raw, "seeds", d.seeds, integer=True)
    speed = None if raw.get("speed", d.speed) is None else _number(errors, raw, "speed", d.speed, integer=True)
    if errors:
        return None, list(errors)
    config = PlaygroundConfig(dataset=dataset, noise=noise, hidden=hidden, activation=activation, init=init,
                              init_options=tuple(sorted(init_options.items())), scale=scale, optimizer=optimizer,
                              learning_rate=learning_rate, batch_size=batch_size, iterations=iterations, seed=seed,
                              seeds=seeds, speed=speed, blocks=blocks, branch_depth=branch_depth, norm=norm,
                              parametrization=param, base_width=base_width)  # fmt: skip
    _check_size(errors, config)
    return (None, list(errors)) if errors else (config, [])


def check_speed(value) -> tuple[int | None, list[dict]]:
    """The ``speed`` action's value: ``(speed, [])`` (None: as fast as it goes) or ``(None, errors)``, as the field."""
    errors = _Errors()
    speed = None if value is None else _number(errors, {"speed": value}, "speed", None, integer=True)
    return speed, list(errors)
