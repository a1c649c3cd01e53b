"""MLPClassifier(blocks=B): residual nets behind scikit-learn's API: its estimator checks, params, clone, model
selection, and the same numbers as initlab.train on a ResidualMLP built by hand."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.utils.estimator_checks import check_estimator

from initlab import datasets
from initlab.estimator import EXPECTED_FAILED_CHECKS, MLPClassifier
from initlab.network import MLP
from initlab.residual import ResidualMLP
from initlab.training import train


@pytest.fixture(scope="module")
def sk_circles(circles):
    """The notebook's circles in scikit-learn's layout: X (300, 2), y (300,)."""
    X, Y, X_test, Y_test = circles
    return X.T, Y[0], X_test.T, Y_test[0]


@pytest.mark.parametrize("init", ["fixup", "rezero"])
def test_passes_scikit_learns_estimator_checks_with_blocks(init):
    clf = MLPClassifier(hidden_layer_sizes=8, blocks=2, init=init, norm="layer", max_iter=100, optimizer="adam")
    results = check_estimator(clf, expected_failed_checks=EXPECTED_FAILED_CHECKS, on_skip=None)
    statuses = {r["check_name"]: r["status"] for r in results}
    assert "failed" not in statuses.values()
    assert statuses["check_classifiers_train"] == "passed" and statuses["check_estimators_pickle"] == "passed"
    assert (
        statuses["check_get_params_invariance"] == "passed"
        and statuses["check_parameters_default_constructible"] == "passed"
    )
    assert sum(s == "passed" for s in statuses.values()) >= 45


def test_params_clone_and_set_params():
    clf = MLPClassifier()
    assert (clf.blocks, clf.branch_depth, clf.norm) == (None, 2, "none")  # blocks=None: the plain MLP
    clf.set_params(blocks=6, branch_depth=3, norm="layer", hidden_layer_sizes=(16,), init="skipinit")
    twin = clone(clf)
    assert twin is not clf and twin.get_params() == clf.get_params()
    assert {k: twin.get_params()[k] for k in ("blocks", "branch_depth", "norm")} == {
        "blocks": 6,
        "branch_depth": 3,
        "norm": "layer",
    }


def test_fit_is_initlab_train_on_a_hand_built_residual_net(sk_circles):
    X, y, X_test, _ = sk_circles
    clf = MLPClassifier(hidden_layer_sizes=(8,), blocks=3, branch_depth=2, init="fixup", learning_rate=0.05,
                        max_iter=120, random_state=7).fit(X, y)  # fmt: skip
    net = ResidualMLP(2, 8, 1, 3, branch_depth=2, scalars="fixup")  # Fixup's multipliers and scalar biases
    init_rng, _ = np.random.default_rng(7).spawn(2)
    params = net.initialize("fixup", rng=init_rng, models=1)
    history = train(net, params, X.T, y[None], learning_rate=0.05, iterations=120, record_every=1)
    assert clf.network_ == net and sorted(clf.params_) == sorted(params)
    for key in params:
        np.testing.assert_array_equal(clf.params_[key], history.params[key][0])
    np.testing.assert_array_equal(clf.loss_curve_, history.loss[0])
    assert clf.n_iter_ == 120 and not clf.diverged_
    assert clf.loss_ == pytest.approx(net.loss_and_grads(clf.params_, X.T, y[None])[0], rel=1e-12)
    # probabilities: the sigmoid of the residual net's forward pass; labels: p > 0.5
    p1 = net.forward(clf.params_, X_test.T)[0]
    np.testing.assert_allclose(clf.predict_proba(X_test), np.column_stack([1 - p1, p1]))
    np.testing.assert_array_equal(clf.predict(X_test), (p1 > 0.5).astype(int))
    assert clf.score(X, y) == pytest.approx(np.mean(clf.predict(X) == y))


def test_rezero_starts_as_the_identity_and_learns_alpha(sk_circles):
    X, y, _, _ = sk_circles
    clf = MLPClassifier(hidden_layer_sizes=8, blocks=4, init="rezero", optimizer="adam", max_iter=50, random_state=0)
    clf.fit(X, y)
    assert clf.network_.scalars == "alpha" and clf.params_["alpha"].shape == (4,)
    assert np.all(clf.params_["alpha"] != 0)  # started at 0 (ReZero), trained away from it


def test_many_classes_on_a_residual_net():
    d = datasets.load("blobs", classes=3, rng=0)
    clf = MLPClassifier(hidden_layer_sizes=(12,), blocks=2, init="zero_last", optimizer="adam", max_iter=300,
                        random_state=0).fit(d.X_train.T, d.Y_train[0])  # fmt: skip
    assert clf.network_.output == "softmax" and clf.network_.n_out == 3
    proba = clf.predict_proba(d.X_test.T)
    assert proba.shape == (100, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert clf.score(d.X_test.T, d.Y_test[0]) > 0.9


def test_grid_search_over_blocks_and_over_structural_inits(sk_circles):
    X, y, _, _ = sk_circles
    base = MLPClassifier(hidden_layer_sizes=(8,), optimizer="adam", max_iter=60, random_state=0)
    search = GridSearchCV(base, {"blocks": [None, 2]}, cv=2).fit(X, y)
    assert list(search.cv_results_["param_blocks"]) == [None, 2]
    assert isinstance(search.best_estimator_.network_, MLP if search.best_params_["blocks"] is None else ResidualMLP)
    search = GridSearchCV(base.set_params(blocks=2), {"init": ["he_normal", "fixup", "rezero", "zero_last"]}, cv=2)
    search.fit(X, y)
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))


@pytest.mark.parametrize(
    ("params", "error", "pattern"),
    [
        (
            {"blocks": 2},
            ValueError,
            r"'hidden_layer_sizes' parameter must be one width, \(width,\), with blocks=2.*Got \(10, 5\) instead; "
            r"e.g. hidden_layer_sizes=\(16,\), or blocks=None",
        ),
        (
            {"init": "fixup"},
            ValueError,
            r"'init' parameter 'fixup' is a structural initializer of residual nets \(Zhang, Dauphin & Ma 2019.*"
            r"needs blocks=B",
        ),
        ({"blocks": 0, "hidden_layer_sizes": 4}, ValueError, r"'blocks' parameter must be >= 1. Got 0"),
        ({"blocks": 2.5, "hidden_layer_sizes": 4}, TypeError, r"'blocks' parameter"),
        (
            {"blocks": 2, "hidden_layer_sizes": 4, "branch_depth": 0},
            ValueError,
            r"'branch_depth' parameter must be >= 1",
        ),
        (
            {"blocks": 2, "hidden_layer_sizes": 4, "norm": "batch"},
            ValueError,
            r"'norm' parameter of ResidualMLP must be one of",
        ),
        (
            {"blocks": 2, "hidden_layer_sizes": 4, "init": "skipinit", "init_options": {"alpha1": 0.1}},
            TypeError,
            r"Unknown option 'alpha1' for initializer 'skipinit'. Did you mean alpha0\?",
        ),
        (
            {"blocks": 2, "hidden_layer_sizes": 4, "init": "he"},
            ValueError,
            r"'init' parameter of ResidualMLP.initialize",
        ),
    ],
)
def test_bad_residual_parameters_are_reported_by_fit(sk_circles, params, error, pattern):
    X, y, _, _ = sk_circles
    clf = MLPClassifier(max_iter=2).set_params(**params)  # scikit-learn: no validation before fit
    with pytest.raises(error, match=pattern):
        clf.fit(X, y)


def test_lsuv_on_a_residual_net_normalizes_on_the_training_inputs(sk_circles):
    X, y, _, _ = sk_circles
    clf = MLPClassifier(hidden_layer_sizes=8, blocks=2, init="lsuv", max_iter=5, random_state=3).fit(X, y)
    net = ResidualMLP(2, 8, 1, 2)
    init_rng, _ = np.random.default_rng(3).spawn(2)
    params = net.initialize("lsuv", rng=init_rng, models=1, X=X.T)
    history = train(net, params, X.T, y[None], iterations=5, record_every=1)
    for key in params:
        np.testing.assert_array_equal(clf.params_[key], history.params[key][0])
