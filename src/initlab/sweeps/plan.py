r"""From a spec to runs, groups and chunks that fit the memory.

Runs
----
:func:`make_plan` expands the grid in a fixed order (dataset, network, activation, initializer,
scale, optimizer, learning rate, iterations, seed) into :class:`RunConfig` objects. A run's
*name* joins the values that vary across the sweep, e.g. ``circles/depth=5/random*10/seed=3``.
A residual spec (``blocks``) adds blocks x branch depth x norm after the activation; its network
label names them (``2-16-1 res B=4``, :func:`network_label`), so runs at different block counts
are different groups everywhere (summary, report, export). A spec's ``[model] parametrization``
(:mod:`initlab.parametrization`) is a grid dimension after the residual ones; the network label
names a non-standard one (``2-64x3-1 mup base=16``), so it too makes groups of its own.

Randomness
----------
Each run draws from its own stream,

.. math:: \text{SeedSequence}(\text{base\_seed},\ \text{spawn\_key} = (h, \text{seed})),

where :math:`h` is the first 64 bits of the sha256 of the run's *stream identity*: dataset,
network, activation, initializer with options and scale, optimizer with options and learning rate
(not the seed, and not how long or how closely it is watched: ``iterations``, ``record_every``,
``diagnostics``, ``engine``, ``dtype``; nor the parametrization: a muP run and a standard run of one seed
draw the same numbers, scaled per layer by the table, so they start as a paired comparison, and at
width = ``base_width`` from the same weights). So a run's numbers do not depend on which other runs are in the
sweep, on the chunk it lands in, on the executor or on the worker count; and training a run
longer starts it from the same weights.

Groups and chunks
-----------------
Runs that share a :class:`Setup` (data, network, activation, optimizer, iterations; for a
residual net also its scalars, ``initlab.residual.scalars_for(init)``) train together along the
model axis; a group is cut into :class:`Chunk` s of at most ``chunk_size``
models, sized so that a chunk's arrays fit ``memory_budget`` bytes. The learning rate and the
initialization differ from model to model inside a chunk. What training the chunks will take
(time and memory) is forecast by :mod:`initlab.sweeps.forecast`.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from initlab.budget import check_memory, residual_layers, training_bytes
from initlab.network import MLP
from initlab.residual import ResidualMLP, scalars_for
from initlab.validation import check_int

from .catalogue import Data, DatasetRef, data_info, load_data
from .spec import MAX_RUNS, SweepSpec, sha256_json

__all__ = [
    "Chunk",
    "Plan",
    "RunConfig",
    "Setup",
    "build_net",
    "chunk_bytes",
    "make_chunks",
    "make_plan",
    "network_label",
    "run_bytes",
]

#: Default most models trained together in one chunk: large enough that the batched matrix
#: products amortize numpy's per-call overhead, small enough to commit (and resume) often.
DEFAULT_CHUNK_SIZE = 32
#: Default memory a chunk's arrays may take in a worker, in bytes.
DEFAULT_MEMORY_BUDGET = 512 * 2**20


@dataclass(frozen=True)
class Setup:
    """What the runs of a chunk share: they train together along the model axis."""

    dataset: DatasetRef
    layers: tuple[int, ...]  # (n_0, ..., n_L), inputs and outputs from the dataset
    activation: str
    output: str  # "sigmoid" (2 classes) or "softmax"
    optimizer: str
    optimizer_options: tuple[tuple[str, Any], ...]
    iterations: int
    record_every: int
    diagnostics: bool
    engine: str
    # Residual nets (layers = (n_in, width, n_out)); blocks None: a plain MLP of layers.
    blocks: int | None = None
    branch_depth: int = 2
    norm: str = "none"
    scalars: str = "none"  # initlab.residual.scalars_for(init): runs of one setup share one net
    # Plain MLPs: initlab.parametrization; base_width only with "mup"
    parametrization: str = "standard"
    base_width: int | None = None
    dtype: str = "float64"  # what training computes in (SweepSpec.dtype)

    @property
    def residual(self) -> dict | None:
        """``{"blocks", "branch_depth", "norm", "scalars"}`` of a residual net; None for a plain MLP."""
        if self.blocks is None:
            return None
        return {"blocks": self.blocks, "branch_depth": self.branch_depth, "norm": self.norm, "scalars": self.scalars}

    def net(self) -> MLP | ResidualMLP:
        """The network the runs of this setup train (:func:`build_net`)."""
        return build_net(self.layers, self.activation, self.output, self.residual, **self.scaling)

    @property
    def scaling(self) -> dict:
        """``{"parametrization", "base_width"}`` of the net (``MLP``'s keyword arguments)."""
        return {"parametrization": self.parametrization, "base_width": self.base_width}

    @property
    def network(self) -> str:
        """The network's label (:func:`network_label`), e.g. ``"2-10-5-1"``, ``"2-16-1 res B=4"`` or ``"2-64-1 mup base=16"``."""
        return network_label(self.layers, self.residual, **self.scaling)

    @property
    def record_iterations(self) -> np.ndarray:
        """Iterations of the stored losses: ``0, record_every, ... < iterations``, then ``iterations`` (the trained model)."""
        return np.append(np.arange(0, self.iterations, self.record_every), self.iterations)

    @property
    def n_records(self) -> int:
        """``record_iterations.size``, without making the array (an estimate must not allocate what it estimates)."""
        return -(-self.iterations // self.record_every) + 1


@dataclass(frozen=True)
class RunConfig:
    """One run: a setup, an initialization, a learning rate and a seed."""

    setup: Setup
    init: str
    init_options: tuple[tuple[str, Any], ...]
    scale: float
    learning_rate: float
    seed: int
    base_seed: int
    index: int  # position in the grid
    name: str  # readable, unique in the sweep
    key: str  # sha256 of everything that decides its numbers (unique in the sweep)

    def seed_sequence(self) -> np.random.SeedSequence:
        """The run's own stream: ``SeedSequence(base_seed, spawn_key=(h, seed))`` (module docstring)."""
        h = int(sha256_json(stream_identity(self))[:16], 16)
        return np.random.SeedSequence(self.base_seed, spawn_key=(h, self.seed))

    def record(self) -> dict:
        """The run's configuration as plain data (stored with it; the summary groups by it).

        Residual runs add ``"residual"`` (:attr:`Setup.residual`); their ``depth`` is the weight layers
        on the path through every branch, ``blocks * branch_depth + 2``.
        """
        s = self.setup
        out = {
            "dataset": s.dataset.as_dict(),
            "layers": list(s.layers),
            "depth": len(s.layers) - 1,
            "activation": s.activation,
            "output": s.output,
            "init": self.init,
            "init_options": dict(self.init_options),
            "scale": self.scale,
            "optimizer": s.optimizer,
            "optimizer_options": dict(s.optimizer_options),
            "learning_rate": self.learning_rate,
            "iterations": s.iterations,
            "record_every": s.record_every,
            "diagnostics": s.diagnostics,
            "engine": s.engine,
            "seed": self.seed,
            "labels": labels(self),
        }
        if s.residual is not None:
            out["depth"] = s.blocks * s.branch_depth + 2
            out["residual"] = s.residual
        if s.parametrization != "standard":  # a standard run's record is as it always was
            out |= s.scaling
        if s.dtype != "float64":  # likewise a float64 run's
            out["dtype"] = s.dtype
        return out


def stream_identity(run: RunConfig) -> dict:
    """What a run's random stream is derived from (without the seed): see the module docstring."""
    s = run.setup
    return {
        "dataset": s.dataset.as_dict(),
        "layers": list(s.layers),
        "activation": s.activation,
        "output": s.output,
        "init": run.init,
        "init_options": dict(run.init_options),
        "scale": run.scale,
        "optimizer": s.optimizer,
        "optimizer_options": dict(s.optimizer_options),
        "learning_rate": run.learning_rate,
    } | ({"residual": s.residual} if s.residual is not None else {})  # a plain run's identity is as it always was


def build_net(layers: Sequence[int], activation: str, output: str, residual: dict | None = None, *,
              parametrization: str = "standard", base_width: int | None = None) -> MLP | ResidualMLP:  # fmt: skip
    """A run's network: ``MLP(layers, ..., parametrization=, base_width=)``, or with ``residual``
    (:attr:`Setup.residual`) the ResidualMLP ``(n_in, width, n_out) = layers`` with its blocks, branch
    depth, norm and scalars (standard only: the spec refuses others)."""
    if residual is None:
        return MLP(tuple(layers), activation, output, parametrization=parametrization, base_width=base_width)
    n_in, width, n_out = layers
    return ResidualMLP(n_in, width, n_out, residual["blocks"], branch_depth=residual["branch_depth"],
                       activation=activation, output=output, norm=residual["norm"], scalars=residual["scalars"])  # fmt: skip


def _run_key(run: RunConfig) -> str:
    s = run.setup
    scaling = s.scaling if s.parametrization != "standard" else {}  # a standard run's key is as it always was
    scaling |= {"dtype": s.dtype} if s.dtype != "float64" else {}  # so is a float64 run's
    return sha256_json({**stream_identity(run), **scaling, "seed": run.seed, "base_seed": run.base_seed, "iterations": s.iterations,
                        "record_every": s.record_every, "diagnostics": s.diagnostics, "engine": s.engine})[:32]  # fmt: skip


@dataclass(frozen=True)
class Chunk:
    """Runs of one setup trained together: the unit of work, of commit and of resume.

    The driver loads the data once and ships it with every chunk (a few kB for the notebook's
    datasets), so that workers need neither the dataset code nor its dependencies and all of
    them train on the same arrays.
    """

    setup: Setup
    runs: tuple[RunConfig, ...]
    data: Data = field(repr=False, compare=False)


@dataclass(frozen=True)
class Plan:
    """A spec expanded: every run in grid order, grouped by setup."""

    spec: SweepSpec
    runs: tuple[RunConfig, ...]
    groups: tuple[tuple[Setup, tuple[RunConfig, ...]], ...]  # in order of first appearance

    @property
    def varying(self) -> tuple[str, ...]:
        """The grid dimensions with more than one value (label keys, e.g. ``("init", "seed")``)."""
        return varying_dimensions(labels(run) for run in self.runs)


# --------------------------------------------------------------------------------------------
# Labels
# --------------------------------------------------------------------------------------------
#: The label dimensions, in name order.
DIMENSIONS = ("dataset", "network", "activation", "init", "optimizer", "learning_rate", "iterations", "seed")


def network_label(layers: Sequence[int], residual: dict | None = None, *, parametrization: str = "standard",
                  base_width: int | None = None) -> str:  # fmt: skip
    """``(2, 10, 5, 1)`` -> ``"2-10-5-1"``; three or more equal hidden widths are counted: ``"2-10x19-1"``.

    A non-standard parametrization is named after the sizes: ``"2-64x3-1 ntk"``, ``"2-64x3-1 mup base=16"``.

    A residual net (``residual``: :attr:`Setup.residual`) of trunk width 16 and 4 blocks:
    ``"2-16-1 res B=4"``, then `` m=3`` for a branch depth other than 2 and `` LN`` for pre-LN branches
    (its scalars follow from the initializer, which has its own label).
    """
    if residual is not None:
        m = residual["branch_depth"]
        return ("-".join(map(str, layers)) + f" res B={residual['blocks']}" + (f" m={m}" if m != 2 else "")
                + (" LN" if residual["norm"] == "layer" else ""))  # fmt: skip
    parts = [str(layers[0])]
    for width, run in itertools.groupby(layers[1:-1]):
        n = len(list(run))
        parts += [f"{width}x{n}"] if n >= 3 else [str(width)] * n
    parts.append(str(layers[-1]))
    suffix = "" if parametrization == "standard" else f" {parametrization}"
    return "-".join(parts) + suffix + ("" if base_width is None else f" base={base_width}")


def _options_label(options) -> str:
    return "(" + ", ".join(f"{k}={v}" for k, v in options) + ")" if options else ""


def labels(run: RunConfig) -> dict[str, str]:
    """The run's value of every dimension as short text (``init``: ``"random*10"``, ``"he_normal"``)."""
    s = run.setup
    d = s.dataset
    data = d.name
    extra = [f"{k}={v}" for k, v in (("n_train", d.n_train), ("n_test", d.n_test), ("noise", d.noise),
                                     ("classes", d.classes)) if v is not None]  # fmt: skip
    if d.data_seed:
        extra.append(f"data_seed={d.data_seed}")
    if extra:
        data += "(" + ", ".join(extra) + ")"
    init = run.init + _options_label(run.init_options) + (f"*{run.scale:g}" if run.scale != 1 else "")
    return {
        "dataset": data,
        "network": s.network,
        "activation": s.activation,
        "init": init,
        "optimizer": s.optimizer + _options_label(s.optimizer_options),
        "learning_rate": f"{run.learning_rate:g}",
        "iterations": str(s.iterations),
        "seed": str(run.seed),
    }


def varying_dimensions(all_labels: Iterable[dict]) -> tuple[str, ...]:
    """Dimensions whose label takes more than one value, in :data:`DIMENSIONS` order."""
    seen: dict[str, set] = {d: set() for d in DIMENSIONS}
    for lab in all_labels:
        for d in DIMENSIONS:
            seen[d].add(lab[d])
    return tuple(d for d in DIMENSIONS if len(seen[d]) > 1)


def _name(lab: dict, varying: Sequence[str]) -> str:
    shown = [d for d in DIMENSIONS if d in varying or d in ("init", "seed")]
    fmt = {"network": "net={}", "learning_rate": "lr={}", "iterations": "it={}", "seed": "seed={}"}
    return "/".join(fmt.get(d, "{}").format(lab[d]) for d in shown)


# --------------------------------------------------------------------------------------------
# Expansion
# --------------------------------------------------------------------------------------------
def make_plan(spec: SweepSpec) -> Plan:
    """Expand ``spec`` into runs (grid order), named by what varies, grouped by setup.

    Loads each dataset once (for its input size and number of classes).

    Raises
    ------
    ValueError
        Two runs of the grid are the same (e.g. an initializer listed twice), or the grid has more
        than :data:`~initlab.sweeps.spec.MAX_RUNS` runs (counted before any is made).
    """
    archs = len(spec.model.architectures()) * len(spec.model.residual_grid()) * len(spec.model.parametrizations())
    per_data = (archs * len(spec.model.activation) * sum(len(i.scale) for i in spec.init)
                * sum(len(o.learning_rate) for o in spec.optimizer) * len(spec.iterations) * len(spec.seeds))  # fmt: skip
    count = sum(len(d.dataset) for d in spec.data) * per_data
    if count > MAX_RUNS:
        raise ValueError(f"The spec's grid has {count:,} runs; at most {MAX_RUNS:,} are planned at once. Split it into "
                         "several sweeps (fewer seeds, scales, learning rates or architectures each).")  # fmt: skip
    runs = []
    for data_spec in spec.data:
        for name in data_spec.dataset:
            dataset = DatasetRef(name, data_spec.n_train, data_spec.n_test, data_spec.noise, data_spec.classes,
                              data_spec.data_seed)  # fmt: skip
            info = data_info(dataset)
            output = "sigmoid" if info.n_classes == 2 else "softmax"
            n_out = 1 if info.n_classes == 2 else info.n_classes
            for hidden, activation, res, (pz, base) in itertools.product(
                spec.model.architectures(), spec.model.activation, spec.model.residual_grid(),
                spec.model.parametrizations()):  # fmt: skip
                layers = (info.n_features, *hidden, n_out)
                for init, opt, iterations in itertools.product(spec.init, spec.optimizer, spec.iterations):
                    setup = Setup(dataset, layers, activation, output, opt.name, opt.options, iterations,
                                  spec.record_every, spec.diagnostics, spec.engine, parametrization=pz,
                                  base_width=base, dtype=spec.dtype)  # fmt: skip
                    if res is not None:
                        setup = dataclasses.replace(setup, blocks=res[0], branch_depth=res[1], norm=res[2],
                                                    scalars=scalars_for(init.name))  # fmt: skip
                    for scale, lr, seed in itertools.product(init.scale, opt.learning_rate, spec.seeds):
                        runs.append(RunConfig(setup, init.name, init.options, scale, lr, seed, spec.base_seed,
                                              len(runs), "", ""))  # fmt: skip
    all_labels = [labels(r) for r in runs]
    varying = varying_dimensions(all_labels)
    named = []
    for run, lab in zip(runs, all_labels):
        run = dataclasses.replace(run, name=_name(lab, varying))
        named.append(dataclasses.replace(run, key=_run_key(run)))
    seen: dict[str, str] = {}
    for run in named:
        if run.key in seen:
            raise ValueError(
                f"The grid holds the run {run.name!r} twice (an [[init]] or [[optimizer]] table, a scale or a learning rate "
                "is listed more than once). List each once."
            )
        seen[run.key] = run.name
    grouped: dict[Setup, list[RunConfig]] = {}
    for run in named:
        grouped.setdefault(run.setup, []).append(run)
    return Plan(spec, tuple(named), tuple((s, tuple(r)) for s, r in grouped.items()))


# --------------------------------------------------------------------------------------------
# Chunks, memory and time
# --------------------------------------------------------------------------------------------
def chunk_bytes(setup: Setup, K: int, m: int) -> int:
    """Bytes of the arrays a chunk of K models allocates while training on m examples (:func:`initlab.budget.training_bytes`).

    A residual net counts as the plain MLP of :func:`initlab.budget.residual_layers` (an upper bound).
    """
    layers = setup.layers
    if setup.blocks is not None:
        layers = residual_layers(*layers, setup.blocks, setup.branch_depth, setup.norm)
    return training_bytes(layers, K, m, setup.n_records)


def run_bytes(setup: Setup) -> int:
    """Bytes one run of ``setup`` needs; a ValueError (what to change) if it cannot fit in this machine's memory."""
    m = load_data(setup.dataset).X_train.shape[1]
    return check_memory(chunk_bytes(setup, 1, m),
                        f"One run of {setup.network} on {m:,} examples recording {setup.n_records:,} losses",
                        "Use narrower or fewer hidden layers, fewer training examples, or fewer iterations or a larger "
                        "record_every.")  # fmt: skip


def make_chunks(runs: Sequence[RunConfig], *, chunk_size: int = DEFAULT_CHUNK_SIZE,
                memory_budget: int = DEFAULT_MEMORY_BUDGET, workers: int = 1) -> list[Chunk]:  # fmt: skip
    """Cut ``runs`` (any subset of a plan, e.g. the unfinished ones) into chunks, in grid order.

    Runs of one setup go together; a chunk has at most ``chunk_size`` runs and at most what
    fits ``memory_budget`` bytes (:func:`chunk_bytes`), at least one. A group's chunks are made
    equal in size and, where the group is large enough, a multiple of ``workers`` in number, so
    that no worker is left with a last chunk alone (90 runs on 2 workers: 4 chunks of 23, not
    32 + 32 + 26). Which chunk a run lands in does not change its numbers.
    """
    chunk_size = check_int("chunk_size", chunk_size, min_value=1)
    memory_budget = check_int("memory_budget", memory_budget, min_value=1)
    workers = check_int("workers", workers, min_value=1)
    by_setup: dict[Setup, list[RunConfig]] = {}
    for run in runs:
        by_setup.setdefault(run.setup, []).append(run)
    chunks = []
    for setup, group in by_setup.items():
        data = load_data(setup.dataset)
        fits = max(1, memory_budget // max(1, run_bytes(setup)))
        size = min(chunk_size, fits)
        count = -(-len(group) // size)
        if count % workers and len(group) >= workers:
            count += workers - count % workers
        size = -(-len(group) // count)
        for start in range(0, len(group), size):
            chunks.append(Chunk(setup, tuple(group[start : start + size]), data))
    return chunks
