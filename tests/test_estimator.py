"""MLPClassifier: scikit-learn's estimator checks, model selection over init, and one engine with initlab.train."""

import subprocess
import sys
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.utils.estimator_checks import check_estimator

from initlab import datasets
from initlab.estimator import EXPECTED_FAILED_CHECKS, MLPClassifier
from initlab.network import MLP
from initlab.training import train


@pytest.fixture(scope="module")
def sk_circles(circles):
    """The notebook's circles in scikit-learn's layout: X (300, 2), y (300,)."""
    X, Y, X_test, Y_test = circles
    return X.T, Y[0], X_test.T, Y_test[0]


def test_passes_scikit_learns_estimator_checks():
    """Every check that applies; short, fast training keeps it at about a second.

    With the defaults (15,000 gd updates per fit) the same checks pass too, in about 45-60 s on two
    busy cores (measured with ``check_estimator(MLPClassifier())``), too slow for every test run.
    """
    results = check_estimator(MLPClassifier(max_iter=300, optimizer="adam"), expected_failed_checks=EXPECTED_FAILED_CHECKS,
                              on_skip=None)  # fmt: skip
    statuses = {r["check_name"]: r["status"] for r in results}
    assert "failed" not in statuses.values()
    assert statuses["check_classifiers_train"] == "passed" and statuses["check_estimators_pickle"] == "passed"
    assert sum(s == "passed" for s in statuses.values()) >= 45


def test_grid_search_over_init_finds_that_zeros_fails(sk_circles):
    X, y, _, _ = sk_circles
    search = GridSearchCV(MLPClassifier(optimizer="adam", max_iter=600, random_state=0),
                          {"init": ["zeros", "random", "he_normal"]}, cv=3)  # fmt: skip
    search.fit(X, y)
    scores = dict(zip(search.cv_results_["param_init"], search.cv_results_["mean_test_score"]))
    assert scores["zeros"] == pytest.approx(0.5, abs=0.02)  # symmetric units: one class everywhere
    assert search.best_params_ == {"init": "he_normal"} and scores["he_normal"] > 0.9
    assert scores["random"] < scores["he_normal"]


def test_fit_is_initlab_train_on_the_transposed_data(sk_circles):
    X, y, X_test, _ = sk_circles
    clf = MLPClassifier(random_state=7, max_iter=250, init="he_normal", init_options={"mode": "fan_out"}).fit(X, y)
    net = MLP((2, 10, 5, 1))
    init_rng, _ = np.random.default_rng(7).spawn(2)
    params = net.initialize("he_normal", rng=init_rng, models=1, mode="fan_out")
    history = train(net, params, X.T, y[None], learning_rate=0.01, iterations=250, record_every=1)
    for key in params:
        np.testing.assert_array_equal(clf.params_[key], history.params[key][0])
    np.testing.assert_array_equal(clf.loss_curve_, history.loss[0])
    assert len(clf.loss_curve_) == 250 and clf.n_iter_ == 250 and not clf.diverged_
    assert clf.loss_ == pytest.approx(net.loss_and_grads(clf.params_, X.T, y[None])[0], rel=1e-12)
    # probabilities and labels: the sigmoid output and the notebook's rule p > 0.5
    proba = clf.predict_proba(X_test)
    p1 = net.predict_proba(clf.params_, X_test.T)[0]
    np.testing.assert_allclose(proba, np.column_stack([1 - p1, p1]))
    np.testing.assert_array_equal(clf.predict(X_test), (p1 > 0.5).astype(int))
    assert clf.score(X, y) == pytest.approx(np.mean(clf.predict(X) == y))


def test_string_labels_and_many_classes():
    d = datasets.load("blobs", classes=4, rng=0)
    names = np.array(["north", "west", "south", "east"])
    y = names[d.Y_train[0]]
    clf = MLPClassifier(optimizer="adam", max_iter=400, random_state=0).fit(d.X_train.T, y)
    assert list(clf.classes_) == sorted(names) and clf.network_.output == "softmax" and clf.network_.layers[-1] == 4
    proba = clf.predict_proba(d.X_test.T)
    assert proba.shape == (100, 4)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert clf.score(d.X_test.T, names[d.Y_test[0]]) > 0.9


def test_minibatch_optimizer_options_and_clipping(sk_circles):
    X, y, _, _ = sk_circles
    clf = MLPClassifier(
        optimizer="momentum", optimizer_options={"beta": 0.5}, batch_size=64, max_iter=50, random_state=1
    )
    clf.fit(X, y)
    assert len(clf.loss_curve_) == 50
    with pytest.warns(UserWarning, match="batch_size=1000 is larger than the 300 samples; clipped to 300"):
        MLPClassifier(optimizer="sgd", batch_size=1000, max_iter=5).fit(X, y)


def test_divergence_warns_and_keeps_the_last_finite_parameters(sk_circles):
    X, y, _, _ = sk_circles
    clf = MLPClassifier(activation="linear", learning_rate=1e6, max_iter=200, random_state=0)
    with pytest.warns(ConvergenceWarning, match="Training diverged at update"):
        clf.fit(X, y)
    assert clf.diverged_ and 0 < clf.n_iter_ < 200
    assert all(np.all(np.isfinite(v)) for v in clf.params_.values())


@pytest.mark.parametrize(
    ("params", "error", "pattern"),
    [
        ({"activation": "rleu"}, ValueError, r"'activation' parameter of MLP must be one of \{'relu'.*Got 'rleu'"),
        ({"init": "he"}, ValueError, r"'init' parameter of MLP.initialize must be one of"),
        (
            {"init_options": {"mod": "fan_out"}},
            TypeError,
            r"Unknown option 'mod' for initializer 'he_normal'. Did you mean mode\?",
        ),
        ({"init_options": "fan_out"}, TypeError, r"'init_options' parameter must be None or a dict"),
        ({"optimizer": "adamw"}, ValueError, r"'optimizer' parameter must be one of"),
        (
            {"optimizer": "adam", "optimizer_options": {"beta1": 2}},
            ValueError,
            r"'beta1' parameter must be in \[0, 1\)",
        ),
        ({"learning_rate": -1}, ValueError, r"'learning_rate' parameter must be > 0"),
        ({"max_iter": 0}, ValueError, r"'max_iter' parameter must be >= 1"),
        (
            {"hidden_layer_sizes": (10, 0)},
            ValueError,
            r"'hidden_layer_sizes' parameter must be a tuple of positive integers",
        ),
        ({"batch_size": 32}, ValueError, r"'batch_size' parameter goes with a minibatch optimizer"),
        ({"random_state": -3}, ValueError, r"'random_state' parameter must be >= 0"),
    ],
)
def test_bad_parameters_are_reported_by_fit_not_the_constructor(sk_circles, params, error, pattern):
    X, y, _, _ = sk_circles
    clf = MLPClassifier(max_iter=2).set_params(**params)  # scikit-learn: no validation before fit
    with pytest.raises(error, match=pattern):
        clf.fit(X, y)


def test_bad_data_gets_scikit_learns_messages(sk_circles):
    X, y, _, _ = sk_circles
    with pytest.raises(ValueError, match="Unknown label type"):
        MLPClassifier(max_iter=2).fit(X, y + 0.5)
    with pytest.raises(ValueError, match="at least 2 classes.*1 class"):
        MLPClassifier(max_iter=2).fit(X, np.zeros(300))
    clf = MLPClassifier(max_iter=2).fit(X, y)
    with pytest.raises(ValueError, match="X has 3 features, but MLPClassifier is expecting 2 features"):
        clf.predict(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="Input X contains NaN"):
        clf.predict(np.full((2, 2), np.nan))


def test_initlab_exports_the_classifier_lazily():
    code = ("import sys, initlab; assert 'sklearn' not in sys.modules; "
            "from initlab import MLPClassifier; assert 'sklearn' in sys.modules; print(MLPClassifier.__module__)")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "initlab.estimator"
    import initlab

    assert initlab.MLPClassifier is MLPClassifier and "MLPClassifier" in dir(initlab)
    with pytest.raises(AttributeError, match="no attribute 'MLPClassifer'"):
        initlab.MLPClassifer  # noqa: B018
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        MLPClassifier().get_params()
