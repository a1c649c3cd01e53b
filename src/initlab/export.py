r"""Take a network away: one model's architecture, initializer and trained weights as runnable code or JSON.

``render(fmt, net, params, init=...)`` returns an :class:`Export` (a file name, a media type and the
text) in one of :data:`FORMATS`:

``"pytorch"``
    A self-contained script (torch and the standard library only): the architecture as an
    ``nn.Sequential`` of float64 ``Linear`` layers with initlab's hidden activation between them and
    the sigmoid (or softmax) output; ``init_weights(model)``, the initializer as torch's own call
    (``torch.nn.init.kaiming_normal_(W, nonlinearity="relu")``, ...) or, where torch has none, its
    formula in a few explicit torch lines; ``load_trained(model)`` with the trained weights at full
    float64 precision (``repr`` floats round-trip exactly); ``predict_proba(points)``; and a command
    line: ``--points points.json`` prints P(class 1) per row, ``--fresh`` compares the per-layer std
    of freshly initialized weights with the formula's, no arguments prints the settings and a few
    predictions.
``"jax"``
    The same in pure JAX (x64 enabled): ``jax.nn`` activations, ``jax.nn.initializers`` for the
    initializer (``variance_scaling(..., in_axis=-1, out_axis=-2)`` for initlab's ``(n_out, n_in)``
    weights; a *plain* normal is ``variance_scaling(..., "normal")``, since JAX's ``he_normal``,
    ``glorot_normal`` and ``lecun_normal`` are truncated), the parameters as a list of ``(W, b)``.
``"json"``
    ``{"format": "initlab-network/1", "layers", "activation", "slope", "output", "init",
    "init_options", "scale", "settings", "parametrization", "base_width", "params": {"W1": [[...]],
    "b1": [...], ...}}``; floats at full precision, so :func:`load_json` gives back the same network
    (its parametrization too: a file without one is standard) and the same bits.

Shapes: ``params`` is one model's notebook dict, ``W{l}`` of shape ``(n_l, n_{l-1})`` (torch's
``(out_features, in_features)``, so ``fan_in = n_{l-1}``) and ``b{l}`` of shape ``(n_l, 1)``; no model
axis (select one model first: ``{k: v[i] for k, v in params.items()}``).

The initializer is exported as the distribution it draws from, not as the numbers it drew: torch's
and JAX's generators differ from numpy's, and the trained weights are embedded anyway. ``lsuv`` is
data-dependent: the exported ``init_weights`` takes the training inputs ``X`` (``--fresh`` uses a
standard-normal stand-in batch and shows that each layer's output variance is 1).

Parametrizations (:mod:`initlab.parametrization`): the weights of an ``ntk`` or ``mup`` net are its
*effective* ones, what the forward pass computes with, so the scripts' forward is exact and they are
carried, not refused. Training them further with one learning rate would be training in the standard
parametrization, so a script of such a net says so in its header, lists each layer's learning-rate
(and Adam epsilon) factors (``net.learning_rate_factors``, ``net.epsilon_factors``, per layer) as
constants, and the PyTorch one builds the optimizer's parameter groups (``param_groups``). Its
``init_weights`` draws the named initializer; muP's fresh output layer also takes ``INIT_STD_FACTORS``.
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from string import Template

import numpy as np

import initlab
from initlab import initializers, lsuv
from initlab.network import DATA_DEPENDENT, MLP, check_lsuv_options, layer_views, parameter_count
from initlab.validation import check_choice, check_int, check_real, excerpt

__all__ = ["FORMATS", "JSON_FORMAT", "MAX_PARAMETERS", "Export", "load_json", "render"]

#: The formats :func:`render` writes.
FORMATS = ("pytorch", "jax", "json")
#: The ``"format"`` field of a JSON export (bumped when the layout changes).
JSON_FORMAT = "initlab-network/1"
#: Most weights and biases one export embeds (about 25 characters each: a 1,000,000-parameter script is ~25 MB).
MAX_PARAMETERS = 1_000_000
#: Most characters of ``settings`` (as JSON) one export embeds.
MAX_SETTINGS_CHARS = 100_000
#: The notebook's He draw (``course.initialize_parameters_he``), beside the registered names and LSUV.
NOTEBOOK_HE = "notebook_he"

_LSUV_DEFAULTS = {"tol": 0.1, "max_iter": 10}  # initlab.lsuv.lsuv's defaults
_TRUNCATED_STD = 0.87962566103423978  # std of N(0, 1) truncated to [-2, 2] (JAX's constant)


@dataclass(frozen=True)
class Export:
    """One exported file: what the page downloads.

    Attributes
    ----------
    filename : str, e.g. ``"initlab_network.py"``
    media_type : str, e.g. ``"text/x-python"``
    text : str, the file's content
    """

    filename: str
    media_type: str
    text: str


def render(fmt: str, net: MLP, params, *, init: str, init_options=None, scale: float = 1.0, settings=None) -> Export:
    """Export one model as ``fmt`` (``"pytorch"``, ``"jax"`` or ``"json"``).

    Parameters
    ----------
    fmt : one of :data:`FORMATS`
    net : initlab.network.MLP
    params : dict ``{"W1": (n_1, n_0), "b1": (n_1, 1), ...}``, one model (no model axis), finite
    init : str
        The initializer the model started from: a name of :func:`initlab.initializers.available`,
        ``"notebook_he"`` or ``"lsuv"``.
    init_options : dict (or pairs), optional
        Its options, e.g. ``{"mode": "fan_out"}``; ``tol`` / ``max_iter`` for ``"lsuv"``.
    scale : float
        initlab's factor on every initial weight (``W = scale * init(shape)``).
    settings : dict, optional
        JSON-able description of the run (the playground's config; seed, model, iteration),
        embedded as it is.

    Returns
    -------
    Export

    Raises
    ------
    ValueError, TypeError
        A bad ``fmt``, ``net``, ``params`` (each named), ``init``, option, ``scale`` or ``settings``.
    """
    check_choice("format", fmt, FORMATS, owner="initlab.export.render")
    spec = _spec(net, params, init, init_options, scale, settings)
    if fmt == "json":
        return Export("initlab_network.json", "application/json", json.dumps(_json_object(spec), indent=1) + "\n")
    if fmt == "pytorch":
        return Export("initlab_network.py", "text/x-python", _script(spec, _TORCH, _torch_parts(spec)))
    return Export("initlab_network_jax.py", "text/x-python", _script(spec, _JAX, _jax_parts(spec)))


# ----------------------------------------------------------------------------------------------
# Validation: everything render embeds, checked once
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Spec:
    net: MLP
    Ws: tuple[np.ndarray, ...]  # (n_l, n_{l-1}) each
    bs: tuple[np.ndarray, ...]  # (n_l,) each
    init: str
    options: dict  # the initializer's options, defaults filled in
    scale: float
    settings: dict | None


def _spec(net, params, init, init_options, scale, settings) -> _Spec:
    if not isinstance(net, MLP):
        raise TypeError(f"The 'net' parameter must be an initlab.network.MLP. Got {type(net).__name__} instead.")
    count = parameter_count(net.layers)
    if count > MAX_PARAMETERS:
        raise ValueError(
            f"The 'net' parameter has {count:,} weights and biases; an export embeds at most {MAX_PARAMETERS:,}. "
            "Export a smaller network."
        )
    if isinstance(params, Mapping) and "W1" in params and np.ndim(params["W1"]) == 3:
        raise ValueError(
            f"The 'params' parameter must be one model's dict without the model axis ('W1' of shape "
            f"{net.weight_shapes[0]}). Got 'W1' of shape {np.shape(params['W1'])}; select one model first, "
            "e.g. {k: v[i] for k, v in params.items()}."
        )
    checked, _ = net.check_params(params, name="params")
    L = net.n_layers
    Ws = tuple(checked[f"W{l}"][0] for l in range(1, L + 1))
    bs = tuple(checked[f"b{l}"][0, :, 0] for l in range(1, L + 1))
    options = _check_init(init, init_options)
    scale = check_real("scale", scale)
    return _Spec(net, Ws, bs, init, options, scale, _check_settings(settings))


def _init_names() -> list[str]:
    return [*initializers.available(), NOTEBOOK_HE, *DATA_DEPENDENT]


def _check_init(init, init_options) -> dict:
    """Validate ``init`` and its options; return the options with every default filled in (plain Python values)."""
    check_choice("init", init, _init_names(), owner="initlab.export.render")
    if init_options is None:
        given = {}
    elif isinstance(init_options, Mapping):
        given = dict(init_options)
    else:
        try:
            given = dict(init_options)
        except (TypeError, ValueError):
            raise TypeError(
                f"The 'init_options' parameter must be a dict of option names to values, e.g. {{'mode': 'fan_out'}}. "
                f"Got {excerpt(init_options)} instead."
            ) from None
    if init == NOTEBOOK_HE:
        if given:
            raise TypeError(f"The init 'notebook_he' takes no options. Got {excerpt(given)} instead; pass none.")
        return {}
    if init == "lsuv":
        check_lsuv_options(given)
        options = {**_LSUV_DEFAULTS, **given}
        options["tol"] = check_real("tol", options["tol"], min_value=0.0, min_inclusive=False)
        options["max_iter"] = check_int("max_iter", options["max_iter"], min_value=1)
        return options
    initializers.get(init, **given)  # raises with the library's messages for unknown or bad options
    defaults = {o["name"]: o["default"] for o in initializers.describe()[init]["options"]}
    options = {**defaults, **given}
    for key, value in options.items():  # numbers as Python floats, strings as they are: repr is their literal
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            options[key] = float(value)
        elif not isinstance(value, str):
            raise TypeError(f"The init option {key!r} must be a number or a string. Got {excerpt(value)} instead.")
    return options


def _check_settings(settings) -> dict | None:
    if settings is None:
        return None
    if not isinstance(settings, Mapping):
        raise TypeError(
            f"The 'settings' parameter must be a JSON-able dict (the run's config). Got {type(settings).__name__} instead."
        )
    try:
        text = json.dumps(dict(settings), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"The 'settings' parameter must be JSON-able (dicts, lists, strings, finite numbers, true/false/null): "
            f"{exc}. Convert it first, e.g. with initlab.jsonable.jsonable."
        ) from None
    if len(text) > MAX_SETTINGS_CHARS:
        raise ValueError(
            f"The 'settings' parameter is {len(text):,} characters as JSON; an export embeds at most "
            f"{MAX_SETTINGS_CHARS:,}. Leave large data (points, curves) out of it."
        )
    return json.loads(text)


# ----------------------------------------------------------------------------------------------
# JSON
# ----------------------------------------------------------------------------------------------
def _json_object(spec: _Spec) -> dict:
    params = {}
    for l, (W, b) in enumerate(zip(spec.Ws, spec.bs), start=1):
        params[f"W{l}"] = W.tolist()  # Python floats: json writes repr, which reads back to the same bits
        params[f"b{l}"] = b.tolist()
    return {
        "format": JSON_FORMAT,
        "layers": list(spec.net.layers),
        "activation": spec.net.activation,
        "slope": spec.net.slope,
        "output": spec.net.output,
        "init": spec.init,
        "init_options": spec.options,
        "scale": spec.scale,
        "settings": spec.settings,
        "parametrization": spec.net.parametrization,
        "base_width": list(spec.net.base_width) if isinstance(spec.net.base_width, tuple) else spec.net.base_width,
        "params": params,
    }


def load_json(obj) -> tuple[MLP, dict[str, np.ndarray], dict]:
    """Read a JSON export back: ``(net, params, info)``, bit-exact.

    Parameters
    ----------
    obj : dict (parsed JSON) or str / bytes (the file's text)

    Returns
    -------
    net : initlab.network.MLP
    params : dict ``{"W1": (n_1, n_0), "b1": (n_1, 1), ...}`` float64, no model axis
    info : dict with ``init``, ``init_options``, ``scale`` and ``settings``

    The net has the file's ``parametrization`` and ``base_width`` (standard and None when absent: files
    written before parametrizations).

    Raises
    ------
    ValueError, TypeError
        Not JSON, another format, a missing field or parameters that do not fit the layers.
    """
    if isinstance(obj, (str, bytes, bytearray)):
        try:
            obj = json.loads(obj)
        except ValueError as exc:
            raise ValueError(f"The 'obj' parameter is not valid JSON: {exc}.") from None
    if not isinstance(obj, Mapping):
        raise TypeError(f"The 'obj' parameter must be a JSON object (dict). Got {type(obj).__name__} instead.")
    if obj.get("format") != JSON_FORMAT:
        raise ValueError(
            f"The 'format' field must be {JSON_FORMAT!r} (a file written by initlab.export). "
            f"Got {excerpt(obj.get('format'))} instead."
        )
    required = ("layers", "activation", "output", "params")
    missing = [key for key in required if key not in obj]
    if missing:
        raise ValueError(f"The JSON export lacks the field(s) {missing}; it needs {list(required)}.")
    base = obj.get("base_width")
    net = MLP(tuple(obj["layers"]), obj["activation"], obj["output"], slope=obj.get("slope", 0.01),
              parametrization=obj.get("parametrization", "standard"),
              base_width=tuple(base) if isinstance(base, list) else base)  # fmt: skip
    raw = obj["params"]
    if not isinstance(raw, Mapping):
        raise TypeError(
            f"The 'params' field must be an object {{'W1': [[...]], 'b1': [...]}}. Got {type(raw).__name__}."
        )
    params = {}
    for key, value in raw.items():
        array = np.asarray(value, dtype=np.float64) if isinstance(value, list) else value
        params[key] = array.reshape(-1, 1) if str(key).startswith("b") and np.ndim(array) == 1 else array
    checked, _ = net.check_params(params, name="params")
    info = {key: obj.get(key) for key in ("init", "init_options", "scale", "settings")}
    return net, {key: value[0] for key, value in checked.items()}, info


# ----------------------------------------------------------------------------------------------
# The initializer as framework code
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Plan:
    """How one framework writes the initializer.

    ``weight``: lines computing one weight ``W`` (torch: filling the tensor ``W`` in place;
    JAX: assigning ``W`` from ``key`` and ``shape``), ``n_out, n_in`` in scope; ``after``: lines
    run once all layers are drawn (LSUV's rescaling); ``helpers``: functions the lines call.
    """

    weight: str
    after: str = ""
    helpers: str = ""


def _formula(spec: _Spec) -> str:
    """One line: the initializer, its options and the library's formula for it."""
    if spec.init == NOTEBOOK_HE:
        return "notebook_he: the notebook's He init, randn(n_out, n_in) * sqrt(2 / n_in), plain normal, zero biases"
    args = ", ".join(f"{k}={v!r}" for k, v in spec.options.items())
    summary = lsuv.SUMMARY if spec.init == "lsuv" else initializers.available()[spec.init]
    return f"{spec.init}({args}): {summary}".rstrip(".")


def _canonical(spec: _Spec) -> tuple[str, dict]:
    """(name, options) of the initializer the library actually runs: every preset is variance_scaling."""
    if spec.init == NOTEBOOK_HE:
        return "variance_scaling", {"scale": 2.0, "mode": "fan_in", "distribution": "normal"}
    if spec.init == "lsuv":
        return "lsuv", spec.options
    bound = initializers.get(spec.init, **spec.options)
    return bound.name, dict(bound.options)


def _truncated_std(mean: float, std: float, a: float, b: float) -> float:
    """Standard deviation of N(mean, std^2) conditioned on a <= W <= b (the textbook formula)."""
    alpha, beta = (a - mean) / std, (b - mean) / std
    pdf = lambda x: math.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)  # noqa: E731
    mass = 0.5 * (math.erf(beta / math.sqrt(2)) - math.erf(alpha / math.sqrt(2)))
    tail = (alpha * pdf(alpha) - beta * pdf(beta)) / mass
    shift = (pdf(alpha) - pdf(beta)) / mass
    return std * math.sqrt(1.0 + tail - shift * shift)


_FANS = {"fan_in": "n_in", "fan_out": "n_out", "fan_avg": "(n_in + n_out) / 2"}


def _std_expression(name: str, o: dict) -> str:
    """A Python expression in ``n_out, n_in``: the population std of the weights by the formula (before ``scale``)."""
    if name == "variance_scaling":
        return f"math.sqrt({o['scale']!r} / ({_FANS[o['mode']]}))"
    if name in ("zeros", "ones", "constant"):
        return "0.0"
    if name in ("normal", "random"):
        return repr(o.get("std", o.get("scale")))
    if name == "uniform":
        return f"({o['b']!r} - {o['a']!r}) / math.sqrt(12.0)"
    if name == "truncated_normal":
        return f"{_truncated_std(o['mean'], o['std'], o['a'], o['b'])!r}  # std of N(mean, std^2) cut to [a, b]"
    if name == "orthogonal":
        return f"abs({o['gain']!r}) / math.sqrt(max(n_out, n_in))  # rows or columns of norm |gain|"
    if name in ("eye", "ZerO"):
        return "identity_std(n_out, n_in)" if name == "eye" else "zero_hadamard_std(n_out, n_in)"
    if name == "sparse":
        return f"{o['std']!r} * math.sqrt(1.0 - math.ceil({o['sparsity']!r} * n_out) / n_out)"
    return "None  # data-dependent: Var(Z[l]) = 1 on the data instead"


# Exact std of the deterministic matrices, from their definitions (shared by both scripts).
_DETERMINISTIC_STD = '''

def identity_std(n_out, n_in):
    """Population std of the (partial) identity: a fraction p = min / (n_out n_in) of ones."""
    p = min(n_out, n_in) / (n_out * n_in)
    return math.sqrt(p * (1.0 - p))


def zero_hadamard_std(n_out, n_in):
    """Population std of ZerO's matrix: the identity's, or of +-1/sqrt(p) Hadamard signs (-1)^popcount(i & j)."""
    if n_out <= n_in:
        return identity_std(n_out, n_in)
    p = 1 << (n_out - 1).bit_length()
    mean = sum((-1) ** bin(i & j).count("1") for i in range(n_out) for j in range(n_in)) / (n_out * n_in)
    return math.sqrt(1.0 / p - (mean / math.sqrt(p)) ** 2)
'''


def _torch_weight(spec: _Spec) -> _Plan:
    """The torch lines for one weight ``W`` (n_out, n_in), torch.nn.init's own calls where it has them."""
    o = spec.options
    nl = lambda value: "linear" if value == "identity" else value  # noqa: E731 -- torch's table lacks "identity"
    calls = {
        "xavier_normal": f"nn.init.xavier_normal_(W, gain={o.get('gain')!r})",
        "xavier_uniform": f"nn.init.xavier_uniform_(W, gain={o.get('gain')!r})",
        "kaiming_normal": f"nn.init.kaiming_normal_(W, a={o.get('a')!r}, mode={o.get('mode')!r}, "
        f"nonlinearity={nl(o.get('nonlinearity'))!r})",
        "kaiming_uniform": f"nn.init.kaiming_uniform_(W, a={o.get('a')!r}, mode={o.get('mode')!r}, "
        f"nonlinearity={nl(o.get('nonlinearity'))!r})",
        "lecun_normal": "nn.init.kaiming_normal_(W, mode='fan_in', nonlinearity='linear')  "
        "# LeCun: N(0, 1/fan_in); torch has no lecun_normal_, kaiming with gain 1 is it",
        "lecun_uniform": "nn.init.kaiming_uniform_(W, mode='fan_in', nonlinearity='linear')  "
        "# LeCun: U(-b, b), b = sqrt(3/fan_in); kaiming_uniform_ with gain 1 is it",
        NOTEBOOK_HE: "nn.init.kaiming_normal_(W, mode='fan_in', nonlinearity='relu')  "
        "# the notebook's randn(n_out, n_in) * sqrt(2/n_in): the same distribution (its numbers came from numpy)",
    }
    aliases = {"glorot_normal": "xavier_normal", "glorot_uniform": "xavier_uniform", "he_normal": "kaiming_normal",
               "he_uniform": "kaiming_uniform"}  # fmt: skip
    name = aliases.get(spec.init, spec.init)
    if name in calls:
        return _Plan(calls[name])
    return _torch_canonical(*_canonical(spec))


def _torch_canonical(name: str, o: dict) -> _Plan:
    if name == "variance_scaling":
        fan = f"fan = {_FANS[o['mode']]}  # {o['mode']}"
        std = f"std = math.sqrt({o['scale']!r} / fan)  # variance_scaling: Var(W) = scale / fan"
        draw = {
            "normal": "nn.init.normal_(W, 0.0, std)",
            "truncated_normal": f"s = std / {_TRUNCATED_STD!r}  # JAX's: N(0, s^2) cut at 2 s has std `std`\n"
            "nn.init.trunc_normal_(W, 0.0, s, -2.0 * s, 2.0 * s)",
            "uniform": "nn.init.uniform_(W, -math.sqrt(3.0) * std, math.sqrt(3.0) * std)",
        }[o["distribution"]]
        return _Plan(f"{fan}\n{std}\n{draw}")
    simple = {
        "zeros": "nn.init.zeros_(W)",
        "ones": "nn.init.ones_(W)",
        "constant": f"nn.init.constant_(W, {o.get('value')!r})",
        "normal": f"nn.init.normal_(W, {o.get('mean')!r}, {o.get('std')!r})",
        "uniform": f"nn.init.uniform_(W, {o.get('a')!r}, {o.get('b')!r})",
        "truncated_normal": f"nn.init.trunc_normal_(W, {o.get('mean')!r}, {o.get('std')!r}, {o.get('a')!r}, {o.get('b')!r})",
        "random": f"nn.init.normal_(W, 0.0, {o.get('scale')!r})  # the notebook's randn(n_out, n_in) * {o.get('scale')!r}",
        "orthogonal": f"nn.init.orthogonal_(W, gain={o.get('gain')!r})",
        "eye": "nn.init.eye_(W)",
        "sparse": f"nn.init.sparse_(W, {o.get('sparsity')!r}, std={o.get('std')!r})",
        "ZerO": "zero_hadamard_(W)",
        "lsuv": "nn.init.orthogonal_(W)  # LSUV starts orthogonal (Saxe et al. 2013), then rescales below",
    }
    after = f"lsuv_(model, X, tol={o.get('tol')!r}, max_iter={o.get('max_iter')!r})" if name == "lsuv" else ""
    helpers = {"ZerO": _TORCH_ZERO, "lsuv": _TORCH_LSUV}.get(name, "")
    return _Plan(simple[name], after, helpers)


_JAX_NAMED = {  # variance_scaling's (scale, mode, distribution) that JAX has a name for, with the same meaning
    (2.0, "fan_in", "uniform"): "he_uniform",
    (1.0, "fan_avg", "uniform"): "glorot_uniform",
    (1.0, "fan_in", "uniform"): "lecun_uniform",
    (2.0, "fan_in", "truncated_normal"): "he_normal",
    (1.0, "fan_avg", "truncated_normal"): "glorot_normal",
    (1.0, "fan_in", "truncated_normal"): "lecun_normal",
}


def _jax_weight(spec: _Spec) -> _Plan:
    """The JAX lines assigning one weight ``W`` of ``shape = (n_out, n_in)`` from ``key``."""
    name, o = _canonical(spec)
    init = "jax.nn.initializers"
    if name == "variance_scaling":
        named = _JAX_NAMED.get((o["scale"], o["mode"], o["distribution"]))
        axes = "in_axis=-1, out_axis=-2"  # initlab's (n_out, n_in); JAX's default is (n_in, n_out)
        if named:
            return _Plan(f"W = {init}.{named}({axes})(key, shape, jnp.float64)")
        note = "  # plain normal (JAX's he_normal/glorot_normal/lecun_normal are truncated)" * (
            o["distribution"] == "normal"
        )
        return _Plan(
            f"W = {init}.variance_scaling({o['scale']!r}, {o['mode']!r}, {o['distribution']!r}, {axes})"
            f"(key, shape, jnp.float64){note}"
        )
    lines = {
        "zeros": "W = jnp.zeros(shape)",
        "ones": "W = jnp.ones(shape)",
        "constant": f"W = {init}.constant({o.get('value')!r})(key, shape, jnp.float64)",
        "normal": f"W = {o.get('mean')!r} + {init}.normal(stddev={o.get('std')!r})(key, shape, jnp.float64)",
        "uniform": f"W = {o.get('a')!r} + {init}.uniform(scale={o.get('b', 0) - o.get('a', 0)!r})(key, shape, jnp.float64)",
        "random": f"W = {init}.normal(stddev={o.get('scale')!r})(key, shape, jnp.float64)  # randn * {o.get('scale')!r}",
        "orthogonal": f"W = {init}.orthogonal(scale={o.get('gain')!r})(key, shape, jnp.float64)",
        "eye": "W = jnp.eye(n_out, n_in)",
        "ZerO": "W = zero_hadamard(shape)",
        "sparse": f"W = sparse(key, shape, {o.get('sparsity')!r}, {o.get('std')!r})",
        "lsuv": f"W = {init}.orthogonal()(key, shape, jnp.float64)  # LSUV starts orthogonal, then rescales below",
    }
    if name == "truncated_normal":
        lo, hi = (o["a"] - o["mean"]) / o["std"], (o["b"] - o["mean"]) / o["std"]
        lines[name] = (
            f"W = {o['mean']!r} + {init}.truncated_normal(stddev={o['std']!r}, lower={lo!r}, upper={hi!r})"
            "(key, shape, jnp.float64)  # bounds in units of std"
        )
    after = f"params = lsuv(params, X, tol={o.get('tol')!r}, max_iter={o.get('max_iter')!r})" if name == "lsuv" else ""
    helpers = {"ZerO": _JAX_ZERO, "sparse": _JAX_SPARSE, "lsuv": _JAX_LSUV}.get(name, "")
    return _Plan(lines[name], after, helpers)


# ----------------------------------------------------------------------------------------------
# The scripts
# ----------------------------------------------------------------------------------------------
_TORCH_ACTIVATIONS = {
    "relu": "nn.ReLU()",
    "leaky_relu": "nn.LeakyReLU(negative_slope={slope!r})",
    "tanh": "nn.Tanh()",
    "sigmoid": "nn.Sigmoid()",
    "linear": "nn.Identity()",
    "selu": "nn.SELU()",
    "gelu": 'nn.GELU(approximate="tanh")',
}
_JAX_ACTIVATIONS = {
    "relu": "jax.nn.relu(z)",
    "leaky_relu": "jax.nn.leaky_relu(z, negative_slope={slope!r})",
    "tanh": "jnp.tanh(z)",
    "sigmoid": "jax.nn.sigmoid(z)",
    "linear": "z",
    "selu": "jax.nn.selu(z)",
    "gelu": "jax.nn.gelu(z, approximate=True)",
}


def _indent(text: str, spaces: int) -> str:
    pad = " " * spaces
    return "\n".join(pad + line if line else line for line in text.splitlines())


def _literal(array: np.ndarray) -> str:
    """A float64 array as a Python list literal, one row per line, every float as its repr (exact)."""
    if array.ndim == 1:
        return "[" + ", ".join(repr(float(x)) for x in array) + "]"
    rows = ",\n".join("        " + _literal(row) for row in array)
    return "[\n" + rows + ",\n    ]"


def _trained_literal(spec: _Spec) -> str:
    layers = [f"    (  # layer {l}: W {W.shape}, b ({W.shape[0]},)\n    {_literal(W)},\n    {_literal(b)},\n    )"
              for l, (W, b) in enumerate(zip(spec.Ws, spec.bs), start=1)]  # fmt: skip
    return "[\n" + ",\n".join(layers) + ",\n]"


def _common(spec: _Spec, plan: _Plan) -> dict:
    net = spec.net
    std = _std_expression(*_canonical(spec))
    sigmoid = net.output == "sigmoid"
    return {
        "version": initlab.__version__,
        "architecture": "-".join(map(str, net.layers)),
        "name": net.activation,
        "activation": net.activation + (f" (negative slope {net.slope!r})" if net.activation == "leaky_relu" else ""),
        "output": "sigmoid: P(class 1)" if sigmoid else f"softmax over {net.layers[-1]} classes",
        "formula": _formula(spec),
        "layers": repr(net.layers),
        "scale": repr(spec.scale),
        "init": repr(spec.init),
        "init_options": repr(json.dumps(spec.options)),
        "settings": repr(json.dumps(spec.settings)),
        "std": std,
        "helpers": plan.helpers + _DETERMINISTIC_STD,
        "trained": _trained_literal(spec),
        "proba_doc": "P(class 1) for each row: a list of m floats" if sigmoid else "class probabilities: m lists",
        "proba": "[:, 0].tolist()" if sigmoid else ".tolist()",
        **_parametrization_parts(net),
    }


def _parametrization_parts(net: MLP) -> dict:
    """The header paragraph and constants of a non-standard net's script (empty for standard: scripts as before)."""
    if net.parametrization == "standard":
        return {"parametrization_doc": "", "parametrization_lines": "", "param_groups": ""}
    rows = net.scalings
    sgd, adam, eps = (net.learning_rate_factors("sgd"), net.learning_rate_factors("adam"), net.epsilon_factors())
    Ws, bs = layer_views(np.stack([sgd, adam, eps]), net.layers)  # (3, n_l, n_{l-1}), (3, n_l, 1): one value each

    def pairs(i):
        return [(float(W[i].flat[0]), float(b[i].flat[0])) for W, b in zip(Ws, bs)]

    base = "" if net.base_width is None else f", base width {net.base_width}"
    table = "\n".join(f"  layer {l}: W lr x{s[0]:.6g} (sgd), x{a[0]:.6g} (adam), eps x{e[0]:.6g}; "
                      f"b lr x{s[1]:.6g} (sgd), x{a[1]:.6g} (adam), eps x{e[1]:.6g}"
                      for l, (s, a, e) in enumerate(zip(pairs(0), pairs(1), pairs(2)), start=1))  # fmt: skip
    doc = (f"\n\nParametrization: {net.parametrization}{base} (initlab.parametrization; TP5 Table 3). The weights here are\n"
           "the *effective* ones, W = a w, what the forward pass computes with: predictions are exact. Training them on\n"
           f"with one learning rate is training in the standard parametrization; to go on as {net.parametrization}, give\n"
           "each layer's W and b the learning rate lr * LR_FACTORS[family][l] (family 'sgd' for gd, sgd, momentum;\n"
           "'adam'), and with Adam the epsilon eps * EPS_FACTORS[l]:\n" + table + "\n"
           "init_weights draws the named initializer; a fresh net of these layers also multiplies layer l's W by\n"
           "INIT_STD_FACTORS[l] (muP's output layer: 1/sqrt(width multiplier)).")  # fmt: skip
    lines = (f"\nPARAMETRIZATION = {net.parametrization!r}  # initlab.parametrization; the weights are the effective ones\n"
             f"BASE_WIDTH = {net.base_width!r}\n"
             "# per layer (W factor, b factor) on the learning rate, by family ('sgd': gd, sgd, momentum; 'adam')\n"
             f"LR_FACTORS = {{'sgd': {pairs(0)!r}, 'adam': {pairs(1)!r}}}\n"
             f"EPS_FACTORS = {pairs(2)!r}  # per layer (W, b): factor on Adam's epsilon\n"
             f"INIT_STD_FACTORS = {[w.init_std for w, _ in rows]!r}  # per layer: factor on W's initial std")  # fmt: skip
    return {"parametrization_doc": doc, "parametrization_lines": lines, "param_groups": _TORCH_PARAM_GROUPS}


_TORCH_PARAM_GROUPS = '''

def param_groups(model, lr, family="sgd", eps=1e-8):
    """torch.optim parameter groups that continue training as PARAMETRIZATION: one group per layer's W and b,
    lr (and Adam's eps) times LR_FACTORS and EPS_FACTORS. E.g. torch.optim.SGD(param_groups(model, 0.1)),
    torch.optim.Adam(param_groups(model, 1e-3, "adam"))."""
    linears = [m for m in model if isinstance(m, nn.Linear)]
    groups = []
    for layer, lrs, epss in zip(linears, LR_FACTORS[family], EPS_FACTORS):
        for param, f, e in zip((layer.weight, layer.bias), lrs, epss):
            groups.append({"params": [param], "lr": lr * f, **({"eps": eps * e} if family == "adam" else {})})
    return groups
'''


def _torch_parts(spec: _Spec) -> dict:
    plan = _torch_weight(spec)
    net = spec.net
    return {
        **_common(spec, plan),
        "framework": "PyTorch",
        "activation_module": _TORCH_ACTIVATIONS[net.activation].format(slope=net.slope),
        "output_module": "nn.Sigmoid()" if net.output == "sigmoid" else "nn.Softmax(dim=-1)",
        "weight_lines": _indent(plan.weight, 12),
        "after_lines": _indent(plan.after, 8) if plan.after else "        pass",
    }


def _jax_parts(spec: _Spec) -> dict:
    plan = _jax_weight(spec)
    net = spec.net
    return {
        **_common(spec, plan),
        "framework": "JAX",
        "activation_expr": _JAX_ACTIVATIONS[net.activation].format(slope=net.slope),
        "output_expr": "jax.nn.sigmoid(z)" if net.output == "sigmoid" else "jax.nn.softmax(z, axis=-1)",
        "weight_lines": _indent(plan.weight, 4),
        "after_lines": _indent(plan.after, 4) if plan.after else "    pass",
    }


def _script(spec: _Spec, template: str, parts: dict) -> str:
    return Template(template + _MAIN).substitute(parts)


_TORCH = r'''"""initlab network ${architecture} (${name}), exported for ${framework} by initlab ${version}.

Needs only torch (and the standard library). The trained weights are embedded at full float64 precision.

    python initlab_network.py                      # the settings, and predictions at a few example points
    python initlab_network.py --points points.json # a JSON list of [x_0, ..., x_{n0-1}] rows -> ${proba_doc}
    python initlab_network.py --fresh              # fresh init: per-layer weight std next to the formula's
    python initlab_network.py --fresh --layers 512,512,256,1 --seed 1   # the same on wide layers

Hidden activation: ${activation}; output: ${output}.
Initialization: ${formula}; biases zero; every weight times SCALE.${parametrization_doc}
Weights have torch's shape (out_features, in_features) = initlab's W[l] (n_l, n_{l-1}): fan_in = n_{l-1}.
"""

import argparse
import json
import math
import sys

import torch
from torch import nn

LAYERS = ${layers}  # units per layer, inputs first
SCALE = ${scale}  # multiplies every initial weight (initlab's scale)
INIT = ${init}  # initlab's initializer name
INIT_OPTIONS = json.loads(${init_options})
SETTINGS = json.loads(${settings})  # the run: config, seed, model, iteration${parametrization_lines}


def build_model(layers=LAYERS):
    """The architecture: float64 Linear layers, ${activation} between them, ${output} at the end."""
    modules = []
    for i, (n_in, n_out) in enumerate(zip(layers[:-1], layers[1:])):
        if i:
            modules.append(${activation_module})
        modules.append(nn.Linear(n_in, n_out, dtype=torch.float64))
    modules.append(${output_module})
    return nn.Sequential(*modules)
${helpers}

def init_weights(model, X=None):
    """Initialize as initlab did: ${formula}.

    Biases zero; then every weight times SCALE. X (m, n0): the data, used only by LSUV.
    """
    linears = [m for m in model if isinstance(m, nn.Linear)]
    with torch.no_grad():
        for layer in linears:
            W = layer.weight  # (n_out, n_in)
            n_out, n_in = W.shape
${weight_lines}
            nn.init.zeros_(layer.bias)
${after_lines}
        if SCALE != 1.0:
            for layer in linears:
                layer.weight.mul_(SCALE)
    return model
${param_groups}

def load_trained(model):
    """Copy the trained weights and biases (initlab's, float64) into ``model`` (from build_model())."""
    linears = [m for m in model if isinstance(m, nn.Linear)]
    with torch.no_grad():
        for layer, (W, b) in zip(linears, TRAINED):
            layer.weight.copy_(torch.tensor(W, dtype=torch.float64))
            layer.bias.copy_(torch.tensor(b, dtype=torch.float64))
    return model


def predict_proba(points, model=None):
    """points (m, n0), rows [x_0, ..., x_{n0-1}] -> ${proba_doc}. The trained model unless ``model`` is given."""
    model = load_trained(build_model()) if model is None else model
    x = torch.as_tensor(points, dtype=torch.float64).reshape(-1, LAYERS[0])
    with torch.no_grad():
        return model(x)${proba}


def fresh_layers(layers, seed):
    """A freshly initialized model of ``layers``: per weight layer its shape and std (and Var(Z) for LSUV)."""
    torch.manual_seed(seed)
    model = build_model(layers)
    X = torch.randn(1000, layers[0], dtype=torch.float64) if INIT == "lsuv" else None  # LSUV's stand-in data
    init_weights(model, X)
    out = []
    A = X
    with torch.no_grad():
        for module in model:
            if isinstance(module, nn.Linear):
                W = module.weight
                out.append({"shape": list(W.shape), "std": W.std(correction=0).item()})
            if A is not None:
                A = module(A)
                if isinstance(module, nn.Linear):
                    out[-1]["z_var"] = A.var(correction=0).item()
    return out
'''

_TORCH_ZERO = '''

def zero_hadamard_(W):
    """ZerO (Zhao et al. 2022, Algorithm 1); torch has no call for it. W (n_out, n_in): the partial identity if
    n_out <= n_in, else the top-left block of the normalized Sylvester-Hadamard matrix of order
    p = 2^ceil(log2 n_out): W[i, j] = (-1)^popcount(i & j) / sqrt(p). No randomness."""
    n_out, n_in = W.shape
    if n_out <= n_in:
        return nn.init.eye_(W)
    p = 1 << (n_out - 1).bit_length()
    bits = torch.arange(n_out)[:, None] & torch.arange(n_in)[None, :]
    parity = torch.zeros_like(bits)
    while bool(bits.any()):  # popcount(i & j) mod 2, bit by bit
        parity ^= bits & 1
        bits = bits >> 1
    return W.copy_((1.0 - 2.0 * parity.to(torch.float64)) / math.sqrt(p))
'''

_TORCH_LSUV = '''

def lsuv_(model, X, tol=0.1, max_iter=10):
    """LSUV (Mishkin & Matas 2016, Algorithm 1); torch has no call for it. With the layers before it final,
    divide each Linear's W by sqrt(Var(Z)) of its output Z on the batch X (m, n0) until |Var(Z) - 1| <= tol
    (at most max_iter times). Var over all units and examples; biases are zero, so one round reaches 1."""
    if X is None:
        raise ValueError("LSUV is data-dependent: pass X, the training inputs (m, n0): init_weights(model, X)")
    A = torch.as_tensor(X, dtype=torch.float64)
    for module in model:
        if isinstance(module, nn.Linear):
            for _ in range(max_iter):
                var = module(A).var(correction=0).item()
                if abs(var - 1.0) <= tol or not math.isfinite(var) or var <= 0:
                    break
                module.weight.div_(math.sqrt(var))  # scale so Var(Z) = 1, per LSUV
        A = module(A)
    return model
'''

_JAX = r'''"""initlab network ${architecture} (${name}), exported for ${framework} by initlab ${version}.

Needs only jax (jax.numpy, jax.nn; x64 enabled) and the standard library. The trained weights are embedded at
full float64 precision, as a list of (W, b): W (n_out, n_in) as initlab's W[l], b (n_out,).

    python initlab_network_jax.py                      # the settings, and predictions at a few example points
    python initlab_network_jax.py --points points.json # a JSON list of [x_0, ..., x_{n0-1}] rows -> ${proba_doc}
    python initlab_network_jax.py --fresh              # fresh init: per-layer weight std next to the formula's
    python initlab_network_jax.py --fresh --layers 512,512,256,1 --seed 1   # the same on wide layers

Hidden activation: ${activation}; output: ${output}.
Initialization: ${formula}; biases zero; every weight times SCALE.${parametrization_doc}
"""

import argparse
import json
import math
import sys

import jax

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402

LAYERS = ${layers}  # units per layer, inputs first
SCALE = ${scale}  # multiplies every initial weight (initlab's scale)
INIT = ${init}  # initlab's initializer name
INIT_OPTIONS = json.loads(${init_options})
SETTINGS = json.loads(${settings})  # the run: config, seed, model, iteration${parametrization_lines}


def activation(z):
    """The hidden activation: ${activation}."""
    return ${activation_expr}


def output(z):
    """The output: ${output}."""
    return ${output_expr}


def forward(params, x):
    """x (m, n0) -> output (m, n_L): z = a W^T + b per layer."""
    a = x
    for i, (W, b) in enumerate(params):
        z = a @ W.T + b
        a = activation(z) if i < len(params) - 1 else output(z)
    return a
${helpers}

def init_weight(key, shape):
    """One weight W of shape (n_out, n_in), as initlab did: ${formula}."""
    n_out, n_in = shape
${weight_lines}
    return W


def init_params(key, layers=LAYERS, X=None):
    """Fresh parameters [(W, b), ...]: init_weight per layer, biases zero, then every W times SCALE.

    X (m, n0): the data, used only by LSUV.
    """
    params = []
    for n_in, n_out in zip(layers[:-1], layers[1:]):
        key, sub = jax.random.split(key)
        params.append((init_weight(sub, (n_out, n_in)), jnp.zeros(n_out)))
${after_lines}
    return [(W * SCALE, b) for W, b in params]


def load_trained():
    """The trained parameters [(W, b), ...] (initlab's, float64)."""
    return [(jnp.array(W, dtype=jnp.float64), jnp.array(b, dtype=jnp.float64)) for W, b in TRAINED]


def predict_proba(points, params=None):
    """points (m, n0), rows [x_0, ..., x_{n0-1}] -> ${proba_doc}. The trained parameters unless given."""
    params = load_trained() if params is None else params
    x = jnp.asarray(points, dtype=jnp.float64).reshape(-1, LAYERS[0])
    return forward(params, x)${proba}


def fresh_layers(layers, seed):
    """Freshly initialized parameters of ``layers``: per weight layer its shape and std (and Var(Z) for LSUV)."""
    key, data_key = jax.random.split(jax.random.PRNGKey(seed))
    X = jax.random.normal(data_key, (1000, layers[0]), jnp.float64) if INIT == "lsuv" else None  # LSUV's stand-in
    params = init_params(key, layers, X)
    out = []
    a = X
    for i, (W, b) in enumerate(params):
        out.append({"shape": list(W.shape), "std": float(jnp.std(W))})
        if a is not None:
            z = a @ W.T + b
            out[-1]["z_var"] = float(jnp.var(z))
            a = activation(z) if i < len(params) - 1 else output(z)
    return out
'''

_JAX_ZERO = '''

def zero_hadamard(shape):
    """ZerO (Zhao et al. 2022, Algorithm 1); JAX has no initializer for it. (n_out, n_in): the partial identity if
    n_out <= n_in, else the top-left block of the normalized Sylvester-Hadamard matrix of order
    p = 2^ceil(log2 n_out): W[i, j] = (-1)^popcount(i & j) / sqrt(p). No randomness."""
    n_out, n_in = shape
    if n_out <= n_in:
        return jnp.eye(n_out, n_in)
    p = 1 << (n_out - 1).bit_length()
    parity = jax.lax.population_count(jnp.arange(n_out)[:, None] & jnp.arange(n_in)[None, :]) & 1
    return (1.0 - 2.0 * parity.astype(jnp.float64)) / math.sqrt(p)
'''

_JAX_SPARSE = '''

def sparse(key, shape, sparsity, std):
    """Martens 2010 (torch's sparse_); JAX has no initializer for it: N(0, std^2) with ceil(sparsity * n_out)
    zeros at random rows of every column."""
    n_out, n_in = shape
    k_normal, k_rows = jax.random.split(key)
    W = jax.nn.initializers.normal(stddev=std)(k_normal, shape, jnp.float64)
    num_zeros = math.ceil(sparsity * n_out)
    zero_rows = jnp.argsort(jax.random.uniform(k_rows, shape), axis=0)[:num_zeros]  # a random subset per column
    return W.at[zero_rows, jnp.arange(n_in)].set(0.0)
'''

_JAX_LSUV = '''

def lsuv(params, X, tol=0.1, max_iter=10):
    """LSUV (Mishkin & Matas 2016, Algorithm 1); JAX has no initializer for it. With the layers before it final,
    divide each W by sqrt(Var(Z)) of its output Z = a W^T + b on the batch X (m, n0) until |Var(Z) - 1| <= tol
    (at most max_iter times). Var over all units and examples; biases are zero, so one round reaches 1."""
    if X is None:
        raise ValueError("LSUV is data-dependent: pass X, the training inputs (m, n0): init_params(key, X=X)")
    a = jnp.asarray(X, dtype=jnp.float64)
    out = []
    for i, (W, b) in enumerate(params):
        for _ in range(max_iter):
            var = float(jnp.var(a @ W.T + b))
            if abs(var - 1.0) <= tol or not math.isfinite(var) or var <= 0:
                break
            W = W / math.sqrt(var)  # scale so Var(Z) = 1, per LSUV
        out.append((W, b))
        z = a @ W.T + b
        a = activation(z) if i < len(params) - 1 else output(z)
    return out
'''

_MAIN = r'''

def formula_std(n_out, n_in):
    """The formula's population std of one fresh weight (n_out, n_in), times |SCALE|; None if data-dependent."""
    std = ${std}
    return None if std is None else std * abs(SCALE)


def read_points(path):
    """A JSON file holding a list of [x_0, ..., x_{n0-1}] rows -> list of lists of floats (checked)."""
    with open(path) as f:
        points = json.load(f)
    n0 = LAYERS[0]
    if not isinstance(points, list) or not all(
        isinstance(row, list) and len(row) == n0 and all(isinstance(v, (int, float)) for v in row) for row in points
    ):
        raise ValueError(f"{path} must hold a JSON list of rows of {n0} numbers, e.g. [[0.5, -1.0]]")
    return points


def main(argv=None):
    parser = argparse.ArgumentParser(description="initlab network ${architecture} (${name}), ${framework}.")
    parser.add_argument("--points", help="JSON file: a list of [x_0, ..., x_{n0-1}] rows; prints ${proba_doc}")
    parser.add_argument("--fresh", action="store_true", help="initialize a fresh model; per-layer std vs formula")
    parser.add_argument("--layers", help="with --fresh: another architecture, e.g. 512,512,256,1")
    parser.add_argument("--seed", type=int, default=0, help="with --fresh: the random seed (default 0)")
    args = parser.parse_args(argv)
    if args.fresh:
        layers = tuple(int(n) for n in args.layers.split(",")) if args.layers else LAYERS
        report = fresh_layers(layers, args.seed)
        for entry in report:
            entry["formula_std"] = formula_std(*entry["shape"])
        print(json.dumps({"init": INIT, "options": INIT_OPTIONS, "scale": SCALE, "layers": report}, indent=1))
        return 0
    if args.points:
        try:
            points = read_points(args.points)
        except (OSError, ValueError) as exc:
            parser.error(str(exc))
        print(json.dumps(predict_proba(points) if points else []))
        return 0
    n0 = LAYERS[0]
    examples = [[0.0] * n0, [0.5] * n0, [-0.5] * n0, [(-1.0) ** i for i in range(n0)]]
    print(json.dumps({"settings": SETTINGS, "init": INIT, "options": INIT_OPTIONS, "scale": SCALE}, indent=1))
    for point, p in zip(examples, predict_proba(examples)):
        print(f"{point} -> {p}")
    return 0


TRAINED = ${trained}


if __name__ == "__main__":
    sys.exit(main())
'''
