r"""Training K networks at once: gradient descent and its relatives, divergence handling, a History.

One iteration is the notebook's: forward, (loss), backward, and one update of every parameter by
the optimizer (:mod:`initlab.optimizers`; default ``gd``, :math:`W \leftarrow W - \alpha\, dW`),
for all K models in the same batched matrix products. The loss of the whole training set is
computed only at the recorded iterations ``0, record_every, 2 record_every, ...`` (the gradient
does not need it), before that iteration's update, as the notebook prints it.

Minibatches
-----------
With ``batch_size=B`` (optimizers ``sgd``, ``momentum``, ``adam``) an *iteration* is still one
update, computed on B examples. An *epoch* is ``ceil(m / B)`` iterations: at its start each model
draws a fresh permutation of the m examples from its own stream (the k-th child of ``rng``, so
model k trains the same whatever K is) and then takes consecutive slices of B; the last slice of
an epoch holds the ``m - (ceil(m/B) - 1) B`` examples left (the course's ``random_mini_batches``).
So ``iterations = epochs * ceil(m / B)``. The K models see different minibatches at once: the
batch is ``(K, n_0, B)``, one per model, in the same matrix products.

Divergence
----------
A model *diverges* at iteration ``i`` when the sum of its output logits' magnitudes is not finite
or beyond :data:`initlab.network.DIVERGENCE_LOGIT` (1e100; its loss would be a float artifact:
``--lr 1e300`` gives logits of 1e299, still finite), or when the update of iteration
``i`` would make a parameter non-finite (tested through one sum per model, so values so large that
their sum overflows, about ``1e308 / P``, count too).
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

from initlab import optimizers
from initlab.diagnostics import LayerStats, layer_stats
from initlab.network import (
    MLP,
    Workspace,
    backward_pass,
    forward_pass,
    layer_views,
    logits_sound,
    loss_from_output,
    output_delta,
    predicted_labels,
    remove_model_axis,
    true_labels,
)
from initlab.validation import check_choice, check_int, check_learning_rate, check_rng

__all__ = ["MAX_ITERATIONS", "History", "check_iterations", "initialize_and_train", "train"]


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
    final_loss : (K,) float64
        Training-set loss (of ``loss_kind``) of the final parameters, after the last update; nan
        where their logits are past the divergence line (a diverged model's last finite parameters).
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
    optimizer : str
        The update rule with its options, e.g. ``"adam(beta1=0.9, beta2=0.999, epsilon=1e-08)"``.
    batch_size : int or None
        Examples per update; None for the full batch.
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
    optimizer: str = "gd()"
    batch_size: int | None = None
    final_loss: np.ndarray | None = None


#: The most parameter updates one call trains (the CLI's and the library's door alike).
MAX_ITERATIONS = 100_000_000


def check_iterations(iterations) -> int:
    """``iterations`` if it is an integer from 1 to :data:`MAX_ITERATIONS` (one rule for ``train`` and ``initlab train``)."""
    return check_int("iterations", iterations, min_value=1, max_value=MAX_ITERATIONS)


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
    optimizer="gd",
    batch_size: int | None = None,
    rng=None,
    diagnostics=False,
    X_test=None,
    Y_test=None,
    progress=None,
    engine: str = "numpy",
) -> History:
    r"""Train K networks on the mean cross-entropy (default: the notebook's full-batch gradient descent).

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
    iterations : int, 1 to :data:`MAX_ITERATIONS`
        Parameter updates. With minibatches an epoch is ``ceil(m / batch_size)`` of them.
    record_every : int >= 1
        Record the loss at iterations ``0, record_every, ...`` (the notebook: 1000).
    loss : {"stable", "legacy"}
        Which loss is *recorded*; the gradients are the same. ``"legacy"`` is the notebook's,
        from probabilities (can be inf; sigmoid output only).
    optimizer : str or Optimizer
        ``"gd"`` (default), ``"sgd"``, ``"momentum"``, ``"adam"`` with default options, or
        ``initlab.optimizers.get(name, **options)``.
    batch_size : int in [1, m] or None
        Examples per update (not with ``gd``); None: the whole training set. See the module
        docstring for epochs and shuffling.
    rng : None, int, SeedSequence, Generator, or a list of K of these
        Seed of the K minibatch streams (model k uses the k-th child), or the K streams themselves
        (model k uses ``rng[k]``: how a sweep trains runs of independent seeds together); unused
        without ``batch_size``.
    diagnostics : bool or int
        False (default): none, and no extra work. ``N``: :class:`LayerStats` at iterations
        ``0, N, 2N, ...`` and of the final parameters. True: ``N = record_every``.
    X_test, Y_test : optional held-out set for ``test_accuracy`` (both or neither).
    progress : callable, optional
        ``progress(done)`` with the number of updates done, at every recorded iteration and once
        at the end (a progress bar's hook).
    engine : {"numpy", "numba"}
        ``"numpy"`` (default): the reference engine, batched matrix products over the model axis.
        ``"numba"``: the compiled kernel (:mod:`initlab.kernels`, each thread trains whole models),
        for full-batch gradient descent; same results within 1e-12 relative on the losses.

    Returns
    -------
    History
    """
    loss = net.check_loss(loss)
    P, had_axis = net.check_params(params)
    X, T = net.check_data(X, Y)
    K = P["W1"].shape[0]
    iterations = check_iterations(iterations)
    record_every = check_int("record_every", record_every, min_value=1)
    lr = check_learning_rate(learning_rate, K)
    diag_every = _check_diagnostics(diagnostics, record_every)
    opt = _check_optimizer(optimizer)
    m = X.shape[1]
    B = _check_batch_size(batch_size, m, opt)
    if isinstance(rng, (list, tuple)):
        if len(rng) != K:
            raise ValueError(f"The 'rng' parameter, a list of streams, must hold one per model ({K}). Got {len(rng)} instead.")
        streams = [check_rng(r) for r in rng]
    else:
        streams = check_rng(rng).spawn(K)  # model k's minibatch order: the k-th child
    streams = streams if B is not None else None
    if (X_test is None) != (Y_test is None):
        raise ValueError("The 'X_test' and 'Y_test' parameters go together: pass both or neither.")
    X_test, T_test = net.check_data(X_test, Y_test, names=("X_test", "Y_test")) if X_test is not None else (None, None)
    kernels = _check_engine(engine, net, loss, opt, B)

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

    # Minibatches: the columns of X and T gathered per model, (K_active, n_0, b) and (K_active, n_L, b),
    # b = B or the last slice of an epoch; one Workspace per batch width.
    widths = {m} if B is None else {B, m % B} - {0}
    XT, TT = (np.ascontiguousarray(X.T), np.ascontiguousarray(T.T)) if B is not None else (None, None)  # (m, n_0), (m, n_L)
    n_batches = -(-m // B) if B is not None else 1

    def batch(theta: np.ndarray):
        """Buffers and views for the models still training, starting from ``theta`` (K_active, P)."""
        theta = np.array(theta)
        spare = np.empty_like(theta)
        works = {b: Workspace(layers, len(theta), b) for b in widths}
        return theta, layer_views(theta, layers), spare, layer_views(spare, layers), works

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

    theta, (Ws, bs), theta_next, views_next, works = batch(final)
    work = works[m] if B is None else None
    Xi, Ti = X, T  # this iteration's examples: all of them, or a minibatch per model
    state = opt.init_state(theta)  # (K_active, P) each: momentum's v, Adam's v and s
    alpha = lr[:, np.newaxis]  # (K_active, 1)
    record_iterations = np.arange(0, iterations, record_every)
    losses = np.full((K, record_iterations.size), np.nan)
    diverged_at = np.full(K, -1, dtype=np.int64)
    diag_records: list[LayerStats] = []
    diag_iterations: list[int] = []

    start = time.perf_counter()
    with threadpool_limits(limits=1, user_api="blas"), np.errstate(all="ignore"):
        if kernels is not None:
            # The compiled kernel trains `final` in place, in segments when diagnostics or progress
            # need the parameters in between (consecutive segments equal one call).
            step = diag_every or (record_every if progress is not None else iterations) or 1
            for a in range(0, iterations, step):
                if diag_every:
                    diag_records.append(layer_stats(net, *layer_views(final, layers), X, T))
                    diag_iterations.append(a)
                if progress is not None:
                    progress(a)
                kernels.gd_flat(net, final, X, T, lr, start=a, stop=min(a + step, iterations), record_every=record_every,
                                loss=loss, losses=losses, diverged_at=diverged_at)  # fmt: skip
            active, theta = active[:0], theta[:0]  # the numpy loop below has nothing left to train
        for i in range(iterations if active.size else 0):
            if diag_every and i % diag_every == 0:
                diag_records.append(layer_stats(net, *current(), X, T))
                diag_iterations.append(i)
            if active.size == 0:
                continue
            if B is not None:
                j = i % n_batches
                if j == 0:  # a new epoch: every model (frozen ones too, to keep streams aligned) reshuffles
                    order = np.stack([stream.permutation(m) for stream in streams])  # (K, m)
                cols = order[active, j * B : (j + 1) * B]  # (K_active, b)
                Xi = np.ascontiguousarray(XT[cols].swapaxes(1, 2))  # (K_active, n_0, b)
                Ti = np.ascontiguousarray(TT[cols].swapaxes(1, 2))  # (K_active, n_L, b)
                work = works[cols.shape[1]]
            Zs, As = forward_pass(Ws, bs, Xi, g.forward, output, work)  # (K_active, n_l, m or b) each
            finite = logits_sound(Zs[-1])  # (K_active,)
            if i % record_every == 0:
                if B is None:
                    value = loss_from_output(loss, net.output, Zs[-1], As[-1], T)  # (K_active,)
                else:  # the loss of the whole training set, as with gd
                    Z_all, A_all = forward_pass(Ws, bs, X, g.forward, output)
                    finite &= logits_sound(Z_all[-1])
                    value = loss_from_output(loss, net.output, Z_all[-1], A_all[-1], T)
                losses[active, i // record_every] = np.where(finite, value, np.nan)
                if progress is not None:
                    progress(i)
            if not finite.all():
                keep = freeze(~finite, theta, i)
                alpha, active, state = alpha[keep], active[keep], tuple(v[keep] for v in state)
                theta, (Ws, bs), theta_next, views_next, works = batch(theta[keep])
                if active.size == 0:  # every model has diverged (theta is empty now, like active)
                    continue
                if B is None:
                    work = works[m]
                else:
                    Xi, Ti, work = Xi[keep], Ti[keep], works[Xi.shape[-1]]
                Zs, As = forward_pass(Ws, bs, Xi, g.forward, output, work)
            dZ = output_delta(As[-1], Ti, out=work.dZ[-1])  # (K_active, n_L, m or b)
            backward_pass(Ws, Zs, As, Xi, dZ, g.derivative, work)  # fills work.grads (K_active, P)
            opt.update(theta, work.grads, alpha, state, i + 1, theta_next)  # gd: theta - alpha * grads
            ok = np.isfinite(theta_next.sum(axis=1))  # (K_active,)
            if ok.all():
                theta, (Ws, bs), theta_next, views_next = theta_next, views_next, theta, (Ws, bs)
            else:
                keep = freeze(~ok, theta, i)  # keep the parameters before this update
                alpha, active, state = alpha[keep], active[keep], tuple(v[keep] for v in state)
                theta, (Ws, bs), theta_next, views_next, works = batch(theta_next[keep])
                work = works[m] if B is None else None
        final[active] = theta
        Ws, bs = layer_views(final, layers)
        if diag_every:
            diag_records.append(layer_stats(net, Ws, bs, X, T))
            diag_iterations.append(iterations)
        wall_time = time.perf_counter() - start
        if progress is not None:
            progress(iterations)
        train_accuracy, final_loss = _evaluate(net, Ws, bs, X, T, loss)
        test_accuracy = _evaluate(net, Ws, bs, X_test, T_test, loss)[0] if X_test is not None else None

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
        optimizer=repr(opt),
        batch_size=B,
        final_loss=final_loss,
    )


def initialize_and_train(
    net: MLP,
    X,
    Y,
    *,
    init="he_normal",
    init_options=None,
    models: int = 1,
    rng=None,
    learning_rate=0.01,
    iterations: int = 15000,
    record_every: int = 1000,
    loss: str = "stable",
    optimizer="gd",
    batch_size: int | None = None,
    diagnostics=False,
    X_test=None,
    Y_test=None,
    progress=None,
) -> History:
    """Draw K models' initial parameters and train them: the recipe of ``initlab train`` and MLPClassifier.

    ``rng`` is split once into two streams: the first seeds :meth:`MLP.initialize` (model k's
    initial parameters come from its k-th child), the second seeds :func:`train`'s minibatch order
    (model k's from its k-th child). So model k is the same whatever ``models`` is, and its
    initialization and its minibatches never share random numbers. In code::

        init_rng, order_rng = numpy.random.default_rng(rng).spawn(2)
        params = net.initialize(init, rng=init_rng, models=models, **init_options)
        history = train(net, params, X, Y, rng=order_rng, ...)

    Parameters
    ----------
    net : MLP
    X : (n_0, m)
    Y : labels, see :meth:`MLP.check_data`
    init : str or callable
        An initializer name or ``init(shape, *, rng)`` (:meth:`MLP.initialize`).
    init_options : dict, optional
        Options of the named initializer, e.g. ``{"mode": "fan_out"}``.
    models : int >= 1
        K, trained at once along the model axis.
    rng : None, int, SeedSequence or Generator
    learning_rate, iterations, record_every, loss, optimizer, batch_size, diagnostics, X_test, Y_test, progress
        As in :func:`train`.

    Returns
    -------
    History
    """
    if init_options is None:
        init_options = {}
    elif not isinstance(init_options, dict) or not all(isinstance(k, str) for k in init_options):
        raise TypeError(
            f"The 'init_options' parameter must be a dict of option names to values, e.g. {{'mode': 'fan_out'}}. "
            f"Got {init_options!r} instead."
        )
    init_rng, order_rng = check_rng(rng).spawn(2)
    params = net.initialize(init, rng=init_rng, models=models, **init_options)
    return train(net, params, X, Y, learning_rate=learning_rate, iterations=iterations, record_every=record_every,
                 loss=loss, optimizer=optimizer, batch_size=batch_size, rng=order_rng, diagnostics=diagnostics,
                 X_test=X_test, Y_test=Y_test, progress=progress)  # fmt: skip


def _evaluate(net: MLP, Ws, bs, X: np.ndarray, T: np.ndarray, loss: str) -> tuple[np.ndarray, np.ndarray]:
    """Share of correct labels and loss per model, (K,) each; the loss is nan where the logits have diverged."""
    Zs, As = forward_pass(Ws, bs, X, net.hidden.forward, net.output_function)
    accuracy = (predicted_labels(net.output, As[-1]) == true_labels(net.output, T)).mean(axis=(1, 2))
    return accuracy, np.where(logits_sound(Zs[-1]), loss_from_output(loss, net.output, Zs[-1], As[-1], T), np.nan)


def _check_engine(engine: str, net: MLP, loss: str, opt: optimizers.Optimizer, B):
    """The kernels module for ``engine="numba"`` (after checking it can do this run), None for numpy."""
    check_choice("engine", engine, ("numpy", "numba"))
    if engine == "numpy":
        return None
    if opt.state_size or opt.name not in ("gd", "sgd") or B is not None:
        raise ValueError(
            f"The 'engine' parameter 'numba' trains with full-batch gradient descent only. Got optimizer "
            f"{opt!r} with batch_size={B}; use engine='numpy' for it."
        )
    from initlab import kernels  # lazy: numba's import and compilation cost seconds

    reason = kernels.supported(net, loss)
    if reason is not None:
        raise ValueError(f"The 'engine' parameter 'numba' cannot train this network: {reason}. Use engine='numpy'.")
    return kernels


def _check_optimizer(optimizer) -> optimizers.Optimizer:
    """A name (default options) or an Optimizer -> Optimizer."""
    if isinstance(optimizer, optimizers.Optimizer):
        return optimizer
    return optimizers.get(optimizer)


def _check_batch_size(batch_size, m: int, opt: optimizers.Optimizer) -> int | None:
    """None (full batch) or an int in [1, m], and not with the full-batch rule ``gd``."""
    if batch_size is None:
        return None
    if opt.full_batch:
        raise ValueError(
            f"The 'batch_size' parameter goes with a minibatch optimizer ('sgd', 'momentum' or 'adam'); "
            f"optimizer {opt.name!r} is the notebook's full-batch gradient descent. Got batch_size={batch_size!r}; "
            "drop it or choose optimizer='sgd'."
        )
    return check_int("batch_size", batch_size, min_value=1, max_value=m)


def _check_diagnostics(diagnostics, record_every: int) -> int:
    """False -> 0 (off); True -> record_every; an int N >= 1 -> N."""
    if diagnostics is False or diagnostics is None:
        return 0
    if diagnostics is True:
        return record_every
    return check_int("diagnostics", diagnostics, min_value=1)
