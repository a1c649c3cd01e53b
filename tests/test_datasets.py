"""Data sets: shapes, balance, determinism, the notebook's circles exactly, what noise means, CSV files and their errors."""

import numpy as np
import pytest

from initlab import course, datasets

NAMES = list(datasets.available())
GENERATED = [n for n in NAMES if n != "digits"]


@pytest.fixture(scope="module")
def loaded():
    """Every data set with its defaults and seed 0 (digits loads scikit-learn's file once)."""
    return {name: datasets.load(name, rng=0) for name in NAMES}


def test_every_data_set_is_listed_with_a_line():
    names = datasets.available()
    assert NAMES == ["circles", "moons", "spirals", "xor", "gaussian_quantiles", "blobs", "digits", "shapeset"]
    assert all(isinstance(v, str) and "\n" not in v and "features" in v for v in names.values())


@pytest.mark.parametrize("name", NAMES)
def test_shapes_and_labels_are_the_notebooks_layout(loaded, name):
    d = loaded[name]
    n_features, n_classes = {"digits": (64, 10), "shapeset": (1024, 9)}.get(name, (2, 3 if name == "blobs" else 2))
    n_train, n_test = {"digits": (1347, 450), "shapeset": (900, 300)}.get(name, (300, 100))
    assert d.X_train.shape == (n_features, n_train) and d.X_test.shape == (n_features, n_test)
    assert d.Y_train.shape == (1, n_train) and d.Y_test.shape == (1, n_test)
    assert d.X_train.dtype == np.float64 and d.Y_train.dtype == np.int64
    assert np.all(np.isfinite(d.X_train)) and np.all(np.isfinite(d.X_test))
    assert d.n_classes == n_classes and len(d.class_names) == n_classes and d.n_features == n_features
    assert set(np.unique(d.Y_train)) == set(range(n_classes)) == set(np.unique(d.Y_test))
    assert (d.output, d.n_outputs) == (("sigmoid", 1) if n_classes == 2 else ("softmax", n_classes))
    assert d.default_layers() == (n_features, 10, 5, d.n_outputs)


@pytest.mark.parametrize("name", NAMES)
def test_classes_are_balanced(loaded, name):
    d = loaded[name]
    for Y in (d.Y_train, d.Y_test):
        counts = np.bincount(Y[0], minlength=d.n_classes)
        if name == "digits":  # a stratified split: each class in proportion to the 1,797 images (174 to 183 per digit)
            from sklearn.datasets import load_digits

            share = np.bincount(load_digits().target) / 1797
            assert np.all(np.abs(counts - share * Y.shape[1]) <= 1), counts
        else:
            assert counts.max() - counts.min() <= 1, counts


@pytest.mark.parametrize("name", NAMES)
def test_a_seed_determines_the_data(loaded, name):
    again = datasets.load(name, rng=0)
    other = datasets.load(name, rng=1)
    first = loaded[name]
    for field in ("X_train", "Y_train", "X_test", "Y_test"):
        np.testing.assert_array_equal(getattr(again, field), getattr(first, field))
    assert not np.array_equal(other.X_train, first.X_train)
    assert not np.array_equal(first.X_train[:, :50], first.X_test[:, :50])  # two draws, not one set twice


def test_circles_by_default_is_the_notebooks_data_exactly():
    d = datasets.load("circles")
    expected = course.load_dataset(plot=False)
    for got, want in zip((d.X_train, d.Y_train, d.X_test, d.Y_test), expected):
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(got, want)
    assert "notebook" in d.description
    assert not np.array_equal(datasets.load("circles", rng=0).X_train, d.X_train)  # a seed gives other circles


def test_noise_means_the_standard_deviation_on_each_feature():
    """With noise 0 every point lies exactly on its class's curve; the noise is then its spread."""
    moons = datasets.load("moons", noise=0.0, rng=3)
    x, y = moons.X_train
    upper = moons.Y_train[0] == 0
    np.testing.assert_allclose(x[upper] ** 2 + y[upper] ** 2, 1.0)  # make_moons: unit half circle ...
    np.testing.assert_allclose((x[~upper] - 1) ** 2 + (y[~upper] - 0.5) ** 2, 1.0)  # ... and its shifted twin
    xor = datasets.load("xor", noise=0.0, rng=3)
    np.testing.assert_array_equal(xor.Y_train[0], (xor.X_train[0] * xor.X_train[1] < 0).astype(int))
    spirals = datasets.load("spirals", noise=0.0, classes=3, rng=3)
    r = np.hypot(*spirals.X_train)
    arm = (np.arctan2(spirals.X_train[1], spirals.X_train[0]) - 3 * np.pi * r) % (2 * np.pi)
    np.testing.assert_allclose(np.cos(arm - 2 * np.pi * spirals.Y_train[0] / 3), 1.0, atol=1e-9)
    quantiles = datasets.load("gaussian_quantiles", classes=3, rng=3)
    radius = np.hypot(*quantiles.X_train)
    assert all(radius[quantiles.Y_train[0] == c].max() < radius[quantiles.Y_train[0] == c + 1].min() for c in range(2))
    noisy = datasets.load("xor", noise=0.2, n_train=4000, rng=3)
    clean = datasets.load("xor", noise=0.0, n_train=4000, rng=3)
    assert np.std(noisy.X_train - clean.X_train) == pytest.approx(0.2, rel=0.05)


def test_blobs_have_k_clusters_shared_by_both_splits():
    d = datasets.load("blobs", classes=5, noise=0.05, rng=4)
    assert d.n_classes == 5 and d.output == "softmax" and d.n_outputs == 5
    centres = np.stack([d.X_train[:, d.Y_train[0] == c].mean(axis=1) for c in range(5)])
    np.testing.assert_allclose(np.hypot(*centres.T), 1.0, atol=0.02)  # on the unit circle
    nearest = np.argmin(((d.X_test.T[:, None, :] - centres[None]) ** 2).sum(axis=2), axis=1)
    np.testing.assert_array_equal(nearest, d.Y_test[0])  # the test points belong to the same clusters


def test_sizes_and_classes_can_be_chosen():
    d = datasets.load("spirals", n_train=51, n_test=9, classes=3, rng=0)
    assert d.X_train.shape == (2, 51) and d.X_test.shape == (2, 9) and d.n_classes == 3
    digits = datasets.load("digits", n_train=500, n_test=200, rng=0)
    assert digits.X_train.shape == (64, 500) and digits.X_test.shape == (64, 200)


def test_digits_are_standardized_with_the_training_split():
    from sklearn.datasets import load_digits

    d = datasets.load("digits", rng=2)
    mean, std = d.X_train.mean(axis=1), d.X_train.std(axis=1)
    constant = std < 1e-12  # pixels that are 0 in every training image
    np.testing.assert_allclose(mean, 0.0, atol=1e-12)
    np.testing.assert_allclose(std[~constant], 1.0, rtol=1e-12)
    assert 0 < constant.sum() < 5
    assert np.abs(d.X_test.mean(axis=1)).max() > 1e-3  # the test split keeps the training statistics
    # by default every image is used once: the two splits' labels are scikit-learn's labels
    both = np.concatenate([d.Y_train[0], d.Y_test[0]])
    np.testing.assert_array_equal(np.bincount(both), np.bincount(load_digits().target))
    assert d.class_names == tuple("0123456789")


def test_check_layers_says_which_numbers_fit():
    d = datasets.load("blobs", rng=0)
    assert d.check_layers((2, 8, 3)) == (2, 8, 3)
    with pytest.raises(
        ValueError,
        match=r"must start with 2 \(the features of blobs\) and end with 3 \(3 classes: softmax\). Got 2,8,1",
    ):
        d.check_layers((2, 8, 1))
    with pytest.raises(ValueError, match=r"end with 1 \(binary classification: one sigmoid output\)"):
        datasets.load("moons", rng=0).check_layers((3, 10, 1))


@pytest.mark.parametrize(
    ("name", "kwargs", "error", "pattern"),
    [
        ("circle", {}, ValueError, r"'name' parameter of datasets.load must be one of \{'circles', 'moons'"),
        ("digits", {"noise": 0.1}, ValueError, r"'noise' parameter does not apply to 'digits'"),
        ("moons", {"classes": 3}, ValueError, r"'classes' parameter does not apply to 'moons'.*'spirals'"),
        ("moons", {"n_train": 0}, ValueError, r"'n_train' parameter must be >= 1"),
        ("blobs", {"n_test": 2}, ValueError, r"'n_test' parameter must be at least the number of classes, 3"),
        ("xor", {"noise": -0.1}, ValueError, r"'noise' parameter must be >= 0.0"),
        ("spirals", {"classes": 1}, ValueError, r"'classes' parameter must be >= 2"),
        ("digits", {"n_train": 1500, "n_test": 400}, ValueError, r"add up to at most 1797.*1500 \+ 400"),
        ("shapeset", {"noise": 0.1}, ValueError, r"'noise' parameter does not apply to 'shapeset'"),
        ("shapeset", {"classes": 3}, ValueError, r"'classes' parameter does not apply to 'shapeset': it has 9"),
        ("shapeset", {"n_test": 8}, ValueError, r"'n_test' parameter must be at least the number of classes, 9"),
        ("moons", {"rng": "seed"}, TypeError, r"'rng' parameter must be None, an int seed"),
    ],
)
def test_load_rejects_bad_arguments(name, kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        datasets.load(name, **kwargs)


# --------------------------------------------------------------------------------------------
# Shapeset-3x2
# --------------------------------------------------------------------------------------------
def test_shapeset_images_are_grey_in_the_unit_interval_with_every_class():
    X, Y = datasets.shapeset(90, rng=5)
    assert X.shape == (1024, 90) and X.dtype == np.float64 and Y.shape == (1, 90) and Y.dtype == np.int64
    assert X.min() >= 0.0 and X.max() <= 1.0
    np.testing.assert_array_equal(np.bincount(Y[0], minlength=9), [10] * 9)  # every class, balanced
    assert len(datasets.SHAPESET_CLASSES) == 9
    for x, y in zip(X.T, Y[0]):
        levels = np.unique(x)
        two = " + " in datasets.SHAPESET_CLASSES[y] or datasets.SHAPESET_CLASSES[y].startswith("two ")
        assert len(levels) == (3 if two else 2)  # the background and one level per shape, none hidden entirely
        corner = x[0]  # 1 px from every shape: the background
        shapes = levels[levels != corner]
        assert np.all((shapes > 0.5) != (corner > 0.5))  # dark shapes on a bright background or the other way round


def test_shapeset_is_determined_by_its_rng():
    X, Y = datasets.shapeset(20, rng=np.random.default_rng(7))
    X2, Y2 = datasets.shapeset(20, rng=7)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(Y, Y2)
    assert not np.array_equal(datasets.shapeset(20, rng=8)[0], X)
    with pytest.raises(ValueError, match="'m' parameter must be >= 1"):
        datasets.shapeset(0)


def _polygon_area(vertices):
    """Shoelace formula, (v, 2) vertices in order."""
    x, y = vertices.T
    return 0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


def test_shapeset_rendered_area_matches_the_analytic_area():
    """Pixels lit by a shape against its area: shoelace for the triangle and parallelogram, pi a b for the ellipse."""
    from initlab.datasets import _render_shapes, _rotation

    rng = np.random.default_rng(11)
    n = 300
    kind = np.arange(n) % 3
    s = rng.uniform(14.0, 25.0, (n, 2))
    theta, phi = rng.uniform(0, 2 * np.pi, (2, n))
    M = _rotation(phi) @ (s[:, :, None] * _rotation(theta))
    t = 16.0 + rng.uniform(-1.0, 1.0, (n, 2))  # near the centre: every shape lies inside the image
    counts = _render_shapes(kind, M, t).sum(axis=(1, 2))
    area = np.empty(n)
    for k in range(n):
        if kind[k] == 2:  # the unit-diameter disc mapped by M: semi-axes s / 2
            area[k] = np.pi * s[k, 0] * s[k, 1] / 4
        else:
            v = 3 if kind[k] == 0 else 4
            angle = 2 * np.pi * np.arange(v) / v + 0.3  # any inscribed regular polygon: the map fixes the area
            base = 0.5 * np.column_stack([np.cos(angle), np.sin(angle)])
            area[k] = _polygon_area(base @ M[k].T)
    rel = counts / area - 1
    assert np.abs(rel).max() < 0.1  # each shape: pixels cut by the boundary only
    for k in range(3):
        assert abs(rel[kind == k].mean()) < 0.01  # no bias: the boundary pixels go either way
    # the analytic factors of the docstring: |det M| times 3 sqrt(3)/16, 1/2, pi/4
    factors = np.array([3 * np.sqrt(3) / 16, 0.5, np.pi / 4])
    np.testing.assert_allclose(area, np.abs(np.linalg.det(M)) * factors[kind], rtol=1e-12)


# --------------------------------------------------------------------------------------------
# CSV files
# --------------------------------------------------------------------------------------------
def write_csv(tmp_path, text, name="data.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_from_csv_maps_labels_splits_by_class_and_standardizes(tmp_path):
    rng = np.random.default_rng(0)
    rows = ["height,species,weight"]
    for i in range(40):
        species = ["setosa", "versicolor"][i % 2] if i < 36 else "virginica"
        rows.append(f"{rng.normal(10 + i % 2):.6f},{species},{rng.normal(50, 5):.6f}")
    path = write_csv(tmp_path, "\n".join(rows) + "\n")
    d = datasets.from_csv(path, target="species", rng=1)
    assert d.class_names == ("setosa", "versicolor", "virginica") and d.n_classes == 3 and d.output == "softmax"
    assert d.feature_names == ("height", "weight") and d.name == "data"
    assert "'setosa' -> 0" in d.description and "'virginica' -> 2" in d.description
    # stratified: round(0.25 n_c) of each class (at least 1) in the test set
    assert np.bincount(d.Y_test[0]).tolist() == [4, 4, 1] and np.bincount(d.Y_train[0]).tolist() == [14, 14, 3]
    np.testing.assert_allclose(d.X_train.mean(axis=1), 0.0, atol=1e-12)
    np.testing.assert_allclose(d.X_train.std(axis=1), 1.0, rtol=1e-12)
    # the same rows, unscaled: each training column is a row of the file
    raw = datasets.from_csv(path, target="species", rng=1, standardize=False)
    table = np.array([[float(r.split(",")[0]), float(r.split(",")[2])] for r in rows[1:]])
    assert all(any(np.array_equal(col, row) for row in table) for col in raw.X_train.T)
    again = datasets.from_csv(path, target="species", rng=1)
    np.testing.assert_array_equal(again.X_test, d.X_test)


def test_numeric_labels_are_sorted_as_numbers(tmp_path):
    path = write_csv(tmp_path, "x,y\n" + "".join(f"{i},{[10, 2][i % 2]}\n" for i in range(8)))
    d = datasets.from_csv(path, target="y", rng=0)
    assert d.class_names == ("2", "10") and d.output == "sigmoid"
    x_of_label = {
        int(v): int(c)
        for v, c in zip(datasets.from_csv(path, target="y", rng=0, standardize=False).X_train[0], d.Y_train[0])
    }
    assert all(c == (0 if x % 2 else 1) for x, c in x_of_label.items())  # odd rows hold 2 -> class 0


CSV_ERRORS = [
    ("", "y", r"CSV file '.*bad.csv' is empty"),
    ("a,y\n", "y", r"has a header but no data rows"),
    ("a,b\n1,0\n2,1\n", "y", r"has no column 'y' \(the target\). Its columns are: a, b"),
    ("a,y\n1,0\n2,x1\nabc,1\n4,0\n", "y", r"line 4, column 'a': 'abc' is not a number"),
    ("a,y\n1,0\nnan,1\n3,1\n4,0\n", "y", r"line 3, column 'a': 'nan' is not a finite number"),
    ("a,y\n1,0\n2,1\ninf,1\n4,0\n", "y", r"line 4, column 'a': 'inf' is not a finite number"),
    ("a,b,y\n1,,0\n2,3,1\n", "y", r"line 2, column 'b': the value is missing"),
    ("a,y\n1,0\n2,1,7\n", "y", r"line 3: 3 fields, but the header has 2 columns"),
    ("a,y\n1,0\n2,0\n3,0\n", "y", r"only one class \('0'\) in 3 rows"),
    ("a,y\n1,0\n2,0\n3,1\n", "y", r"class '1' of column 'y' has only 1 row \(line 4\)"),
    ("a,y\n1,0\n2,\n3,1\n", "y", r"line 3, column 'y' \(the target\): the value is missing"),
    ("a,a,y\n1,2,0\n", "y", r"column name\(s\) 'a' appear more than once"),
    ("y\n0\n1\n", "y", r"no feature columns besides the target 'y'"),
]


@pytest.mark.parametrize(("text", "target", "pattern"), CSV_ERRORS)
def test_from_csv_names_the_file_column_and_line(tmp_path, text, target, pattern):
    path = write_csv(tmp_path, text, "bad.csv")
    with pytest.raises(ValueError, match=pattern) as info:
        datasets.from_csv(path, target=target)
    assert "bad.csv" in str(info.value)


def test_from_csv_rejects_a_missing_file_and_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match=r"CSV file '.*nothing.csv' does not exist"):
        datasets.from_csv(tmp_path / "nothing.csv", target="y")
    path = write_csv(tmp_path, "a,y\n1,0\n2,1\n3,0\n4,1\n")
    with pytest.raises(ValueError, match=r"'test_fraction' parameter must be strictly between 0 and 1"):
        datasets.from_csv(path, target="y", test_fraction=1.0)
    with pytest.raises(TypeError, match=r"'target' parameter must be a column name"):
        datasets.from_csv(path, target=None)


def test_semicolon_and_tab_separated_files_read_as_the_comma_file(tmp_path):
    rows = ["x1,x2,y"] + [f"{i / 7:.3f},{(i * 3) % 5},{['a', 'b'][i % 2]}" for i in range(20)]
    comma = datasets.from_csv(write_csv(tmp_path, "\n".join(rows) + "\n", "c.csv"), target="y", rng=0)
    for sep, name in ((";", "s.csv"), ("\t", "t.tsv")):
        other = datasets.from_csv(
            write_csv(tmp_path, "\n".join(r.replace(",", sep) for r in rows) + "\n", name), target="y", rng=0
        )
        np.testing.assert_array_equal(other.X_train, comma.X_train)
        np.testing.assert_array_equal(other.Y_train, comma.Y_train)


def test_repeated_names_in_a_wide_header_are_named(tmp_path):
    header = [f"c{i}" for i in range(60_000)] + ["c17", "y", "c59999"]
    path = write_csv(tmp_path, ",".join(header) + "\n" + ",".join("1" for _ in header) + "\n")
    with pytest.raises(ValueError, match=r"'c17', 'c59999' appear more than once"):
        datasets.from_csv(path, target="y", rng=0)
