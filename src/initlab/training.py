r"""Full-batch gradient descent of K networks at once, with divergence handling and a History.

One iteration is the notebook's: forward, (loss), backward, :math:`W \leftarrow W - \alpha\, dW`,
:math:`b \leftarrow b - \alpha\, db`, for all K models in the same batched matrix products. The
loss is computed only at the recorded iterations ``0, record_every, 2 record_every, ...`` (the
gradient does not need it), before that iteration's update, as the notebook prints it.

Divergence
----------
A model *diverges* at iteration ``i`` when its output logits are not finite (``inf``/``nan``) or
when the update of iteration ``i`` would make a parameter non-finite. (Both are tested through
one sum per model, so values so large that their sum overflows, about ``1e308 / m``, count too.)
It is then frozen: its parameters stay at their last finite values (those at the start of
iteration ``i``), its ``diverged_at`` is ``i`` and its later recorded losses are ``nan`` (also the
one at ``i`` when its logits were not finite); it leaves the batch and the other models go on. With ``loss="legacy"``
an ``inf`` *loss* is not divergence: the notebook's loss from probabilities is ``inf`` whenever a
sigmoid rounds to 0 or 1 on a wrong label (it prints ``inf`` at iteration 0 after ``randn * 10``
initialization and then trains fine).

BLAS runs single-threaded inside the loop (``threadpoolctl``): the matrices are small, and on
few cores OpenBLAS's threads make them slower, not faster (measured on the notebook's network).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from threadpoolctl import threadpool_limits

from initlab.diagnostics import LayerStats, layer_stats
from initlab.network import (
    MLP,
    Workspace,
    backward_pass,
    forward_pass,
    layer_views,
    loss_from_output,
    output_delta,
    predicted_labels,
    remove_model_axis,
    true_labels,
)
from initlab.validation import check_finite_array, check_int, check_real

__all__ = ["History", "train"]


@dataclass(frozen=True)
class History:
    """What :func:`train` returns. Arrays carry the model axis K, also for a dict without one.

    Attributes
    ----------
    loss : (K, n_records) float64
        Loss at ``record_iterations`` (before that iteration's update); nan after divergence.
    record_iterations : (n_records,) int
        ``0, record_every, 2 record_every, ... < iterations``.
    train_accuracy : (K,) float64
        Accuracy of the final parameters on the training set.
    test_accuracy : (K,) float64 or None
        On ``X_test, Y_test`` when given.
    params : dict
        Final parameters (a diverged model's last finite ones), in the shape they came.
    diverged : (K,) bool
    diverged_at : (K,) int
        Iteration at which each model diverged, -1 if it did not.
    learning_rate : (K,) float64
    iterations : int
    loss_kind : {"stable", "legacy"}
    wall_time : float
        Seconds spent in the training loop (diagnostics included).
    diagnostics : tuple of LayerStats
        At ``diagnostics_iterations`` (empty when off).
    diagnostics_iterations : (n_diagnostics,) int
        ``0, N, 2N, ... < iterations`` and finally ``iterations`` (the trained parameters).
    """

    loss: np.ndarray
    record_iterations: np.ndarray
    train_accuracy: np.ndarray
    test_accuracy: np.ndarray | None
    params: dict
    diverged: np.ndarray
    diverged_at: np.ndarray
    learning_rate: np.ndarray
    iterations: int
    loss_kind: str
    wall_time: float
    diagnostics: tuple[LayerStats, ...] = ()
    diagnostics_iterations: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


def train(
    net: MLP,
    params,
    X,
    Y,
    *,
    learning_rate=0.01,
    iterations: int = 15000,
    record_every: int = 1000,
    loss: str = "stable",
    diagnostics=False,
    X_test=None,
    Y_test=None,
) -> History:
    r"""Train K networks by full-batch gradient descent on the mean cross-entropy.

    Parameters
    ----------
    net : MLP
    params : dict
        Initial parameters, ``{"W1": (K, n_1, n_0), ...}`` (:meth:`MLP.initialize`) or the
        notebook's dict without model axis (K = 1). Not modified.
    X : (n_0, m)
    Y : labels, see :meth:`MLP.check_data`
    learning_rate : float > 0 or (K,) array of them
        One rate for all models, or one per model.
    iterations : int >= 0
    record_every : int >= 1
        Record the loss at iterations ``0, record_every, ...`` (the notebook: 1000).
    loss : {"stable", "legacy"}
        Which loss is *recorded*; the gradients are the same. ``"legacy"`` is the notebook's,
        from probabilities (can be inf; sigmoid output only).
    diagnostics : bool or int
        False (default): none, and no extra work. ``N``: :class:`LayerStats` at iterations
        ``0, N, 2N, ...`` and of the final parameters. True: ``N = record_every``.
    X_test, Y_test : optional held-out set for ``test_accuracy`` (both or neither).

    Returns
    -------
    History
    """
    loss = net.check_loss(loss)
    P, had_axis = net.check_params(params)
    X, T = net.check_data(X, Y)
    K = P["W1"].shape[0]
    iterations = check_int("iterations", iterations, min_value=0)
    record_every = check_int("record_every", record_every, min_value=1)
    lr = _check_learning_rate(learning_rate, K)
    diag_every = _check_diagnostics(diagnostics, record_every)
    if (X_test is None) != (Y_test is None):
        raise ValueError("The 'X_test' and 'Y_test' parameters go together: pass both or neither.")
    X_test, T_test = net.check_data(X_test, Y_test, names=("X_test", "Y_test")) if X_test is not None else (None, None)

    L = net.n_layers
    layers = net.layers
    g, output = net.hidden, net.output_function
    # All parameters of a model in one row (K, P), laid out W1, b1, W2, ...: the update and the
    # divergence check are then one array operation each. Two buffers, swapped every iteration,
    # keep the previous parameters for a model whose update is not finite.
    final = np.concatenate(
        [np.concatenate([P[f"W{l}"].reshape(K, -1), P[f"b{l}"].reshape(K, -1)], axis=1) for l in range(1, L + 1)],
        axis=1,
    )  # (K, P); frozen models are written here
    active = np.arange(K)  # original index of each model still training

    def batch(theta: np.ndarray):
        """Buffers and views for the models still training, starting from ``theta`` (K_active, P)."""
        theta = np.array(theta)
        spare = np.empty_like(theta)
        return theta, layer_views(theta, layers), spare, layer_views(spare, layers), Workspace(layers, len(theta), m)

    def freeze(bad: np.ndarray, theta: np.ndarray, i: int) -> np.ndarray:
        """Write the models flagged ``bad`` (mask over the batch) with parameters ``theta``; return the keep mask."""
        final[active[bad]] = theta[bad]
        diverged_at[active[bad]] = i
        return ~bad

    def current() -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Views of all K models' parameters now: the active ones from the batch, the frozen ones as frozen."""
        full = final.copy()
        full[active] = theta
        return layer_views(full, layers)

    m = X.shape[1]
    theta, (Ws, bs), theta_next, views_next, work = batch(final)
    alpha = lr[:, np.newaxis]  # (K_active, 1)
    record_iterations = np.arange(0, iterations, record_every)
    losses = np.full((K, record_iterations.size), np.nan)
    diverged_at = np.full(K, -1, dtype=np.int64)
    diag_records: list[LayerStats] = []
    diag_iterations: list[int] = []

    start = time.perf_counter()
    with threadpool_limits(limits=1, user_api="blas"), np.errstate(all="ignore"):
        for i in range(iterations):
            if diag_every and i % diag_every == 0:
                diag_records.append(layer_stats(net, *current(), X, T))
                diag_iterations.append(i)
            if active.size == 0:
                continue
            Zs, As = forward_pass(Ws, bs, X, g.forward, output, work)  # (K_active, n_l, m) each
            finite = np.isfinite(Zs[-1].sum(axis=(1, 2)))  # (K_active,): one nan/inf logit makes the sum non-finite
            if i % record_every == 0:
                value = loss_from_output(loss, net.output, Zs[-1], As[-1], T)  # (K_active,)
                losses[active, i // record_every] = np.where(finite, value, np.nan)
            if not finite.all():
                keep = freeze(~finite, theta, i)
                alpha, active = alpha[keep], active[keep]
                if active.size == 0:
                    continue
                theta, (Ws, bs), theta_next, views_next, work = batch(theta[keep])
                Zs, As = forward_pass(Ws, bs, X, g.forward, output, work)
            dZ = output_delta(As[-1], T, out=work.dZ[-1])  # (K_active, n_L, m)
            backward_pass(Ws, Zs, As, X, dZ, g.derivative, work)  # fills work.grads (K_active, P)
            step = np.multiply(alpha, work.grads, out=work.grads)
            np.subtract(theta, step, out=theta_next)  # the notebook's W = W - learning_rate * dW
            ok = np.isfinite(theta_next.sum(axis=1))  # (K_active,)
            if ok.all():
                theta, (Ws, bs), theta_next, views_next = theta_next, views_next, theta, (Ws, bs)
            else:
                keep = freeze(~ok, theta, i)  # keep the parameters before this update
                alpha, active = alpha[keep], active[keep]
                theta, (Ws, bs), theta_next, views_next, work = batch(theta_next[keep])
        final[active] = theta
        Ws, bs = layer_views(final, layers)
        if diag_every:
            diag_records.append(layer_stats(net, Ws, bs, X, T))
            diag_iterations.append(iterations)
        wall_time = time.perf_counter() - start
        train_accuracy = _accuracy(net, Ws, bs, X, T)
        test_accuracy = _accuracy(net, Ws, bs, X_test, T_test) if X_test is not None else None

    trained = {}
    for l in range(L):
        trained[f"W{l + 1}"] = np.ascontiguousarray(Ws[l])
        trained[f"b{l + 1}"] = np.ascontiguousarray(bs[l])
    return History(
        loss=losses,
        record_iterations=record_iterations,
        train_accuracy=train_accuracy,
        test_accuracy=test_accuracy,
        params=trained if had_axis else remove_model_axis(trained),
        diverged=diverged_at >= 0,
        diverged_at=diverged_at,
        learning_rate=lr,
        iterations=iterations,
        loss_kind=loss,
        wall_time=wall_time,
        diagnostics=tuple(diag_records),
        diagnostics_iterations=np.array(diag_iterations, dtype=np.int64),
    )


def _accuracy(net: MLP, Ws, bs, X: np.ndarray, T: np.ndarray) -> np.ndarray:
    """Share of correct labels per model, (K,)."""
    _, As = forward_pass(Ws, bs, X, net.hidden.forward, net.output_function)
    return (predicted_labels(net.output, As[-1]) == true_labels(net.output, T)).mean(axis=(1, 2))


def _check_learning_rate(learning_rate, K: int) -> np.ndarray:
    """A positive float or a (K,) array of them -> (K,) float64."""
    if np.ndim(learning_rate) == 0:
        return np.full(K, check_real("learning_rate", learning_rate, min_value=0.0, min_inclusive=False))
    lr = check_finite_array("learning_rate", learning_rate, ndim=1)
    if lr.shape != (K,):
        raise ValueError(
            f"The 'learning_rate' parameter must be a number or an array of K={K} numbers (one per model). Got shape {lr.shape} instead."
        )
    if not np.all(lr > 0):
        raise ValueError(f"The 'learning_rate' parameter must be > 0 for every model. Got {lr[lr <= 0][:5]} instead.")
    return lr


def _check_diagnostics(diagnostics, record_every: int) -> int:
    """False -> 0 (off); True -> record_every; an int N >= 1 -> N."""
    if diagnostics is False or diagnostics is None:
        return 0
    if diagnostics is True:
        return record_every
    return check_int("diagnostics", diagnostics, min_value=1)
