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
``shapeset``             1024      9        Shapeset-3x2: 32x32 grey images of one or two shapes
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
``shapeset`` takes none: its images are noiseless, as the paper's (:func:`shapeset`).
"""

from __future__ import annotations

import collections
import csv
import functools
import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from initlab.validation import check_choice, check_int, check_real, check_rng

__all__ = [
    "SHAPESET_CLASSES",
    "Dataset",
    "available",
    "default_sizes",
    "from_csv",
    "is_notebook_data",
    "load",
    "shapeset",
]


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
        kind = (
            "binary classification: one sigmoid output" if self.n_classes == 2 else f"{self.n_classes} classes: softmax"
        )
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
    "shapeset": _Spec("Shapeset-3x2 (Glorot & Bengio 2010): 32x32 grey images in [0, 1] of one or two shapes "
                      "(triangle, parallelogram, ellipse), the class says which", 900, 300, None, None, None),
}  # fmt: skip
#: Features and classes of the sets whose sizes are fixed (the others: 2 features).
_FIXED = {"digits": (64, "10 classes"), "shapeset": (1024, "9 classes")}


def available() -> dict[str, str]:
    """Data set names, each with a one-line description: what, features, classes, default sizes and noise."""
    out = {}
    for name, spec in _SPECS.items():
        features, classes = _FIXED.get(name) or (
            2,
            f"{spec.classes} classes by default (any k >= 2)" if spec.classes else "2 classes",
        )
        noise = f", noise {spec.noise:g}" if spec.noise is not None else ""
        out[name] = f"{spec.summary}; {features} features, {classes}; {spec.n_train} train, {spec.n_test} test{noise}"
    return out


def default_sizes(name: str) -> tuple[int, int]:
    """``(n_train, n_test)`` that :func:`load` gives data set ``name`` when they are left out."""
    check_choice("name", name, _SPECS, owner="datasets.default_sizes")
    return _SPECS[name].n_train, _SPECS[name].n_test


def is_notebook_data(name: str, *, n_train=None, n_test=None, noise=None, classes=None) -> bool:
    """True when ``load(name, ...)`` with these options is the notebook's circles, given ``rng=None``.

    The one rule for "is this the notebook's data?": ``circles`` with its default sizes (300, 100)
    and noise (0.05), given or left out, and no ``classes``. The CLI, the sweeps and the playground
    ask it to decide whether to leave the data seed to the notebook (``rng=None``).
    """
    if name != "circles" or classes is not None:
        return False
    spec = _SPECS[name]
    return all(v is None or v == d for v, d in ((n_train, spec.n_train), (n_test, spec.n_test), (noise, spec.noise)))


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
        split); ``shapeset`` draws as many images as asked (default 900 and 300, at least 9 each).
    noise : float >= 0, optional
        Standard deviation of the Gaussian noise on each feature (the cluster spread for
        ``blobs``); each set's default is in :func:`available`. ``digits`` and ``shapeset`` take none.
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
            raise ValueError(
                "The 'noise' parameter does not apply to 'digits' (real images, not generated). Leave it out."
            )
        if classes is not None:
            raise ValueError("The 'classes' parameter does not apply to 'digits': it has 10 classes. Leave it out.")
        return _digits(n_train, n_test, check_rng(rng))
    if name == "shapeset":
        return _shapeset_dataset(n_train, n_test, noise, classes, check_rng(rng))
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

    if rng is None and is_notebook_data(name, n_train=n_train, n_test=n_test, noise=noise, classes=classes):
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
        description = f"{name}: {n_train} train, {n_test} test, noise {noise:g}" + (
            f", {k} classes" if spec.classes else ""
        )
    return Dataset(name, X_train, Y_train.astype(np.int64), X_test, Y_test.astype(np.int64), k, description,
                   tuple(str(c) for c in range(k)), ("x1", "x2"))  # fmt: skip


#: Shapeset-3x2's classes: the shapes in the image, unordered, in the order of Glorot's generator
#: (``convertout`` in github.com/glorotxa/Shapeset, examplecurripolygen.py).
SHAPESET_CLASSES = ("triangle", "parallelogram", "ellipse", "triangle + parallelogram", "parallelogram + ellipse",
                    "triangle + ellipse", "two triangles", "two parallelograms", "two ellipses")  # fmt: skip
SHAPESET_SIDE = 32  # pixels per side
_SHAPESET_KINDS = (
    (0,),
    (1,),
    (2,),
    (0, 1),
    (1, 2),
    (0, 2),
    (0, 0),
    (1, 1),
    (2, 2),
)  # class -> kinds (0 tri, 1 par, 2 ell)
_SHAPESET_SCALE = (0.2, 0.8)  # each axis stretched to U[0.2, 0.8] x 32 px (their scale_min, scale_max)
_SHAPESET_DARK, _SHAPESET_BRIGHT = (0.0, 0.45), (0.55, 1.0)  # grey levels (their bg_min..bg_max, fg_min..fg_max)
_SHAPESET_OVERLAP = 0.5  # the second shape may cover at most half of the first (their overlap_max)


def shapeset(m: int, *, rng=None) -> tuple[np.ndarray, np.ndarray]:
    r"""``m`` Shapeset-3x2 images and their classes (Glorot & Bengio 2010, sec. 2.1), drawn with numpy only.

    The paper: images of one or two two-dimensional objects, each from three shape categories
    (triangle, parallelogram, ellipse), "placed with random shape parameters (relative lengths
    and/or angles), scaling, rotation, translation and grey-scale"; the second object does not
    overlap the first by more than fifty percent of its area; the task is to say which objects are
    present (e.g. triangle + ellipse, parallelogram + parallelogram, triangle alone) without telling
    foreground from background, hence nine classes; 32 x 32 images.

    The details follow the paper's generator (Breuleux and Glorot, github.com/glorotxa/Shapeset,
    ``polygongen.py`` with the parameters of its Shapeset-3x2 example):

    * a shape is the regular triangle, the square or the disc of radius 1/2, mapped by
      :math:`M = R(\varphi)\,\mathrm{diag}(s_1, s_2)\,R(\theta)` with :math:`s_i \sim U[0.2, 0.8]
      \cdot 32` px and :math:`\theta, \varphi \sim U[0, 2\pi)` (their ``poly_type=2``: rotate, stretch
      the axes, rotate), so any triangle, any parallelogram, any ellipse; area
      :math:`|\det M|` times :math:`3\sqrt3/16`, :math:`1/2`, :math:`\pi/4`; then moved to a uniform
      position where it lies whole in the image, at least 1 px from the border;
    * grey levels: background :math:`U[0, 0.45]` and each shape :math:`U[0.55, 1]`, or, with
      probability 1/2, the other way round (bright background, dark shapes: their ``inv_chance``);
    * a second shape is drawn again while it covers more than half of the first shape's pixels,
      and is painted over it;
    * the classes are numbered as their ``convertout`` does: :data:`SHAPESET_CLASSES`.

    Different from theirs: ellipses are exact (theirs are 20-gons); a pixel takes a shape's grey
    level when its centre lies inside the shape (half-plane tests against the polygon's edges, the
    ellipse's quadratic inequality; theirs is pygame's polygon fill), and grey levels are continuous
    (theirs are multiples of 1/255); the overlap is counted on the pixels (theirs is a geometric
    estimate) and redrawing never gives up (theirs leaves out the second shape after 50 tries, which
    changes the class); the classes are balanced, ``m // 9`` or ``m // 9 + 1`` images each in random
    order, as in every initlab data set (theirs draws one or two shapes with probability 1/2 and each
    kind uniformly: 1/6 for each single shape, 1/18 for a pair of one kind, 1/9 for a mixed pair).
    Pixels are in :math:`[0, 1]`, their ``buildimage`` default; their example script asks for
    :math:`[-1, 1]` (``neg=True``), which is ``2 X - 1``.

    Parameters
    ----------
    m : int >= 1
        Number of images.
    rng : None, int, SeedSequence or Generator

    Returns
    -------
    X : (1024, m) float64 in [0, 1]
        One image per column, row-major: pixel (row r, column c) is feature ``32 r + c``.
    Y : (1, m) int64
        Classes ``0 .. 8`` (:data:`SHAPESET_CLASSES`).
    """
    m = check_int("m", m, min_value=1)
    gen = check_rng(rng)
    y = gen.permutation(_balanced_labels(m, len(SHAPESET_CLASSES)))
    kinds = np.array([_SHAPESET_KINDS[c] + (-1,) * (2 - len(_SHAPESET_KINDS[c])) for c in y])  # (m, 2); -1: none
    pair = kinds[:, 1] >= 0
    flip = pair & (gen.random(m) < 0.5)  # which shape of a mixed pair lies underneath
    kinds[flip] = kinds[flip, ::-1]
    inverted = gen.random(m) < 0.5
    dark, bright = gen.uniform(*_SHAPESET_DARK, (m, 3)), gen.uniform(*_SHAPESET_BRIGHT, (m, 3))
    levels = np.where(
        inverted[:, None], np.c_[bright[:, :1], dark[:, 1:]], np.c_[dark[:, :1], bright[:, 1:]]
    )  # bg, fg1, fg2
    first = _place_shapes(kinds[:, 0], gen)  # (m, 32, 32) bool
    image = np.where(first, levels[:, 1, None, None], levels[:, 0, None, None])
    todo = np.flatnonzero(pair)
    area = first[todo].sum(axis=(1, 2))
    second = _place_shapes(kinds[todo, 1], gen)
    for _ in range(10_000):  # the paper's overlap rule: redraw the second shape while it hides more than half the first
        redo = (first[todo] & second).sum(axis=(1, 2)) > _SHAPESET_OVERLAP * area
        if not redo.any():
            break
        second[redo] = _place_shapes(kinds[todo[redo], 1], gen)
    else:  # pragma: no cover - about 1 try in 4 is rejected (measured), never 10,000 in a row
        raise RuntimeError("shapeset: no place for a second shape in 10,000 tries")
    image[todo] = np.where(second, levels[todo, 2, None, None], image[todo])
    return image.reshape(m, -1).T.copy(), y.reshape(1, m).astype(np.int64)


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
    test_fraction = _check_csv_options(target, test_fraction)
    gen = check_rng(rng)
    header, rows = _read_csv(path)
    where = f"CSV file '{path}'"
    features, X, labels = _csv_table(header, rows, target, where)
    class_names, y = _encode_labels(labels)
    _check_csv_classes(class_names, y, [line for line, _ in rows], target, where)
    train, test = _csv_split(y, test_fraction, gen)
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
    train = (
        _stratified_test_rows(y[rest], n_train / len(rest), rng, size=n_train)
        if n_train < len(rest)
        else np.arange(len(rest))
    )
    train = rest[train]
    train, test = rng.permutation(train), rng.permutation(test)
    X_train, X_test = _standardize(X[train].T.astype(np.float64), X[test].T.astype(np.float64))
    return Dataset("digits", X_train, y[train][None].astype(np.int64), X_test, y[test][None].astype(np.int64), 10,
                   f"digits: scikit-learn's 8x8 images, {n_train} train, {n_test} test (stratified), pixels standardized "
                   "with the training split's mean and std", tuple(str(d) for d in range(10)),
                   tuple(f"pixel_{r}_{c}" for r in range(8) for c in range(8)))  # fmt: skip


def _regular_polygon(n: int) -> np.ndarray:
    """(n, 2) vertices of the regular n-gon inscribed in the circle of radius 1/2, counter-clockwise."""
    angle = 2 * np.pi * np.arange(n) / n
    return 0.5 * np.column_stack([np.cos(angle), np.sin(angle)])


_SHAPE_VERTICES = (_regular_polygon(3), _regular_polygon(4), None)  # kind -> base vertices (None: the disc)
_PIXEL_CENTRES = np.stack(np.meshgrid(np.arange(SHAPESET_SIDE) + 0.5, np.arange(SHAPESET_SIDE) + 0.5), axis=-1).reshape(
    -1, 2
)  # (1024, 2) as (x, y), row-major


def _shape_extent(kind: np.ndarray, M: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lowest and highest (x, y) of the shapes ``M @ base`` relative to their centre: two (n, 2) arrays."""
    half = 0.5 * np.sqrt((M**2).sum(axis=2))  # (n, 2): the ellipse's half extents along x and y
    lo, hi = -half, half.copy()
    for k, base in enumerate(_SHAPE_VERTICES):
        sel = kind == k
        if base is not None and sel.any():
            corners = np.einsum("nij,vj->nvi", M[sel], base)  # (n_k, vertices, 2)
            lo[sel], hi[sel] = corners.min(axis=1), corners.max(axis=1)
    return lo, hi


def _place_shapes(kind: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    r"""One random shape of each ``kind`` (n,) in its own image: (n, 32, 32) bool masks.

    :math:`M = R(\varphi)\,\mathrm{diag}(s)\,R(\theta)`, :math:`s \sim U[0.2, 0.8]^2 \cdot 32`, centre
    uniform where the shape stays 1 px inside the image (:func:`shapeset`).
    """
    n = kind.size
    s = rng.uniform(*_SHAPESET_SCALE, (n, 2)) * SHAPESET_SIDE
    theta, phi = rng.uniform(0.0, 2 * np.pi, (2, n))
    M = _rotation(phi) @ (s[:, :, None] * _rotation(theta))  # (n, 2, 2)
    lo, hi = _shape_extent(kind, M)
    t = rng.uniform(1.0 - lo, SHAPESET_SIDE - 1.0 - hi)  # (n, 2) centres
    return _render_shapes(kind, M, t)


def _rotation(angle: np.ndarray) -> np.ndarray:
    """(n,) angles -> (n, 2, 2) rotation matrices."""
    c, s = np.cos(angle), np.sin(angle)
    return np.stack([np.stack([c, -s], axis=-1), np.stack([s, c], axis=-1)], axis=-2)


def _render_shapes(kind: np.ndarray, M: np.ndarray, t: np.ndarray) -> np.ndarray:
    r"""Masks (n, 32, 32) of the shapes ``t + M @ base``: a pixel is in when its centre is.

    The pixel centres :math:`q` are taken back to the base shape's frame, :math:`u = M^{-1}(q - t)`,
    and tested there: inside every edge's half-plane of the regular v-gon (the component of
    :math:`u` along the edge's outward normal at most the apothem :math:`\tfrac12\cos(\pi/v)`),
    or :math:`|u| \le 1/2` for the disc.
    """
    n = kind.size
    inv = np.linalg.inv(M)  # (n, 2, 2)
    dx = _PIXEL_CENTRES[:, 0] - t[:, :1]  # (n, 1024)
    dy = _PIXEL_CENTRES[:, 1] - t[:, 1:]
    ux = inv[:, 0, :1] * dx + inv[:, 0, 1:] * dy  # (n, 1024): the pixel centres in the base shape's frame
    uy = inv[:, 1, :1] * dx + inv[:, 1, 1:] * dy
    inside = ux**2 + uy**2 <= 0.25  # the disc; the polygons below
    for k, base in enumerate(_SHAPE_VERTICES):
        sel = kind == k
        if base is None or not sel.any():
            continue
        v = len(base)
        apothem = 0.5 * np.cos(np.pi / v)
        inside[sel] = True
        for mid in 2 * np.pi * (np.arange(v) + 0.5) / v:  # the outward normal of each edge
            inside[sel] &= ux[sel] * np.cos(mid) + uy[sel] * np.sin(mid) <= apothem
    return inside.reshape(n, SHAPESET_SIDE, SHAPESET_SIDE)


def _shapeset_dataset(n_train, n_test, noise, classes, rng: np.random.Generator) -> Dataset:
    """``load("shapeset", ...)``: two independent draws of :func:`shapeset`."""
    if noise is not None:
        raise ValueError(
            "The 'noise' parameter does not apply to 'shapeset' (noiseless images, as the paper's). Leave it out."
        )
    if classes is not None:
        raise ValueError(f"The 'classes' parameter does not apply to 'shapeset': it has {len(SHAPESET_CLASSES)} classes. Leave it out.")  # fmt: skip
    spec, k = _SPECS["shapeset"], len(SHAPESET_CLASSES)
    n_train = spec.n_train if n_train is None else check_int("n_train", n_train, min_value=1)
    n_test = spec.n_test if n_test is None else check_int("n_test", n_test, min_value=1)
    for split, size in (("n_train", n_train), ("n_test", n_test)):
        if size < k:
            raise ValueError(f"The '{split}' parameter must be at least the number of classes, {k}, so that each class appears. Got {size} instead.")  # fmt: skip
    train_rng, test_rng = rng.spawn(2)
    X_train, Y_train = shapeset(n_train, rng=train_rng)
    X_test, Y_test = shapeset(n_test, rng=test_rng)
    side = SHAPESET_SIDE
    return Dataset("shapeset", X_train, Y_train, X_test, Y_test, k,
                   f"shapeset: {n_train} train, {n_test} test, Shapeset-3x2 {side}x{side} grey images in [0, 1] "
                   "(Glorot & Bengio 2010, sec. 2.1)", SHAPESET_CLASSES,
                   tuple(f"pixel_{r}_{c}" for r in range(side) for c in range(side)))  # fmt: skip


def _stratified_test_rows(
    y: np.ndarray, fraction: float, rng: np.random.Generator, size: int | None = None
) -> np.ndarray:
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
        raise ValueError(
            f"CSV file '{path}' is not UTF-8 text ({exc.reason} at byte {exc.start}). Save it as UTF-8 CSV."
        ) from None
    except OSError as exc:
        raise ValueError(f"CSV file '{path}' cannot be read: {exc.strerror or exc}.") from None
    try:  # a semicolon- or tab-separated export reads as such, not as one column named "x1;x2;y"
        delimiter = csv.Sniffer().sniff(text[:8192], delimiters=",;\t|").delimiter
    except csv.Error:
        delimiter = ","
    reader = csv.reader(text.splitlines(), delimiter=delimiter)
    lines = [(i, row) for i, row in enumerate(reader, start=1) if any(cell.strip() for cell in row)]
    if not lines:
        raise ValueError(f"CSV file '{path}' is empty: it needs a header line with the column names and rows of data.")
    header_line, header = lines[0]
    header = [h.strip() for h in header]
    if any(not h for h in header):
        raise ValueError(f"CSV file '{path}', line {header_line}: column {header.index('') + 1} of the header has no name. Name every column.")  # fmt: skip
    repeated = sorted(h for h, n in collections.Counter(header).items() if n > 1)  # linear: 10^6 columns take a second
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


def _check_csv_options(target, test_fraction) -> float:
    """Check ``target`` (a non-empty string) and ``test_fraction`` (strictly in (0, 1)) of :func:`from_csv`."""
    if not isinstance(target, str) or not target:
        raise TypeError(f"The 'target' parameter must be a column name (a non-empty string). Got {target!r} instead.")
    test_fraction = check_real("test_fraction", test_fraction, min_value=0.0, max_value=1.0)
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(
            f"The 'test_fraction' parameter must be strictly between 0 and 1. Got {test_fraction} instead."
        )
    return test_fraction


def _csv_table(
    header: list[str], rows: list[tuple[int, list[str]]], target: str, where: str
) -> tuple[list[str], np.ndarray, list[str]]:
    """The feature names, the features ``X`` (m, n_features) and the m target labels (text) of a CSV file's rows.

    ``where`` names the file in the messages of the ValueErrors: no target column, no feature
    column, a missing label, a missing, non-numeric or non-finite feature value (with its line).
    """
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
            raise ValueError(
                f"{where}, line {line}, column {target!r} (the target): the value is missing. Fill it in or drop the row."
            )
        labels.append(label)
        for j, value in enumerate(fields[:t] + fields[t + 1 :]):
            X[r, j] = _number(value, f"{where}, line {line}, column {features[j]!r}")
    return features, X, labels


def _check_csv_classes(class_names: list[str], y: np.ndarray, lines: list[int], target: str, where: str) -> None:
    """A ValueError unless there are at least 2 classes of at least 2 rows each; ``lines[i]`` is row i's line."""
    if len(class_names) < 2:
        raise ValueError(
            f"{where}: the target column {target!r} has only one class ({class_names[0]!r}) in {len(y)} rows; "
            "classification needs at least 2 classes."
        )
    counts = np.bincount(y)
    if counts.min() < 2:
        c = int(np.argmin(counts))
        line = lines[int(np.flatnonzero(y == c)[0])]
        raise ValueError(
            f"{where}: class {class_names[c]!r} of column {target!r} has only 1 row (line {line}); every class needs "
            "at least 2 (one for training, one for testing). Add rows or drop that class."
        )


def _csv_split(y: np.ndarray, test_fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Row indices of the training and the test set of :func:`from_csv`, stratified, each in a random order."""
    test = _stratified_test_rows(y, test_fraction, rng)
    train = np.setdiff1d(np.arange(len(y)), test)
    return rng.permutation(train), rng.permutation(test)


def _number(text: str, where: str) -> float:
    """A finite float from a CSV cell, or a ValueError naming the place."""
    text = text.strip()
    if not text:
        raise ValueError(
            f"{where}: the value is missing. Features must be numbers in every row: fill it in or drop the row."
        )
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
