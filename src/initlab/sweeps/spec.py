r"""What a sweep runs: a TOML file, or the same thing as frozen dataclasses.

A spec is a grid. Every combination of dataset x network x activation x (initializer, scale) x
(optimizer, learning rate) x iterations x seed is one *run*. The TOML file and the dataclasses
have the same names and nesting, so an error message names the key in both::

    name = "notebook_seeds"        # optional; default: the file's stem
    seeds = 30                     # a count (seeds 0..29) or a list, e.g. [3, 7, 11]
    base_seed = 0                  # root of every run's random stream
    iterations = 15000             # one value or a list
    record_every = 100             # the loss is recorded at 0, 100, ... and after the last iteration
    diagnostics = true             # per-layer statistics at initialization and at the end
    loss_threshold = 0.1           # "iterations to reach a loss threshold" in the summary
    engine = "numpy"               # the training engine ("numpy", the reference; or "numba", compiled)
    dtype = "float64"              # what training computes in: "float64" (default) or "float32"

    [data]                         # or [[data]] tables, one per group of datasets
    dataset = ["circles", "moons"] # one name or a list
    # n_train = 300, n_test = 100, noise = 0.05, classes: the dataset's defaults when omitted
    data_seed = 0                  # the data's own seed: the same data for every run
                                   # (circles with its default sizes and data_seed 0: the notebook's data)

    [model]
    hidden = [10, 5]               # hidden units: one list, or a list of lists (several networks)
    # depth = [3, 5, 10]  width = 10   instead of hidden: depth weight layers of width units
    # blocks = [4, 16, 64]  width = 16   instead: residual MLPs (initlab.residual.ResidualMLP), with
    # branch_depth = 2  norm = "none"    linear layers per branch (a list sweeps it), "none" or "layer" (pre-LN)
    activation = "relu"            # one name or a list
    # parametrization = ["standard", "mup"]  base_width = 16   plain MLPs: a grid axis (initlab.parametrization)

    [[init]]                       # one table per initializer
    name = "random"                # initlab.initializers.available(), "lsuv", or with blocks a structural
                                   # one: "fixup", "rezero", "skipinit", "zero_last" (initlab.residual)
    scale = [0.01, 0.1, 1, 10]     # multiplies the initializer's weights (default 1)
    options = {}                   # the initializer's options, e.g. {mode = "fan_out"}

    [[optimizer]]                  # default: gd at learning rate 0.01
    name = "gd"
    learning_rate = [0.01, 0.1]    # one value or a list
    # any other key is an option of the optimizer (batch_size, beta1, ...)

``random`` draws N(0, 1) here, so its ``scale`` is the standard deviation (the notebook's "large
random" initialization is ``scale = 10``); its own ``scale`` option is not used. ``lsuv`` takes the
options of :func:`initlab.lsuv.lsuv` (``init``, ``tol``, ``max_iter``) and normalizes on the
training set.

Residual nets
-------------
With ``blocks`` every network of the sweep is a :class:`initlab.residual.ResidualMLP` of trunk
``width`` with ``blocks`` x ``branch_depth`` x ``norm`` as grid dimensions, built for each run with
``scalars=initlab.residual.scalars_for(init)`` (so Fixup's and ReZero's scalars exist only in
their own runs). The structural initializers (:data:`initlab.residual.STRUCTURAL`) need blocks; a
spec naming one without them is refused when it is read. Residual runs train with either
engine (``engine = "numba"``: :mod:`initlab.kernels_residual`, every norm, optimizer and batch size);
their diagnostics are per block (:class:`initlab.diagnostics.BlockStats`: the same fields, the
block in place of the layer) and ``lsuv`` normalizes every linear layer in forward order
(:mod:`initlab.lsuv`).

Parametrizations
----------------
``[model] parametrization`` (a name or a list: a grid axis, after the activation) trains plain MLPs
as ``MLP(..., parametrization=p, base_width=...)`` (:mod:`initlab.parametrization`); ``base_width``
(one int, the base model's hidden width) goes with ``"mup"`` and applies to its runs only. A
non-standard parametrization is refused when the spec is read with ``blocks`` and with an initializer
whose variance is not ``gain^2 / fan_in`` (xavier, orthogonal, random, lsuv: see
:func:`initlab.parametrization.check_initializer`). ``parametrization = "standard"`` without
``base_width`` is the same spec as none at all.

Identity
--------
:meth:`SweepSpec.identity` is the canonical form of everything that decides the numbers; its hash
(:meth:`SweepSpec.fingerprint`) tells whether an output folder holds this sweep. ``name`` and
``loss_threshold`` only label and analyse, so they are not part of it. A spec without ``blocks``
has no residual keys in its identity, so its fingerprint (and its stored results) are the same
as before residual nets existed; likewise a spec without a non-standard parametrization has no
``parametrization``/``base_width`` keys in its identity, and a float64 spec (the default) has no
``dtype`` key.

float32
-------
``dtype = "float32"`` trains every run in float32 (:func:`initlab.training.train`'s ``dtype``, on
either engine). It is part of
the identity, so a folder that holds a float64 sweep refuses the float32 spec of the same grid
(resume it with the spec it was started with, or ``--new``), and each run's key carries it: a
float32 run is never mistaken for the float64 run of the same seed. A run's random streams do not
depend on the dtype (float32 runs start from the float64 draws, rounded once: a paired comparison).
"""

from __future__ import annotations

import collections
import dataclasses
import difflib
import hashlib
import itertools
import json
import numbers
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from initlab import activations, initializers, parametrization, residual
from initlab.validation import check_choice, check_dtype, check_int, check_real

from . import catalogue

__all__ = [
    "DataSpec",
    "InitSpec",
    "ModelSpec",
    "OptimizerSpec",
    "SpecError",
    "SweepSpec",
    "load_spec",
    "parse_spec",
]

#: Options of the ``lsuv`` init (:func:`initlab.lsuv.lsuv`).
LSUV_OPTIONS = ("init", "tol", "max_iter")
#: The ``[model]`` keys of residual nets (absent from a plain spec's identity: see the module docstring).
RESIDUAL_KEYS = ("blocks", "branch_depth", "norm")
#: The ``[model]`` keys of parametrizations (absent from a standard spec's identity, likewise).
PARAMETRIZATION_KEYS = ("parametrization", "base_width")


class SpecError(ValueError):
    """A spec that cannot run: the message names the file, the key, what is allowed and what came."""


# --------------------------------------------------------------------------------------------
# Small normalizers: a value or a list of values -> a non-empty tuple
# --------------------------------------------------------------------------------------------
def _values(name: str, value, check, *, example: str) -> tuple:
    """``value`` or a list of them -> tuple of checked values; an empty list is an empty grid."""
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    if not items:
        raise ValueError(
            f"The '{name}' parameter is an empty list, so the grid has no runs. Give at least one value, e.g. {example}."
        )
    out = tuple(check(name, v) for v in items)
    duplicates = sorted(repr(v) for v, n in collections.Counter(out).items() if n > 1)  # linear in the list's length
    if duplicates:
        raise ValueError(f"The '{name}' parameter lists {', '.join(duplicates)} more than once. List each value once.")
    return out


def _string(name: str, value) -> str:
    if not isinstance(value, str) or not value:
        raise TypeError(
            f"The '{name}' parameter must be a non-empty string. Got {value!r} ({type(value).__name__}) instead."
        )
    return value


def _options(name: str, value) -> tuple[tuple[str, Any], ...]:
    """A mapping of options -> sorted (key, value) pairs of TOML scalars."""
    if not isinstance(value, Mapping):
        raise TypeError(
            f"The '{name}' parameter must be a table of options, e.g. {{mode = \"fan_out\"}}. Got {value!r} instead."
        )
    for k, v in value.items():
        if not isinstance(v, (str, bool, numbers.Real)):
            raise TypeError(
                f"The option '{k}' of '{name}' must be a string, number or boolean. Got {v!r} ({type(v).__name__}) instead."
            )
    return tuple(sorted((str(k), v) for k, v in value.items()))


def _positive_real(name: str, value) -> float:
    return check_real(name, value, min_value=0.0, min_inclusive=False)


# --------------------------------------------------------------------------------------------
# The dataclasses
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DataSpec:
    """Datasets sharing sizes and a data seed (``[data]``). A name or a list of names in ``dataset``."""

    dataset: tuple[str, ...] = ("circles",)  # names from initlab.datasets (circles: the notebook's data)
    n_train: int | None = None  # None: the dataset's default (circles: 300)
    n_test: int | None = None  # None: the dataset's default (circles: 100)
    noise: float | None = None  # None: the dataset's default (circles: 0.05)
    classes: int | None = None  # spirals, blobs, gaussian_quantiles: number of classes
    data_seed: int = 0  # the data's own seed (circles with the default sizes and 0: the notebook's data)

    def __post_init__(self):
        allowed = catalogue.available_datasets()
        names = _values(
            "dataset", self.dataset, lambda n, v: check_choice(n, v, allowed), example='dataset = "circles"'
        )
        object.__setattr__(self, "dataset", names)
        if self.n_train is not None:
            object.__setattr__(self, "n_train", check_int("n_train", self.n_train, min_value=1))
        if self.n_test is not None:
            object.__setattr__(self, "n_test", check_int("n_test", self.n_test, min_value=1))
        if self.noise is not None:
            object.__setattr__(self, "noise", check_real("noise", self.noise, min_value=0.0))
        if self.classes is not None:
            object.__setattr__(self, "classes", check_int("classes", self.classes, min_value=2))
        object.__setattr__(self, "data_seed", check_int("data_seed", self.data_seed, min_value=0))


@dataclass(frozen=True)
class ModelSpec:
    """The networks (``[model]``): ``hidden`` widths, ``depth`` weight layers of ``width`` units, or residual nets.

    The input and output sizes come from the dataset (a sigmoid output for two classes, softmax
    for more). ``depth`` counts weight layers, as the notebook's "3-layer" 2-10-5-1 network.
    ``blocks`` (with ``width``) makes residual MLPs (:class:`initlab.residual.ResidualMLP`):
    an input projection to ``width`` units, ``blocks`` residual blocks of ``branch_depth`` linear
    layers each (a LayerNorm first with ``norm = "layer"``), the head.
    """

    hidden: tuple[tuple[int, ...], ...] | None = None  # e.g. ((10, 5),); default: the notebook's (10, 5)
    depth: tuple[int, ...] | None = None  # weight layers, >= 1; with width, instead of hidden
    width: int | None = None  # hidden units per layer when depth is given; the trunk's width with blocks
    activation: tuple[str, ...] = ("relu",)  # hidden activation(s)
    blocks: tuple[int, ...] | None = None  # residual blocks B (with width); None: plain MLPs
    branch_depth: tuple[int, ...] | None = None  # linear layers per branch, m (with blocks; default 2)
    norm: tuple[str, ...] | None = None  # "none" or "layer" (pre-LN branches; with blocks; default "none")
    parametrization: tuple[str, ...] | None = None  # plain MLPs: "standard", "ntk", "mup"; None: standard only
    base_width: int | None = None  # with "mup": the base model's hidden width (None: base 1, TP5's Table 3)

    def __post_init__(self):
        if self.blocks is not None:
            self._residual()
        else:
            self._plain()
        self._parametrizations()
        allowed = activations.available()
        acts = _values(
            "activation", self.activation, lambda n, v: check_choice(n, v, allowed), example='activation = "relu"'
        )
        object.__setattr__(self, "activation", acts)

    def _plain(self) -> None:
        given = [k for k in ("branch_depth", "norm") if getattr(self, k) is not None]
        if given:
            raise ValueError(
                f"The '{given[0]}' parameter describes residual blocks, but 'blocks' is not given. Add blocks = [4, 16] "
                f"(with width) for residual nets, or remove {given[0]}."
            )
        if self.hidden is not None and (self.depth is not None or self.width is not None):
            raise ValueError(
                "The 'hidden' parameter and the 'depth'/'width' parameters describe the same thing: give hidden = [10, 5] "
                "(hidden widths) or depth = [3, 5] with width = 10, not both."
            )
        if (self.depth is None) != (self.width is None):
            raise ValueError(
                "The 'depth' and 'width' parameters go together: depth = [3, 5, 10] weight layers of width = 10 units. "
                f"Got depth={self.depth!r}, width={self.width!r}."
            )
        if self.depth is not None:
            depth = _values(
                "depth", self.depth, lambda n, v: check_int(n, v, min_value=1), example="depth = [3, 5, 10]"
            )
            object.__setattr__(self, "depth", depth)
            object.__setattr__(self, "width", check_int("width", self.width, min_value=1))
        else:
            object.__setattr__(self, "hidden", _hidden(self.hidden if self.hidden is not None else (10, 5)))

    def _residual(self) -> None:
        """Check ``blocks``, ``branch_depth``, ``norm`` and ``width`` (residual nets)."""
        for key in ("hidden", "depth"):
            if getattr(self, key) is not None:
                raise ValueError(
                    f"The '{key}' parameter and the 'blocks' parameter describe different networks: blocks = [4, 16] "
                    f"with width = 16 makes residual MLPs, {key} plain ones. Give one of them."
                )
        if self.width is None:
            raise ValueError(
                "The 'blocks' parameter needs 'width', the residual trunk's units: e.g. blocks = [4, 16] with width = 16."
            )
        object.__setattr__(self, "width", check_int("width", self.width, min_value=1, max_value=residual.MAX_WIDTH))

        def count(top):
            return lambda n, v: check_int(n, v, min_value=1, max_value=top)

        blocks = _values("blocks", self.blocks, count(residual.MAX_BLOCKS), example="blocks = [4, 16, 64]")
        m = _values("branch_depth", 2 if self.branch_depth is None else self.branch_depth,
                    count(residual.MAX_BRANCH_DEPTH), example="branch_depth = 2")  # fmt: skip
        norms = _values("norm", "none" if self.norm is None else self.norm,
                        lambda n, v: check_choice(n, v, residual.NORMS), example='norm = "none"')  # fmt: skip
        object.__setattr__(self, "blocks", blocks)
        object.__setattr__(self, "branch_depth", m)
        object.__setattr__(self, "norm", norms)

    def _parametrizations(self) -> None:
        """Check ``parametrization`` and ``base_width``; ``("standard",)`` without base_width becomes None (the old spec)."""
        if self.parametrization is None and self.base_width is None:
            return
        names = _values("parametrization", "standard" if self.parametrization is None else self.parametrization,
                        lambda n, v: check_choice(n, v, parametrization.PARAMETRIZATIONS),
                        example='parametrization = ["standard", "mup"]')  # fmt: skip
        if self.is_residual and names != ("standard",):
            raise ValueError(
                f"The 'parametrization' parameter applies to plain MLPs; residual nets (blocks) are standard only. "
                f"Got parametrization = {list(names)!r}; remove it, or blocks."
            )
        if self.base_width is not None:
            if "mup" not in names:
                raise ValueError(
                    f"The 'base_width' parameter goes with parametrization \"mup\" (the base model muP is relative to). "
                    f'Got base_width = {self.base_width!r} with parametrization = {list(names)!r}; add "mup" or remove it.'
                )
            object.__setattr__(self, "base_width", check_int("base_width", self.base_width, min_value=1))
        object.__setattr__(self, "parametrization", None if names == ("standard",) else names)

    def parametrizations(self) -> tuple[tuple[str, int | None], ...]:
        """``(parametrization, base_width)`` of every grid point, base_width None except for "mup"; ``(("standard", None),)`` by default."""
        names = self.parametrization or ("standard",)
        return tuple((p, self.base_width if p == "mup" else None) for p in names)

    @property
    def is_residual(self) -> bool:
        """True for residual MLPs (``blocks`` given)."""
        return self.blocks is not None

    def architectures(self) -> tuple[tuple[int, ...], ...]:
        """Hidden widths of every network, e.g. ``((10, 5),)``; ``depth`` d gives d - 1 hidden layers.

        Residual nets: ``((width,),)`` (their blocks are :meth:`residual_grid`).
        """
        if self.is_residual:
            return ((self.width,),)
        if self.depth is not None:
            return tuple((self.width,) * (d - 1) for d in self.depth)
        return self.hidden

    def residual_grid(self) -> tuple[tuple[int, int, str] | None, ...]:
        """``(blocks, branch_depth, norm)`` of every residual net in grid order; ``(None,)`` for plain MLPs."""
        if not self.is_residual:
            return (None,)
        return tuple(itertools.product(self.blocks, self.branch_depth, self.norm))


def _hidden(value) -> tuple[tuple[int, ...], ...]:
    """``[10, 5]`` (one network) or ``[[10, 5], [20]]`` (several; ``[]`` is no hidden layer)."""
    example = "hidden = [10, 5] or hidden = [[10, 5], [20, 20]]"
    if not isinstance(value, (list, tuple)):
        raise TypeError(
            f"The 'hidden' parameter must be a list of hidden-layer widths, e.g. {example}. Got {value!r} instead."
        )
    nested = bool(value) and all(isinstance(v, (list, tuple)) for v in value)
    if value and not nested and any(isinstance(v, (list, tuple)) for v in value):
        raise TypeError(f"The 'hidden' parameter mixes numbers and lists; {example}. Got {value!r} instead.")
    nets = list(value) if nested else [value]

    def one(name, widths):
        return tuple(check_int(f"{name} width", w, min_value=1) for w in widths)

    return _values("hidden", nets, one, example=example)


@dataclass(frozen=True)
class InitSpec:
    """One initializer (``[[init]]``) at one or more scales: ``W = scale * init(shape)``."""

    name: str  # initlab.initializers.available(), "lsuv", or residual.STRUCTURAL (residual nets only)
    options: tuple[tuple[str, Any], ...] = ()  # a dict is accepted; stored as sorted pairs
    scale: tuple[float, ...] = (1.0,)  # weight multipliers (random: its standard deviation)

    def __post_init__(self):
        allowed = (*initializers.available(), "lsuv", *residual.STRUCTURAL)
        if not isinstance(self.name, str) or self.name not in allowed:
            hint = difflib.get_close_matches(self.name, allowed, n=1) if isinstance(self.name, str) else []
            did_you_mean = f" Did you mean {hint[0]!r}?" if hint else ""
            raise ValueError(
                f"The 'name' parameter must be an initializer: one of {{{', '.join(repr(a) for a in sorted(allowed))}}}."
                f"{did_you_mean} Got {self.name!r} instead."
            )
        options = _options("options", self.options if isinstance(self.options, Mapping) else dict(self.options))
        object.__setattr__(self, "options", options)
        if self.name == "random" and "scale" in dict(options):
            raise ValueError(
                "The 'options' parameter of init 'random' must not set 'scale': in a sweep random draws N(0, 1) and the "
                "init's own 'scale' key multiplies it, e.g. scale = [0.1, 10]."
            )
        _check_init_options(self.name, dict(options))
        scales = _values("scale", self.scale, _positive_real, example="scale = [0.1, 1, 10]")
        object.__setattr__(self, "scale", scales)


def _check_init_options(name: str, options: dict) -> None:
    """Build the initializer once, so a bad option fails when the spec is read, not in a worker."""
    if name in residual.STRUCTURAL:  # draw a one-block net with it (its own option checks)
        net = residual.ResidualMLP(1, 1, 1, 1, scalars=residual.scalars_for(name))
        net.initialize(name, rng=0, **options)
        return
    if name != "lsuv":
        initializers.get(name, **({"scale": 1.0} if name == "random" else {}), **options)
        return
    unknown = sorted(set(options) - set(LSUV_OPTIONS))
    if unknown:
        raise TypeError(f"Unknown option(s) {unknown} for init 'lsuv'. Allowed: {', '.join(LSUV_OPTIONS)}.")
    if "init" in options:
        check_choice("init", options["init"], initializers.available(), owner="lsuv")
    if "tol" in options:
        _positive_real("tol", options["tol"])
    if "max_iter" in options:
        check_int("max_iter", options["max_iter"], min_value=1)


@dataclass(frozen=True)
class OptimizerSpec:
    """One optimizer (``[[optimizer]]``) at one or more learning rates; other keys are its options."""

    name: str = "gd"  # initlab.optimizers.available()
    learning_rate: tuple[float, ...] = (0.01,)
    options: tuple[tuple[str, Any], ...] = ()  # e.g. {"beta1": 0.9} or {"batch_size": 64}

    def __post_init__(self):
        check_choice("name", self.name, catalogue.available_optimizers())
        lrs = _values("learning_rate", self.learning_rate, _positive_real, example="learning_rate = [0.01, 0.1]")
        object.__setattr__(self, "learning_rate", lrs)
        options = _options("options", self.options if isinstance(self.options, Mapping) else dict(self.options))
        catalogue.check_optimizer(self.name, dict(options))
        object.__setattr__(self, "options", options)


@dataclass(frozen=True)
class SweepSpec:
    """A whole sweep. Lists are grid dimensions; every combination with every seed is one run."""

    init: tuple[InitSpec, ...]  # at least one
    data: tuple[DataSpec, ...] = (DataSpec(),)
    model: ModelSpec = ModelSpec()
    optimizer: tuple[OptimizerSpec, ...] = (OptimizerSpec(),)
    seeds: tuple[int, ...] = tuple(range(10))  # an int n is read as 0..n-1
    iterations: tuple[int, ...] = (15000,)  # gradient-descent iterations (one value or a list)
    record_every: int = 100  # loss recorded at 0, record_every, ... and after the last iteration
    diagnostics: bool = True  # per-layer (residual nets: per-block) statistics at initialization and at the end
    loss_threshold: float = 0.1  # summary: first recorded iteration with loss <= this
    engine: str = "numpy"  # "numpy" (the reference) or "numba" (compiled)
    base_seed: int = 0  # root of every run's random stream
    name: str = "sweep"
    dtype: str = "float64"  # "float64" or "float32": what every run computes in

    def __post_init__(self):
        for key, kind in (("init", InitSpec), ("data", DataSpec), ("optimizer", OptimizerSpec)):
            value = getattr(self, key)
            items = (value,) if isinstance(value, kind) else tuple(value)
            if not items:
                raise ValueError(
                    f"The '{key}' parameter is empty, so the grid has no runs. Give at least one [[{key}]] table."
                )
            if not all(isinstance(v, kind) for v in items):
                raise TypeError(f"The '{key}' parameter must hold {kind.__name__} objects. Got {items!r} instead.")
            object.__setattr__(self, key, items)
        if not isinstance(self.model, ModelSpec):
            raise TypeError(f"The 'model' parameter must be a ModelSpec. Got {self.model!r} instead.")
        object.__setattr__(self, "seeds", _seeds(self.seeds))
        its = _values(
            "iterations", self.iterations, lambda n, v: check_int(n, v, min_value=1), example="iterations = 2000"
        )
        object.__setattr__(self, "iterations", its)
        object.__setattr__(self, "record_every", check_int("record_every", self.record_every, min_value=1))
        if not isinstance(self.diagnostics, bool):
            raise TypeError(f"The 'diagnostics' parameter must be true or false. Got {self.diagnostics!r} instead.")
        object.__setattr__(self, "loss_threshold", _positive_real("loss_threshold", self.loss_threshold))
        check_choice("engine", self.engine, catalogue.available_engines())
        object.__setattr__(self, "base_seed", check_int("base_seed", self.base_seed, min_value=0))
        object.__setattr__(self, "name", _string("name", self.name))
        object.__setattr__(self, "dtype", check_dtype(self.dtype).name)
        for init in self.init:
            check_init_fits_model(init.name, self.model, dict(init.options))

    # ---- canonical forms ---------------------------------------------------------------------
    def to_dict(self) -> dict:
        """The spec as plain data (the TOML file's structure, every default filled in)."""

        def plain(obj):
            if dataclasses.is_dataclass(obj):
                out = {}
                for f in dataclasses.fields(obj):
                    value = getattr(obj, f.name)
                    out[f.name] = dict(value) if f.name == "options" else plain(value)
                return out
            if isinstance(obj, tuple):
                return [plain(v) for v in obj]
            return obj

        out = plain(self)
        if not self.model.is_residual:  # a plain spec reads as it did before residual nets (same fingerprint)
            for key in RESIDUAL_KEYS:
                del out["model"][key]
        if self.model.parametrization is None:  # likewise a standard one, before parametrizations
            for key in PARAMETRIZATION_KEYS:
                del out["model"][key]
        if self.dtype == "float64":  # and a float64 one, before dtype
            del out["dtype"]
        return out

    def identity(self) -> dict:
        """What decides the numbers: :meth:`to_dict` without ``name`` and ``loss_threshold``."""
        out = self.to_dict()
        del out["name"], out["loss_threshold"]
        return out

    def fingerprint(self) -> str:
        """sha256 of the canonical JSON of :meth:`identity` (64 hex digits)."""
        return sha256_json(self.identity())

    @classmethod
    def from_dict(cls, doc: Mapping, *, source: str = "<spec>", default_name: str = "sweep") -> SweepSpec:
        """Build from parsed TOML (or :meth:`to_dict`); errors name ``source`` and the key."""
        return _from_document(doc, source=source, default_name=default_name)


def check_init_fits_model(name: str, model: ModelSpec, options: Mapping | None = None) -> None:
    """A ValueError if initializer ``name`` (with ``options``) cannot initialize ``model``'s networks: a structural
    one without blocks, or one the model's non-standard parametrizations refuse (not ``gain^2 / fan_in``)."""
    if name in residual.STRUCTURAL and not model.is_residual:
        raise ValueError(
            f"The init {name!r} is a structural initializer of residual nets ({residual.STRUCTURAL[name][1]}), but "
            "[model] has no 'blocks'. Add blocks = [4, 16] and width = 16 to [model], or choose a per-matrix init "
            "such as he_normal."
        )
    for p in model.parametrization or ():
        if p == "standard":
            continue
        if name == "lsuv":
            raise ValueError(
                f"The init 'lsuv' sets each layer's scale from the data; parametrization {p!r} sets it from the width. "
                f'Use a fan_in init such as he_normal with {p!r}, or parametrization = "standard" only.'
            )
        options = dict(options or {}) | ({"scale": 1.0} if name == "random" else {})
        parametrization.check_initializer(p, initializers.get(name, **options), name)


#: The most runs one sweep's grid may hold (a million runs' plan takes ~1 GB and minutes to make).
MAX_RUNS = 1_000_000


def _seeds(value) -> tuple[int, ...]:
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return tuple(range(check_int("seeds", value, min_value=1, max_value=MAX_RUNS)))
    if isinstance(value, (list, tuple)):
        return _values(
            "seeds", value, lambda n, v: check_int(n, v, min_value=0), example="seeds = 10 or seeds = [3, 7]"
        )
    raise TypeError(
        f"The 'seeds' parameter must be a count (e.g. 10) or a list of seeds (e.g. [3, 7]). Got {value!r} instead."
    )


def sha256_json(obj) -> str:
    """sha256 hex digest of ``obj`` as canonical JSON (sorted keys, no spaces): stable across runs and machines."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


# --------------------------------------------------------------------------------------------
# TOML -> dataclasses, with messages that point into the file
# --------------------------------------------------------------------------------------------
_TOP = (
    "name",
    "seeds",
    "base_seed",
    "iterations",
    "record_every",
    "diagnostics",
    "loss_threshold",
    "engine",
    "dtype",
    "data",
    "model",
    "init",
    "optimizer",
)
_TABLE_KEYS = {
    "data": ("dataset", "n_train", "n_test", "noise", "classes", "data_seed"),
    "model": ("hidden", "depth", "width", "activation", *RESIDUAL_KEYS, *PARAMETRIZATION_KEYS),
    "init": ("name", "scale", "options"),
}


def _unknown_keys(table: Mapping, allowed: Sequence[str]) -> None:
    unknown = [k for k in table if k not in allowed]
    if unknown:
        key = unknown[0]
        hint = difflib.get_close_matches(key, allowed, n=1)
        did_you_mean = f" Did you mean '{hint[0]}'?" if hint else ""
        raise ValueError(f"Unknown key '{key}'.{did_you_mean} Allowed: {', '.join(allowed)}.")


def _tables(doc: Mapping, key: str) -> list[Mapping]:
    """``[key]`` (one table) or ``[[key]]`` (a list of tables) -> list of tables."""
    value = doc[key]
    items = [value] if isinstance(value, Mapping) else value
    if not isinstance(items, list) or not all(isinstance(t, Mapping) for t in items):
        raise TypeError(f"The '{key}' key must be a table: write [{key}] or [[{key}]] sections. Got {value!r} instead.")
    return items


class _Located:
    """Re-raise ValueError/TypeError from inside the block as SpecError naming the file and the table."""

    def __init__(self, source: str, where: str = ""):
        self.source, self.where = source, where

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        if kind is None or kind is SpecError or not issubclass(kind, (ValueError, TypeError)):
            return False
        # The checks speak of a function's parameters; in a TOML file they are keys.
        message = re.sub(r"\bparameter(s?)\b", r"key\1", str(exc))
        where = f"{self.where}: " if self.where else ""
        raise SpecError(f"{self.source}: {where}{message}") from None


def _from_document(doc: Mapping, *, source: str, default_name: str) -> SweepSpec:
    with _Located(source, "top level"):
        if not isinstance(doc, Mapping):
            raise TypeError(f"A sweep spec must be a TOML document (a table). Got {type(doc).__name__}.")
        _unknown_keys(doc, _TOP)
        if "init" not in doc:
            raise ValueError(
                "The 'init' key is missing: add at least one [[init]] table, e.g. [[init]] name = \"he_normal\"."
            )
    kwargs: dict[str, Any] = {}
    if "data" in doc:
        with _Located(source):
            tables = _tables(doc, "data")
        data = []
        for i, table in enumerate(tables):
            where = "[data]" if isinstance(doc["data"], Mapping) else f"[[data]] #{i + 1}"
            with _Located(source, where):
                _unknown_keys(table, _TABLE_KEYS["data"])
                data.append(DataSpec(**table))
        kwargs["data"] = tuple(data)
    if "model" in doc:
        with _Located(source, "[model]"):
            if not isinstance(doc["model"], Mapping):
                raise TypeError(
                    f"The 'model' key must be a table: write a [model] section. Got {doc['model']!r} instead."
                )
            _unknown_keys(doc["model"], _TABLE_KEYS["model"])
            kwargs["model"] = ModelSpec(**doc["model"])
    with _Located(source):
        tables = _tables(doc, "init")
    inits = []
    for i, table in enumerate(tables):
        where = f"[[init]] #{i + 1}" + (f" ({table['name']!r})" if isinstance(table.get("name"), str) else "")
        with _Located(source, where):
            _unknown_keys(table, _TABLE_KEYS["init"])
            if "name" not in table:
                raise ValueError("The 'name' key is missing, e.g. name = \"he_normal\".")
            inits.append(InitSpec(**table))
            check_init_fits_model(inits[-1].name, kwargs.get("model", ModelSpec()), dict(inits[-1].options))
    kwargs["init"] = tuple(inits)
    if "optimizer" in doc:
        with _Located(source):
            tables = _tables(doc, "optimizer")
        optimizers = []
        for i, table in enumerate(tables):
            where = f"[[optimizer]] #{i + 1}" + (f" ({table['name']!r})" if isinstance(table.get("name"), str) else "")
            with _Located(source, where):
                table = dict(table)
                # In TOML the options sit beside name and learning_rate; in Python they are a dict.
                options = table.pop("options", {}) if isinstance(table.get("options"), Mapping) else {}
                options = {**options, **{k: table.pop(k) for k in list(table) if k not in ("name", "learning_rate")}}
                optimizers.append(OptimizerSpec(**table, options=options))
        kwargs["optimizer"] = tuple(optimizers)
    with _Located(source, "top level"):
        for key in (
            "seeds",
            "base_seed",
            "iterations",
            "record_every",
            "diagnostics",
            "loss_threshold",
            "engine",
            "dtype",
            "name",
        ):
            if key in doc:
                kwargs[key] = doc[key]
        kwargs.setdefault("name", default_name)
        return SweepSpec(**kwargs)


def parse_spec(text: str, *, source: str = "<spec>", default_name: str = "sweep") -> SweepSpec:
    """Parse TOML ``text`` into a :class:`SweepSpec`; errors name ``source`` (a file name) and the key.

    Raises
    ------
    SpecError
        Not TOML, an unknown key (with a suggestion), a wrong type, an empty grid, an unknown
        initializer, dataset, activation or optimizer, or a bad option.
    """
    toml = _toml()
    try:
        doc = toml.loads(text)
    except toml.TOMLDecodeError as exc:
        raise SpecError(f"{source}: not valid TOML: {exc}. Check the quoting and brackets there.") from None
    return SweepSpec.from_dict(doc, source=source, default_name=default_name)


def load_spec(path) -> tuple[SweepSpec, str]:
    """Read and parse the TOML file at ``path``; return the spec and the file's text.

    The default ``name`` is the file's stem.

    Raises
    ------
    SpecError
        The file cannot be read, or see :func:`parse_spec`.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(
            f"{path}: cannot read the sweep spec ({exc.strerror or exc}). Give the path of a .toml file."
        ) from None
    except UnicodeDecodeError:
        raise SpecError(f"{path}: not a text file (not UTF-8). Give the path of a .toml sweep spec.") from None
    return parse_spec(text, source=str(path), default_name=path.stem), text


def _toml():
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    return tomllib
