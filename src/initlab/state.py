r"""K models in training, as a state you can advance: the numpy engine, divergence and freezing defined once.

One *iteration* is the notebook's: forward, (loss), backward, and one update of every parameter by
the optimizer (:mod:`initlab.optimizers`; ``gd`` is :math:`W \leftarrow W - \alpha\, dW`), for all
K models in the same batched matrix products. :meth:`TrainingState.advance` runs ``n`` of them;
advancing by ``a`` then ``b`` is the same computation as advancing by ``a + b`` (the optimizer's
moments, its step counter and the minibatch order carry over), so a caller may stop between
iterations to look (diagnostics, a progress bar, a live page) without changing the numbers.
:func:`initlab.training.train` is a short function over this state; the compiled engine
(:func:`initlab.kernels.advance`) advances the same state; the playground wraps one with K = 1.

Layout
------
Every model's parameters are one row of ``theta`` (K, P), laid out ``W1, b1, W2, ...``
(:func:`initlab.network.flatten_params`, :func:`~initlab.network.layer_views`): the update and the
divergence test are then one array operation each.

The network's passes
--------------------
The state reaches the network only through its *passes* (:func:`passes`): ``views(theta)``,
``workspace(K, m, dtype)``, ``forward(views, X, work=None) -> (Z_L, A_L)`` (logits and probabilities),
``backward(views, X, T, work) -> grads`` (K, P), ``flatten(params)`` and ``params(theta)``. An
:class:`~initlab.network.MLP`'s are :func:`~initlab.network.forward_pass` /
:func:`~initlab.network.backward_pass` on preallocated buffers (its fast path, unchanged); a
:class:`~initlab.residual.ResidualMLP` brings its own (:meth:`~initlab.residual.ResidualMLP.passes`).
Iterations, minibatches, the optimizer and divergence are written once, here, for both.

Loss records
------------
The loss of the whole training set is computed only at the recorded iterations ``0, record_every,
2 record_every, ...`` (the gradient does not need it), before that iteration's update, as the
notebook prints it, into ``losses[:, i // record_every]``.

Minibatches
-----------
With ``batch_size=B`` an iteration is still one update, computed on B examples. An *epoch* is
``ceil(m / B)`` iterations: at its start each model draws a fresh permutation of the m examples
from its own stream (:mod:`initlab.seeding`: model k's is the k-th) and then takes consecutive
slices of B; the last slice holds the ``m - (ceil(m/B) - 1) B`` examples left (the course's
``random_mini_batches``). The K models see different minibatches at once: the batch is
``(K, n_0, B)``, one per model, in the same matrix products. Frozen models reshuffle too, so the
streams stay aligned.

Divergence
----------
A model *diverges* at iteration ``i`` when the sum of its output logits' magnitudes is not finite
or beyond :data:`initlab.network.DIVERGENCE_LOGIT` (1e100; its loss would be a float artifact:
``--lr 1e300`` gives logits of 1e299, still finite; in float32 the line is
:data:`~initlab.network.DIVERGENCE_LOGIT_FLOAT32`, 1e30, below its overflow at 3.4e38), or when
the update of iteration ``i`` would make a parameter non-finite (tested through one sum per model, so values so large that their sum
overflows, about ``1e308 / P``, count too). It is then frozen: its parameters stay at their last
finite values (those at the start of iteration ``i``), its ``diverged_at`` is ``i`` and its later
recorded losses are ``nan`` (also the one at ``i`` when its logits were not finite); it leaves the
batch and the other models go on. With ``loss="legacy"`` an ``inf`` *loss* is not divergence: the
notebook's loss from probabilities is ``inf`` whenever a sigmoid rounds to 0 or 1 on a wrong label
(it prints ``inf`` at iteration 0 after ``randn * 10`` initialization and then trains fine).

Parametrizations
----------------
An :class:`~initlab.network.MLP` with ``parametrization="ntk"`` or ``"mup"`` trains its effective
weights with a learning rate per model *and parameter*, ``learning_rate[k] *
net.learning_rate_factors(optimizer)[p]`` (K, P), and Adam's epsilon times
``net.epsilon_factors()`` (:mod:`initlab.parametrization` derives both, exactly, from the
multipliers of the paper's form). With ``"standard"`` neither is built: the rates stay (K, 1) and
the arithmetic is today's, bit for bit.

BLAS runs single-threaded inside :meth:`~TrainingState.advance`: the matrices are small, and on
few cores OpenBLAS's threads make them slower, not faster (measured on the notebook's network);
the engines parallelize across models instead.
"""

from __future__ import annotations

import functools
import os
import threading

import numpy as np

from initlab.network import (
    MLP,
    Workspace,
    backward_pass,
    flatten_params,
    forward_pass,
    layer_views,
    logits_sound,
    loss_from_output,
    output_delta,
    params_dict,
)
from initlab.optimizers import Optimizer, with_epsilon_factors

__all__ = ["WIDE_MULTIPLY_ADDS", "TrainingState", "blas_threads", "engine_context", "max_cores", "passes"]


class _MLPPasses:
    """An MLP's passes over flat rows (see "The network's passes" above): the engine's functions of initlab.network."""

    def __init__(self, net: MLP):
        self.layers, self.output = net.layers, net.output
        self._g, self._out = net.hidden, net.output_function

    def views(self, theta: np.ndarray):
        return layer_views(theta, self.layers)

    def workspace(self, K: int, m: int, dtype=np.float64) -> Workspace:
        return Workspace(self.layers, K, m, dtype)

    def flatten(self, params) -> np.ndarray:
        return flatten_params(params)

    def params(self, theta: np.ndarray) -> dict:
        return params_dict(theta, self.layers)

    def forward(self, views, X: np.ndarray, work: Workspace | None = None) -> tuple[np.ndarray, np.ndarray]:
        Zs, As = forward_pass(*views, X, self._g.forward, self._out, work)
        return Zs[-1], As[-1]

    def backward(self, views, X: np.ndarray, T: np.ndarray, work: Workspace) -> np.ndarray:
        dZ = output_delta(work.A[-1], T, out=work.dZ[-1])  # (K, n_L, m or b)
        backward_pass(views[0], work.Z, work.A, X, dZ, self._g.derivative, work)
        return work.grads


def passes(net):
    """The forward and backward passes of ``net`` over flat parameter rows: an MLP's fast path, or ``net.passes()``."""
    return _MLPPasses(net) if isinstance(net, MLP) else net.passes()


@functools.cache
def _blas_controller():
    from threadpoolctl import ThreadpoolController  # scans the loaded libraries once per process

    return ThreadpoolController()


_local = threading.local()  # per thread: how deep in engine contexts it is, and what the outermost one set


class _EngineContext:
    """BLAS on ``threads`` threads and numpy's floating-point warnings off, once per thread: nested entries cost nothing.

    The engine's loops run inside it (overflow is what divergence detects, not an error); a caller
    that advances a state many times in small steps enters it once around all of them. Per thread,
    because numpy's error state is (the playground trains several tabs in threads at once). The
    outermost entry decides the thread count.
    """

    def __init__(self, threads: int = 1):
        self.threads = threads

    def __enter__(self):
        depth = getattr(_local, "depth", 0)
        if depth == 0:
            _local.limit = _blas_controller().limit(limits=self.threads, user_api="blas")
            _local.errors = np.errstate(all="ignore")
            _local.errors.__enter__()
        _local.depth = depth + 1
        return self

    def __exit__(self, *exc):
        _local.depth -= 1
        if _local.depth == 0:
            _local.errors.__exit__(*exc)
            _local.limit.restore_original_limits()
        return False


def engine_context(threads: int = 1) -> _EngineContext:
    """A context in which BLAS runs on ``threads`` threads (default one) and numpy's floating-point warnings are off.

    Free when nested: the outermost context decides. See :func:`blas_threads` for the choice by shape.
    """
    return _EngineContext(threads)


#: Multiply-adds of one model's largest matrix product (``n_l * n_(l-1) * m``) from which the numpy
#: engine runs BLAS on every core instead of one (benchmarks/bench_wide.py measured the crossover: blas_threads).
WIDE_MULTIPLY_ADDS = 2**25


def blas_threads(layers, m: int) -> int:
    r"""BLAS threads for the numpy engine on models of ``layers`` (a plain MLP's sizes) with m examples a step.

    Tiny matrices: one thread, models in parallel elsewhere (a sweep's workers, the numba engine),
    because a thread team's start-up and the split of a small product cost more than they save.
    Wide layers: every core, models in sequence (``np.matmul`` over the model axis calls BLAS once
    per model), once one model's largest product :math:`\max_l n_l n_{l-1} m` reaches
    :data:`WIDE_MULTIPLY_ADDS`. The number of models does not enter: the products run one model at
    a time either way. Every core means the cores this process may run on, capped by the threads
    BLAS has now (a sweep's worker runs with one, ``OPENBLAS_NUM_THREADS=1``; so does a user who set it).
    Measured (``benchmarks/bench_wide.py``, 2 cores, quiet, K = 4, m = 300): two threads gain 1.3x
    at width 512 and 1.7x at 1024-2048 (then a step is 1.4x the bare matmul chain), about 1.2x at
    128-256 and nothing below; the crossover sits at width ~330 for m = 300, where the gain is
    clear, because on a loaded machine a second BLAS thread has cost up to 40x.
    """
    largest = max(int(a) * int(b) for a, b in zip(layers[:-1], layers[1:])) * int(m)
    if largest < WIDE_MULTIPLY_ADDS:
        return 1
    # every core BLAS may use here: a sweep's worker (OPENBLAS_NUM_THREADS=1, initlab.jobs) or a user's limit stays
    running = [lib.num_threads for lib in _blas_controller().select(user_api="blas").lib_controllers]
    return max(1, min(max_cores(), max(running, default=1)))


def max_cores() -> int:
    """The cores this process may run on (its CPU affinity where the system has one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else max(1, os.cpu_count() or 1)


class _Batch:
    """The models still training: their parameters, two buffers swapped every iteration, their optimizer state.

    ``theta`` (K_a, P) holds the parameters now and ``spare`` the next ones; a model whose update
    is not finite is frozen with its ``theta`` row (the parameters before the update). When every
    model trains (``full``), the batch works in the state's own arrays (no gathering, no copies);
    otherwise it holds copies of the active rows, written back at the end of
    :meth:`TrainingState.advance`.
    """

    def __init__(self, active, theta, spare, views, spare_views, opt_state, alpha, *, full: bool):
        self.active = active  # (K_a,) original index of each model still training
        self.theta, self.spare = theta, spare  # (K_a, P) each
        self.views, self.spare_views = views, spare_views
        self.opt_state = opt_state  # (K_a, P) each: momentum's v, Adam's v and s
        self.alpha = alpha  # (K_a, 1)
        self.full = full

    @classmethod
    def gathered(cls, net_passes, active, theta, opt_state, alpha) -> _Batch:
        """A batch of copies of the rows ``active`` (theta and optimizer state as given, already gathered)."""
        theta = np.array(theta)
        spare = np.empty_like(theta)
        views, spare_views = net_passes.views(theta), net_passes.views(spare)
        return cls(active, theta, spare, views, spare_views, opt_state, alpha, full=False)

    def keep(self, net_passes, keep: np.ndarray, theta: np.ndarray) -> _Batch:
        """The batch of the models flagged ``keep``, continuing from ``theta`` (K_a, P)."""
        opt_state = tuple(v[keep] for v in self.opt_state)
        return _Batch.gathered(net_passes, self.active[keep], theta[keep], opt_state, self.alpha[keep])

    def swap(self) -> None:
        self.theta, self.spare = self.spare, self.theta
        self.views, self.spare_views = self.spare_views, self.views


class TrainingState:
    """K networks in training: parameters, optimizer state, who has diverged, the clock, the minibatch order.

    Built by :func:`initlab.training.train` from validated inputs (this class trusts them).

    Parameters
    ----------
    net : MLP or ResidualMLP
    theta : (K, P) float64
        Initial parameters, one row per model (``passes(net).flatten(params)``); copied.
    X : (n_0, m) float64
    T : (n_L, m) float64 targets (one-hot for softmax), as :meth:`MLP.check_data` gives
    learning_rate : (K,) float64
    iterations : int
        The planned length: ``losses`` has a column for every recorded iteration below it, and
        :meth:`advance` stops there.
    record_every : int >= 1
    loss : {"stable", "legacy"}, the recorded loss
    optimizer : Optimizer
    batch_size : int or None (the full batch)
    streams : list of K Generators, the models' minibatch orders (with ``batch_size``)
    dtype : numpy.float64 (default) or numpy.float32
        What every iteration computes in: ``theta``, ``X``, ``T``, the learning rates (and a
        parametrization's factors) and the optimizer's state are cast to it once, here, so no step
        mixes in a float64 operand (float32 products run in BLAS's sgemm). ``losses`` stays float64.

    Attributes
    ----------
    theta : (K, P) every model's parameters now (a frozen model's last finite ones)
    passes : the network's passes (:func:`passes`)
    opt_state : tuple of (K, P) arrays, the optimizer's (a frozen model's are stale)
    learning_rate_factors, epsilon_factors : (P,) float64 or None, a parametrization's per-parameter factors
        (see "Parametrizations" above; None for ``"standard"``)
    diverged_at : (K,) int64, the iteration of divergence, -1 while training
    iteration : int, the iterations done (a frozen model's clock runs on)
    losses : (K, n_records) float64, nan where not recorded or after divergence
    """

    def __init__(self, net, theta, X, T, learning_rate, *, iterations: int, record_every: int, loss: str,
                 optimizer: Optimizer, batch_size: int | None = None, streams=None, dtype=np.float64):  # fmt: skip
        self.dtype = np.dtype(dtype)
        self.net, self.X, self.T = net, np.asarray(X, dtype=self.dtype), np.asarray(T, dtype=self.dtype)
        self.learning_rate = np.asarray(learning_rate, dtype=np.float64)
        self.iterations, self.record_every, self.loss = iterations, record_every, loss
        self.optimizer, self.batch_size, self.streams = optimizer, batch_size, streams
        self.theta = np.array(theta, dtype=self.dtype, order="C")
        K = self.theta.shape[0]
        self.opt_state = optimizer.init_state(self.theta)
        self.diverged_at = np.full(K, -1, dtype=np.int64)
        self.iteration = 0
        self.losses = np.full((K, len(range(0, iterations, record_every))), np.nan)
        self.order = None  # (K, m): this epoch's permutation per model, with minibatches
        m = X.shape[1]
        self._n_batches = -(-m // batch_size) if batch_size is not None else 1
        self._XT = np.ascontiguousarray(self.X.T) if batch_size is not None else None  # (m, n_0)
        self._TT = np.ascontiguousarray(self.T.T) if batch_size is not None else None  # (m, n_L)
        self.passes = passes(net)
        self._works: dict[tuple[int, int], object] = {}  # (K_a, m or b) -> the passes' workspace
        self._alpha = self.learning_rate[:, np.newaxis]  # (K, 1)
        self.learning_rate_factors = self.epsilon_factors = None  # (P,) each under a parametrization
        if net.parametrization != "standard":  # per-parameter rates and epsilons, (K, P)
            self.learning_rate_factors = net.learning_rate_factors(optimizer)
            self.epsilon_factors = net.epsilon_factors()
            self._alpha = self._alpha * self.learning_rate_factors
            self.optimizer = with_epsilon_factors(optimizer, self.epsilon_factors, self.dtype)
        self._alpha = self._alpha.astype(self.dtype, copy=False)  # (K, 1) or (K, P), rounded once
        self._all = np.arange(K)
        # The all-active batch: the state's own buffers (theta is its first) and their views, kept between calls.
        spare = np.empty_like(self.theta)
        views = (self.passes.views(self.theta), self.passes.views(spare))
        self._full = _Batch(self._all, self.theta, spare, *views, self.opt_state, self._alpha, full=True)

    @property
    def active(self) -> np.ndarray:
        """Indices of the models still training."""
        return np.flatnonzero(self.diverged_at < 0)

    def views(self):
        """Views into :attr:`theta`: an MLP's ``(Ws, bs)``, ``W{l}`` (K, n_l, n_{l-1}) and ``b{l}`` (K, n_l, 1);
        a ResidualMLP's ``{name: (K, *shape)}``."""
        if self._full.theta is self.theta:
            return self._full.views
        return self.passes.views(self.theta)

    def advance(self, n: int) -> None:
        """Run ``n`` iterations with the numpy engine (not past :attr:`iterations`)."""
        start, stop = self.iteration, min(self.iteration + n, self.iterations)
        if stop > start and (self.diverged_at < 0).any():
            batch = self._batch()
            with engine_context():
                for i in range(start, stop):
                    batch = self._iterate(batch, i)
                    if batch.active.size == 0:
                        break
            self._settle(batch)
        self.iteration = max(stop, start)

    def _batch(self) -> _Batch:
        """The models still training, in the state's own arrays when that is all of them."""
        if self._full.theta is self.theta and (self.diverged_at < 0).all():  # (diverged_at: also a compiled engine's)
            return self._full
        active = self.active
        opt_state = tuple(v[active] for v in self.opt_state)
        return _Batch.gathered(self.passes, active, self.theta[active], opt_state, self._alpha[active])

    def _settle(self, batch: _Batch) -> None:
        """After advancing: the batch's parameters (and optimizer state) become the state's."""
        if batch.full:  # the state's arrays were trained in place; the current parameters are in one of its buffers
            self.theta = batch.theta  # batch is self._full
            return
        self.theta[batch.active] = batch.theta
        for full, part in zip(self.opt_state, batch.opt_state):
            full[batch.active] = part

    # ---- one iteration ------------------------------------------------------------------------
    def _workspace(self, K: int, m: int):
        work = self._works.get((K, m))
        if work is None:
            work = self._works[(K, m)] = self.passes.workspace(K, m, dtype=self.dtype)
        return work

    @property
    def batches_per_epoch(self) -> int:
        """``ceil(m / batch_size)``, 1 for the full batch."""
        return self._n_batches

    def _reshuffle(self) -> None:
        """A new epoch: every model (frozen ones too, to keep streams aligned) draws its permutation, (K, m)."""
        orders = [stream.permutation(self.X.shape[1]) for stream in self.streams]
        self.order = np.stack(orders).astype(np.int64, copy=False)

    def minibatch_orders(self, start: int, stop: int, buffer: np.ndarray | None = None) -> tuple[int, np.ndarray]:
        """The permutations iterations ``start .. stop - 1`` take their minibatches from, drawn as :meth:`advance` draws them.

        For a compiled engine: returns ``(first_epoch, orders)``, ``orders`` (K, E, m) int64 with
        ``orders[k, e]`` model k's permutation in epoch ``first_epoch + e``; iteration i takes
        ``orders[k, i // n - first_epoch, j B : (j + 1) B]``, ``j = i % n``, ``n`` =
        :attr:`batches_per_epoch`. Epochs that begin in the range are drawn from the streams (which
        advance, as in :meth:`advance`); one begun before is :attr:`order`, left at the last drawn.
        The new epochs come from :func:`initlab.permutations.permutations` (numpy's permutations, bit
        for bit, many at once). ``buffer``: a flat int64 array of at least K E m to hold ``orders``.
        """
        from initlab.permutations import permutations  # numba: imported by the compiled engines' path only

        n, K, m = self._n_batches, len(self.streams), self.X.shape[1]
        epochs = range(start // n, (stop - 1) // n + 1)
        size = K * len(epochs) * m
        fits = buffer is not None and buffer.dtype == np.int64 and buffer.ndim == 1 and buffer.size >= size
        orders = (buffer[:size] if fits else np.empty(size, dtype=np.int64)).reshape(K, len(epochs), m)
        begun = int(epochs.start * n < start)  # the first epoch began before this range: its order is drawn
        if begun:
            orders[:, 0] = self.order
        if len(epochs) > begun:
            permutations(self.streams, m, len(epochs) - begun, out=orders[:, begun:])
            self.order = orders[:, -1].copy()
        return epochs.start, orders

    def _minibatch(self, batch: _Batch, i: int) -> tuple[np.ndarray, np.ndarray]:
        """This iteration's minibatch for each model of the batch: ``(K_a, n_0, b)`` and ``(K_a, n_L, b)``."""
        B = self.batch_size
        j = i % self._n_batches
        if j == 0:
            self._reshuffle()
        cols = self.order[batch.active, j * B : (j + 1) * B]  # (K_a, b)
        return np.ascontiguousarray(self._XT[cols].swapaxes(1, 2)), np.ascontiguousarray(self._TT[cols].swapaxes(1, 2))

    def _freeze(self, batch: _Batch, bad: np.ndarray, i: int) -> None:
        """Models flagged ``bad`` (mask over the batch) diverge at ``i`` with the batch's current parameters."""
        if batch.full:  # the state's buffers are the batch's: the frozen rows get an array of their own
            self.theta = batch.theta.copy()
        else:
            self.theta[batch.active[bad]] = batch.theta[bad]
        self.diverged_at[batch.active[bad]] = i

    def _iterate(self, batch: _Batch, i: int) -> _Batch:
        """Iteration ``i`` of the models in ``batch``; returns the batch that goes on."""
        net, ps = self.net, self.passes
        Xi, Ti = (self.X, self.T) if self.batch_size is None else self._minibatch(batch, i)
        work = self._workspace(len(batch.active), Xi.shape[-1])
        Z, A = ps.forward(batch.views, Xi, work)  # logits, probabilities (K_a, n_L, m or b)
        sound = logits_sound(Z)  # (K_a,)
        if i % self.record_every == 0:
            if self.batch_size is None:
                value = loss_from_output(self.loss, net.output, Z, A, self.T)  # (K_a,)
            else:  # the loss of the whole training set, as with gd
                Z_all, A_all = ps.forward(batch.views, self.X)
                sound &= logits_sound(Z_all)
                value = loss_from_output(self.loss, net.output, Z_all, A_all, self.T)
            self.losses[batch.active, i // self.record_every] = np.where(sound, value, np.nan)
        if not sound.all():
            self._freeze(batch, ~sound, i)
            batch = batch.keep(ps, sound, batch.theta)
            if batch.active.size == 0:
                return batch
            Xi, Ti = (Xi, Ti) if self.batch_size is None else (Xi[sound], Ti[sound])
            work = self._workspace(len(batch.active), Xi.shape[-1])
            ps.forward(batch.views, Xi, work)
        grads = ps.backward(batch.views, Xi, Ti, work)  # (K_a, P)
        self.optimizer.update(batch.theta, grads, batch.alpha, batch.opt_state, i + 1, batch.spare)
        ok = np.isfinite(batch.spare.sum(axis=1))  # (K_a,)
        if ok.all():
            batch.swap()
            return batch
        self._freeze(batch, ~ok, i)  # keep the parameters before this update
        return batch.keep(ps, ok, batch.spare)
