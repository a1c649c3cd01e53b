r"""Classification data sets in the notebook's layout: the notebook's circles and friends, and CSV files.

Every loader returns a :class:`Dataset` with the notebook's shapes: ``X`` is ``(n_features, m)``, one
column per example, and ``Y`` is ``(1, m)`` of int class labels ``0 .. n_classes - 1``. Two classes
go with a sigmoid output (``layers[-1] = 1``), three or more with a softmax (``layers[-1] =
n_classes``): :attr:`Dataset.output` and :meth:`Dataset.check_layers` say which.

=======================  ========  =======  ==================================================
name                     features  classes  what
=======================  ========  =======  ==================================================
``circles``              2         2        the notebook's: two noisy concentric circles
``moons``                2         2        two interleaving half circles
``spirals``              2         k (2)    k interleaved spiral arms
``xor``                  2         2        the four quadrants, opposite ones share a class
``gaussian_quantiles``   2         k (2)    shells of a 2-D normal cut at its quantiles
``blobs``                2         k (3)    k Gaussian clusters around a circle
``digits``               64        10       scikit-learn's 8x8 handwritten digits (real data)
=======================  ========  =======  ==================================================

Randomness
----------
``rng`` is passed explicitly (anything ``numpy.random.default_rng`` accepts); scikit-learn's
generators get an int ``random_state`` drawn from it. The training and test splits are drawn
separately (as the notebook does), both from the same distribution. The one exception is
``load("circles")`` with its defaults and ``rng=None``: that is the notebook's data exactly,
:func:`initlab.course.load_dataset` (``make_circles`` seeded with 1 and 2). Every class has
``n // k`` or ``n // k + 1`` examples in each split (exactly balanced where ``k`` divides ``n``).

``noise`` is, for every generated set, the standard deviation of Gaussian noise on each feature
(scikit-learn's meaning for ``make_circles``/``make_moons``; the cluster spread for ``blobs``).
"""

from __future__ import annotations

import csv
import functools
import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from initlab.validation import check_choice, check_int, check_real, check_rng

__all__ = ["Dataset", "available", "from_csv", "load"]


@dataclass(frozen=True)
class Dataset:
    """A classification problem split into training and test sets, in the notebook's layout.

    Attributes
    ----------
    name : str
    X_train : (n_features, m_train) float64
    Y_train : (1, m_train) int64, labels in ``[0, n_classes)``
    X_test : (n_features, m_test) float64
    Y_test : (1, m_test) int64
    n_classes : int >= 2
    description : str
        One line on where the data come from (sizes, noise, seed or file).
    class_names : tuple of str
        ``class_names[c]`` is what label ``c`` stands for (a CSV file's original labels).
    feature_names : tuple of str
    """

    name: str
    X_train: np.ndarray
    Y_train: np.ndarray
    X_test: np.ndarray
    Y_test: np.ndarray
    n_classes: int
    description: str
    class_names: tuple[str, ...]
    feature_names: tuple[str, ...] = field(default=())

    @property
    def n_features(self) -> int:
        """n_0, the number of input features (rows of X)."""
        return self.X_train.shape[0]

    @property
    def output(self) -> str:
        """``"sigmoid"`` for two classes, ``"softmax"`` for more."""
        return "sigmoid" if self.n_classes == 2 else "softmax"

    @property
    def n_outputs(self) -> int:
        """Output units of a network for this data: 1 (sigmoid) or ``n_classes`` (softmax)."""
        return 1 if self.n_classes == 2 else self.n_classes

    def default_layers(self, hidden: tuple[int, ...] = (10, 5)) -> tuple[int, ...]:
        """``(n_features, *hidden, n_outputs)``; the notebook's hidden layers by default."""
        return (self.n_features, *hidden, self.n_outputs)

    def check_layers(self, layers) -> tuple[int, ...]:
        """Return ``layers`` if it starts with ``n_features`` and ends with ``n_outputs``; else a ValueError saying which numbers."""
        layers = tuple(layers)
        kind = "binary classification: one sigmoid output" if self.n_classes == 2 else f"{self.n_classes} classes: softmax"
        if len(layers) < 2 or layers[0] != self.n_features or layers[-1] != self.n_outputs:
            example = ",".join(str(n) for n in self.default_layers())
            raise ValueError(
                f"The 'layers' parameter must start with {self.n_features} (the features of {self.name}) and end with "
                f"{self.n_outputs} ({kind}). Got {','.join(str(n) for n in layers)} instead; e.g. {example}."
            )
        return layers


@dataclass(frozen=True)
class _Spec:
    summary: str
    n_train: int
    n_test: int
    noise: float | None  # None: the data have no noise option
    classes: int | None  # default k for the sets that take one; None: fixed
    make: Callable  # make(n, noise, classes, rng) -> (X (n, n_features), y (n,)), or a whole Dataset for digits


def _circles(n, noise, classes, rng):
    from sklearn.datasets import make_circles  # lazy: importing scikit-learn costs ~1.5 s

    return make_circles(n_samples=n, noise=noise, random_state=_seed(rng))  # factor 0.8, as the notebook


def _moons(n, noise, classes, rng):
    from sklearn.datasets import make_moons

    return make_moons(n_samples=n, noise=noise, random_state=_seed(rng))


def _spirals(n, noise, classes, rng):
    r"""k arms: class c at angle :math:`2\pi c/k + 3\pi t`, radius :math:`t`, :math:`t \sim U(0.05, 1)`."""
    y = _balanced_labels(n, classes)
    t = rng.uniform(0.05, 1.0, n)
    angle = 2 * np.pi * y / classes + 3 * np.pi * t  # 1.5 turns per arm
    X = np.column_stack([t * np.cos(angle), t * np.sin(angle)])
    return X + rng.normal(0.0, noise, X.shape), y


def _xor(n, noise, classes, rng):
    """Uniform in [-1, 1]^2 by quadrant: class 0 where x1 x2 > 0, class 1 where x1 x2 < 0."""
    y = _balanced_labels(n, 2)
    size = rng.uniform(0.0, 1.0, (n, 2))
    sign1 = rng.choice([-1.0, 1.0], n)
    sign2 = np.where(y == 0, sign1, -sign1)
    X = size * np.column_stack([sign1, sign2])
    return X + rng.normal(0.0, noise, X.shape), y


def _gaussian_quantiles(n, noise, classes, rng):
    from sklearn.datasets import make_gaussian_quantiles

    X, y = make_gaussian_quantiles(n_samples=n, n_features=2, n_classes=classes, random_state=_seed(rng))
    return X + rng.normal(0.0, noise, X.shape), y


def _blobs(n, noise, classes, rng, *, phase: float = 0.0):
    from sklearn.datasets import make_blobs

    angle = 2 * np.pi * np.arange(classes) / classes + phase
    centers = np.column_stack([np.cos(angle), np.sin(angle)])  # on the unit circle: plots stay in [-1.5, 1.5]^2
    counts = np.bincount(_balanced_labels(n, classes), minlength=classes)
    return make_blobs(n_samples=counts, centers=centers, cluster_std=noise, random_state=_seed(rng))


_SPECS: dict[str, _Spec] = {
    "circles": _Spec("two noisy concentric circles (the notebook's data by default)", 300, 100, 0.05, None, _circles),
    "moons": _Spec("two interleaving half circles (make_moons)", 300, 100, 0.2, None, _moons),
    "spirals": _Spec("k interleaved spiral arms, 1.5 turns each", 300, 100, 0.05, 2, _spirals),
    "xor": _Spec("uniform in [-1, 1]^2, class 1 where x1 and x2 have opposite signs", 300, 100, 0.05, None, _xor),
    "gaussian_quantiles": _Spec("shells of a 2-D standard normal cut at its chi^2 quantiles", 300, 100, 0.0, 2, _gaussian_quantiles),
    "blobs": _Spec("k Gaussian clusters centred on the unit circle", 300, 100, 0.3, 3, _blobs),
    "digits": _Spec("scikit-learn's 8x8 handwritten digits, real images, pixels standardized", 1347, 450, None, None, None),
}  # fmt: skip


def available() -> dict[str, str]:
    """Data set names, each with a one-line description: what, features, classes, default sizes and noise."""
    out = {}
    for name, spec in _SPECS.items():
        features, classes = (64, "10 classes") if name == "digits" else (2, f"{spec.classes} classes by default (any k >= 2)" if spec.classes else "2 classes")
        noise = f", noise {spec.noise:g}" if spec.noise is not None else ""
        out[name] = f"{spec.summary}; {features} features, {classes}; {spec.n_train} train, {spec.n_test} test{noise}"
    return out


def load(name: str = "circles", *, n_train: int | None = None, n_test: int | None = None, noise: float | None = None,
         classes: int | None = None, rng=None) -> Dataset:  # fmt: skip
    r"""Load or generate data set ``name`` (see :func:`available`) in the notebook's layout.

    Parameters
    ----------
    name : str
        One of :func:`available`.
    n_train, n_test : int >= 1, optional
        Sizes of the splits; defaults 300 and 100 (the notebook's) for the generated sets. For
        ``digits`` they must add up to at most 1,797 (default 1,347 and 450, a stratified 75/25
        split).
    noise : float >= 0, optional
        Standard deviation of the Gaussian noise on each feature (the cluster spread for
        ``blobs``); each set's default is in :func:`available`. ``digits`` takes none.
    classes : int >= 2, optional
        k for ``spirals``, ``gaussian_quantiles`` and ``blobs``; the others have a fixed number.
    rng : None, int, SeedSequence or Generator
        For ``circles`` with all defaults, ``None`` gives the notebook's data
        (:func:`initlab.course.load_dataset`); otherwise fresh entropy, as everywhere in initlab.

    Returns
    -------
    Dataset
        ``X_train`` (n_features, n_train) float64, ``Y_train`` (1, n_train) int64, the same for test.
    """
    check_choice("name", name, _SPECS, owner="datasets.load")
    spec = _SPECS[name]
    if name == "digits":
        if noise is not None:
            raise ValueError("The 'noise' parameter does not apply to 'digits' (real images, not generated). Leave it out.")
        if classes is not None:
            raise ValueError("The 'classes' parameter does not apply to 'digits': it has 10 classes. Leave it out.")
        return _digits(n_train, n_test, check_rng(rng))
    n_train = spec.n_train if n_train is None else check_int("n_train", n_train, min_value=1)
    n_test = spec.n_test if n_test is None else check_int("n_test", n_test, min_value=1)
    noise = spec.noise if noise is None else check_real("noise", noise, min_value=0.0)
    if classes is not None and spec.classes is None:
        takes = ", ".join(repr(n) for n, s in _SPECS.items() if s.classes is not None)
        raise ValueError(f"The 'classes' parameter does not apply to {name!r}: it has 2 classes. Only {takes} take it.")
    k = spec.classes if classes is None else check_int("classes", classes, min_value=2, max_value=100)
    k = 2 if k is None else k
    for split, size in (("n_train", n_train), ("n_test", n_test)):
        if size < k:
            raise ValueError(f"The '{split}' parameter must be at least the number of classes, {k}, so that each class appears. Got {size} instead.")  # fmt: skip

    if name == "circles" and rng is None and (n_train, n_test, noise) == (spec.n_train, spec.n_test, spec.noise):
        from initlab import course

        X_train, Y_train, X_test, Y_test = course.load_dataset(plot=False)
        description = "the notebook's circles: make_circles(300, noise=0.05) seeded 1 (train) and 2 (test)"
    else:
        gen = check_rng(rng)
        train_rng, test_rng = gen.spawn(2)
        make = spec.make
        if name == "blobs":  # both splits need the same centres
            make = functools.partial(_blobs, phase=float(gen.uniform(0, 2 * np.pi)))
        X_train, Y_train = _layout(*make(n_train, noise, k, train_rng))
        X_test, Y_test = _layout(*make(n_test, noise, k, test_rng))
        description = f"{name}: {n_train} train, {n_test} test, noise {noise:g}" + (f", {k} classes" if spec.classes else "")
    return Dataset(name, X_train, Y_train.astype(np.int64), X_test, Y_test.astype(np.int64), k, description,
                   tuple(str(c) for c in range(k)), ("x1", "x2"))  # fmt: skip


def from_csv(path, *, target: str, test_fraction: float = 0.25, standardize: bool = True, rng=None) -> Dataset:
    """A classification data set from a CSV file: numeric feature columns and one target column.

    The first line holds the column names, the separator is a comma. Every column except
    ``target`` is a feature and must hold finite numbers in every row. The target's values (numbers
    or text) are the classes; they are sorted (numerically when all are numbers) and mapped to
    ``0 .. k-1``, recorded in ``class_names`` and the description. The rows are split into a
    training and a test set, stratified: each class contributes ``round(test_fraction * n_c)``
    rows (at least one, and at least one stays for training) to the test set. With
    ``standardize`` (default) every feature is centred and scaled by the *training* split's mean
    and standard deviation (a constant feature is only centred).

    Parameters
    ----------
    path : str or Path
    target : str
        Name of the target column.
    test_fraction : float in (0, 1)
    standardize : bool
    rng : None, int, SeedSequence or Generator
        Draws the split.

    Returns
    -------
    Dataset
        ``X_train`` (n_features, m_train), ``Y_train`` (1, m_train) int64, the same for test.

    Raises
    ------
    ValueError
        With the file, column and line: an empty file, a missing target column, a non-numeric,
        missing or non-finite feature value, a row with the wrong number of fields, fewer than 2
        classes, a class with fewer than 2 rows.
    """
    path = Path(path)
    if not isinstance(target, str) or not target:
        raise TypeError(f"The 'target' parameter must be a column name (a non-empty string). Got {target!r} instead.")
    test_fraction = check_real("test_fraction", test_fraction, min_value=0.0, max_value=1.0)
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"The 'test_fraction' parameter must be strictly between 0 and 1. Got {test_fraction} instead.")
    gen = check_rng(rng)
    header, rows = _read_csv(path)
    where = f"CSV file '{path}'"
    if target not in header:
        raise ValueError(
            f"{where} has no column {target!r} (the target). Its columns are: {', '.join(header)}. "
            "Pass one of them as the target."
        )
    t = header.index(target)
    features = [c for i, c in enumerate(header) if i != t]
    if not features:
        raise ValueError(f"{where} has no feature columns besides the target {target!r}: add numeric columns.")
    X = np.empty((len(rows), len(features)))
    labels = []
    for r, (line, fields) in enumerate(rows):
        label = fields[t].strip()
        if not label:
            raise ValueError(f"{where}, line {line}, column {target!r} (the target): the value is missing. Fill it in or drop the row.")
        labels.append(label)
        for j, value in enumerate(fields[:t] + fields[t + 1 :]):
            X[r, j] = _number(value, f"{where}, line {line}, column {features[j]!r}")
    class_names, y = _encode_labels(labels)
    if len(class_names) < 2:
        raise ValueError(
            f"{where}: the target column {target!r} has only one class ({class_names[0]!r}) in {len(y)} rows; "
            "classification needs at least 2 classes."
        )
    counts = np.bincount(y)
    if counts.min() < 2:
        c = int(np.argmin(counts))
        line = rows[int(np.flatnonzero(y == c)[0])][0]
        raise ValueError(
            f"{where}: class {class_names[c]!r} of column {target!r} has only 1 row (line {line}); every class needs "
            "at least 2 (one for training, one for testing). Add rows or drop that class."
        )
    test = _stratified_test_rows(y, test_fraction, gen)
    train = np.setdiff1d(np.arange(len(y)), test)
    train, test = gen.permutation(train), gen.permutation(test)
    X_train, X_test = X[train].T, X[test].T
    if standardize:
        X_train, X_test = _standardize(X_train, X_test)
    mapping = ", ".join(f"{name!r} -> {c}" for c, name in enumerate(class_names))
    description = (f"{path.name}: {len(y)} rows ({len(train)} train, {len(test)} test), {len(features)} features"
                   f"{' standardized' if standardize else ''}, target {target!r}: {mapping}")  # fmt: skip
    return Dataset(path.stem, X_train, y[train][None], X_test, y[test][None], len(class_names), description,
                   tuple(class_names), tuple(features))  # fmt: skip


# --------------------------------------------------------------------------------------------
# Private helpers
# --------------------------------------------------------------------------------------------
def _seed(rng: np.random.Generator) -> int:
    """An int ``random_state`` for scikit-learn's generators, drawn from ``rng``."""
    return int(rng.integers(2**31 - 1))


def _balanced_labels(n: int, k: int) -> np.ndarray:
    """(n,) labels 0 .. k-1, n // k or n // k + 1 of each."""
    return np.arange(n) % k


def _layout(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's (m, n_features), (m,) -> the notebook's (n_features, m), (1, m)."""
    return np.ascontiguousarray(X.T, dtype=np.float64), y.reshape(1, -1)


def _standardize(X_train: np.ndarray, X_test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centre and scale each feature (row) by the training split's mean and standard deviation."""
    mean = X_train.mean(axis=1, keepdims=True)
    std = X_train.std(axis=1, keepdims=True)
    std[std == 0] = 1.0  # a constant feature (a corner pixel of digits) is only centred
    return (X_train - mean) / std, (X_test - mean) / std


def _digits(n_train: int | None, n_test: int | None, rng: np.random.Generator) -> Dataset:
    from sklearn.datasets import load_digits

    data = load_digits()
    X, y = data.data, data.target
    total = len(y)
    n_test = 450 if n_test is None else check_int("n_test", n_test, min_value=10)
    n_train = (total - n_test) if n_train is None else check_int("n_train", n_train, min_value=10)
    if n_train + n_test > total:
        raise ValueError(
            f"The 'n_train' and 'n_test' parameters must add up to at most {total} for 'digits' (its number of images). "
            f"Got {n_train} + {n_test} = {n_train + n_test} instead."
        )
    test = _stratified_test_rows(y, n_test / total, rng, size=n_test)
    rest = np.setdiff1d(np.arange(total), test)
    train = _stratified_test_rows(y[rest], n_train / len(rest), rng, size=n_train) if n_train < len(rest) else np.arange(len(rest))
    train = rest[train]
    train, test = rng.permutation(train), rng.permutation(test)
    X_train, X_test = _standardize(X[train].T.astype(np.float64), X[test].T.astype(np.float64))
    return Dataset("digits", X_train, y[train][None].astype(np.int64), X_test, y[test][None].astype(np.int64), 10,
                   f"digits: scikit-learn's 8x8 images, {n_train} train, {n_test} test (stratified), pixels standardized "
                   "with the training split's mean and std", tuple(str(d) for d in range(10)),
                   tuple(f"pixel_{r}_{c}" for r in range(8) for c in range(8)))  # fmt: skip


def _stratified_test_rows(y: np.ndarray, fraction: float, rng: np.random.Generator, size: int | None = None) -> np.ndarray:
    """Indices of a stratified sample: about ``fraction`` of each class, at least 1 and at most n_c - 1 of it.

    With ``size`` the per-class counts are rounded (largest remainder) to add up to exactly ``size``.
    """
    classes, counts = np.unique(y, return_counts=True)
    if size is None:
        take = np.clip(np.round(fraction * counts).astype(int), 1, counts - 1)
    else:
        quota = size * counts / counts.sum()
        take = np.floor(quota).astype(int)
        take[np.argsort(take - quota)[: size - take.sum()]] += 1  # largest remainders first
    picked = [rng.permutation(np.flatnonzero(y == c))[:n] for c, n in zip(classes, take)]
    return np.sort(np.concatenate(picked))


def _read_csv(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Header and (line number, fields) of each non-blank data row; a ValueError for a missing, empty or ragged file."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ValueError(f"CSV file '{path}' does not exist. Check the path.") from None
    except IsADirectoryError:
        raise ValueError(f"CSV file '{path}' is a folder, not a file.") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"CSV file '{path}' is not UTF-8 text ({exc.reason} at byte {exc.start}). Save it as UTF-8 CSV.") from None
    except OSError as exc:
        raise ValueError(f"CSV file '{path}' cannot be read: {exc.strerror or exc}.") from None
    reader = csv.reader(text.splitlines())
    lines = [(i, row) for i, row in enumerate(reader, start=1) if any(cell.strip() for cell in row)]
    if not lines:
        raise ValueError(f"CSV file '{path}' is empty: it needs a header line with the column names and rows of data.")
    header_line, header = lines[0]
    header = [h.strip() for h in header]
    if any(not h for h in header):
        raise ValueError(f"CSV file '{path}', line {header_line}: column {header.index('') + 1} of the header has no name. Name every column.")  # fmt: skip
    repeated = sorted({h for h in header if header.count(h) > 1})
    if repeated:
        raise ValueError(f"CSV file '{path}', line {header_line}: column name(s) {', '.join(map(repr, repeated))} appear more than once. Make them unique.")  # fmt: skip
    rows = lines[1:]
    if not rows:
        raise ValueError(f"CSV file '{path}' has a header but no data rows.")
    for line, fields in rows:
        if len(fields) != len(header):
            raise ValueError(
                f"CSV file '{path}', line {line}: {len(fields)} fields, but the header has {len(header)} columns. "
                "Every row needs one value per column (is a comma missing, or one too many?)."
            )
    return header, rows


def _number(text: str, where: str) -> float:
    """A finite float from a CSV cell, or a ValueError naming the place."""
    text = text.strip()
    if not text:
        raise ValueError(f"{where}: the value is missing. Features must be numbers in every row: fill it in or drop the row.")
    try:
        value = float(text)
    except ValueError:
        raise ValueError(
            f"{where}: {text!r} is not a number. Features must be numeric: encode categories as numbers or drop the column."
        ) from None
    if not math.isfinite(value):
        raise ValueError(f"{where}: {text!r} is not a finite number. Remove or impute NaN and infinite values first.")
    return value


def _encode_labels(labels: list[str]) -> tuple[list[str], np.ndarray]:
    """Sorted distinct labels (numerically when all are numbers) and the (m,) int codes."""

    def as_number(s):
        try:
            v = float(s)
        except ValueError:
            return None
        return v if math.isfinite(v) else None

    numbers_ = [as_number(s) for s in labels]
    if all(v is not None for v in numbers_):
        distinct = sorted(set(numbers_))
        names = [_label_text(v) for v in distinct]
        code = {v: c for c, v in enumerate(distinct)}
        return names, np.array([code[v] for v in numbers_], dtype=np.int64)
    distinct = sorted(set(labels))
    code = {v: c for c, v in enumerate(distinct)}
    return distinct, np.array([code[v] for v in labels], dtype=np.int64)


def _label_text(value: float) -> str:
    return str(int(value)) if isinstance(value, numbers.Real) and float(value).is_integer() else repr(value)
