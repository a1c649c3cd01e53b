r"""``MLPClassifier``: initlab's network and training loop behind scikit-learn's estimator API.

A thin adapter: :meth:`MLPClassifier.fit` validates with scikit-learn's helpers, builds an
:class:`initlab.network.MLP` of ``(n_features, *hidden_layer_sizes, n_outputs)`` (or, with
``blocks``, an :class:`initlab.residual.ResidualMLP` of width ``hidden_layer_sizes[0]``) and calls
:func:`initlab.training.initialize_and_train` (one model), the same engine as ``initlab train``.
Data come in scikit-learn's layout, ``X`` of shape ``(n_samples, n_features)``; the adapter
transposes to the notebook's ``(n_features, n_samples)``. Two classes use one sigmoid output, more
use a softmax over ``n_classes`` outputs.

Because the initializer is a hyper-parameter, scikit-learn's model selection answers the
notebook's question on any data::

    from sklearn.model_selection import GridSearchCV
    search = GridSearchCV(MLPClassifier(max_iter=3000), {"init": ["zeros", "random", "he_normal"]}, cv=3)
    search.fit(X, y).best_params_
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from initlab import optimizers
from initlab.network import DATA_DEPENDENT, MLP
from initlab.residual import STRUCTURAL, ResidualMLP, scalars_for
from initlab.training import initialize_and_train
from initlab.validation import check_int, check_shape

__all__ = ["MLPClassifier", "EXPECTED_FAILED_CHECKS"]

#: Checks of ``sklearn.utils.estimator_checks.check_estimator`` that MLPClassifier is expected to
#: fail, with the reason; pass as ``check_estimator(MLPClassifier(), expected_failed_checks=...)``.
#: scikit-learn >= 1.6 takes them there (the ``_xfail_checks`` tag is gone). Empty: with
#: scikit-learn 1.9 all 54 checks it runs pass (see the class's Notes for those it does not run).
EXPECTED_FAILED_CHECKS: dict[str, str] = {}


class MLPClassifier(ClassifierMixin, BaseEstimator):
    r"""Multilayer perceptron classifier with a choice of weight initialization and optimizer.

    Minimizes the mean cross-entropy of a fully connected network, hidden layers ``activation``,
    output a sigmoid (2 classes) or softmax (more), starting from the initializer ``init``. Every
    argument is checked in :meth:`fit`, as scikit-learn's conventions ask.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int >= 1, default (10, 5)
        Units of each hidden layer (the notebook's 10 and 5). With ``blocks``: one width, ``(width,)``
        (or the int ``width``), shared by the residual trunk and every branch layer.
    activation : str, default "relu"
        Hidden activation, one of :func:`initlab.activations.available`.
    init : str or callable, default "he_normal"
        Weight initializer, a name of :func:`initlab.initializers.available` (``"zeros"``,
        ``"random"``, ``"he_normal"``, ``"xavier_uniform"``, ...), ``"lsuv"`` (data-dependent:
        normalized on the ``X`` given to ``fit``, :func:`initlab.lsuv.lsuv`) or ``init(shape, *, rng)``;
        with ``blocks`` also a structural one of :data:`initlab.residual.STRUCTURAL` (``"fixup"``,
        ``"rezero"``, ``"skipinit"``, ``"zero_last"``). Biases start at 0.
    init_options : dict or None
        Options of the named initializer, e.g. ``{"mode": "fan_out"}``, ``{"scale": 10}`` or
        ``{"layer_init": "orthogonal"}`` (a structural one's).
    blocks : int >= 1 or None, default None
        None: a plain MLP. B: a residual MLP (:class:`initlab.residual.ResidualMLP`): an input
        projection to ``width``, B blocks ``h <- h + alpha_b F_b(h)``, the head; built with
        ``scalars=residual.scalars_for(init)`` (Fixup's multipliers and scalar biases, or the
        trained ``alpha`` of ReZero/SkipInit, when ``init`` needs them).
    branch_depth : int >= 1, default 2
        m, linear layers per residual branch (used only with ``blocks``).
    norm : {"none", "layer"}, default "none"
        ``"layer"``: a LayerNorm at the start of every branch (pre-LN); used only with ``blocks``.
    parametrization : {"standard", "ntk", "mup"}, default "standard"
        How initialization and learning rates scale with width (:mod:`initlab.parametrization`,
        ``MLP(..., parametrization=)``); ``ntk`` and ``mup`` take a fan_in initializer (``he_*``,
        ``lecun_*``, ``zeros``) and a plain MLP (``blocks=None``).
    base_width : None, int or one int per hidden layer, default None
        ``mup`` only: the base model's hidden width(s), where muP equals standard (None: base 1,
        TP5's Table 3 literally).
    optimizer : str, default "gd"
        ``"gd"`` (full batch, the notebook's), ``"sgd"``, ``"momentum"`` or ``"adam"``
        (:mod:`initlab.optimizers`).
    optimizer_options : dict or None
        Options of the optimizer: ``{"beta": 0.9}`` (momentum), ``{"beta1": .., "beta2": .., "epsilon": ..}`` (adam).
    learning_rate : float > 0, default 0.01
    max_iter : int >= 1, default 15000
        Parameter updates (the notebook's 15,000). With ``batch_size`` an epoch is
        ``ceil(n_samples / batch_size)`` updates.
    batch_size : int >= 1 or None, default None
        Examples per update for ``sgd``, ``momentum`` and ``adam``; None: all of them. Larger than
        ``n_samples`` is clipped to it with a warning (as scikit-learn's MLPClassifier does).
    random_state : None, int, numpy Generator or RandomState
        Seeds the initial weights and the minibatch order. A RandomState is used to draw an int
        seed (initlab draws from numpy Generators).

    Attributes
    ----------
    classes_ : (n_classes,) the labels seen in ``fit``, sorted
    n_features_in_ : int
    feature_names_in_ : (n_features_in_,) str, only when X has string column names
    network_ : initlab.network.MLP or initlab.residual.ResidualMLP
    params_ : dict, the notebook's layout: ``"W1"`` (n_1, n_features), ``"b1"`` (n_1, 1), ...;
        for a residual net :meth:`ResidualMLP.groups`' (``"W_in"``, ``"W_branch"`` (B, m, width, width), ...)
    loss_curve_ : list of float
        The training loss before each update (``max_iter`` values; nan after divergence).
    loss_ : float
        The training loss of the final parameters.
    n_iter_ : int
        Updates done (fewer than ``max_iter`` if training diverged).
    diverged_ : bool
        Training blew up (non-finite logits or parameters); ``params_`` are the last finite ones
        and a ``ConvergenceWarning`` was issued.

    Notes
    -----
    It passes ``sklearn.utils.estimator_checks.check_estimator`` (scikit-learn 1.9: 54 checks)
    with ``expected_failed_checks=EXPECTED_FAILED_CHECKS``, which is empty; so does a residual
    configuration (``blocks=2, init="fixup"`` or ``"rezero"``, ``norm="layer"``). Checks that do not
    apply are not run: scikit-learn does not yield the sample-weight checks (``fit`` takes no
    ``sample_weight``), nor those of ``partial_fit``, ``decision_function``, multi-label or
    multi-output targets, sparse or NaN input being accepted (the default tags: dense, finite
    input, one target). ``check_array_api_input`` reports itself skipped unless the environment sets
    ``SCIPY_ARRAY_API=1``; the engine is numpy only.
    """

    def __init__(
        self,
        hidden_layer_sizes=(10, 5),
        activation="relu",
        init="he_normal",
        init_options=None,
        optimizer="gd",
        optimizer_options=None,
        learning_rate=0.01,
        max_iter=15000,
        batch_size=None,
        random_state=None,
        blocks=None,
        branch_depth=2,
        norm="none",
        parametrization="standard",
        base_width=None,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.init = init
        self.init_options = init_options
        self.optimizer = optimizer
        self.optimizer_options = optimizer_options
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.random_state = random_state
        self.blocks = blocks
        self.branch_depth = branch_depth
        self.norm = norm
        self.parametrization = parametrization
        self.base_width = base_width

    def fit(self, X, y):
        """Train on ``X`` (n_samples, n_features) and labels ``y`` (n_samples,) of at least 2 classes.

        Returns
        -------
        self
        """
        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        self.classes_, codes = np.unique(y, return_inverse=True)
        n_classes = len(self.classes_)
        if n_classes < 2:
            raise ValueError(
                f"MLPClassifier needs samples of at least 2 classes to learn from; y has 1 class ({self.classes_[0]!r})."
            )
        output, n_out = ("sigmoid", 1) if n_classes == 2 else ("softmax", n_classes)
        net = self._network(X.shape[1], n_out, output)
        optimizer = optimizers.get(self.optimizer, **_options("optimizer_options", self.optimizer_options))
        max_iter = check_int("max_iter", self.max_iter, min_value=1)
        batch_size = self.batch_size
        if batch_size is not None and isinstance(batch_size, numbers.Integral) and batch_size > X.shape[0]:
            warnings.warn(f"batch_size={batch_size} is larger than the {X.shape[0]} samples; clipped to {X.shape[0]}.", UserWarning, stacklevel=2)  # fmt: skip
            batch_size = X.shape[0]
        init_options = _options("init_options", self.init_options)
        if isinstance(self.init, str) and self.init in DATA_DEPENDENT:  # lsuv normalizes on the training X
            init_options = {**init_options, "X": X.T}
        history = initialize_and_train(
            net, X.T, codes[np.newaxis], init=self.init, init_options=init_options,
            models=1, rng=_generator(self.random_state), learning_rate=self.learning_rate, iterations=max_iter,
            record_every=1, optimizer=optimizer, batch_size=batch_size,
        )  # fmt: skip
        self.network_ = net
        self.params_ = {k: v[0] for k, v in history.params.items()}
        self.loss_curve_ = history.loss[0].tolist()
        self.diverged_ = bool(history.diverged[0])
        self.n_iter_ = int(history.diverged_at[0]) if self.diverged_ else max_iter
        self.loss_ = float(history.final_loss[0])
        if self.diverged_:
            warnings.warn(
                f"Training diverged at update {self.n_iter_} (non-finite logits or parameters); params_ are the last "
                f"finite ones. Lower learning_rate (now {self.learning_rate}) or change init.",
                ConvergenceWarning,
                stacklevel=2,
            )
        return self

    def _network(self, n_in: int, n_out: int, output: str) -> MLP | ResidualMLP:
        """The net ``fit`` trains: an MLP, or with ``blocks`` a ResidualMLP (its parameters checked here)."""
        hidden = check_shape("hidden_layer_sizes", self.hidden_layer_sizes)
        if self.blocks is None:
            if isinstance(self.init, str) and self.init in STRUCTURAL:
                raise ValueError(
                    f"The 'init' parameter {self.init!r} is a structural initializer of residual nets "
                    f"({STRUCTURAL[self.init][1]}): it needs blocks=B. Set blocks (e.g. blocks=8), or choose a "
                    "per-matrix initializer."
                )
            return MLP((n_in, *hidden, n_out), self.activation, output, parametrization=self.parametrization,
                       base_width=self.base_width)  # fmt: skip
        if (
            not (isinstance(self.parametrization, str) and self.parametrization == "standard")
            or self.base_width is not None
        ):
            raise ValueError(
                f"The 'parametrization' and 'base_width' parameters apply to plain MLPs; with blocks={self.blocks!r} "
                f"(a residual net) leave them at 'standard' and None. Got parametrization={self.parametrization!r}, "
                f"base_width={self.base_width!r}."
            )
        if len(hidden) != 1:
            raise ValueError(
                f"The 'hidden_layer_sizes' parameter must be one width, (width,), with blocks={self.blocks!r}: a "
                f"residual net's trunk and branch layers share it. Got {hidden} instead; e.g. hidden_layer_sizes=(16,), "
                "or blocks=None for a plain MLP."
            )
        return ResidualMLP(n_in, hidden[0], n_out, self.blocks, branch_depth=self.branch_depth,
                           activation=self.activation, output=output, norm=self.norm,
                           scalars=scalars_for(self.init))  # fmt: skip

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, (n_samples, n_classes), columns in the order of ``classes_``."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        net = self.network_
        A = (
            net.predict_proba(self.params_, X.T) if isinstance(net, MLP) else net.forward(self.params_, X.T)
        )  # (n_L, n_samples)
        if self.network_.output == "sigmoid":
            return np.column_stack([1.0 - A[0], A[0]])
        return np.ascontiguousarray(A.T)

    def predict(self, X) -> np.ndarray:
        """Labels from ``classes_``, (n_samples,): the most probable class (for two classes, p > 0.5, the notebook's rule)."""
        proba = self.predict_proba(X)  # checks that the estimator is fitted, before classes_ is read
        return self.classes_[np.argmax(proba, axis=1)]


def _options(name: str, options) -> dict:
    """None or a dict with str keys -> dict."""
    if options is None:
        return {}
    if not isinstance(options, dict) or not all(isinstance(k, str) for k in options):
        raise TypeError(
            f"The '{name}' parameter must be None or a dict of option names to values. Got {options!r} instead."
        )
    return dict(options)


def _generator(random_state) -> np.random.Generator | int | None:
    """scikit-learn's random_state -> what initlab's rng takes (a RandomState draws an int seed)."""
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(np.iinfo(np.int32).max))
    if random_state is None or isinstance(random_state, np.random.Generator):
        return random_state
    return check_int("random_state", random_state, min_value=0)
