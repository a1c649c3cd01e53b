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

Residual nets (:class:`initlab.residual.ResidualMLP`): the same three formats. The scripts build the net as
initlab's module docstring writes it (an ``nn.Module`` of float64 ``Linear`` layers, torch's ``LayerNorm`` for
``norm="layer"``, Fixup's multipliers and scalar biases and ReZero/SkipInit's ``alpha`` as parameters; in JAX a
``forward(params, x)`` over initlab's parameter groups), carry the trained parameters per group
(:meth:`~initlab.residual.ResidualMLP.groups`, vector biases without their trailing axis of 1), and initialize
as :meth:`~initlab.residual.ResidualMLP.initialize` does: every matrix by the named initializer (a structural
one's ``layer_init``), biases 0, LayerNorm gains 1, ``alpha`` 1, scalar biases 0, times ``SCALE`` and the
parametrization's ``INIT_STD_FACTORS``, then the structure written out from its paper's definition (Fixup:
the head and each branch's last layer 0, the other branch layers times ``B^(-1/(2m-2))``; ReZero / SkipInit:
``alpha = 0`` / ``alpha0``; zero_last: each branch's last layer 0). LSUV normalizes every linear layer's output
in forward order on the data, as :func:`initlab.lsuv.lsuv` does. Learning-rate and epsilon factors are per
group (``LR_FACTORS[family][group]``; the PyTorch ``param_groups`` has one group per initlab group). The JSON
is ``{"format": "initlab-residual-network/1", "n_in", "width", "n_out", "blocks", "branch_depth",
"activation", "slope", "output", "norm", "scalars", "parametrization", "base_width", "init", "init_options",
"scale", "settings", "params": {group: nested lists of the group's shape}}``.
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from string import Template

import numpy as np

import initlab
from initlab import initializers, lsuv
from initlab.network import DATA_DEPENDENT, MLP, check_lsuv_options, layer_views, parameter_count
from initlab.residual import LN_EPS, STRUCTURAL, ResidualMLP
from initlab.validation import check_choice, check_int, check_options, check_real, excerpt

__all__ = ["FORMATS", "JSON_FORMAT", "MAX_PARAMETERS", "RESIDUAL_JSON_FORMAT", "Export", "load_json", "render"]

#: The formats :func:`render` writes.
FORMATS = ("pytorch", "jax", "json")
#: The ``"format"`` field of a JSON export (bumped when the layout changes).
JSON_FORMAT = "initlab-network/1"
#: The ``"format"`` field of a residual net's JSON export.
RESIDUAL_JSON_FORMAT = "initlab-residual-network/1"
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


def render(
    fmt: str, net: MLP | ResidualMLP, params, *, init: str, init_options=None, scale: float = 1.0, settings=None
) -> Export:
    """Export one model as ``fmt`` (``"pytorch"``, ``"jax"`` or ``"json"``).

    Parameters
    ----------
    fmt : one of :data:`FORMATS`
    net : initlab.network.MLP or initlab.residual.ResidualMLP
    params : dict, one model (no model axis), finite
        An MLP's ``{"W1": (n_1, n_0), "b1": (n_1, 1), ...}``; a residual net's ``{group: shape}`` of
        :meth:`~initlab.residual.ResidualMLP.groups`.
    init : str
        The initializer the model started from: a name of :func:`initlab.initializers.available`,
        ``"notebook_he"`` (MLPs), ``"lsuv"``, or for a residual net one of
        :data:`initlab.residual.STRUCTURAL` (with the net's ``scalars``, :func:`~initlab.residual.scalars_for`).
    init_options : dict (or pairs), optional
        Its options, e.g. ``{"mode": "fan_out"}``; ``tol`` / ``max_iter`` for ``"lsuv"``; ``layer_init``
        (a name) and skipinit's ``alpha0`` for the structural ones.
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
        obj = _residual_json_object(spec) if spec.residual else _json_object(spec)
        return Export("initlab_network.json", "application/json", json.dumps(obj, indent=1) + "\n")
    framework = _FRAMEWORKS[fmt]
    return Export(framework.filename, "text/x-python", _script(spec, framework))


# ----------------------------------------------------------------------------------------------
# Validation: everything render embeds, checked once
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Spec:
    net: MLP | ResidualMLP
    Ws: tuple[np.ndarray, ...]  # (n_l, n_{l-1}) each (MLP)
    bs: tuple[np.ndarray, ...]  # (n_l,) each (MLP)
    init: str
    options: dict  # the initializer's options, defaults filled in
    scale: float
    settings: dict | None
    arrays: dict = field(default_factory=dict)  # residual net: {group: shape of ResidualMLP.groups}, one model

    @property
    def residual(self) -> bool:
        return isinstance(self.net, ResidualMLP)


def _spec(net, params, init, init_options, scale, settings) -> _Spec:
    if isinstance(net, ResidualMLP):
        return _residual_spec(net, params, init, init_options, scale, settings)
    if not isinstance(net, MLP):
        raise TypeError(
            f"The 'net' parameter must be an initlab.network.MLP or an initlab.residual.ResidualMLP. "
            f"Got {type(net).__name__} instead."
        )
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


def _residual_spec(net: ResidualMLP, params, init, init_options, scale, settings) -> _Spec:
    count = net.parameter_count
    if count > MAX_PARAMETERS:
        raise ValueError(
            f"The 'net' parameter has {count:,} parameters; an export embeds at most {MAX_PARAMETERS:,}. "
            "Export a smaller network (fewer blocks or a smaller width)."
        )
    if isinstance(params, Mapping) and "W_in" in params and np.ndim(params["W_in"]) == 3:
        raise ValueError(
            f"The 'params' parameter must be one model's dict without the model axis ('W_in' of shape "
            f"{(net.width, net.n_in)}). Got 'W_in' of shape {np.shape(params['W_in'])}; select one model first, "
            "e.g. {k: v[i] for k, v in params.items()}."
        )
    checked, _ = net.check_params(params, name="params")
    options = _check_residual_init(net, init, init_options)
    arrays = {name: checked[name][0] for name, _ in net.groups()}
    return _Spec(net, (), (), init, options, check_real("scale", scale), _check_settings(settings), arrays)


def _init_names() -> list[str]:
    return [*initializers.available(), NOTEBOOK_HE, *DATA_DEPENDENT]


def _options_dict(init_options) -> dict:
    """``init_options`` (None, a dict or pairs) as a new dict."""
    if init_options is None:
        return {}
    try:
        return dict(init_options)
    except (TypeError, ValueError):
        raise TypeError(
            f"The 'init_options' parameter must be a dict of option names to values, e.g. {{'mode': 'fan_out'}}. "
            f"Got {excerpt(init_options)} instead."
        ) from None


def _check_residual_init(net: ResidualMLP, init, init_options) -> dict:
    """A residual net's ``init``: a per-matrix name, ``"lsuv"`` or a structural one fitting the net; its options."""
    owner = "initlab.export.render for a ResidualMLP"
    check_choice("init", init, [*initializers.available(), *STRUCTURAL, *DATA_DEPENDENT], owner=owner)
    if init in DATA_DEPENDENT and net.parametrization != "standard":
        raise ValueError(
            f"init='lsuv' sets each layer's scale from the data; parametrization={net.parametrization!r} sets it "
            "from the width, so initlab never trains this net. Use parametrization='standard' or another init."
        )
    if init not in STRUCTURAL:
        return _check_init(init, init_options)
    _, paper, needs, allowed = STRUCTURAL[init]
    given = check_options(f"initializer {init!r}", _options_dict(init_options), allowed)
    if needs is not None and net.scalars != needs:
        raise ValueError(
            f"The 'init' parameter {init!r} ({paper}) needs ResidualMLP(..., scalars={needs!r}); this net has "
            f"scalars={net.scalars!r}. Export the net it was trained as, built with scalars={needs!r}."
        )
    options = {"layer_init": given.get("layer_init", "he_normal")}
    check_choice(
        "layer_init", options["layer_init"], initializers.available(), owner=f"initializer {init!r} in an export"
    )
    if init == "skipinit":
        options["alpha0"] = check_real("alpha0", given.get("alpha0", 0.0))
    return options


def _check_init(init, init_options) -> dict:
    """Validate ``init`` and its options; return the options with every default filled in (plain Python values)."""
    check_choice("init", init, _init_names(), owner="initlab.export.render")
    given = _options_dict(init_options)
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


def _residual_json_object(spec: _Spec) -> dict:
    net = spec.net
    sizes = {key: getattr(net, key) for key in ("n_in", "width", "n_out", "blocks", "branch_depth")}
    return {
        "format": RESIDUAL_JSON_FORMAT,
        **sizes,
        **{key: getattr(net, key) for key in ("activation", "slope", "output", "norm", "scalars")},
        "parametrization": net.parametrization,
        "base_width": net.base_width,
        "init": spec.init,
        "init_options": spec.options,
        "scale": spec.scale,
        "settings": spec.settings,
        "params": {name: value.tolist() for name, value in spec.arrays.items()},  # each group's shape, exact floats
    }


def load_json(obj) -> tuple[MLP | ResidualMLP, dict[str, np.ndarray], dict]:
    """Read a JSON export back: ``(net, params, info)``, bit-exact.

    Parameters
    ----------
    obj : dict (parsed JSON) or str / bytes (the file's text)

    Returns
    -------
    net : initlab.network.MLP, or initlab.residual.ResidualMLP for a residual net's file
    params : dict ``{"W1": (n_1, n_0), "b1": (n_1, 1), ...}`` float64, no model axis; a residual net's
        ``{group: shape}`` of :meth:`~initlab.residual.ResidualMLP.groups`
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
    if obj.get("format") not in (JSON_FORMAT, RESIDUAL_JSON_FORMAT):
        raise ValueError(
            f"The 'format' field must be {JSON_FORMAT!r} or {RESIDUAL_JSON_FORMAT!r} (a file written by "
            f"initlab.export). Got {excerpt(obj.get('format'))} instead."
        )
    residual = obj["format"] == RESIDUAL_JSON_FORMAT
    required = ("n_in", "width", "n_out", "blocks") if residual else ("layers",)
    required = (*required, "activation", "output", "params")
    missing = [key for key in required if key not in obj]
    if missing:
        raise ValueError(f"The JSON export lacks the field(s) {missing}; it needs {list(required)}.")
    raw = obj["params"]
    if not isinstance(raw, Mapping):
        raise TypeError(
            f"The 'params' field must be an object {{'W1': [[...]], 'b1': [...]}}. Got {type(raw).__name__}."
        )
    arrays = {
        key: np.asarray(value, dtype=np.float64) if isinstance(value, list) else value for key, value in raw.items()
    }
    net, params = _residual_from_json(obj, arrays) if residual else _mlp_from_json(obj, arrays)
    checked, _ = net.check_params(params, name="params")
    info = {key: obj.get(key) for key in ("init", "init_options", "scale", "settings")}
    return net, {key: value[0] for key, value in checked.items()}, info


def _mlp_from_json(obj: Mapping, arrays: dict) -> tuple[MLP, dict]:
    base = obj.get("base_width")
    net = MLP(tuple(obj["layers"]), obj["activation"], obj["output"], slope=obj.get("slope", 0.01),
              parametrization=obj.get("parametrization", "standard"),
              base_width=tuple(base) if isinstance(base, list) else base)  # fmt: skip
    params = {key: array.reshape(-1, 1) if str(key).startswith("b") and np.ndim(array) == 1 else array
              for key, array in arrays.items()}  # fmt: skip
    return net, params


def _residual_from_json(obj: Mapping, arrays: dict) -> tuple[ResidualMLP, dict]:
    options = {key: obj[key] for key in ("branch_depth", "norm", "scalars", "slope", "parametrization", "base_width")
               if key in obj}  # fmt: skip
    net = ResidualMLP(obj["n_in"], obj["width"], obj["n_out"], obj["blocks"], activation=obj["activation"],
                      output=obj["output"], **options)  # fmt: skip
    return net, arrays


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


def _formula(init: str, options: dict) -> str:
    """One line: the initializer, its options and the library's formula for it."""
    if init == NOTEBOOK_HE:
        return "notebook_he: the notebook's He init, randn(n_out, n_in) * sqrt(2 / n_in), plain normal, zero biases"
    args = ", ".join(f"{k}={v!r}" for k, v in options.items())
    if init in STRUCTURAL:
        formula, paper, _, _ = STRUCTURAL[init]
        return f"{init}({args}) ({paper}): {formula}"
    summary = lsuv.SUMMARY if init == "lsuv" else initializers.available()[init]
    return f"{init}({args}): {summary}".rstrip(".")


def _matrix_init(spec: _Spec) -> tuple[str, dict]:
    """(name, options) of the initializer that draws every weight matrix: a structural one's ``layer_init``."""
    if spec.init in STRUCTURAL:
        layer = spec.options["layer_init"]
        return layer, {o["name"]: o["default"] for o in initializers.describe()[layer]["options"]}
    return spec.init, spec.options


def _canonical(init: str, options: dict) -> tuple[str, dict]:
    """(name, options) of the initializer the library actually runs: every preset is variance_scaling."""
    if init == NOTEBOOK_HE:
        return "variance_scaling", {"scale": 2.0, "mode": "fan_in", "distribution": "normal"}
    if init == "lsuv":
        return "lsuv", options
    bound = initializers.get(init, **options)
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


def _torch_weight(init: str, o: dict) -> _Plan:
    """The torch lines for one weight ``W`` (n_out, n_in), torch.nn.init's own calls where it has them."""
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
    name = aliases.get(init, init)
    if name in calls:
        return _Plan(calls[name])
    return _torch_canonical(*_canonical(init, o))


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
    return _Plan(simple[name], after, _TORCH_ZERO if name == "ZerO" else "")  # LSUV's helper: per kind of net


_JAX_NAMED = {  # variance_scaling's (scale, mode, distribution) that JAX has a name for, with the same meaning
    (2.0, "fan_in", "uniform"): "he_uniform",
    (1.0, "fan_avg", "uniform"): "glorot_uniform",
    (1.0, "fan_in", "uniform"): "lecun_uniform",
    (2.0, "fan_in", "truncated_normal"): "he_normal",
    (1.0, "fan_avg", "truncated_normal"): "glorot_normal",
    (1.0, "fan_in", "truncated_normal"): "lecun_normal",
}


def _jax_weight(init: str, options: dict) -> _Plan:
    """The JAX lines assigning one weight ``W`` of ``shape = (n_out, n_in)`` from ``key``."""
    name, o = _canonical(init, options)
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
    helpers = {"ZerO": _JAX_ZERO, "sparse": _JAX_SPARSE}.get(name, "")  # LSUV's helper: per kind of net
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
    if array.ndim == 0:
        return repr(float(array))
    if array.ndim == 1:
        return "[" + ", ".join(repr(float(x)) for x in array) + "]"
    if array.ndim > 2:
        return "[\n" + ",\n".join(_literal(sub) for sub in array) + ",\n]"
    rows = ",\n".join("        " + _literal(row) for row in array)
    return "[\n" + rows + ",\n    ]"


def _trained_literal(spec: _Spec) -> str:
    if spec.residual:  # {group: nested lists}, vector biases without their trailing axis of 1
        groups = [f"    {name!r}: {_literal(_script_array(name, value))}" for name, value in spec.arrays.items()]
        return "{\n" + ",\n".join(groups) + ",\n}"
    layers = [f"    (  # layer {l}: W {W.shape}, b ({W.shape[0]},)\n    {_literal(W)},\n    {_literal(b)},\n    )"
              for l, (W, b) in enumerate(zip(spec.Ws, spec.bs), start=1)]  # fmt: skip
    return "[\n" + ",\n".join(layers) + ",\n]"


def _script_array(name: str, value: np.ndarray) -> np.ndarray:
    """A residual group as the scripts hold it: vector biases and LayerNorm parameters without the trailing 1."""
    return value[..., 0] if name.startswith(("b_", "ln_")) else value


@dataclass(frozen=True)
class _Framework:
    """What differs between the PyTorch and the JAX script; everything else is :func:`_parts`, once."""

    name: str
    filename: str
    templates: tuple[str, str]  # (an MLP's script, a residual net's)
    weight: Callable[[str, dict], _Plan]  # (init, options) -> the lines drawing one W
    activations: dict[str, str]  # activation name -> code, {slope} filled in
    outputs: tuple[str, str]  # the output's code: sigmoid, softmax
    after_indent: int  # the indentation of the initializer's ``after`` lines in init_weights / init_params
    lsuv: tuple[str, str]  # LSUV's helper: (MLP, residual net)
    structures: dict[str, str]  # residual structure name -> the body of structure_ / structure


def _parts(spec: _Spec, fw: _Framework) -> dict:
    """Every ``${...}`` of the templates: the shared header, the framework's code, the kind of net's parts."""
    net = spec.net
    init, options = _matrix_init(spec)
    plan = fw.weight(init, options)
    sigmoid = net.output == "sigmoid"
    n_out = net.n_out if spec.residual else net.layers[-1]
    helpers = plan.helpers + (fw.lsuv[spec.residual] if spec.init == "lsuv" else "") + _DETERMINISTIC_STD
    parts = {
        "version": initlab.__version__,
        "framework": fw.name,
        "filename": fw.filename,
        "name": net.activation,
        "activation": net.activation + (f" (negative slope {net.slope!r})" if net.activation == "leaky_relu" else ""),
        "output": "sigmoid: P(class 1)" if sigmoid else f"softmax over {n_out} classes",
        "formula": _formula(spec.init, spec.options),
        "scale": repr(spec.scale),
        "init": repr(spec.init),
        "init_options": repr(json.dumps(spec.options)),
        "settings": repr(json.dumps(spec.settings)),
        "std": _std_expression(*_canonical(init, options)),
        "helpers": helpers,
        "trained": _trained_literal(spec),
        "proba_doc": "P(class 1) for each row: a list of m floats" if sigmoid else "class probabilities: m lists",
        "proba": "[:, 0].tolist()" if sigmoid else ".tolist()",
        "activation_code": fw.activations[net.activation].format(slope=net.slope),
        "output_code": fw.outputs[not sigmoid],
        "weight_lines": _indent(plan.weight, 4),
        "after_lines": _indent(plan.after, fw.after_indent) if plan.after else "",
    }
    return {**parts, **(_residual_parts(spec, fw) if spec.residual else _mlp_parts(spec))}


def _mlp_parts(spec: _Spec) -> dict:
    net = spec.net
    return {
        "architecture": "-".join(map(str, net.layers)),
        "layers": repr(net.layers),
        "n_in": "LAYERS[0]",
        "fresh_args": '    parser.add_argument("--layers", help="with --fresh: another architecture, e.g. 512,512,256,1")',
        "fresh_call": _MLP_FRESH_CALL,
        **_parametrization_parts(net),
    }


_MLP_FRESH_CALL = """\
        layers = tuple(int(n) for n in args.layers.split(",")) if args.layers else LAYERS
        report = {"layers": fresh_layers(layers, args.seed)}
        for entry in report["layers"]:
            entry["formula_std"] = formula_std(*entry["shape"])"""


def _residual_parts(spec: _Spec, fw: _Framework) -> dict:
    net = spec.net
    norm = ", pre-LN" if net.norm == "layer" else ""
    scalars = {"none": "", "alpha": ", alpha", "fixup": ", Fixup scalars"}[net.scalars]
    structure = spec.init if spec.init in STRUCTURAL else "none"
    if structure == "none":
        doc, step = f"{spec.init} is a per-matrix initializer: no structure", "nothing more (no structure)"
    else:
        doc = f"{spec.init} ({STRUCTURAL[spec.init][1]}): {STRUCTURAL[spec.init][0]}"
        step = "the structure as its paper defines it (the structure function below)"
    return {
        "architecture": f"{net.n_in}-{net.width}x{net.blocks}-{net.n_out} ({net.blocks} blocks of {net.branch_depth} "
        f"layers{norm}{scalars})",
        "n_in": "N_IN",
        "needs": _NEEDS[fw.name],
        "sizes": f"N_IN, WIDTH, N_OUT = {net.n_in!r}, {net.width!r}, {net.n_out!r}",
        "blocks": repr(net.blocks),
        "branch_depth": repr(net.branch_depth),
        "norm": repr(net.norm),
        "scalars": repr(net.scalars),
        "ln_eps": repr(LN_EPS),
        "matrix_init": repr(_matrix_init(spec)[0]),
        "structure_doc": doc,
        "structure_step": step,
        "structure_lines": fw.structures[structure].format(alpha0=spec.options.get("alpha0", 0.0)),
        "structure_factor": _STRUCTURE_FACTORS.get(structure, "    return 1.0"),
        "fresh_args": "",
        "fresh_call": "        report = fresh_report(args.seed)",
        **_residual_parametrization_parts(net),
    }


_NEEDS = {
    "PyTorch": "Needs only torch (and the standard library).",
    "JAX": "Needs only jax (jax.numpy, jax.random, jax.nn; x64 enabled) and the standard library.",
}


def _script(spec: _Spec, fw: _Framework) -> str:
    template = fw.templates[spec.residual] + (_RESIDUAL_FRESH if spec.residual else "") + _MAIN
    return Template(template).substitute(_parts(spec, fw))


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
            modules.append(${activation_code})
        modules.append(nn.Linear(n_in, n_out, dtype=torch.float64))
    modules.append(${output_code})
    return nn.Sequential(*modules)


def init_matrix_(W):
    """One weight W (n_out, n_in), in place, as initlab drew it."""
    n_out, n_in = W.shape
${weight_lines}
    return W
${helpers}

def init_weights(model, X=None):
    """Initialize as initlab did: ${formula}.

    Biases zero; then every weight times SCALE. X (m, n0): the data, used only by LSUV.
    """
    linears = [m for m in model if isinstance(m, nn.Linear)]
    with torch.no_grad():
        for layer in linears:
            init_matrix_(layer.weight)
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
    return ${activation_code}


def output(z):
    """The output: ${output}."""
    return ${output_code}


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
    n0 = ${n_in}
    if not isinstance(points, list) or not all(
        isinstance(row, list) and len(row) == n0 and all(isinstance(v, (int, float)) for v in row) for row in points
    ):
        raise ValueError(f"{path} must hold a JSON list of rows of {n0} numbers, e.g. [[0.5, -1.0]]")
    return points


def main(argv=None):
    parser = argparse.ArgumentParser(description="initlab network ${architecture} (${name}), ${framework}.")
    parser.add_argument("--points", help="JSON file: a list of [x_0, ..., x_{n0-1}] rows; prints ${proba_doc}")
    parser.add_argument("--fresh", action="store_true", help="initialize a fresh model; per-layer std vs formula")
${fresh_args}
    parser.add_argument("--seed", type=int, default=0, help="with --fresh: the random seed (default 0)")
    args = parser.parse_args(argv)
    if args.fresh:
${fresh_call}
        print(json.dumps({"init": INIT, "options": INIT_OPTIONS, "scale": SCALE, **report}, indent=1))
        return 0
    if args.points:
        try:
            points = read_points(args.points)
        except (OSError, ValueError) as exc:
            parser.error(str(exc))
        print(json.dumps(predict_proba(points) if points else []))
        return 0
    n0 = ${n_in}
    examples = [[0.0] * n0, [0.5] * n0, [-0.5] * n0, [(-1.0) ** i for i in range(n0)]]
    print(json.dumps({"settings": SETTINGS, "init": INIT, "options": INIT_OPTIONS, "scale": SCALE}, indent=1))
    for point, p in zip(examples, predict_proba(examples)):
        print(f"{point} -> {p}")
    return 0


TRAINED = ${trained}


if __name__ == "__main__":
    sys.exit(main())
'''


# ----------------------------------------------------------------------------------------------
# Residual nets: the parametrization's factors per group, the structures, the scripts
# ----------------------------------------------------------------------------------------------
def _residual_parametrization_parts(net: ResidualMLP) -> dict:
    """A residual net's factors per initlab group (all 1 for standard), and the doc paragraph of a non-standard one."""
    rows = net.scalings()
    lr = {family: {name: row.learning_rate(family) for name, row in rows.items()} for family in ("sgd", "adam")}
    eps = {name: row.epsilon for name, row in rows.items()}
    init_std = {name: row.init_std for name, row in rows.items() if name.startswith("W")}
    lines = (f"PARAMETRIZATION = {net.parametrization!r}  # initlab.parametrization; the weights are the effective ones\n"
             f"BASE_WIDTH = {net.base_width!r}\n"
             "# per group: factor on the learning rate, by family ('sgd': gd, sgd, momentum; 'adam')\n"
             f"LR_FACTORS = {lr!r}\n"
             f"EPS_FACTORS = {eps!r}  # per group: factor on Adam's epsilon\n"
             f"INIT_STD_FACTORS = {init_std!r}  # per weight group: factor on its initial std (at WIDTH)")  # fmt: skip
    doc = ""
    if net.parametrization != "standard":
        base = "" if net.base_width is None else f", base width {net.base_width}"
        doc = (f"\n\nParametrization: {net.parametrization}{base} (initlab.parametrization; TP5 Table 3). The weights here are\n"
               "the *effective* ones, W = a w, what the forward pass computes with: predictions are exact. Training them on\n"
               f"with one learning rate is training in the standard parametrization; to go on as {net.parametrization}, give\n"
               "each parameter group the learning rate lr * LR_FACTORS[family][group] (and with Adam the epsilon\n"
               "eps * EPS_FACTORS[group]). A fresh net multiplies each weight group by INIT_STD_FACTORS[group]; they are\n"
               "this WIDTH's (another width has other factors).")  # fmt: skip
    return {"parametrization_doc": doc, "parametrization_lines": lines}


# The structure's factor on each fresh weight matrix's std (the --fresh report's formula), from the papers.
_STRUCTURE_FACTORS = {
    "fixup": """\
    m = BRANCH_DEPTH
    if name == "W_out" or (name == "W_branch" and layer == m - 1):
        return 0.0  # Fixup: the head and each branch's last layer start at 0
    if name == "W_branch":
        return BLOCKS ** (-1.0 / (2 * m - 2)) if m > 1 else 1.0  # the other branch layers: B^(-1/(2m-2))
    return 1.0""",
    "zero_last": """\
    return 0.0 if name == "W_branch" and layer == BRANCH_DEPTH - 1 else 1.0  # each branch's last layer 0""",
}

_TORCH_STRUCTURES = {
    "none": "    pass",
    "fixup": """\
    m = len(model.blocks[0].linears)
    factor = len(model.blocks) ** (-1.0 / (2 * m - 2)) if m > 1 else 1.0  # B^(-1/(2m-2)); m = 1: nothing before the last
    for block in model.blocks:
        for linear in block.linears[:-1]:
            linear.weight.mul_(factor)
        nn.init.zeros_(block.linears[-1].weight)  # each branch's last layer 0
    nn.init.zeros_(model.head.weight)  # the head 0, weights and bias (the multipliers are 1, the scalar biases 0)
    nn.init.zeros_(model.head.bias)""",
    "rezero": """\
    for block in model.blocks:
        nn.init.zeros_(block.alpha)  # alpha = 0, trained: every block starts as the identity""",
    "skipinit": """\
    for block in model.blocks:
        nn.init.constant_(block.alpha, {alpha0!r})  # alpha = alpha0, trained""",
    "zero_last": """\
    for block in model.blocks:
        nn.init.zeros_(block.linears[-1].weight)  # each branch's last layer 0: every block starts as the identity""",
}

_JAX_STRUCTURES = {
    "none": "    pass",
    "fixup": """\
    B, m = params["W_branch"].shape[:2]
    factor = B ** (-1.0 / (2 * m - 2)) if m > 1 else 1.0  # B^(-1/(2m-2)); m = 1: nothing before the last
    W = params["W_branch"].at[:, : m - 1].multiply(factor)
    params["W_branch"] = W.at[:, m - 1].set(0.0)  # each branch's last layer 0
    params["W_out"] = jnp.zeros_like(params["W_out"])  # the head 0 (the multipliers are 1, the scalar biases 0)
    params["b_out"] = jnp.zeros_like(params["b_out"])""",
    "rezero": """\
    params["alpha"] = jnp.zeros_like(params["alpha"])  # alpha = 0, trained: every block starts as the identity""",
    "skipinit": """\
    params["alpha"] = jnp.full_like(params["alpha"], {alpha0!r})  # alpha = alpha0, trained""",
    "zero_last": """\
    params["W_branch"] = params["W_branch"].at[:, -1].set(0.0)  # each branch's last layer 0""",
}

_RESIDUAL_DOC = r'''"""initlab residual network ${architecture}, ${name}, exported for ${framework} by initlab ${version}.

${needs} The trained parameters are embedded at full float64 precision.

    python ${filename}                      # the settings, and predictions at a few example points
    python ${filename} --points points.json # a JSON list of [x_0, ..., x_{n0-1}] rows -> ${proba_doc}
    python ${filename} --fresh              # fresh init: each matrix's std next to the formula's; alphas

The net (initlab.residual.ResidualMLP): h_0 = W_in x + b_in; h_b = h_{b-1} + alpha_b F_b(h_{b-1}) + d_b for
b = 1..BLOCKS; output(W_out act(h_B) + b_out). The branch F_b: [LayerNorm if NORM == "layer"], then BRANCH_DEPTH
linear layers (WIDTH x WIDTH) with the activation between them. alpha_b = 1 and d_b = 0 are constants unless
SCALARS says otherwise: "alpha" (ReZero, SkipInit) trains alpha_b; "fixup" (Zhang et al. 2019, Fig. 1) trains
the multiplier alpha_b and the scalar biases c[j] before linear layer j, c[m + j] before activation j and
c[2m - 1] = d_b after the multiplier (the branch layers then have no vector bias).
Hidden activation: ${activation}; output: ${output}.
Initialization: ${formula}. Every matrix is drawn by ${matrix_init}, vector biases 0, LayerNorm gains 1,
alpha 1, scalar biases 0; then the matrices times SCALE and INIT_STD_FACTORS; then ${structure_step}.${parametrization_doc}
Weights have shape (n_out, n_in), initlab's and torch's: fan_in = n_in.
"""
'''

_RESIDUAL_CONSTANTS = r"""
${sizes}  # inputs, trunk and branch width, outputs
BLOCKS, BRANCH_DEPTH = ${blocks}, ${branch_depth}  # residual blocks, linear layers per branch
NORM = ${norm}  # "layer": a LayerNorm (pre-LN) at the start of every branch, or "none"
SCALARS = ${scalars}  # "none", "alpha" (the branch scale) or "fixup" (multipliers and scalar biases)
LN_EPS = ${ln_eps}  # LayerNorm's epsilon (torch's default)
SCALE = ${scale}  # multiplies every initial weight matrix (initlab's scale)
INIT = ${init}  # initlab's initializer name
INIT_OPTIONS = json.loads(${init_options})
SETTINGS = json.loads(${settings})  # the run: config, seed, model, iteration
${parametrization_lines}
"""

_TORCH_IMPORTS = """
import argparse
import json
import math
import sys

import torch
from torch import nn
"""

_TORCH_RESIDUAL = (
    _RESIDUAL_DOC
    + _TORCH_IMPORTS
    + _RESIDUAL_CONSTANTS
    + r'''

class Block(nn.Module):
    """h -> h + alpha * F(h) (+ d): [LayerNorm], Linear, activation, ..., Linear (the module docstring)."""

    def __init__(self, width=WIDTH, depth=BRANCH_DEPTH):
        super().__init__()
        f64 = torch.float64
        self.norm = nn.LayerNorm(width, eps=LN_EPS, dtype=f64) if NORM == "layer" else None
        self.linears = nn.ModuleList(nn.Linear(width, width, bias=SCALARS != "fixup", dtype=f64) for _ in range(depth))
        self.act = ${activation_code}
        self.alpha = nn.Parameter(torch.ones((), dtype=f64)) if SCALARS != "none" else None
        self.scalar_bias = nn.Parameter(torch.zeros(2 * depth, dtype=f64)) if SCALARS == "fixup" else None

    def forward(self, h):
        u = h if self.norm is None else self.norm(h)
        c, m = self.scalar_bias, len(self.linears)
        for j, linear in enumerate(self.linears):
            v = linear(u if c is None else u + c[j])
            if j < m - 1:
                u = self.act(v if c is None else v + c[m + j])
        if self.alpha is not None:
            v = self.alpha * v
        return h + (v if c is None else v + c[2 * m - 1])


class ResidualMLP(nn.Module):
    """x (m, N_IN) -> (m, N_OUT): input projection, the blocks, the activation, the head, ${output}."""

    def __init__(self, n_in=N_IN, width=WIDTH, n_out=N_OUT, blocks=BLOCKS, depth=BRANCH_DEPTH):
        super().__init__()
        self.inp = nn.Linear(n_in, width, dtype=torch.float64)
        self.blocks = nn.ModuleList(Block(width, depth) for _ in range(blocks))
        self.act = ${activation_code}
        self.head = nn.Linear(width, n_out, dtype=torch.float64)
        self.out = ${output_code}

    def forward(self, x):
        h = self.inp(x)
        for block in self.blocks:
            h = block(h)
        return self.out(self.head(self.act(h)))


def build_model(**sizes):
    """The architecture, float64; ``sizes`` (n_in, width, n_out, blocks, depth) changes it for a fresh net."""
    return ResidualMLP(**sizes)


def parameter_groups(model):
    """initlab's parameter groups (ResidualMLP.groups) -> the torch parameters in each, block by block."""
    blocks = list(model.blocks)
    out = {"W_in": [model.inp.weight], "b_in": [model.inp.bias]}
    if NORM == "layer":
        out["ln_gain"] = [block.norm.weight for block in blocks]
        out["ln_bias"] = [block.norm.bias for block in blocks]
    out["W_branch"] = [linear.weight for block in blocks for linear in block.linears]
    if SCALARS != "fixup":
        out["b_branch"] = [linear.bias for block in blocks for linear in block.linears]
    if SCALARS != "none":
        out["alpha"] = [block.alpha for block in blocks]
    if SCALARS == "fixup":
        out["scalar_bias"] = [block.scalar_bias for block in blocks]
    out["W_out"], out["b_out"] = [model.head.weight], [model.head.bias]
    return out


def linears(model):
    """Every Linear in forward order, with its group, block and layer: W_in, W_branch (b, then j), W_out."""
    out = [("W_in", None, None, model.inp)]
    for b, block in enumerate(model.blocks):
        out += [("W_branch", b, j, linear) for j, linear in enumerate(block.linears)]
    return out + [("W_out", None, None, model.head)]


def init_matrix_(W):
    """One weight W (n_out, n_in), in place, as initlab drew it."""
    n_out, n_in = W.shape
${weight_lines}
    return W
${helpers}

def structure_(model):
    """The structure, after the draws: ${structure_doc}."""
${structure_lines}
    return model


def init_weights(model, X=None):
    """Initialize as initlab did (the module docstring). X (m, N_IN): the data, used only by LSUV."""
    groups = parameter_groups(model)
    with torch.no_grad():
        for name, params in groups.items():
            for p in params:
                if name.startswith("W"):
                    init_matrix_(p)
                else:  # LayerNorm gains and alpha 1, biases 0
                    nn.init.ones_(p) if name in ("ln_gain", "alpha") else nn.init.zeros_(p)
${after_lines}
        for name in ("W_in", "W_branch", "W_out"):
            for W in groups[name]:
                W.mul_(SCALE * INIT_STD_FACTORS[name])
        structure_(model)
    return model


def param_groups(model, lr, family="sgd", eps=1e-8):
    """torch.optim parameter groups continuing training as PARAMETRIZATION: one per initlab group, lr (and
    Adam's eps) times LR_FACTORS and EPS_FACTORS. E.g. torch.optim.Adam(param_groups(model, 1e-3, "adam"))."""
    adam = family == "adam"
    return [{"params": params, "lr": lr * LR_FACTORS[family][name], **({"eps": eps * EPS_FACTORS[name]} if adam else {})}
            for name, params in parameter_groups(model).items()]


def load_trained(model):
    """Copy the trained parameters (initlab's, float64) into ``model`` (from build_model())."""
    with torch.no_grad():
        for name, params in parameter_groups(model).items():
            values = torch.tensor(TRAINED[name], dtype=torch.float64).reshape(len(params), *params[0].shape)
            for p, value in zip(params, values):
                p.copy_(value)
    return model


def predict_proba(points, model=None):
    """points (m, N_IN), rows [x_0, ..., x_{n0-1}] -> ${proba_doc}. The trained model unless ``model`` is given."""
    model = load_trained(build_model()) if model is None else model
    x = torch.as_tensor(points, dtype=torch.float64).reshape(-1, N_IN)
    with torch.no_grad():
        return model(x)${proba}


def fresh_net(seed):
    """A freshly initialized net of the exported architecture, and LSUV's stand-in data (or None)."""
    torch.manual_seed(seed)
    X = torch.randn(1000, N_IN, dtype=torch.float64) if INIT == "lsuv" else None
    return init_weights(build_model(), X), X


def matrices(model):
    """[(group, block, layer, shape, population std)] of every weight matrix, in forward order."""
    return [(name, b, j, list(m.weight.shape), m.weight.std(correction=0).item()) for name, b, j, m in linears(model)]


def alphas(model):
    """Each block's alpha (None without one)."""
    return [block.alpha.item() for block in model.blocks] if SCALARS != "none" else None


def output_variances(model, X):
    """Var(W p) of every linear layer on the batch X (m, N_IN), in forward order (LSUV's target: 1)."""
    out = []
    hooks = [m.register_forward_pre_hook(lambda mod, inp: out.append((inp[0] @ mod.weight.T).var(correction=0).item()))
             for _, _, _, m in linears(model)]  # fmt: skip
    try:
        with torch.no_grad():
            model(torch.as_tensor(X, dtype=torch.float64))
    finally:
        for hook in hooks:
            hook.remove()
    return out
'''
)

_TORCH_LSUV_RESIDUAL = '''

def lsuv_(model, X, tol=0.1, max_iter=10):
    """LSUV (Mishkin & Matas 2016, Algorithm 1) on a residual net, as initlab.lsuv: torch has no call for it. In one
    forward pass over X (m, N_IN), before each Linear (W_in, the branch layers, the head, in forward order) divide
    its W by sqrt(Var(W p)) of its input p until |Var(W p) - 1| <= tol (at most max_iter times); the layers before
    it are final. Var over all units and examples."""
    if X is None:
        raise ValueError("LSUV is data-dependent: pass X, the training inputs (m, N_IN): init_weights(model, X)")

    def normalize(module, inputs):
        for _ in range(max_iter):
            var = (inputs[0] @ module.weight.T).var(correction=0).item()
            if abs(var - 1.0) <= tol or not math.isfinite(var) or var <= 0:
                break
            module.weight.div_(math.sqrt(var))  # scale so Var(W p) = 1, per LSUV

    hooks = [m.register_forward_pre_hook(normalize) for _, _, _, m in linears(model)]
    try:
        model(torch.as_tensor(X, dtype=torch.float64))
    finally:
        for hook in hooks:
            hook.remove()
    return model
'''

_JAX_IMPORTS = """
import argparse
import json
import math
import sys

import jax

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402
"""

_JAX_RESIDUAL = (
    _RESIDUAL_DOC
    + _JAX_IMPORTS
    + _RESIDUAL_CONSTANTS
    + r'''

def activation(z):
    """The hidden activation: ${activation}."""
    return ${activation_code}


def output(z):
    """The output: ${output}."""
    return ${output_code}


def forward(params, x, layer_hook=None):
    """x (m, N_IN) -> output (m, N_OUT); params: initlab's groups (vector biases without the trailing 1).

    ``layer_hook(where, W, p)``, if given, returns the W each linear layer uses, given its input p, in forward
    order: where = ("W_in",), ("W_branch", b, j), ("W_out",) (LSUV's hook).
    """
    hook = layer_hook or (lambda where, W, p: W)
    h = x @ hook(("W_in",), params["W_in"], x).T + params["b_in"]
    B, m = params["W_branch"].shape[:2]
    for b in range(B):
        u = h
        if NORM == "layer":
            mu = h.mean(axis=-1, keepdims=True)
            xhat = (h - mu) / jnp.sqrt(((h - mu) ** 2).mean(axis=-1, keepdims=True) + LN_EPS)
            u = params["ln_gain"][b] * xhat + params["ln_bias"][b]
        c = params["scalar_bias"][b] if SCALARS == "fixup" else None
        for j in range(m):
            p = u if c is None else u + c[j]
            v = p @ hook(("W_branch", b, j), params["W_branch"][b, j], p).T
            if c is None:
                v = v + params["b_branch"][b, j]
            if j < m - 1:
                u = activation(v if c is None else v + c[m + j])
        if SCALARS != "none":
            v = params["alpha"][b] * v
        h = h + (v if c is None else v + c[2 * m - 1])
    a = activation(h)
    return output(a @ hook(("W_out",), params["W_out"], a).T + params["b_out"])
${helpers}

def init_weight(key, shape):
    """One weight W of shape (n_out, n_in), as initlab drew it."""
    n_out, n_in = shape
${weight_lines}
    return W


def structure(params):
    """The structure, after the draws: ${structure_doc}."""
${structure_lines}
    return params


def init_params(key, X=None, n_in=N_IN, width=WIDTH, n_out=N_OUT, blocks=BLOCKS, depth=BRANCH_DEPTH):
    """Fresh parameters {group: array}, as initlab did (the module docstring). X (m, n_in): used only by LSUV."""
    keys = jax.random.split(key, blocks * depth + 2)
    branch = [[init_weight(keys[1 + b * depth + j], (width, width)) for j in range(depth)] for b in range(blocks)]
    params = {"W_in": init_weight(keys[0], (width, n_in)), "b_in": jnp.zeros(width)}
    if NORM == "layer":
        params["ln_gain"], params["ln_bias"] = jnp.ones((blocks, width)), jnp.zeros((blocks, width))
    params["W_branch"] = jnp.stack([jnp.stack(row) for row in branch])
    if SCALARS != "fixup":
        params["b_branch"] = jnp.zeros((blocks, depth, width))
    if SCALARS != "none":
        params["alpha"] = jnp.ones(blocks)
    if SCALARS == "fixup":
        params["scalar_bias"] = jnp.zeros((blocks, 2 * depth))
    params["W_out"], params["b_out"] = init_weight(keys[-1], (n_out, width)), jnp.zeros(n_out)
${after_lines}
    for name in ("W_in", "W_branch", "W_out"):
        params[name] = params[name] * (SCALE * INIT_STD_FACTORS[name])
    return structure(params)


def load_trained():
    """The trained parameters {group: array} (initlab's, float64)."""
    return {name: jnp.array(value, dtype=jnp.float64) for name, value in TRAINED.items()}


def predict_proba(points, params=None):
    """points (m, N_IN), rows [x_0, ..., x_{n0-1}] -> ${proba_doc}. The trained parameters unless given."""
    params = load_trained() if params is None else params
    x = jnp.asarray(points, dtype=jnp.float64).reshape(-1, N_IN)
    return forward(params, x)${proba}


def fresh_net(seed):
    """Fresh parameters of the exported architecture, and LSUV's stand-in data (or None)."""
    key, data_key = jax.random.split(jax.random.PRNGKey(seed))
    X = jax.random.normal(data_key, (1000, N_IN), jnp.float64) if INIT == "lsuv" else None
    return init_params(key, X), X


def matrices(params):
    """[(group, block, layer, shape, population std)] of every weight matrix, in forward order."""
    B, m = params["W_branch"].shape[:2]
    out = [("W_in", None, None, params["W_in"])]
    out += [("W_branch", b, j, params["W_branch"][b, j]) for b in range(B) for j in range(m)]
    out.append(("W_out", None, None, params["W_out"]))
    return [(name, b, j, list(W.shape), float(jnp.std(W))) for name, b, j, W in out]


def alphas(params):
    """Each block's alpha (None without one)."""
    return [float(a) for a in params["alpha"]] if SCALARS != "none" else None


def output_variances(params, X):
    """Var(W p) of every linear layer on the batch X (m, N_IN), in forward order (LSUV's target: 1)."""
    out = []

    def record(where, W, p):
        out.append(float(jnp.var(p @ W.T)))
        return W

    forward(params, jnp.asarray(X, dtype=jnp.float64), record)
    return out
'''
)

_JAX_LSUV_RESIDUAL = '''

def lsuv(params, X, tol=0.1, max_iter=10):
    """LSUV (Mishkin & Matas 2016, Algorithm 1) on a residual net, as initlab.lsuv: JAX has no initializer for it.
    In one forward pass over X (m, N_IN), before each linear layer (W_in, the branch layers, the head, in forward
    order) divide its W by sqrt(Var(W p)) of its input p until |Var(W p) - 1| <= tol (at most max_iter times); the
    layers before it are final. Var over all units and examples."""
    if X is None:
        raise ValueError("LSUV is data-dependent: pass X, the training inputs (m, N_IN): init_params(key, X)")
    new = {}

    def normalize(where, W, p):
        for _ in range(max_iter):
            var = float(jnp.var(p @ W.T))
            if abs(var - 1.0) <= tol or not math.isfinite(var) or var <= 0:
                break
            W = W / math.sqrt(var)  # scale so Var(W p) = 1, per LSUV
        new[where] = W
        return W

    forward(params, jnp.asarray(X, dtype=jnp.float64), normalize)
    B, m = params["W_branch"].shape[:2]
    branch = jnp.stack([jnp.stack([new[("W_branch", b, j)] for j in range(m)]) for b in range(B)])
    return {**params, "W_in": new[("W_in",)], "W_branch": branch, "W_out": new[("W_out",)]}
'''

# The fresh report of a residual net's script, written once for both frameworks (they supply fresh_net,
# matrices, alphas, output_variances).
_RESIDUAL_FRESH = r'''

def structure_factor(name, layer):
    """The structure's factor on the fresh std of weight group ``name``'s matrix ``layer`` (0 where it zeroes it)."""
${structure_factor}


def fresh_report(seed):
    """A fresh net: per weight matrix its shape, std and the formula's (times INIT_STD_FACTORS and the structure's
    factor); each block's alpha; with LSUV, each layer's Var(W p) on the stand-in data."""
    net, X = fresh_net(seed)
    layers = []
    for name, b, j, shape, std in matrices(net):
        formula = formula_std(*shape)
        factor = INIT_STD_FACTORS[name] * structure_factor(name, j)
        layers.append({"name": name, "block": b, "layer": j, "shape": shape, "std": std,
                       "formula_std": None if formula is None else formula * factor})
    if X is not None:
        for entry, var in zip(layers, output_variances(net, X)):
            entry["z_var"] = var
    return {"layers": layers, "alpha": alphas(net)}
'''

_FRAMEWORKS = {
    "pytorch": _Framework(
        "PyTorch", "initlab_network.py", (_TORCH, _TORCH_RESIDUAL), _torch_weight, _TORCH_ACTIVATIONS,
        ("nn.Sigmoid()", "nn.Softmax(dim=-1)"), 8, (_TORCH_LSUV, _TORCH_LSUV_RESIDUAL), _TORCH_STRUCTURES,
    ),
    "jax": _Framework(
        "JAX", "initlab_network_jax.py", (_JAX, _JAX_RESIDUAL), _jax_weight, _JAX_ACTIVATIONS,
        ("jax.nn.sigmoid(z)", "jax.nn.softmax(z, axis=-1)"), 4, (_JAX_LSUV, _JAX_LSUV_RESIDUAL), _JAX_STRUCTURES,
    ),
}  # fmt: skip
