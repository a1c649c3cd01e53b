r"""The compiled engine for residual MLPs: K nets by gd, sgd, momentum or Adam, minibatches, one model per thread.

:mod:`initlab.kernels` compiles plain MLPs; this module compiles every :class:`initlab.residual.ResidualMLP`
(``norm="none"`` or ``"layer"``, every ``scalars=`` choice, every parametrization) in the same
design: a numba kernel runs ``prange`` over the models, each thread trains its model for all
iterations with its own scratch buffers, and the loops run over the contiguous example axis with
the scalar helpers of :mod:`initlab.kernels` (its matrix-row passes, activations, Cephes
``exp``/``tanh``, output deltas, losses, the optimizers' update, the minibatch gather and the
divergence rule), imported read-only. The arithmetic is the numpy engine's
(:class:`initlab.residual.ResidualPasses`), operation for operation:

.. math::

    h_0 &= W_\text{in} X + b_\text{in}, \qquad
    u_b = \gamma_b \odot \hat x_b + \beta_b, \quad
    \hat x_b = (h_{b-1} - \mu)\, r, \quad r = 1 / \sqrt{\sigma^2 + \epsilon} \quad (\text{or } u_b = h_{b-1}), \\
    p_{b,1} &= u_b + a_{b,1}, \quad v_{b,j} = W_{b,j} p_{b,j} + c^\text{vec}_{b,j}, \quad
    p_{b,j+1} = g(v_{b,j} + c_{b,j}) + a_{b,j+1} \\
    h_b &= h_{b-1} + (\alpha_b v_{b,m} + d_b), \qquad Z = W_\text{out} g(h_B) + b_\text{out}

(:math:`\mu, \sigma^2` the mean and biased variance over the width units of each example, summed
unit after unit as numpy sums along that axis, :math:`\epsilon` = :data:`initlab.residual.LN_EPS`;
the scalars that do not exist for the net's ``scalars=`` are absent, not zero: no operation), and
backward from :math:`dZ = (\hat Y - Y)/m`:

.. math::

    dh_B &= (W_\text{out}^T dZ) \odot g'(h_B), \qquad
    d\alpha_b = \textstyle\sum dh_b \odot v_{b,m}, \quad dv_{b,m} = \alpha_b\, dh_b, \\
    dW_{b,j} &= dv_{b,j}\, p_{b,j}^T, \quad dp_{b,j} = W_{b,j}^T dv_{b,j}, \quad
    dv_{b,j-1} = dp_{b,j} \odot g'(v_{b,j-1} + c_{b,j-1}), \\
    d\gamma_b &= \textstyle\sum_i dp_{b,1} \odot \hat x_b, \quad d\beta_b = \sum_i dp_{b,1}, \quad
    dx = dp_{b,1} \odot \gamma_b, \quad
    dh_{b-1} = dh_b + r\,\big((dx - \overline{dx}) - \hat x_b\, \overline{dx \odot \hat x_b}\big)

(without LayerNorm the last term is :math:`dp_{b,1}`; overlines are means over the units; the
scalar biases' gradients are the sums of :math:`dh_b`, :math:`dp` and :math:`dv` over units and
examples). The gradient, a (P,) row, then goes through :func:`initlab.kernels._update` (gd/sgd,
momentum, Adam with its bias-correction table, :func:`initlab.kernels._bias_corrections`) at each
parameter's rate ``learning_rate[k] * lr_factors[p]`` (a parametrization's factors, (P,); muP's and
NTK's multipliers live in the effective weights, so the passes do not change) and Adam's epsilon
times ``epsilon_factors[p]``; then the divergence rule of :mod:`initlab.state`, as
:mod:`initlab.kernels` applies it. The optimizer's state rows ``v``, ``s`` are the
:class:`~initlab.state.TrainingState`'s, read and written in place, and minibatches are drawn from
the state's streams (:meth:`~initlab.state.TrainingState.minibatch_orders`) and gathered into the
first b columns of the buffers, so runs can switch engines between segments. With minibatches the
recorded loss is the whole training set's, from a forward pass on it whose logits must be sound
too, as the numpy engine does.

Agreement with the numpy engine is :mod:`initlab.kernels`' (sums in another order than BLAS's,
``exp``/``tanh`` within a few ulp): the recorded losses to 1e-12 relative and the parameters to
1e-10 on well-conditioned runs, the same iteration of divergence (tested in
``tests/test_kernels_residual.py``, ``test_kernels_residual_optimizers.py`` and
``test_kernels_residual_layernorm.py``, which also checks the kernel's gradient, LayerNorm
included, against central differences of its own loss).

float32 (``train(..., dtype="float32")``): this module's passes are compiled for the arrays they get
(numba specializes them on first use), its sums start from a zero of the arrays' type
(:func:`initlab.kernels._like`), its buffers take the parameters' type, and the helpers of
:mod:`initlab.kernels` run their float32 forms; LayerNorm's ``1 / sqrt(var / w + eps)`` and the
scalars' products are computed in float64 and rounded once. Against the numpy engine's float32, plain,
LayerNorm, ReZero and Fixup nets, gd and Adam: ``tests/test_kernels_float32.py``.

What it refuses (:func:`supported`, one line each): a network that is not a ResidualMLP, and an
activation, output, loss or optimizer outside :mod:`initlab.kernels`' tables (today every built-in
one compiles; a custom :class:`~initlab.optimizers.Optimizer` does not).

Buffers per model (thread): the linear layers' inputs :math:`p_{b,j}` (B, m, width, m_ex), the
activations :math:`g(\cdot)` with Fixup's scalar biases (B, m - 1, width, m_ex; without Fixup
they are the next layer's inputs, not stored twice), :math:`g'` where it cannot be recovered from
the activation, overwritten by :math:`dv` backward (B, m - 1, width, m_ex), :math:`v_{b,m}` when
:math:`\alpha` exists (B, width, m_ex), LayerNorm's :math:`\hat x` (B, width, m_ex) and :math:`r`
(B, m_ex), a few (width, m_ex) rows, the minibatch (n_in + n_out, b) and four (P,) rows (current
and proposed parameters, gradient, rates): about ``8 (2B m + 3) width m_ex`` bytes (plus
``8 B width m_ex`` with LayerNorm), 10 MB at width 32, 64 blocks, 300 examples.

Speed: first the gd-only kernel this one grew from (commit 83b80f2), measured on this project's
machine (2 cores of an AMD EPYC with AVX-512, shared with other jobs: the same run varies 2x
from minute to minute), ``zero_last`` nets (no model diverges, so every model runs every
iteration), relu, 2 layers per branch, K = 64, the circles' 300 points, full-batch gd, numpy 2.4
with BLAS on one thread; model-iterations per second, best of 3, the engines interleaved so that
they share the machine's load; GFLOP/s = 12 B width^2 300 per model-iteration
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

The optimizers, parametrizations, minibatches and LayerNorm, the same way (width 16, 8 blocks,
K = 64, 300 iterations, the loss recorded every 100, one thread each, best of 3 interleaved, a
loaded machine; model-iterations per second):

============================================  ============  ==============  =============
run                                           numpy engine  numba 1 thread  numba / numpy
============================================  ============  ==============  =============
gd                                            1,295         2,287           1.8x
adam (full batch)                             1,143         2,012           1.8x
muP (base width 4), gd                        1,313         2,377           1.8x
norm="layer", gd                              728           1,952           2.7x
sgd, batch 150                                3,068         3,261           1.06x
sgd, batch 64                                 6,525         5,017           0.77x
momentum, batch 64                            5,496         5,106           0.93x
adam, batch 64                                5,405-5,884   4,870-4,911     0.83-0.91x
sgd, batch 32                                 10,552        6,969           0.66x
norm="layer", muP, adam, batch 64             3,499         4,899           1.4x
width 32: gd / sgd batch 64                   594 / 2,382   758 / 1,522     1.28x / 0.64x
============================================  ============  ==============  =============

So full-batch runs (every optimizer and parametrization) were 1.8x faster compiled and LayerNorm
nets 1.4-2.7x (numpy's LayerNorm is a dozen passes over (K, width, m) arrays), but small
minibatches without LayerNorm were not: at batch 32-64 the numpy engine was 1.1-1.6x faster.
Since the passes run without reference counting (:mod:`initlab.kernels`' ``_jit``; commit
ddeadb8), the same A/B gives numba / numpy 2.2x with gd, 1.4x with Adam at batch 64 (with the
faster minibatch orders of :mod:`initlab.permutations`) and 3.4x with LayerNorm. The bound of the
tables above: a model-iteration of the kernel cost about 134 us + 1.0 us per example here
(437 us at 300 examples, 199 us at 64): the fixed part is some 3,500 calls over short rows per
iteration (the matrix-row passes, the 2 x 5 gradient blocks that each end in horizontal sums, the
activation rows), which do not shrink with the batch, while the numpy engine's products over the
K models do. The branch matrices' gradients are a third of the kernel's time at both sizes (a
variant without them: 178 -> 120 us at batch 64, 409 -> 269 us at 300 examples). What would lift
it is the plain kernel's open item in #17 (several examples' or models' rows per pass). The first
compilation takes about 47 s on this machine (33-37 s for the gd-only kernel it replaced), once:
numba caches it. The general loop (a gradient row, then :func:`~initlab.kernels._update`) replaced
the fused gd step without a measurable cost: 2,270-2,290 against 1,740-2,450 model-it/s for the
fused one, interleaved in the same minutes.

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

from initlab import optimizers
from initlab.kernels import (
    _BIAS_CHUNK,
    _HIDDEN,
    _LOSS,
    _OPTIMIZER,
    _OUTPUT,
    _SUM_FLAGS,
    _activate,
    _add_bias,
    _bias_table,
    _buffer,
    _chain,
    _gather,
    _gradient,
    _kernel_inputs,
    _like,
    _logits_diverged_rows,
    _matvec_rows,
    _matvec_rows2,
    _output_delta,
    _output_loss,
    _pairwise_sum,
    _propagate,
    _update,
    advance_segments,
    max_threads,
)
from initlab.residual import LN_EPS, ResidualMLP


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

__all__ = ["advance", "gd_flat", "max_threads", "supported", "train_flat", "warm_up"]

# Offsets of the parameter groups in a row (``_layout``), -1 where the group does not exist.
_W_IN, _B_IN, _LN_GAIN, _LN_BIAS, _W_BRANCH, _B_BRANCH, _ALPHA, _SCALAR_BIAS, _W_OUT, _B_OUT = range(10)
_GROUPS = ("W_in", "b_in", "ln_gain", "ln_bias", "W_branch", "b_branch", "alpha", "scalar_bias", "W_out", "b_out")
# Entries of the int64 ``dims`` array the kernel reads its sizes and codes from.
_N_IN, _WIDTH, _BLOCKS, _DEPTH, _CLASSES, _HIDDEN_CODE, _OUTPUT_CODE, _LOSS_CODE, _FIXUP, _HAS_ALPHA, _NORM = range(11)


def supported(net, loss: str = "stable", optimizer=None, batch_size: int | None = None) -> str | None:
    """None if the kernel can train ``net`` with ``loss`` (``optimizer``, ``batch_size``); else the reason, one line.

    Every norm, scalars, parametrization, compiled optimizer and batch size compiles; ``batch_size``
    is accepted for the call's symmetry with the checks of :func:`initlab.training.train`.
    """
    if not isinstance(net, ResidualMLP):
        return f"it compiles residual MLPs only, not a {type(net).__name__}"
    if net.activation not in _HIDDEN:
        return f"activation {net.activation!r} has no compiled form (compiled: {sorted(_HIDDEN)})"
    if net.output not in _OUTPUT:
        return f"output {net.output!r} has no compiled form (compiled: {sorted(_OUTPUT)})"
    if loss not in _LOSS:
        return f"loss {loss!r} has no compiled form (compiled: {sorted(_LOSS)})"
    if optimizer is not None and getattr(optimizer, "name", optimizer) not in _OPTIMIZER:
        return f"optimizer {optimizer!r} has no compiled form (compiled: {sorted(_OPTIMIZER)})"
    return None


def _layout(net: ResidualMLP) -> np.ndarray:
    """(10,) int64: each group's offset in a parameter row (:meth:`ResidualMLP.groups`), -1 if absent."""
    at, offset = dict.fromkeys(_GROUPS, -1), 0
    for name, shape in net.groups():
        at[name] = offset
        offset += int(np.prod(shape))
    return np.array([at[name] for name in _GROUPS], dtype=np.int64)


def _dims(net: ResidualMLP, loss: str) -> np.ndarray:
    """(11,) int64: the sizes and codes of ``_N_IN`` .. ``_NORM``."""
    return np.array([net.n_in, net.width, net.blocks, net.branch_depth, net.n_out, _HIDDEN[net.activation],
                     _OUTPUT[net.output], _LOSS[loss], net.scalars == "fixup", net.scalars != "none",
                     net.norm == "layer"], dtype=np.int64)  # fmt: skip


# --------------------------------------------------------------------------------------------
# Inner loops (one model, one thread; the first M examples along the contiguous axis)
# --------------------------------------------------------------------------------------------
def _jit(function):
    """No reference counting in the passes (:mod:`initlab.kernels`' rule: they allocate nothing, and every row view
    would cost two atomic operations); only :func:`_train_model`, which allocates its buffers, counts."""
    return njit(cache=True, error_model="numpy", _nrt=False)(function)


def _jit_sum(function):
    """Reductions may be summed in any order and with fused multiply-adds, so that they vectorize
    (:func:`initlab.kernels._jit_sum`'s rule)."""
    return njit(cache=True, error_model="numpy", fastmath=set(_SUM_FLAGS), _nrt=False)(function)


@_jit
def _product(out, theta, at, n, p, R, M):
    """``out (n, M) = W R``, W the (n, p) matrix at ``theta[at:]`` row-major, R (p, M): two rows a pass."""
    for j in range(0, n - 1, 2):
        _matvec_rows2(out[j], out[j + 1], theta, at + j * p, p, 1, p, R, M, 0.0, 0.0, -np.inf, R[0], R[0], False)
    if n % 2:
        _matvec_rows(out[n - 1], theta, at + (n - 1) * p, 1, p, R, M, 0.0, -np.inf, R[0], False)


@_jit
def _product_t(out, theta, at, n, p, R, M):
    """``out (p, M) = W^T R``, W the (n, p) matrix at ``theta[at:]``, R (n, M): two rows a pass."""
    for q in range(0, p - 1, 2):
        _matvec_rows2(out[q], out[q + 1], theta, at + q, 1, p, n, R, M, 0.0, 0.0, -np.inf, R[0], R[0], False)
    if p % 2:
        _matvec_rows(out[p - 1], theta, at + p - 1, p, n, R, M, 0.0, -np.inf, R[0], False)


@_jit_sum
def _total(A, M):
    """``sum(A[:, :M])`` over a (n, >= M) array (a scalar parameter's gradient)."""
    s = _like(A, 0.0)  # in the arrays' type
    for q in range(A.shape[0]):
        row = A[q]
        for i in range(M):
            s += row[i]
    return s


@_jit_sum
def _inner(A, B, M):
    """``sum(A * B)`` over the first M columns of two (n, >= M) arrays."""
    s = _like(A, 0.0)  # in the arrays' type
    for q in range(A.shape[0]):
        a, b = A[q], B[q]
        for i in range(M):
            s += a[i] * b[i]
    return s


@_jit_sum
def _row_dot(a, b, M):
    """``sum(a[:M] * b[:M])`` of two rows."""
    s = _like(a, 0.0)  # in the arrays' type
    for i in range(M):
        s += a[i] * b[i]
    return s


@_jit_sum
def _row_sum(a, M):
    """``sum(a[:M])`` of a row."""
    s = _like(a, 0.0)  # in the arrays' type
    for i in range(M):
        s += a[i]
    return s


@_jit
def _layer_norm(H, out, xhat, rstd, theta, gain_at, bias_at, M):
    r"""LayerNorm: ``out = gain * xhat + bias``, ``xhat = (h - mu) rstd``, ``rstd = 1 / sqrt(var + eps)`` per example.

    H, out, xhat : (w, >= M); rstd : (>= M,), kept for the backward pass. The arithmetic of
    :meth:`ResidualPasses._branch`: mean and variance summed unit after unit (numpy's order along
    a non-contiguous axis), divided by w.
    """
    w = H.shape[0]
    for i in range(M):  # rstd holds the mean first, then the variance
        rstd[i] = H[0, i]
    for q in range(1, w):
        for i in range(M):
            rstd[i] = rstd[i] + H[q, i]
    for i in range(M):
        rstd[i] = rstd[i] / w
    for q in range(w):
        for i in range(M):
            xhat[q, i] = H[q, i] - rstd[i]
    for i in range(M):
        rstd[i] = xhat[0, i] * xhat[0, i]
    for q in range(1, w):
        for i in range(M):
            rstd[i] = rstd[i] + xhat[q, i] * xhat[q, i]
    for i in range(M):
        rstd[i] = 1.0 / np.sqrt(rstd[i] / w + LN_EPS)
    for q in range(w):
        gain, bias = theta[gain_at + q], theta[bias_at + q]
        for i in range(M):
            xhat[q, i] = xhat[q, i] * rstd[i]
            out[q, i] = gain * xhat[q, i] + bias


@_jit
def _layer_norm_backward(theta, grad, gain_at, bias_at, DP, xhat, rstd, M, r, s):
    r"""LayerNorm's backward: dL/dgain, dL/dbias into ``grad``; DP (w, >= M) from dL/du to dL/dh in place.

    :math:`dx = du \odot \gamma`, :math:`dh = \text{rstd}\,((dx - \overline{dx}) - \hat x\,
    \overline{dx \odot \hat x})` (means over the units, summed unit after unit); r, s : scratch rows.
    """
    w = DP.shape[0]
    for q in range(w):
        grad[gain_at + q] = _row_dot(DP[q], xhat[q], M)
        grad[bias_at + q] = _row_sum(DP[q], M)
        gain = theta[gain_at + q]
        for i in range(M):
            DP[q, i] = DP[q, i] * gain
    for i in range(M):
        r[i] = DP[0, i]
        s[i] = DP[0, i] * xhat[0, i]
    for q in range(1, w):
        for i in range(M):
            r[i] = r[i] + DP[q, i]
            s[i] = s[i] + DP[q, i] * xhat[q, i]
    for i in range(M):
        r[i] = r[i] / w
        s[i] = s[i] / w
    for q in range(w):
        for i in range(M):
            DP[q, i] = rstd[i] * ((DP[q, i] - r[i]) - xhat[q, i] * s[i])


@_jit
def _block_forward(cur, off, dims, slope, b, M, H, P, U, D, V, XH, RS):
    """Block ``b``: the trunk H (w, >= M) from h_{b-1} to h_b; records P, U, D, V (and XH, RS with LayerNorm)."""
    w, m, hidden = dims[_WIDTH], dims[_DEPTH], dims[_HIDDEN_CODE]
    fixup, has_alpha, norm = dims[_FIXUP] == 1, dims[_HAS_ALPHA] == 1, dims[_NORM] == 1
    sb = off[_SCALAR_BIAS] + b * 2 * m  # Fixup's a_1..a_m, c_1..c_{m-1}, d of this block
    p0 = P[b, 0]
    shift = cur[sb] if fixup else 0.0
    if norm:  # u = LN(h), then u + a_1 (Fixup)
        _layer_norm(H, p0, XH[b], RS[b], cur, off[_LN_GAIN] + b * w, off[_LN_BIAS] + b * w, M)
    for q in range(w):
        for i in range(M):
            if fixup:
                p0[q, i] = (p0[q, i] if norm else H[q, i]) + shift
            elif not norm:
                p0[q, i] = H[q, i]
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


@_jit
def _forward(cur, X, off, dims, slope, M, H, P, U, D, V, XH, RS, A, DA, Z):
    """Logits into Z[:, :M] from ``cur`` on X[:, :M]; records layer inputs P, activations U (Fixup), g' in D, v in V.

    H (w, >= M): the trunk, ends as h_B; A = g(h_B), DA its g' where not derivable from A.
    """
    n_in, w, C, hidden = dims[_N_IN], dims[_WIDTH], dims[_CLASSES], dims[_HIDDEN_CODE]
    _product(H, cur, off[_W_IN], w, n_in, X, M)
    for q in range(w):
        _add_bias(H[q], cur[off[_B_IN] + q], M)
    for b in range(dims[_BLOCKS]):
        _block_forward(cur, off, dims, slope, b, M, H, P, U, D, V, XH, RS)
    for q in range(w):
        for i in range(M):
            A[q, i] = H[q, i]
        _activate(hidden, slope, A[q], 0.0, DA[q], M)
    for c in range(C):  # + b_out in the last pass
        _matvec_rows(Z[c], cur, off[_W_OUT] + c * w, 1, w, A, M, cur[off[_B_OUT] + c], -np.inf, A[0], False)


@_jit
def _block_backward(cur, grad, off, dims, b, M, DH, P, U, D, V, XH, RS, DV, DP, r, s, g):
    """Block ``b``'s gradients into ``grad`` from dL/dh_b in DH; leaves the branch's dL/dh_{b-1} part in DP."""
    w, m, hidden = dims[_WIDTH], dims[_DEPTH], dims[_HIDDEN_CODE]
    fixup, has_alpha = dims[_FIXUP] == 1, dims[_HAS_ALPHA] == 1
    sb = off[_SCALAR_BIAS] + b * 2 * m
    if fixup:
        grad[sb + 2 * m - 1] = _total(DH, M)
    dv = DH
    if has_alpha:
        at = off[_ALPHA] + b
        grad[at] = _inner(DH, V[b], M)
        scale = cur[at]
        for q in range(w):
            for i in range(M):
                DV[q, i] = scale * DH[q, i]
        dv = DV
    for j in range(m - 1, -1, -1):
        w_at = off[_W_BRANCH] + (b * m + j) * w * w
        b_at = -1 if fixup else off[_B_BRANCH] + (b * m + j) * w
        _gradient(grad, grad, 0.0, False, w_at, b_at, w, w, dv, P[b, j], M, g)
        _product_t(DP, cur, w_at, w, w, dv, M)  # dp
        if fixup:
            grad[sb + j] = _total(DP, M)
        if j:
            act = U[b, j - 1] if fixup else P[b, j]
            for q in range(w):  # dv_{j-1} = dp * g'(.), into D (over g' where it was kept)
                _chain(hidden, DP[q], act[q], D[b, j - 1, q], M)
            dv = D[b, j - 1]
            if fixup:
                grad[sb + m + j - 1] = _total(dv, M)
    if dims[_NORM] == 1:
        _layer_norm_backward(cur, grad, off[_LN_GAIN] + b * w, off[_LN_BIAS] + b * w, DP, XH[b], RS[b], M, r, s)


@_jit
def _backward(cur, grad, X, off, dims, M, P, U, D, V, XH, RS, A, DA, Z, DV, DP, r, s, g):
    """The gradient (P,) into ``grad``, from dZ in Z[:, :M] after :func:`_forward` on X[:, :M]; DA ends as dL/dh_0."""
    n_in, w, C, hidden = dims[_N_IN], dims[_WIDTH], dims[_CLASSES], dims[_HIDDEN_CODE]
    _gradient(grad, grad, 0.0, False, off[_W_OUT], off[_W_OUT] + C * w, C, w, Z, A, M, g)  # W_out, b_out
    _propagate(cur, off[_W_OUT], C, w, Z, A, DA, hidden, r, s, M)  # dh_B = (W_out^T dZ) * g'(h_B), into DA
    for b in range(dims[_BLOCKS] - 1, -1, -1):
        _block_backward(cur, grad, off, dims, b, M, DA, P, U, D, V, XH, RS, DV, DP, r, s, g)
        for q in range(w):  # dh_{b-1} = dh_b + the branch's part
            for i in range(M):
                DA[q, i] = DA[q, i] + DP[q, i]
    _gradient(grad, grad, 0.0, False, off[_W_IN], off[_W_IN] + w * n_in, w, n_in, DA, X, M, g)  # W_in, b_in


@njit(cache=True, error_model="numpy")  # allocates its buffers: reference counted
def _train_model(theta, v, s, X, T, order, lr, factors, epsilon, rule, hyper, bias, off, dims, slope, start, stop,
                 record_every, batch, n_batches, first_epoch, losses):  # fmt: skip
    """Train one model, ``theta`` (P,) in place, iterations ``start .. stop - 1``; returns ``diverged_at`` or -1.

    The loop of :func:`initlab.kernels._train_model` (its arguments, its order of tests) with this
    module's passes: v, s the rule's state rows ((0,) when it keeps none); a minibatch of b
    examples is gathered into the first b columns of Xb, Tb and the buffers; the recorded loss is
    the whole training set's, from a forward pass on it whose logits must be sound too.
    """
    size, n_in, m = theta.shape[0], X.shape[0], X.shape[1]
    w, B, d, C = dims[_WIDTH], dims[_BLOCKS], dims[_DEPTH], dims[_CLASSES]
    fixup, has_alpha, norm = dims[_FIXUP] == 1, dims[_HAS_ALPHA] == 1, dims[_NORM] == 1
    output, loss = dims[_OUTPUT_CODE], dims[_LOSS_CODE]
    f = theta.dtype  # every buffer in the parameters' type
    current, proposed, grad, alpha = theta.copy(), np.empty(size, f), np.empty(size, f), np.empty(size, f)
    for q in range(size):
        alpha[q] = lr * factors[q]  # each parameter's rate, as numpy's (K, 1) * (P,)
    P = np.empty((B, d, w, m), f)  # inputs of the linear layers
    U = np.empty((B, d - 1, w, m) if fixup else (1, 1, 1, 1), f)  # activations, when Fixup shifts them
    D = np.empty((B, max(d - 1, 1), w, m), f)  # g', then dv
    V = np.empty((B if has_alpha else 1, w, m), f)  # v_{b,m}
    XH = np.empty((B, w, m) if norm else (1, 1, 1), f)  # LayerNorm's xhat
    RS = np.empty((B, m) if norm else (1, 1), f)  # LayerNorm's 1 / sqrt(var + eps)
    H, A, DA, DV, DP = (
        np.empty((w, m), f),
        np.empty((w, m), f),
        np.empty((w, m), f),
        np.empty((w, m), f),
        np.empty((w, m), f),
    )
    Z = np.empty((C, m), f)  # logits, then dZ
    Xb, Tb = np.empty((n_in, max(batch, 1)), f), np.empty((C, max(batch, 1)), f)
    r, r2, g = np.empty(m, f), np.empty(m, f), np.empty(15, f)
    diverged_at = -1
    for i in range(start, stop):
        Xi, Ti, mi = X, T, m
        record = i % record_every == 0
        value = np.nan
        if batch > 0:
            if record:  # the loss of the whole training set, as with gd; its logits must be sound too
                _forward(current, X, off, dims, slope, m, H, P, U, D, V, XH, RS, A, DA, Z)
                if _logits_diverged_rows(Z, C, m):
                    diverged_at = i
                    break
                value = _output_loss(output, loss, Z, T, C, m)
            j = i % n_batches
            mi = min(batch, m - j * batch)
            _gather(Xb, Tb, X, T, order[i // n_batches - first_epoch], j * batch, mi)
            Xi, Ti = Xb, Tb
        _forward(current, Xi, off, dims, slope, mi, H, P, U, D, V, XH, RS, A, DA, Z)
        if _logits_diverged_rows(Z, C, mi):  # frozen at the parameters of the start of i
            diverged_at = i
            break
        if record:
            losses[i // record_every] = value if batch > 0 else _output_loss(output, loss, Z, T, C, m)
        _output_delta(output, Z, Ti, C, mi, r, r2)
        _backward(current, grad, Xi, off, dims, mi, P, U, D, V, XH, RS, A, DA, Z, DV, DP, r, r2, g)
        c1 = bias[i - start, 0] if rule == 2 else 1.0
        c2 = bias[i - start, 1] if rule == 2 else 1.0
        _update(rule, current, proposed, grad, alpha, epsilon, v, s, hyper, c1, c2)
        if not np.isfinite(_pairwise_sum(proposed, 0, size)):  # the update: frozen before it
            diverged_at = i
            break
        current, proposed = proposed, current
    for q in range(size):
        theta[q] = current[q]
    return diverged_at


@njit(parallel=True, fastmath=False, cache=True, error_model="numpy")
def _train_models(theta, v, s, X, T, orders, lr, factors, epsilon, rule, hyper, bias, off, dims, slope, start, stop,
                  record_every, batch, n_batches, first_epoch, losses, diverged_at):  # fmt: skip
    """:func:`_train_model` for every model k with ``diverged_at[k] < 0``, one model per thread."""
    for k in prange(theta.shape[0]):
        if diverged_at[k] < 0:
            diverged_at[k] = _train_model(theta[k], v[k], s[k], X, T, orders[k], lr[k], factors, epsilon, rule, hyper,
                                          bias, off, dims, slope, start, stop, record_every, batch, n_batches,
                                          first_epoch, losses[k])  # fmt: skip


# --------------------------------------------------------------------------------------------
# Python entry points
# --------------------------------------------------------------------------------------------
def train_flat(net: ResidualMLP, theta: np.ndarray, X: np.ndarray, T: np.ndarray, learning_rate: np.ndarray, *,
               start: int, stop: int, record_every: int, loss: str, losses: np.ndarray, diverged_at: np.ndarray,
               optimizer=None, opt_state: tuple = (), lr_factors: np.ndarray | None = None,
               epsilon_factors: np.ndarray | None = None, batch_size: int | None = None,
               orders: np.ndarray | None = None, first_epoch: int = 0, threads: int | None = None) -> None:  # fmt: skip
    """Iterations ``start .. stop - 1`` of any compiled optimizer on validated inputs, in place.

    The contract of :func:`initlab.kernels.train_flat` (the same arguments, checked by the same
    helpers), for a residual net.

    Parameters
    ----------
    net : ResidualMLP (see :func:`supported`)
    theta : (K, P) float64 or float32 C-contiguous, the layout of :meth:`ResidualMLP.views`; overwritten. Its type
        is the run's, as in :func:`initlab.kernels.train_flat`
    X : (n_in, m); T : (n_out, m) targets, as ``ResidualMLP.check_data`` gives
    learning_rate : (K,) float64
    start, stop, record_every, loss, losses, diverged_at, optimizer, opt_state, lr_factors, epsilon_factors,
    batch_size, orders, first_epoch, threads : as in :func:`initlab.kernels.train_flat`
    """
    optimizer = optimizers.gd() if optimizer is None else optimizer
    reason = supported(net, loss, optimizer)
    if reason is not None:
        raise NotImplementedError(f"The compiled engine cannot train this network: {reason}. Use engine='numpy'.")
    _check_buffers(net, theta, X, T, learning_rate, start, stop, record_every, losses, diverged_at)
    rule, hyper, state, arrays, B, n_batches = _kernel_inputs(optimizer, theta, X, T, learning_rate, opt_state,
                                                              lr_factors, epsilon_factors, batch_size, orders,
                                                              first_epoch, start, stop)  # fmt: skip
    previous = numba.get_num_threads()
    if threads is not None:
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    chunk = numba.set_parallel_chunksize(1)  # models one at a time: a thread whose models diverge early takes more
    step = _BIAS_CHUNK if rule == 2 else max(stop - start, 1)  # Adam's 1 - beta^t travel as a table per call
    try:
        for a in range(start, stop, step):
            b = min(a + step, stop)
            bias = _bias_table(optimizer, rule, a, b, theta.dtype)
            _train_models(theta, *state, *arrays, rule, hyper, bias, _layout(net), _dims(net, loss), float(net.slope),
                          int(a), int(b), int(record_every), B, n_batches, int(first_epoch), losses,
                          diverged_at)  # fmt: skip
    finally:
        numba.set_parallel_chunksize(chunk)
        numba.set_num_threads(previous)


def gd_flat(net: ResidualMLP, theta: np.ndarray, X: np.ndarray, T: np.ndarray, learning_rate: np.ndarray, *,
            start: int, stop: int, record_every: int, loss: str, losses: np.ndarray, diverged_at: np.ndarray,
            threads: int | None = None) -> None:  # fmt: skip
    """Full-batch gradient descent: :func:`train_flat` with its defaults (one learning rate per model)."""
    train_flat(net, theta, X, T, learning_rate, start=start, stop=stop, record_every=record_every, loss=loss,
               losses=losses, diverged_at=diverged_at, threads=threads)  # fmt: skip


def advance(state, n: int, *, threads: int | None = None) -> None:
    """Run ``n`` iterations of a ResidualMLP's :class:`initlab.state.TrainingState`, as :func:`initlab.kernels.advance`.

    The state's arrays (``theta``, ``opt_state``, ``losses``, ``diverged_at``) are read and written
    in place and its minibatch streams drawn as the numpy engine draws them, so engines can take
    turns on one state.
    """
    reason = supported(state.net, state.loss, state.optimizer, state.batch_size)
    if reason is not None:
        raise ValueError(
            f"The compiled engine cannot train this residual net: {reason}. Use engine='numpy' (state.advance)."
        )
    advance_segments(state, n, train_flat, threads)


def warm_up() -> float:
    """Compile (or load from numba's cache) the kernel on a tiny problem; returns the seconds it took."""
    begin = time.perf_counter()
    net = ResidualMLP(2, 3, 1, 1)
    theta = np.zeros((1, net.parameter_count))
    gd_flat(net, theta, np.zeros((2, 4)), np.zeros((1, 4)), np.ones(1), start=0, stop=1, record_every=1,
            loss="stable", losses=np.full((1, 1), np.nan), diverged_at=np.full(1, -1, dtype=np.int64))  # fmt: skip
    return time.perf_counter() - begin


def _check_buffers(net, theta, X, T, learning_rate, start, stop, record_every, losses, diverged_at) -> None:
    """The shapes and dtypes :func:`train_flat` relies on: the kernel does not check its indices."""
    P, K = net.parameter_count, (theta.shape[0] if getattr(theta, "ndim", 0) == 2 else -1)
    n_records = -(-stop // record_every) if record_every >= 1 else 0
    problems = [
        ((_buffer(theta, np.float64) or _buffer(theta, np.float32)) and theta.shape == (K, P),
         f"'theta' must be a writeable C-contiguous float64 or float32 (K, {P}) array"),
        (np.ndim(X) == 2 and np.shape(X)[0] == net.n_in, f"'X' must be ({net.n_in}, m); got {np.shape(X)}"),
        (np.shape(T) == (net.n_out, np.shape(X)[-1]), f"'T' must be ({net.n_out}, m); got {np.shape(T)}"),
        (np.shape(learning_rate) == (K,), f"'learning_rate' must be ({K},); got {np.shape(learning_rate)}"),
        (0 <= start <= stop and record_every >= 1,
         f"need 0 <= start <= stop, record_every >= 1; got {start}, {stop}, {record_every}"),
        (_buffer(losses, np.float64) and losses.ndim == 2 and losses.shape[0] == K and losses.shape[1] >= n_records,
         f"'losses' must be a C-contiguous float64 (K, >= {n_records}) array"),
        (_buffer(diverged_at, np.int64) and diverged_at.shape == (K,),
         f"'diverged_at' must be a C-contiguous int64 ({K},) array"),
    ]  # fmt: skip
    for ok, message in problems:
        if not ok:
            raise ValueError(f"kernels_residual.train_flat: {message}.")
