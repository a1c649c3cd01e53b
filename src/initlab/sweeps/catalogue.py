"""What a sweep can use: the datasets, optimizers and engines that exist, and a dataset's arrays.

A spec is checked against this catalogue (:mod:`initlab.sweeps.spec`), a plan reads the sizes of
its datasets from it (:mod:`initlab.sweeps.plan`) and the worker trains on the arrays it loads
(:mod:`initlab.sweeps.worker`). A data set is referred to by a :class:`DatasetRef` (its name,
sizes and data seed) and loaded once per process (:func:`load_data`); ``circles`` with the
notebook's sizes and ``data_seed = 0`` is the notebook's data exactly
(:func:`initlab.datasets.is_notebook_data`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from initlab import datasets, optimizers

__all__ = [
    "DIAGNOSTIC_FIELDS",
    "Data",
    "DataInfo",
    "DatasetRef",
    "available_datasets",
    "available_engines",
    "available_optimizers",
    "check_optimizer",
    "data_info",
    "load_data",
]

#: Per-layer statistics kept at initialization and at the end (:class:`initlab.diagnostics.LayerStats`).
DIAGNOSTIC_FIELDS = ("z_mean", "z_std", "a_mean", "a_std", "grad_W_norm", "grad_b_norm", "dead_fraction",
                     "saturated_fraction", "distinct_units")  # fmt: skip


# --------------------------------------------------------------------------------------------
# What exists
# --------------------------------------------------------------------------------------------
def available_datasets() -> tuple[str, ...]:
    """Dataset names a spec may use."""
    return tuple(datasets.available())


def available_optimizers() -> tuple[str, ...]:
    """Optimizer names a spec may use."""
    return tuple(optimizers.available())


def available_engines() -> tuple[str, ...]:
    """Training engines (:data:`initlab.training.ENGINES`): ``"numpy"`` (the reference) and ``"numba"``."""
    from initlab.training import ENGINES

    return ENGINES


def check_optimizer(name: str, options: dict) -> None:
    """Raise a ValueError/TypeError if optimizer ``name`` does not take ``options`` (``batch_size`` or its own).

    ``batch_size`` follows :func:`initlab.optimizers.check_batch_size` (a minibatch optimizer only).
    """
    options = dict(options)
    batch_size = options.pop("batch_size", None)
    optimizers.check_batch_size(batch_size, optimizers.get(name, **options))


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DatasetRef:
    """One dataset of a sweep (a single name of a ``[data]`` table): what :func:`load_data` loads.

    ``None`` sizes, noise and classes are the dataset's defaults (:func:`initlab.datasets.load`).
    """

    name: str
    n_train: int | None
    n_test: int | None
    noise: float | None
    classes: int | None
    data_seed: int

    def as_dict(self) -> dict:
        return {"name": self.name, "n_train": self.n_train, "n_test": self.n_test, "noise": self.noise,
                "classes": self.classes, "data_seed": self.data_seed}  # fmt: skip


@dataclass(frozen=True)
class Data:
    """A dataset in the notebook's layout: ``X`` (n_features, m), ``Y`` (1, m) labels."""

    X_train: np.ndarray
    Y_train: np.ndarray
    X_test: np.ndarray
    Y_test: np.ndarray
    n_classes: int


@dataclass(frozen=True)
class DataInfo:
    """Sizes of a dataset, for building networks and estimating memory."""

    n_features: int
    n_classes: int
    n_train: int
    n_test: int
    bytes: int


@functools.lru_cache(maxsize=8)
def load_data(dataset: DatasetRef) -> Data:
    """The dataset's arrays, from :func:`initlab.datasets.load` seeded with ``data_seed`` (cached per process).

    ``circles`` with the notebook's sizes and ``data_seed = 0`` is the notebook's data exactly
    (loaded with ``rng=None``, as :func:`initlab.course.load_dataset` draws it).
    """
    options = {k: v for k, v in (("n_train", dataset.n_train), ("n_test", dataset.n_test), ("noise", dataset.noise),
                                 ("classes", dataset.classes)) if v is not None}  # fmt: skip
    notebook = dataset.data_seed == 0 and datasets.is_notebook_data(dataset.name, **options)
    d = datasets.load(dataset.name, **options, rng=None if notebook else dataset.data_seed)
    return Data(*(np.ascontiguousarray(a) for a in (d.X_train, d.Y_train, d.X_test, d.Y_test)), int(d.n_classes))


def data_info(dataset: DatasetRef) -> DataInfo:
    """Input size, number of classes and example counts of ``dataset``."""
    d = load_data(dataset)
    nbytes = sum(a.nbytes for a in (d.X_train, d.Y_train, d.X_test, d.Y_test))
    return DataInfo(d.X_train.shape[0], d.n_classes, d.X_train.shape[1], d.X_test.shape[1], nbytes)
