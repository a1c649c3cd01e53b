r"""The compiled engine for residual MLPs: full-batch gradient descent of K nets, one whole model per thread.

:mod:`initlab.kernels` compiles plain MLPs; this module compiles :class:`initlab.residual.ResidualMLP`
(``norm="none"``, every ``scalars=`` choice, standard parametrization) in the same design: a numba
kernel runs ``prange`` over the models, each thread trains its model for all iterations with its
own scratch buffers, and the loops run over the contiguous example axis with the scalar helpers of
:mod:`initlab.kernels` (its matrix-row passes, activations, Cephes ``exp``/``tanh``, output deltas,
losses and the divergence rule), imported read-only. The arithmetic is the numpy engine's
(:class:`initlab.residual.ResidualPasses`), operation for operation:

.. math::

    h_0 &= W_\text{in} X + b_\text{in}, \qquad
    p_{b,1} = h_{b-1} + a_{b,1}, \quad v_{b,j} = W_{b,j} p_{b,j} + c^\text{vec}_{b,j}, \quad
    p_{b,j+1} = g(v_{b,j} + c_{b,j}) + a_{b,j+1} \\
    h_b &= h_{b-1} + (\alpha_b v_{b,m} + d_b), \qquad Z = W_\text{out} g(h_B) + b_\text{out}

(the scalars that do not exist for the net's ``scalars=`` are absent, not zero: no operation), and
backward from :math:`dZ = (\hat Y - Y)/m`:

.. math::

    dh_B &= (W_\text{out}^T dZ) \odot g'(h_B), \qquad
    d\alpha_b = \textstyle\sum dh_b \odot v_{b,m}, \quad dv_{b,m} = \alpha_b\, dh_b, \\
    dW_{b,j} &= dv_{b,j}\, p_{b,j}^T, \quad dp_{b,j} = W_{b,j}^T dv_{b,j}, \quad
    dv_{b,j-1} = dp_{b,j} \odot g'(v_{b,j-1} + c_{b,j-1}), \quad dh_{b-1} = dh_b + dp_{b,1}

(the scalar biases' gradients are the sums of :math:`dh_b`, :math:`dp` and :math:`dv` over units and
examples), then :math:`\theta \leftarrow \theta - \eta\, d\theta` and the divergence rule of
:mod:`initlab.state`, as :mod:`initlab.kernels` applies it. Agreement with the numpy engine is
that module's (sums in another order than BLAS's, ``exp``/``tanh`` within a few ulp): the
recorded losses to 1e-12 relative and the parameters to 1e-10 on well-conditioned runs, the same
iteration of divergence (tested in ``tests/test_kernels_residual.py``).

What it refuses (:func:`supported`, one line each): ``norm="layer"``, a parametrization other
than ``"standard"`` (per-layer learning rates), optimizers other than full-batch ``gd``.

Buffers per model (thread): the linear layers' inputs :math:`p_{b,j}` (B, m, width, m_ex), the
activations :math:`g(\cdot)` with Fixup's scalar biases (B, m - 1, width, m_ex; without Fixup
they are the next layer's inputs, not stored twice), :math:`g'` where it cannot be recovered from
the activation, overwritten by :math:`dv` backward (B, m - 1, width, m_ex), :math:`v_{b,m}` when
:math:`\alpha` exists (B, width, m_ex), and a few (width, m_ex) rows: about
``8 (2B m + 3) width m_ex`` bytes, 10 MB at width 32, 64 blocks, 300 examples.

Speed: measured on this project's machine (2 cores of an AMD EPYC with AVX-512, shared with other
jobs: the same run varies 2x from minute to minute), ``zero_last`` nets (no model diverges, so every
model runs every iteration), relu, 2 layers per branch, K = 64, the circles' 300 points, full-batch
gd, numpy 2.4 with BLAS on one thread; model-iterations per second, best of 3, the engines
interleaved so that they share the machine's load; GFLOP/s = 12 B width^2 300 per model-iteration
(forward, and twice that backward):

=====  ======  ===========  ===============  ================  ============  ========  =================
width  blocks  numpy engine  numba 1 thread  numba 2 threads  numba / numpy  2 / 1     GFLOP/s (1 thread)
=====  ======  ===========  ===============  ================  ============  ========  =================
16     8       1,853        2,857            3,034             1.5x          1.06x     21
32     8       660          827              838               1.3x          1.01x     24
16     64      217          295              470               1.4x          1.59x     17
32     64      40           66               67                1.7x          1.01x     16
=====  ======  ===========  ===============  ================  ============  ========  =================

(an earlier, busier run of all six shapes gave 1.0-2.4x, and 1.9x at width 16 with 8, 32, 64
blocks). So on one core the kernel is 1.0-2.4x the numpy engine here, at 13-24 GFLOP/s: with
width 16-32 the numpy engine's batched products, K (width x width) @ (width x 300), are already
long enough for BLAS, and both are bound by streaming each block's (width x 300) activations
through the cache (at 64 blocks a model's record, 5-10 MB, lives in L3). What would lift it is
keeping the data in cache across layers (tiles of examples), the plain kernel's open item in #17.
Two threads did not scale in these runs (1.0-1.6x) because the second core was busy with other
work; models are independent, one per thread, as in :mod:`initlab.kernels` (which scales 1.85-2x on
an idle machine). ``benchmarks/bench_peers.py --only residual`` puts it beside torch and JAX.

numba's cache keys on this file alone, not on :mod:`initlab.kernels`' helpers it inlines: a cache
compiled against older helpers would run stale code. :func:`_drop_stale_cache` (at import, before
anything is compiled or loaded) keeps a hash of ``kernels.py`` beside the cache and removes this
module's cached functions when the hash differs.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import numba
import numpy as np
from numba import njit, prange

from initlab.kernels import (
    _HIDDEN,
    _LOSS,
    _OUTPUT,
    _activate,
    _add_bias,
    _chain,
    _descend,
    _gradient_block1,
    _gradient_block2,
    _logits_diverged,
    _matvec_rows,
    _matvec_rows2,
    _output_delta,
    _output_loss,
    _pairwise_sum,
    _pass_size,
    max_threads,
)
from initlab.residual import ResidualMLP


def _drop_stale_cache() -> None:
    """Remove this module's numba cache files when :mod:`initlab.kernels`' source changed since they were written.

    The cache sits in ``__pycache__`` beside this file (or under ``NUMBA_CACHE_DIR``); the stamp
    ``kernels_residual.kernels-sha256`` there holds the hash of ``kernels.py`` the cache was built
    against. Races between processes are harmless: a file already gone is skipped, and the stamp is
    replaced atomically.
    """
    here = Path(__file__).resolve()
    digest = hashlib.sha256((here.parent / "kernels.py").read_bytes()).hexdigest()
    folders = [here.parent / "__pycache__"]
    if os.environ.get("NUMBA_CACHE_DIR"):
        folders.append(Path(os.environ["NUMBA_CACHE_DIR"]))
    for folder in folders:
        stamp = folder / "kernels_residual.kernels-sha256"
        try:
            if stamp.read_text() == digest:
                continue
        except OSError:
            pass
        for cached in folder.rglob("kernels_residual*.nb[ic]") if folder.is_dir() else ():
            try:
                cached.unlink()
            except OSError:
                pass
        try:
            folder.mkdir(parents=True, exist_ok=True)
            tmp = folder / f"{stamp.name}.{os.getpid()}"
            tmp.write_text(digest)
            os.replace(tmp, stamp)
        except OSError:  # a read-only install: numba then caches elsewhere or not at all
            pass


_drop_stale_cache()

__all__ = ["advance", "gd_flat", "max_threads", "supported", "warm_up"]

# Offsets of the parameter groups in a row (``_layout``), -1 where the group does not exist.
_W_IN, _B_IN, _W_BRANCH, _B_BRANCH, _ALPHA, _SCALAR_BIAS, _W_OUT, _B_OUT = range(8)
_GROUPS = ("W_in", "b_in", "W_branch", "b_branch", "alpha", "scalar_bias", "W_out", "b_out")
# Entries of the int64 ``dims`` array the kernel reads its sizes and codes from.
_N_IN, _WIDTH, _BLOCKS, _DEPTH, _CLASSES, _HIDDEN_CODE, _OUTPUT_CODE, _LOSS_CODE, _FIXUP, _HAS_ALPHA = range(10)


def supported(net, loss: str = "stable", optimizer=None, batch_size: int | None = None) -> str | None:
    """None if the kernel can train ``net`` with ``loss`` (``optimizer``, ``batch_size``); else the reason, one line."""
    if not isinstance(net, ResidualMLP):
        return f"it compiles residual MLPs only, not a {type(net).__name__}"
    if net.norm != "none":
        return f"norm={net.norm!r} (the branches' LayerNorm) has no compiled form; only norm='none' is compiled"
    if net.parametrization != "standard":
        return (f"parametrization {net.parametrization!r} trains each group at its own learning rate, which the kernel "
                "(one rate per model) does not apply")  # fmt: skip
    if net.activation not in _HIDDEN:
        return f"activation {net.activation!r} has no compiled form (compiled: {sorted(_HIDDEN)})"
    if net.output not in _OUTPUT:
        return f"output {net.output!r} has no compiled form (compiled: {sorted(_OUTPUT)})"
    if loss not in _LOSS:
        return f"loss {loss!r} has no compiled form (compiled: {sorted(_LOSS)})"
    name = getattr(optimizer, "name", optimizer)
    if optimizer is not None and (getattr(optimizer, "state_size", 0) or name not in ("gd", "sgd")):
        return f"optimizer {optimizer!r} has no compiled form for residual nets (compiled: full-batch 'gd')"
    if batch_size is not None:
        return f"batch_size={batch_size}: minibatches have no compiled form for residual nets (full batch only)"
    return None


def _layout(net: ResidualMLP) -> np.ndarray:
    """(8,) int64: each group's offset in a parameter row (:meth:`ResidualMLP.groups`), -1 if absent."""
    at, offset = dict.fromkeys(_GROUPS, -1), 0
    for name, shape in net.groups():
        at[name] = offset
        offset += int(np.prod(shape))
    return np.array([at[name] for name in _GROUPS], dtype=np.int64)


def _dims(net: ResidualMLP, loss: str) -> np.ndarray:
    """(10,) int64: the sizes and codes of ``_N_IN`` .. ``_HAS_ALPHA``."""
    return np.array([net.n_in, net.width, net.blocks, net.branch_depth, net.n_out, _HIDDEN[net.activation],
                     _OUTPUT[net.output], _LOSS[loss], net.scalars == "fixup", net.scalars != "none"],
                    dtype=np.int64)  # fmt: skip


# --------------------------------------------------------------------------------------------
# Inner loops (one model, one thread; M examples along the contiguous axis)
# --------------------------------------------------------------------------------------------
def _jit(function):
    return njit(cache=True, error_model="numpy")(function)


@_jit
def _product(out, theta, at, n, p, R, M):
    """``out (n, M) = W R``, W the (n, p) matrix at ``theta[at:]`` row-major, R (p, M): two rows a pass."""
    for j in range(0, n - 1, 2):
        _matvec_rows2(out[j], out[j + 1], theta, at + j * p, p, 1, p, R, M)
    if n % 2:
        _matvec_rows(out[n - 1], theta, at + (n - 1) * p, 1, p, R, M)


@_jit
def _product_t(out, theta, at, n, p, R, M):
    """``out (p, M) = W^T R``, W the (n, p) matrix at ``theta[at:]``, R (n, M): two rows a pass."""
    for q in range(0, p - 1, 2):
        _matvec_rows2(out[q], out[q + 1], theta, at + q, 1, p, n, R, M)
    if p % 2:
        _matvec_rows(out[p - 1], theta, at + p - 1, p, n, R, M)


@njit(cache=True, error_model="numpy", fastmath={"reassoc"})
def _total(A, M):
    """``sum(A)`` over a (n, M) array (a scalar parameter's gradient)."""
    s = 0.0
    for q in range(A.shape[0]):
        row = A[q]
        for i in range(M):
            s += row[i]
    return s


@njit(cache=True, error_model="numpy", fastmath={"reassoc"})
def _inner(A, B, M):
    """``sum(A * B)`` over two (n, M) arrays."""
    s = 0.0
    for q in range(A.shape[0]):
        a, b = A[q], B[q]
        for i in range(M):
            s += a[i] * b[i]
    return s


@_jit
def _descend_layer(theta, proposed, w_at, b_at, n, p, dZ, A_in, M, lr, g):
    r"""``W - lr dZ A_in^T`` into ``proposed`` at ``w_at``, and ``b - lr sum_i dZ`` at ``b_at`` unless it is -1.

    :func:`initlab.kernels._descend` for a layer whose bias does not follow its matrix (the branch
    layers: ``W_branch`` and ``b_branch`` are separate groups) or has none (Fixup's branches).
    """
    j = 0
    while j < n:
        rows = min(2, n - j)
        k = 0
        while k < p:
            count = _pass_size(p - k)
            if rows == 2:
                _gradient_block2(dZ[j], dZ[j + 1], A_in, k, count, g, M)
            else:
                _gradient_block1(dZ[j], A_in, k, count, g, M)
            for h in range(rows):
                at = w_at + (j + h) * p + k
                for q in range(count):
                    proposed[at + q] = theta[at + q] - lr * g[5 * h + q]
            k += count
        if b_at >= 0:
            for h in range(rows):
                proposed[b_at + j + h] = theta[b_at + j + h] - lr * g[10 + h]
        j += rows


@_jit
def _forward(cur, X, off, dims, slope, H, P, U, D, V, A, DA, Z):
    """Logits into Z (C, M) from ``cur``; records the layers' inputs P, activations U (Fixup), g' in D, v in V.

    H (w, M): the trunk, ends as h_B; A (w, M) = g(h_B), DA its g' where not derivable from A.
    """
    n_in, w, B, m, C = dims[_N_IN], dims[_WIDTH], dims[_BLOCKS], dims[_DEPTH], dims[_CLASSES]
    hidden, fixup, has_alpha, M = dims[_HIDDEN_CODE], dims[_FIXUP] == 1, dims[_HAS_ALPHA] == 1, X.shape[1]
    _product(H, cur, off[_W_IN], w, n_in, X, M)
    for q in range(w):
        _add_bias(H[q], cur[off[_B_IN] + q], M)
    for b in range(B):
        sb = off[_SCALAR_BIAS] + b * 2 * m  # Fixup's a_1..a_m, c_1..c_{m-1}, d of this block
        p0 = P[b, 0]
        shift = cur[sb] if fixup else 0.0
        for q in range(w):
            for i in range(M):
                p0[q, i] = H[q, i] + shift if fixup else H[q, i]
        for j in range(m):
            w_at = off[_W_BRANCH] + (b * m + j) * w * w
            b_at = off[_B_BRANCH] + (b * m + j) * w
            last = j == m - 1
            out = (V[b] if has_alpha else V[0]) if last else (U[b, j] if fixup else P[b, j + 1])
            _product(out, cur, w_at, w, w, P[b, j], M)
            if last:
                if not fixup:
                    for q in range(w):
                        _add_bias(out[q], cur[b_at + q], M)
                break
            for q in range(w):  # g(v + c) (Fixup) or g(v + c_vec), as ResidualPasses: bias first
                _activate(hidden, slope, out[q], cur[sb + m + j] if fixup else cur[b_at + q], D[b, j, q], M)
            if fixup:
                shift, nxt = cur[sb + j + 1], P[b, j + 1]
                for q in range(w):
                    for i in range(M):
                        nxt[q, i] = out[q, i] + shift
        v = V[b] if has_alpha else V[0]
        scale = cur[off[_ALPHA] + b] if has_alpha else 1.0
        shift = cur[sb + 2 * m - 1] if fixup else 0.0
        for q in range(w):  # h + ((alpha v) + d), h + alpha v or h + v, ResidualPasses' order
            for i in range(M):
                if fixup:
                    H[q, i] = H[q, i] + (scale * v[q, i] + shift)
                elif has_alpha:
                    H[q, i] = H[q, i] + scale * v[q, i]
                else:
                    H[q, i] = H[q, i] + v[q, i]
    for q in range(w):
        for i in range(M):
            A[q, i] = H[q, i]
        _activate(hidden, slope, A[q], 0.0, DA[q], M)
    for c in range(C):
        _matvec_rows(Z[c], cur, off[_W_OUT] + c * w, 1, w, A, M)
        _add_bias(Z[c], cur[off[_B_OUT] + c], M)


@_jit
def _backward_block(cur, prop, off, dims, lr, b, DH, P, U, D, V, DV, DP, g):
    """Block ``b``'s updated parameters into ``prop`` from dL/dh_b in DH; leaves the branch's dL/dh_{b-1} part in DP."""
    w, m, hidden, M = dims[_WIDTH], dims[_DEPTH], dims[_HIDDEN_CODE], DH.shape[1]
    fixup, has_alpha = dims[_FIXUP] == 1, dims[_HAS_ALPHA] == 1
    sb = off[_SCALAR_BIAS] + b * 2 * m
    if fixup:
        prop[sb + 2 * m - 1] = cur[sb + 2 * m - 1] - lr * _total(DH, M)
    dv = DH
    if has_alpha:
        at = off[_ALPHA] + b
        prop[at] = cur[at] - lr * _inner(DH, V[b], M)
        scale = cur[at]
        for q in range(w):
            for i in range(M):
                DV[q, i] = scale * DH[q, i]
        dv = DV
    for j in range(m - 1, -1, -1):
        w_at = off[_W_BRANCH] + (b * m + j) * w * w
        b_at = -1 if fixup else off[_B_BRANCH] + (b * m + j) * w
        _descend_layer(cur, prop, w_at, b_at, w, w, dv, P[b, j], M, lr, g)
        _product_t(DP, cur, w_at, w, w, dv, M)  # dp
        if fixup:
            prop[sb + j] = cur[sb + j] - lr * _total(DP, M)
        if j:
            act = U[b, j - 1] if fixup else P[b, j]
            for q in range(w):  # dv_{j-1} = dp * g'(.), into D (over g' where it was kept)
                _chain(hidden, DP[q], act[q], D[b, j - 1, q], M)
            dv = D[b, j - 1]
            if fixup:
                prop[sb + m + j - 1] = cur[sb + m + j - 1] - lr * _total(dv, M)


@_jit
def _backward(cur, prop, X, off, dims, lr, P, U, D, V, A, DA, Z, DV, DP, r, s, g):
    """All updated parameters into ``prop``, from dZ in Z (C, M) after :func:`_forward`; DA ends as dL/dh_0."""
    n_in, w, B, C, hidden, M = dims[_N_IN], dims[_WIDTH], dims[_BLOCKS], dims[_CLASSES], dims[_HIDDEN_CODE], X.shape[1]
    _descend(cur, prop, off[_W_OUT], C, w, Z, A, M, lr, g)  # W_out, b_out (b follows W)
    for q in range(0, w - 1, 2):  # dh_B = (W_out^T dZ) * g'(h_B), into DA
        _matvec_rows2(r, s, cur, off[_W_OUT] + q, 1, w, C, Z, M)
        _chain(hidden, r, A[q], DA[q], M)
        _chain(hidden, s, A[q + 1], DA[q + 1], M)
    if w % 2:
        _matvec_rows(r, cur, off[_W_OUT] + w - 1, w, C, Z, M)
        _chain(hidden, r, A[w - 1], DA[w - 1], M)
    for b in range(B - 1, -1, -1):
        _backward_block(cur, prop, off, dims, lr, b, DA, P, U, D, V, DV, DP, g)
        for q in range(w):  # dh_{b-1} = dh_b + the branch's part
            for i in range(M):
                DA[q, i] = DA[q, i] + DP[q, i]
    _descend(cur, prop, off[_W_IN], w, n_in, DA, X, M, lr, g)  # W_in, b_in (b follows W)


@_jit
def _train_one(theta, X, T, lr, off, dims, slope, start, stop, record_every, losses):
    """Train one model, ``theta`` (P,) in place, iterations ``start .. stop - 1``; returns ``diverged_at`` or -1."""
    w, B, m, C, M = dims[_WIDTH], dims[_BLOCKS], dims[_DEPTH], dims[_CLASSES], X.shape[1]
    fixup, has_alpha, output, loss = dims[_FIXUP] == 1, dims[_HAS_ALPHA] == 1, dims[_OUTPUT_CODE], dims[_LOSS_CODE]
    size = theta.shape[0]
    current = theta.copy()
    proposed = np.empty(size)  # the update, kept only if finite
    P = np.empty((B, m, w, M))  # inputs of the linear layers
    U = np.empty((B, m - 1, w, M) if fixup else (1, 1, 1, 1))  # activations, when Fixup shifts them
    D = np.empty((B, max(m - 1, 1), w, M))  # g', then dv
    V = np.empty((B if has_alpha else 1, w, M))  # v_{b,m}
    H, A, DA, DV, DP = np.empty((w, M)), np.empty((w, M)), np.empty((w, M)), np.empty((w, M)), np.empty((w, M))
    logits = np.empty(C * M)
    Z = logits.reshape((C, M))
    r, s, g = np.empty(M), np.empty(M), np.empty(12)
    diverged_at = -1
    for i in range(start, stop):
        _forward(current, X, off, dims, slope, H, P, U, D, V, A, DA, Z)
        if _logits_diverged(logits, C * M):  # frozen at the parameters of the start of i
            diverged_at = i
            break
        if i % record_every == 0:
            losses[i // record_every] = _output_loss(output, loss, Z, T, C, M)
        _output_delta(output, Z, T, C, M, r, s)
        _backward(current, proposed, X, off, dims, lr, P, U, D, V, A, DA, Z, DV, DP, r, s, g)
        if not np.isfinite(_pairwise_sum(proposed, 0, size)):  # the update: frozen before it
            diverged_at = i
            break
        current, proposed = proposed, current
    for q in range(size):
        theta[q] = current[q]
    return diverged_at


@njit(parallel=True, fastmath=False, cache=True, error_model="numpy")
def _train_models(theta, X, T, lr, off, dims, slope, start, stop, record_every, losses, diverged_at):
    """:func:`_train_one` for every model k with ``diverged_at[k] < 0``, one model per thread."""
    for k in prange(theta.shape[0]):
        if diverged_at[k] < 0:
            diverged_at[k] = _train_one(theta[k], X, T, lr[k], off, dims, slope, start, stop, record_every, losses[k])


# --------------------------------------------------------------------------------------------
# Python entry points
# --------------------------------------------------------------------------------------------
def gd_flat(net: ResidualMLP, theta: np.ndarray, X: np.ndarray, T: np.ndarray, learning_rate: np.ndarray, *,
            start: int, stop: int, record_every: int, loss: str, losses: np.ndarray, diverged_at: np.ndarray,
            threads: int | None = None) -> None:  # fmt: skip
    """Iterations ``start .. stop - 1`` of gradient descent on validated inputs, in place.

    The contract of :func:`initlab.kernels.gd_flat`, for a residual net.

    Parameters
    ----------
    net : ResidualMLP (see :func:`supported`)
    theta : (K, P) float64 C-contiguous, the layout of :meth:`ResidualMLP.views`; overwritten
    X : (n_in, m) float64; T : (n_out, m) float64 targets, as ``ResidualMLP.check_data`` gives
    learning_rate : (K,) float64
    start, stop, record_every, loss, losses, diverged_at, threads : as in :func:`initlab.kernels.gd_flat`
    """
    reason = supported(net, loss)
    if reason is not None:
        raise NotImplementedError(f"The compiled engine cannot train this network: {reason}. Use engine='numpy'.")
    _check_buffers(net, theta, X, T, learning_rate, start, stop, record_every, losses, diverged_at)
    previous = numba.get_num_threads()
    if threads is not None:
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    chunk = numba.set_parallel_chunksize(1)  # models one at a time: a thread whose models diverge early takes more
    try:
        _train_models(theta, np.ascontiguousarray(X, dtype=np.float64), np.ascontiguousarray(T, dtype=np.float64),
                      np.ascontiguousarray(learning_rate, dtype=np.float64), _layout(net), _dims(net, loss),
                      float(net.slope), int(start), int(stop), int(record_every), losses, diverged_at)  # fmt: skip
    finally:
        numba.set_parallel_chunksize(chunk)
        numba.set_num_threads(previous)


def advance(state, n: int, *, threads: int | None = None) -> None:
    """Run ``n`` iterations of a ResidualMLP's :class:`initlab.state.TrainingState`, as :func:`initlab.kernels.advance`."""
    reason = supported(state.net, state.loss, state.optimizer, state.batch_size)
    if reason is not None:
        raise ValueError(
            f"The compiled engine cannot train this residual net: {reason}. Use engine='numpy' (state.advance)."
        )
    start = state.iteration
    stop = min(start + n, state.iterations)
    if stop > start:
        gd_flat(state.net, state.theta, state.X, state.T, state.learning_rate, start=start, stop=stop,
                record_every=state.record_every, loss=state.loss, losses=state.losses, diverged_at=state.diverged_at,
                threads=threads)  # fmt: skip
    state.iteration = max(start, stop)


def warm_up() -> float:
    """Compile (or load from numba's cache) the kernel on a tiny problem; returns the seconds it took."""
    begin = time.perf_counter()
    net = ResidualMLP(2, 3, 1, 1)
    theta = np.zeros((1, net.parameter_count))
    gd_flat(net, theta, np.zeros((2, 4)), np.zeros((1, 4)), np.ones(1), start=0, stop=1, record_every=1,
            loss="stable", losses=np.full((1, 1), np.nan), diverged_at=np.full(1, -1, dtype=np.int64))  # fmt: skip
    return time.perf_counter() - begin


def _check_buffers(net, theta, X, T, learning_rate, start, stop, record_every, losses, diverged_at) -> None:
    """The shapes and dtypes :func:`gd_flat` relies on: the kernel does not check its indices."""
    P, K = net.parameter_count, (theta.shape[0] if getattr(theta, "ndim", 0) == 2 else -1)
    n_records = -(-stop // record_every) if record_every >= 1 else 0

    def buffer(a, dtype) -> bool:
        return isinstance(a, np.ndarray) and a.dtype == dtype and a.flags.c_contiguous and a.flags.writeable

    problems = [
        (buffer(theta, np.float64) and theta.shape == (K, P),
         f"'theta' must be a writeable C-contiguous float64 (K, {P}) array"),
        (np.ndim(X) == 2 and np.shape(X)[0] == net.n_in, f"'X' must be ({net.n_in}, m); got {np.shape(X)}"),
        (np.shape(T) == (net.n_out, np.shape(X)[-1]), f"'T' must be ({net.n_out}, m); got {np.shape(T)}"),
        (np.shape(learning_rate) == (K,), f"'learning_rate' must be ({K},); got {np.shape(learning_rate)}"),
        (0 <= start <= stop and record_every >= 1,
         f"need 0 <= start <= stop, record_every >= 1; got {start}, {stop}, {record_every}"),
        (buffer(losses, np.float64) and losses.ndim == 2 and losses.shape[0] == K and losses.shape[1] >= n_records,
         f"'losses' must be a C-contiguous float64 (K, >= {n_records}) array"),
        (buffer(diverged_at, np.int64) and diverged_at.shape == (K,),
         f"'diverged_at' must be a C-contiguous int64 ({K},) array"),
    ]  # fmt: skip
    for ok, message in problems:
        if not ok:
            raise ValueError(f"kernels_residual.gd_flat: {message}.")
