r"""The compiled engine: K networks trained by gd, sgd, momentum or Adam, with minibatches, one whole model per thread.

:func:`initlab.training.train` batches K models into one matrix product per layer (numpy, the
reference); here a numba kernel runs ``prange`` over the models and each thread trains its model
for all iterations, with its own scratch buffers and hand-written loops over the examples (no BLAS
inside, so there is nothing to pin). The arithmetic is the numpy engine's (:mod:`initlab.network`):

.. math::

    Z^{[l]} = W^{[l]} A^{[l-1]} + b^{[l]}, \quad A^{[l]} = g(Z^{[l]}), \quad
    dZ^{[L]} = \tfrac1m (A^{[L]} - Y), \quad dW^{[l]} = dZ^{[l]} A^{[l-1]T}, \quad
    dZ^{[l-1]} = (W^{[l]T} dZ^{[l]}) \odot g'(Z^{[l-1]}),

then the optimizer's update (:func:`_update`, the formulas and arithmetic order of
:mod:`initlab.optimizers`: gd/sgd :math:`\theta - \alpha\, d\theta`, momentum's averaged
:math:`v \leftarrow \beta v + (1-\beta) d\theta`, Adam with bias correction), the loss of the whole
training set only at recorded iterations, and the divergence rule of :mod:`initlab.state`: a model whose logits' magnitudes sum beyond
``DIVERGENCE_LOGIT`` (or not finite), or whose updated parameters do not have a
finite sum (summed in numpy's pairwise order, so the same sums overflow), stops at its last
finite parameters, ``diverged_at`` is that iteration and its later losses stay ``nan``.

Entry points: :func:`advance`, which advances a :class:`initlab.state.TrainingState` as its own
:meth:`~initlab.state.TrainingState.advance` does (behind ``train(..., engine="numba")``), and
:func:`train_flat` (:func:`gd_flat` its full-batch gd), the inner function on the state's arrays.
This module does not import the training code: a state is read through its attributes.

What the state holds, the kernel reads and writes in place, so a run can switch engines or stop
between segments: the optimizer's state rows ``v`` (momentum, Adam) and ``s`` (Adam), (K, P)
each; a parametrization's per-parameter learning-rate factors (P,), parameter p of model k
training at ``learning_rate[k] * factor[p]`` (muP's and NTK's :math:`a^2 \eta` or :math:`a \eta`,
:mod:`initlab.parametrization`; its multipliers are already in the effective weights) and Adam's
epsilon factors (P,); Adam's bias corrections :math:`1 - \beta^t` come as a table computed in
Python, as :mod:`initlab.optimizers` computes them (numba's power could round otherwise).

Minibatches: the numpy engine draws each epoch's permutation of the m examples from each model's
stream (:mod:`initlab.state`); :func:`advance` draws the same ones in Python
(:meth:`~initlab.state.TrainingState.minibatch_orders`, a (K, E, m) array of indices for the
epochs of a call, calls cut to keep it within 32 MB) and each thread gathers its model's
minibatch from them, so both engines see the same examples. At recorded iterations the loss is
that of the whole training set, from a second forward pass on it whose logits must be sound too,
as the numpy engine does.

Agreement with the numpy engine
-------------------------------
What differs is rounding, never the formulas: sums over examples run in another order than
BLAS's (with fused multiply-adds, as BLAS's), and ``exp``, ``expm1`` and
``tanh`` are computed here within 1, 4 and 2 ulp of numpy's (tested); the updates round as
numpy's, operation by operation. On well-conditioned runs the
recorded losses agree to 1e-12 relative and the parameters to 1e-10 after thousands of
iterations (tested for every activation, depths 3 to 6, sigmoid and softmax outputs; every
optimizer with and without minibatches, standard, NTK and muP, in ``tests/test_kernels_optimizers.py``). Chaotic runs
(learning rates at the edge of stability, ``randn * 10`` initialization) amplify last-bit
differences exponentially and the engines part ways, as the numpy engine does with itself after a
one-ulp change of one weight (measured: relu 2-16-8-8-1 at ``learning_rate=0.1``, both pairs
differ by 1e-10 after 800 iterations). Near overflow (parameters around 1e300) the iteration of
divergence can differ: BLAS blocks its sums otherwise, so an overflow to inf in one engine can be
``inf - inf = nan`` or a finite sum in the other.

float32
-------
With float32 arrays (``train(..., dtype="float32")``) every helper runs its float32 form,
compiled on the first float32 run (:func:`_compile_float32`): the matrix products, sums and
updates in float32 (eight lanes a vector instead of four), the learning rates, Adam's epsilons,
optimizer options and bias corrections rounded once to float32 as the numpy engine rounds them,
the divergence checks summed in float32 against ``DIVERGENCE_LOGIT_FLOAT32``. The activations
and the outputs use float32's own ``exp``, ``expm1``, ``tanh`` and sigmoid (:func:`_exp_f32`,
Cephes' ``expf`` and ``tanhf``, :func:`_expm1_f32`: within 2 float32 ulps); the recorded loss is
computed in float64 (the loss of the float32 logits). Against the numpy engine's float32 the losses agree within 2e-6
relative and the parameters stay on float32's trajectory (``tests/test_kernels_float32.py``).
Speed: see ``benchmarks/bench_peers.py`` (its float32 row) and the README.

Compiler settings: no ``fastmath`` on the kernel (it would let the compiler drop the finiteness
checks); reductions alone may be reassociated (``fastmath={"reassoc"}``: the order of a sum, which
is what differs from BLAS anyway), so that they vectorize, and products fuse their multiply-adds
(``contract``), as BLAS does (:data:`_SUM_FLAGS`, :data:`_PRODUCT_FLAGS`). ``error_model="numpy"``: a
float division by zero gives inf instead of raising, so loops with divisions vectorize.
``exp``/``expm1``/``tanh`` are written out (Cephes' forms) because libm's are calls that keep
loops scalar (with ``math.tanh`` the kernel trained tanh networks slower than the numpy engine).

Layout
------
Parameters travel as the state's flat rows ``theta`` (K, P), laid out
``W1, b1, W2, b2, ...`` (:func:`initlab.network.flatten_params`). Each thread keeps, per hidden layer,
``A`` (n_l, m) and ``D`` (n_l, m): ``g'(Z)`` where it cannot be recovered from ``A``, overwritten
by ``dZ`` in the backward pass; no ``Z`` is stored, and the output layer's ``Z`` becomes its ``dZ``
in place; the gradient is a row (P,) the update reads. A minibatch of b examples uses the first b
columns of the same buffers. Matrix products pass over the contiguous example axis, two output rows and up to five
terms per pass, so that each load serves several multiply-adds; the first pass of a row starts its
sum from the bias and the last applies relu (forward) or relu's ``g'`` (``W^T dZ``), so that those
cost no pass of their own (the other activations keep theirs). On the notebook's network, one thread,
these fusions, the fused multiply-adds and the input layer's ``dW`` blocks (:func:`_gradient_block_t`)
took the kernel from 156k to 186-208k model-iterations a second on an AVX-512 EPYC, and it runs
70-77k on a Zen 1 EPYC: about half of one-thread dgemm's rate on both
(``benchmarks/bench_peers.py``, ``bench_kernel_parts.py``).

Threads
-------
numba's threading layer here is OpenMP (no TBB installed), which is not fork-safe: a process that
has run the kernel and then forks (``multiprocessing``'s default on Linux) kills the child. Use the
``spawn``/``forkserver`` start method, or ``NUMBA_THREADING_LAYER=workqueue`` (fork-safe, but
not for concurrent calls from several Python threads).
"""

from __future__ import annotations

import math
import threading
import time
from types import FunctionType

import numba
import numpy as np
from llvmlite import ir as llvm_ir
from numba import njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic

from initlab import optimizers
from initlab.network import DIVERGENCE_LOGIT, DIVERGENCE_LOGIT_FLOAT32, MLP, parameter_count

__all__ = ["advance", "advance_segments", "gd_flat", "max_threads", "supported", "train_flat", "warm_up"]

# Codes the kernel branches on (outside its inner loops).
_HIDDEN = {"relu": 0, "leaky_relu": 1, "tanh": 2, "sigmoid": 3, "linear": 4, "selu": 5, "gelu": 6}
_OUTPUT = {"sigmoid": 0, "softmax": 1}
_LOSS = {"stable": 0, "legacy": 1}
_OPTIMIZER = {"gd": 0, "sgd": 0, "momentum": 1, "adam": 2}  # the rules of _update
_BIAS_CHUNK = 1 << 16  # iterations per kernel call with Adam (its bias corrections travel as a table)
_ORDER_BUDGET = 1 << 22  # minibatch indices per kernel call (32 MB of int64), in whole epochs

# The constants of initlab.activations, repeated as literals so that numba freezes them.
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946
_GELU_C = math.sqrt(2.0 / math.pi)
_GELU_A = 0.044715


def supported(net: MLP, loss: str = "stable", optimizer=None) -> str | None:
    """None if the kernel can train ``net`` with ``loss`` (and ``optimizer``, when given); otherwise the reason, for a message.

    Every parametrization compiles: its per-parameter learning rates and Adam epsilons are rows
    of factors (:func:`train_flat`), its multipliers live in the effective weights already.
    """
    if not isinstance(net, MLP):
        return f"it compiles plain MLPs only, not a {type(net).__name__}"
    if net.activation not in _HIDDEN:
        return f"activation {net.activation!r} has no compiled form (compiled: {sorted(_HIDDEN)})"
    if net.output not in _OUTPUT:
        return f"output {net.output!r} has no compiled form (compiled: {sorted(_OUTPUT)})"
    if loss not in _LOSS:
        return f"loss {loss!r} has no compiled form (compiled: {sorted(_LOSS)})"
    if optimizer is not None and getattr(optimizer, "name", None) not in _OPTIMIZER:
        return f"optimizer {optimizer!r} has no compiled form (compiled: {sorted(_OPTIMIZER)})"
    return None


# --------------------------------------------------------------------------------------------
# Inner loops (one model, one thread; m examples along the contiguous axis)
# --------------------------------------------------------------------------------------------
# Every helper is compiled once, for the one signature it is called with (given here): without
# it numba would compile one more copy for each literal argument (``stride=1``, ``k=0``), which
# tripled the first-call compile time. error_model="numpy": a float division by zero gives inf
# instead of raising, so that loops with divisions have no exception branch and vectorize.
# No reference counting in the helpers (numba's ``_nrt=False``): every row view a helper takes
# (``R[r0 + q]``, ``A[l, j]``) would otherwise cost an atomic increment and decrement of its
# array's count, ~14 a pass of five terms; the helpers allocate nothing and keep no reference, so
# there is nothing to count. Measured on the notebook's network, one thread, interleaved A/B:
# 132-146k against 106-119k model-it/s (+17-26%). Only the per-model drivers that allocate their
# buffers (:func:`_train_one`, :func:`_train_model`) keep it (``nrt=True``).
#
# float32: a helper whose signature is given as ``lambda f, row, rows, cube: ...`` (the float type, and its
# C-contiguous 1-, 2- and 3-d arrays) has a float64 form, compiled (or loaded from numba's cache) at import,
# and a float32 form, compiled on the first float32 run (:func:`_compile_float32`): float64 users never wait
# for it. Its float literals are float64 in numba, and float32 times float64 is float64; where that
# would move a float32 loop to float64 (accumulators, relu's mask) the literal takes the arrays' type
# (:func:`_like`), and the activations' and outputs' loops branch to float32's own forms and functions
# (:func:`_is_single`, a constant: the other branch is compiled away). The recorded loss alone is computed in
# float64 (from the float32 logits).
_f8, _i8, _row, _rows = types.float64, types.int64, types.float64[::1], types.float64[:, ::1]
_cube, _ints, _ints2 = types.float64[:, :, ::1], types.int64[::1], types.int64[:, ::1]
_FLOAT64 = (types.float64, _row, _rows, _cube)
_FLOAT32 = (types.float32, types.float32[::1], types.float32[:, ::1], types.float32[:, :, ::1])
_pending_float32: list = []  # (dispatcher, float32 signature), callees first: what _compile_float32 compiles
_float32_lock = threading.Lock()


def _njit(signature, **options):
    """``njit(signature, **options)``; a ``lambda f, row, rows, cube`` signature gives the float64 one now and
    queues the float32 one for :func:`_compile_float32`."""
    if not isinstance(signature, FunctionType):
        return njit(signature, **options)

    def decorate(function):
        dispatcher = njit(signature(*_FLOAT64), **options)(function)
        _pending_float32.append((dispatcher, signature(*_FLOAT32)))
        return dispatcher

    return decorate


def _compile_float32() -> None:
    """Compile (or load from numba's cache) every helper's float32 form, in definition order (callees first); once.

    numba compiles only the signatures given to a helper, then refuses others (so that a call with a
    literal argument does not compile a copy of its own); compilation is allowed for the one float32
    signature and refused again."""
    with _float32_lock:
        while _pending_float32:
            dispatcher, signature = _pending_float32[0]
            dispatcher._can_compile = True
            try:
                dispatcher.compile(signature)
            finally:
                dispatcher._can_compile = False
            _pending_float32.pop(0)


def _jit(signature, inline="never", nrt=False):
    return _njit(signature, cache=True, error_model="numpy", inline=inline, _nrt=nrt)


# The fastmath flags used, and where: no flag lets the compiler assume finite values. Reductions (dot
# products, sums over examples) are summed in any order (``reassoc``, so that they vectorize) and the
# passes of the matrix products, in their fixed order, with fused multiply-adds (``contract``), as BLAS
# computes both; elementwise passes and the updates round as numpy's, operation by operation.
# Measured on the notebook's network, 1 thread, interleaved A/B: FMAs in the reductions +5-8%, in the
# products +4-7% more.
_SUM_FLAGS = frozenset({"reassoc", "contract"})
_PRODUCT_FLAGS = frozenset({"contract"})


def _jit_product(signature):
    """The passes of matrix products: :data:`_PRODUCT_FLAGS`, fused multiply-adds in the order written."""
    return _njit(signature, cache=True, error_model="numpy", fastmath=set(_PRODUCT_FLAGS), _nrt=False)


def _jit_sum(signature):
    """Reductions (dot products, sums over examples): :data:`_SUM_FLAGS`. Summation order and the
    rounding of fused multiply-adds are all that differs from BLAS, which blocks its sums its own way."""
    return _njit(signature, cache=True, error_model="numpy", fastmath=set(_SUM_FLAGS), _nrt=False)


_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01  # ln 2 in two parts (Cody & Waite), fdlibm's
_LN2_LO = 1.90821492927058770002e-10


@intrinsic
def _like(typingctx, ref, value):
    """``value`` (a float) in the float type of ``ref`` (a float or an array of floats); a constant is folded."""
    f = ref.dtype if isinstance(ref, types.Array) else ref

    def codegen(context, builder, signature, args):
        return context.cast(builder, args[1], signature.args[1], signature.return_type)

    return f(ref, value), codegen


@intrinsic
def _divergence_line(typingctx, ref):
    """The logit line of ``ref``'s float type: ``DIVERGENCE_LOGIT``, or ``DIVERGENCE_LOGIT_FLOAT32`` for float32
    (:func:`initlab.network.divergence_logit`)."""
    f = ref.dtype if isinstance(ref, types.Array) else ref
    line = DIVERGENCE_LOGIT_FLOAT32 if f == types.float32 else DIVERGENCE_LOGIT

    def codegen(context, builder, signature, args):
        return context.get_constant(f, line)

    return f(ref), codegen


@intrinsic
def _bits_to_float(typingctx, bits):
    """The float64 whose IEEE bits are the int64 ``bits`` (a bitcast)."""

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], llvm_ir.DoubleType())

    return types.float64(types.int64), codegen


@intrinsic
def _float_to_bits(typingctx, x):
    """The int64 whose bits are those of the float64 ``x`` (a bitcast)."""

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], llvm_ir.IntType(64))

    return types.int64(types.float64), codegen


@intrinsic
def _muladd(typingctx, a, b, c):
    """``a * b + c`` as one fused multiply-add where the machine has one (LLVM's ``fmuladd``: one
    rounding), else a multiplication and an addition; the choice of the ``contract`` flag, for one
    operation instead of a whole function."""

    def codegen(context, builder, signature, args):
        double = llvm_ir.DoubleType()
        fma = cgutils.get_or_insert_function(builder.module, llvm_ir.FunctionType(double, [double] * 3),
                                             "llvm.fmuladd.f64")  # fmt: skip
        return builder.call(fma, args)

    return types.float64(types.float64, types.float64, types.float64), codegen


_ROUND_SHIFT = 6755399441055744.0  # 1.5 * 2^52: v + it holds an integer v (|v| < 2^51) in its mantissa's low bits


@_jit(_i8(_f8), inline="always")
def _exponent_bits(e):
    """The bits of the float64 :math:`2^e` for an integer-valued ``e`` in [-1022, 1023]: ``(e + 1023) << 52``.

    Without a float-to-int conversion (AVX2 has no packed one, so a loop with ``np.int64(e)``
    converts element by element): ``e + 1023 + 1.5 * 2^52`` holds ``e + 1023`` (below 2^12) in its
    low 12 bits, which the shift moves to the exponent's place, pushing the rest out."""
    return _float_to_bits(e + (1023.0 + _ROUND_SHIFT)) << 52


@_jit(_f8(_f8), inline="always")  # scalar: inlined by numba, so that loops calling it vectorize
def _exp(x):
    r""":math:`e^x` within 1 ulp, in operations that vectorize (libm's ``exp`` is a call that does not).

    :math:`x = n \ln 2 + r`, :math:`|r| \le \tfrac12 \ln 2`; :math:`e^r` by its Taylor series to
    :math:`r^{13}` (remainder below 1e-17 relative); :math:`2^n` built from its bits, in two
    halves so that results down to the subnormals (and 0, inf) come out right (:func:`_exponent_bits`:
    no integer conversion, so that the loop stays vectorized on AVX2). nan stays nan.
    """
    x = -1400.0 if x < -1400.0 else x
    x = 710.0 if x > 710.0 else x
    n = np.floor(_muladd(x, _LOG2E, 0.5))
    r = _muladd(-n, _LN2_LO, _muladd(-n, _LN2_HI, x))
    # Estrin's scheme: the terms of Horner's rule in a tree of depth 8 instead of a chain of 26,
    # so that consecutive vectors overlap in the pipeline; each step a fused multiply-add.
    r2 = r * r
    r4 = r2 * r2
    r8 = r4 * r4
    q1 = _muladd(r, 1.0 / 6.0, 1.0 / 2.0)
    q2 = _muladd(r, 1.0 / 120.0, 1.0 / 24.0)
    q3 = _muladd(r, 1.0 / 5040.0, 1.0 / 720.0)
    q4 = _muladd(r, 1.0 / 362880.0, 1.0 / 40320.0)
    q5 = _muladd(r, 1.0 / 39916800.0, 1.0 / 3628800.0)
    q6 = _muladd(r, 1.0 / 6227020800.0, 1.0 / 479001600.0)
    low = _muladd(_muladd(q3, r2, q2), r4, _muladd(q1, r2, r))  # r + q1 r^2 + (q2 + q3 r^2) r^4
    p = 1.0 + _muladd(_muladd(q6, r4, _muladd(q5, r2, q4)), r8, low)  # the 1 last: no bits of r lost
    h = np.floor(n * 0.5)  # 2^n as 2^h 2^(n - h), each a normal number
    return p * _bits_to_float(_exponent_bits(h)) * _bits_to_float(_exponent_bits(n - h))


@_jit(_f8(_f8), inline="always")  # scalar: inlined by numba, so that loops calling it vectorize
def _expm1(x):
    r""":math:`e^x - 1`, accurate near 0, vectorizable: Cephes' ``expm1``.

    For :math:`|x| \le \tfrac12` the rational form :math:`2r / (Q(x^2) - r)`, :math:`r = x P(x^2)`
    (Moshier's coefficients, relative error below 3e-16); elsewhere :func:`_exp` minus 1.
    """
    xx = x * x
    r = x * ((1.2617719307481059087798e-4 * xx + 3.0299440770744196129956e-2) * xx + 9.9999999999999999991025e-1)
    q = ((3.0019850513866445504159e-6 * xx + 2.5244834034968410419224e-3) * xx + 2.2726554820815502876593e-1) * xx
    r = r / (q + 2.0000000000000000000897 - r)
    large = _exp(x) - 1.0  # both branches computed, then one chosen: no branch, so loops vectorize
    return r + r if abs(x) <= 0.5 else large


@_jit(_f8(_f8), inline="always")  # scalar: inlined by numba, so that loops calling it vectorize
def _tanh(x):
    r""":math:`\tanh x`, vectorizable: Cephes' ``tanh``.

    For :math:`|x| < 0.625` :math:`x + x^3 P(x^2)/Q(x^2)` (Moshier's coefficients, relative
    error below 3e-16); elsewhere :math:`\pm(1 - 2/(e^{2|x|} + 1))`, which is exactly
    :math:`\pm 1` once :math:`e^{2|x|}` is large or inf. nan stays nan.
    """
    z = x * x
    p = (-9.64399179425052238628e-1 * z - 9.92877231001918586564e1) * z - 1.61468768441708447952e3
    q = ((z + 1.12811678491632931402e2) * z + 2.23548839060100448583e3) * z + 4.84406305325125486048e3
    sign = -1.0 if x < 0.0 else 1.0
    small = abs(x) < 0.625
    # both forms in one division: x + (x z p) / q, or sign + (-2 sign) / (e^{2|x|} + 1)
    numerator = x * z * p if small else -2.0 * sign
    denominator = q if small else _exp(2.0 * abs(x)) + 1.0
    return (x if small else sign) + numerator / denominator


@_jit(_f8(_f8), inline="always")  # scalar: inlined by numba, so that loops calling it vectorize
def _sigmoid(v):
    """initlab.activations.sigmoid for one value: ``1 / (1 + e)`` or ``e / (1 + e)``, ``e = exp(-|v|)``."""
    e = _exp(-abs(v))
    return (1.0 if v >= 0.0 else e) / (1.0 + e)  # one division, as numpy's: numerator chosen first


# float32's exp, tanh and sigmoid (Cephes' expf and tanhf), for the float32 forms' elementwise loops: eight lanes
# a vector and a degree-5 polynomial instead of four lanes and degree 13. Every constant is a float32 (a float64
# one would make the arithmetic float64). Within 2, 1 and 2 float32 ulps of numpy's (tested).
_f4 = types.float32
_F32 = np.float32
_LOG2E_F32, _LN2_HI_F32, _LN2_LO_F32 = _F32(_LOG2E), _F32(0.693359375), _F32(-2.12194440e-4)
_EXP_F32 = tuple(_F32(c) for c in (1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2,
                                   1.6666665459e-1, 5.0000001201e-1))  # fmt: skip
_TANH_F32 = tuple(_F32(c) for c in (-5.70498872745e-3, 2.06390887954e-2, -5.37397155531e-2, 1.33314422036e-1,
                                    -3.33332819422e-1))  # fmt: skip
_EXPM1_F32 = tuple(_F32(1.0 / math.factorial(k)) for k in range(8, 1, -1))  # 1/8!, ..., 1/2!
_ZERO_F32, _HALF_F32, _ONE_F32, _TWO_F32 = _F32(0.0), _F32(0.5), _F32(1.0), _F32(2.0)
_EXP_LOW_F32, _EXP_HIGH_F32, _TANH_SMALL_F32 = _F32(-104.0), _F32(89.0), _F32(0.625)
_SELU_ALPHA_F32, _SELU_SCALE_F32 = _F32(_SELU_ALPHA), _F32(_SELU_SCALE)
_GELU_C_F32, _GELU_A_F32, _GELU_3A_F32 = _F32(_GELU_C), _F32(_GELU_A), _F32(3.0 * _GELU_A)


@intrinsic
def _pow2_f32(typingctx, e):
    """The float32 :math:`2^e` for a float32 ``e`` holding an integer in [-126, 127]: ``e + 127 + 1.5 * 2^23`` holds
    ``e + 127`` in its low mantissa bits, which a 23-bit shift moves to the exponent's place (as :func:`_exponent_bits`)."""

    def codegen(context, builder, signature, args):
        single, i32 = llvm_ir.FloatType(), llvm_ir.IntType(32)
        v = builder.fadd(args[0], llvm_ir.Constant(single, 12583039.0))  # 127 + 1.5 * 2^23, exact in float32
        return builder.bitcast(builder.shl(builder.bitcast(v, i32), llvm_ir.Constant(i32, 23)), single)

    return types.float32(types.float32), codegen


@intrinsic
def _is_single(typingctx, ref):
    """True if ``ref`` (a float or an array of floats) is float32: a constant, so the other branch is compiled away."""
    f = ref.dtype if isinstance(ref, types.Array) else ref

    def codegen(context, builder, signature, args):
        return context.get_constant(types.boolean, f == types.float32)

    return types.boolean(ref), codegen


@_jit(_f4(_f4), inline="always")  # scalar: inlined by numba, so that loops calling it vectorize
def _exp_f32(x):
    r""":math:`e^x` of a float32, within 2 float32 ulps: Cephes' ``expf``.

    :math:`x = n \ln 2 + r` (ln 2 in two parts), :math:`e^r \approx 1 + r + r^2 P(r)`, P of degree 5; :math:`2^n`
    in two halves, from their bits (:func:`_pow2_f32`), so that subnormal results, 0 and inf come out right.
    """
    c0, c1, c2, c3, c4, c5 = _EXP_F32
    x = _EXP_LOW_F32 if x < _EXP_LOW_F32 else x
    x = _EXP_HIGH_F32 if x > _EXP_HIGH_F32 else x
    n = np.floor(x * _LOG2E_F32 + _HALF_F32)
    r = x - n * _LN2_HI_F32 - n * _LN2_LO_F32
    p = (((((c0 * r + c1) * r + c2) * r + c3) * r + c4) * r + c5) * (r * r) + r + _ONE_F32
    h = np.floor(n * _HALF_F32)
    return p * _pow2_f32(h) * _pow2_f32(n - h)


@_jit(_f4(_f4), inline="always")  # scalar: inlined by numba, so that loops calling it vectorize
def _expm1_f32(x):
    r""":math:`e^x - 1` of a float32, accurate near 0, within 2 float32 ulps.

    For :math:`|x| \le \tfrac12` the Taylor series :math:`x + x^2 (\tfrac12 + \tfrac{x}{6} + \dots + \tfrac{x^6}{8!})`
    (remainder below 1.4e-8 relative, a quarter of a float32 ulp); elsewhere :func:`_exp_f32` minus 1.
    """
    c0, c1, c2, c3, c4, c5, c6 = _EXPM1_F32
    small = ((((((c0 * x + c1) * x + c2) * x + c3) * x + c4) * x + c5) * x + c6) * (x * x) + x
    large = _exp_f32(x) - _ONE_F32  # both computed, then one chosen: no branch, so loops vectorize
    return small if abs(x) <= _HALF_F32 else large


@_jit(_f4(_f4), inline="always")  # scalar: inlined by numba, so that loops calling it vectorize
def _tanh_f32(x):
    r""":math:`\tanh x` of a float32, within 1 float32 ulp: Cephes' ``tanhf``.

    For :math:`|x| < 0.625` :math:`x + x^3 P(x^2)`, P of degree 4; elsewhere :math:`\pm(1 - 2/(e^{2|x|} + 1))`.
    """
    c0, c1, c2, c3, c4 = _TANH_F32
    z = x * x
    small = ((((c0 * z + c1) * z + c2) * z + c3) * z + c4) * z * x + x
    a = abs(x)
    large = _ONE_F32 - _TWO_F32 / (_exp_f32(_TWO_F32 * a) + _ONE_F32)
    large = -large if x < _ZERO_F32 else large
    return small if a < _TANH_SMALL_F32 else large


@_jit(_f4(_f4), inline="always")  # scalar: inlined by numba, so that loops calling it vectorize
def _sigmoid_f32(v):
    """:func:`_sigmoid` of a float32, in float32 (:func:`_exp_f32`)."""
    e = _exp_f32(-abs(v))
    return (_ONE_F32 if v >= _ZERO_F32 else e) / (_ONE_F32 + e)


@_jit_product(lambda f, row, rows, cube: types.void(row, types.boolean, row, _i8, _i8, _i8, rows, _i8, _i8, f, f))
def _accumulate(out, first, theta, at, stride, count, R, r0, m, b, floor):
    """``out = max(b + sum_{q < count} theta[at + q stride] R[r0 + q], floor)`` for ``count`` in 1..5, left to right,
    in the first pass (``first``); ``out = max(out + sum ..., floor)`` in the others (b unused).

    Matrix products pass over a row of ``out`` once per up to five terms (one load and store
    of ``out`` per five multiply-adds); the sum starts from the bias ``b`` (a multiply-add more, an addition
    less) and adds the terms in the order of a plain loop; ``floor`` is relu's 0 in the last pass of a relu
    layer, else -inf (nothing: v < -inf never holds).
    """
    w0 = theta[at]
    x0 = R[r0]
    if count == 1:
        if first:
            for i in range(m):
                v = b + w0 * x0[i]
                out[i] = floor if v < floor else v
        else:
            for i in range(m):
                v = out[i] + w0 * x0[i]
                out[i] = floor if v < floor else v
        return
    w1 = theta[at + stride]
    x1 = R[r0 + 1]
    if count == 2:
        if first:
            for i in range(m):
                v = b + w0 * x0[i] + w1 * x1[i]
                out[i] = floor if v < floor else v
        else:
            for i in range(m):
                v = out[i] + w0 * x0[i] + w1 * x1[i]
                out[i] = floor if v < floor else v
        return
    w2 = theta[at + 2 * stride]
    x2 = R[r0 + 2]
    if count == 3:
        if first:
            for i in range(m):
                v = b + w0 * x0[i] + w1 * x1[i] + w2 * x2[i]
                out[i] = floor if v < floor else v
        else:
            for i in range(m):
                v = out[i] + w0 * x0[i] + w1 * x1[i] + w2 * x2[i]
                out[i] = floor if v < floor else v
        return
    w3 = theta[at + 3 * stride]
    x3 = R[r0 + 3]
    if count == 4:
        if first:
            for i in range(m):
                v = b + w0 * x0[i] + w1 * x1[i] + w2 * x2[i] + w3 * x3[i]
                out[i] = floor if v < floor else v
        else:
            for i in range(m):
                v = out[i] + w0 * x0[i] + w1 * x1[i] + w2 * x2[i] + w3 * x3[i]
                out[i] = floor if v < floor else v
        return
    w4 = theta[at + 4 * stride]
    x4 = R[r0 + 4]
    if first:
        for i in range(m):
            v = b + w0 * x0[i] + w1 * x1[i] + w2 * x2[i] + w3 * x3[i] + w4 * x4[i]
            out[i] = floor if v < floor else v
    else:
        for i in range(m):
            v = out[i] + w0 * x0[i] + w1 * x1[i] + w2 * x2[i] + w3 * x3[i] + w4 * x4[i]
            out[i] = floor if v < floor else v


@_jit_product(
    lambda f, row, rows, cube: types.void(row, row, types.boolean, row, _i8, _i8, _i8, _i8, rows, _i8, _i8, f, f, f)
)
def _accumulate2(out, other, first, theta, at, offset, stride, count, R, r0, m, b, c, floor):
    """:func:`_accumulate` for two rows at once, sharing the loads of R: ``out`` with the weights at
    ``at + q stride`` and bias ``b``, ``other`` with those at ``at + offset + q stride`` and bias ``c``."""
    w0, v0 = theta[at], theta[at + offset]
    x0 = R[r0]
    if count == 1:
        if first:
            for i in range(m):
                y = b + w0 * x0[i]
                u = c + v0 * x0[i]
                out[i] = floor if y < floor else y
                other[i] = floor if u < floor else u
        else:
            for i in range(m):
                y = out[i] + w0 * x0[i]
                u = other[i] + v0 * x0[i]
                out[i] = floor if y < floor else y
                other[i] = floor if u < floor else u
        return
    w1, v1 = theta[at + stride], theta[at + offset + stride]
    x1 = R[r0 + 1]
    if count == 2:
        if first:
            for i in range(m):
                y = b + w0 * x0[i] + w1 * x1[i]
                u = c + v0 * x0[i] + v1 * x1[i]
                out[i] = floor if y < floor else y
                other[i] = floor if u < floor else u
        else:
            for i in range(m):
                y = out[i] + w0 * x0[i] + w1 * x1[i]
                u = other[i] + v0 * x0[i] + v1 * x1[i]
                out[i] = floor if y < floor else y
                other[i] = floor if u < floor else u
        return
    w2, v2 = theta[at + 2 * stride], theta[at + offset + 2 * stride]
    x2 = R[r0 + 2]
    if count == 3:
        if first:
            for i in range(m):
                y = b + w0 * x0[i] + w1 * x1[i] + w2 * x2[i]
                u = c + v0 * x0[i] + v1 * x1[i] + v2 * x2[i]
                out[i] = floor if y < floor else y
                other[i] = floor if u < floor else u
        else:
            for i in range(m):
                y = out[i] + w0 * x0[i] + w1 * x1[i] + w2 * x2[i]
                u = other[i] + v0 * x0[i] + v1 * x1[i] + v2 * x2[i]
                out[i] = floor if y < floor else y
                other[i] = floor if u < floor else u
        return
    w3, v3 = theta[at + 3 * stride], theta[at + offset + 3 * stride]
    x3 = R[r0 + 3]
    if count == 4:
        if first:
            for i in range(m):
                y = b + w0 * x0[i] + w1 * x1[i] + w2 * x2[i] + w3 * x3[i]
                u = c + v0 * x0[i] + v1 * x1[i] + v2 * x2[i] + v3 * x3[i]
                out[i] = floor if y < floor else y
                other[i] = floor if u < floor else u
        else:
            for i in range(m):
                y = out[i] + w0 * x0[i] + w1 * x1[i] + w2 * x2[i] + w3 * x3[i]
                u = other[i] + v0 * x0[i] + v1 * x1[i] + v2 * x2[i] + v3 * x3[i]
                out[i] = floor if y < floor else y
                other[i] = floor if u < floor else u
        return
    w4, v4 = theta[at + 4 * stride], theta[at + offset + 4 * stride]
    x4 = R[r0 + 4]
    if first:
        for i in range(m):
            y = b + w0 * x0[i] + w1 * x1[i] + w2 * x2[i] + w3 * x3[i] + w4 * x4[i]
            u = c + v0 * x0[i] + v1 * x1[i] + v2 * x2[i] + v3 * x3[i] + v4 * x4[i]
            out[i] = floor if y < floor else y
            other[i] = floor if u < floor else u
    else:
        for i in range(m):
            y = out[i] + w0 * x0[i] + w1 * x1[i] + w2 * x2[i] + w3 * x3[i] + w4 * x4[i]
            u = other[i] + v0 * x0[i] + v1 * x1[i] + v2 * x2[i] + v3 * x3[i] + v4 * x4[i]
            out[i] = floor if y < floor else y
            other[i] = floor if u < floor else u


@_jit_product(lambda f, row, rows, cube: types.void(row, types.boolean, row, _i8, _i8, _i8, rows, _i8, _i8, row))
def _accumulate_relu(out, first, theta, at, stride, count, R, r0, m, M):
    """:func:`_accumulate2_relu` for one row."""
    one, zero = _like(out, 1.0), _like(out, 0.0)  # out's type: float32 stays float32
    w0 = theta[at]
    x0 = R[r0]
    if count == 1:
        if first:
            for i in range(m):
                out[i] = (w0 * x0[i]) * (one if M[i] > zero else zero)
        else:
            for i in range(m):
                out[i] = (out[i] + w0 * x0[i]) * (one if M[i] > zero else zero)
        return
    w1 = theta[at + stride]
    x1 = R[r0 + 1]
    if count == 2:
        if first:
            for i in range(m):
                out[i] = (w0 * x0[i] + w1 * x1[i]) * (one if M[i] > zero else zero)
        else:
            for i in range(m):
                out[i] = (out[i] + w0 * x0[i] + w1 * x1[i]) * (one if M[i] > zero else zero)
        return
    w2 = theta[at + 2 * stride]
    x2 = R[r0 + 2]
    if count == 3:
        if first:
            for i in range(m):
                out[i] = (w0 * x0[i] + w1 * x1[i] + w2 * x2[i]) * (one if M[i] > zero else zero)
        else:
            for i in range(m):
                out[i] = (out[i] + w0 * x0[i] + w1 * x1[i] + w2 * x2[i]) * (one if M[i] > zero else zero)
        return
    w3 = theta[at + 3 * stride]
    x3 = R[r0 + 3]
    if count == 4:
        if first:
            for i in range(m):
                out[i] = (w0 * x0[i] + w1 * x1[i] + w2 * x2[i] + w3 * x3[i]) * (one if M[i] > zero else zero)
        else:
            for i in range(m):
                out[i] = (out[i] + w0 * x0[i] + w1 * x1[i] + w2 * x2[i] + w3 * x3[i]) * (one if M[i] > zero else zero)
        return
    w4 = theta[at + 4 * stride]
    x4 = R[r0 + 4]
    if first:
        for i in range(m):
            out[i] = (w0 * x0[i] + w1 * x1[i] + w2 * x2[i] + w3 * x3[i] + w4 * x4[i]) * (one if M[i] > zero else zero)
    else:
        for i in range(m):
            out[i] = (out[i] + w0 * x0[i] + w1 * x1[i] + w2 * x2[i] + w3 * x3[i] + w4 * x4[i]) * (
                one if M[i] > zero else zero
            )


@_jit_product(
    lambda f, row, rows, cube: types.void(row, row, types.boolean, row, _i8, _i8, _i8, _i8, rows, _i8, _i8, row, row)
)
def _accumulate2_relu(out, other, first, theta, at, offset, stride, count, R, r0, m, M, N):
    """:func:`_accumulate2` for relu's dZ: ``out = ([out +] sum_q theta[at + q stride] R[r0 + q]) * (M > 0)``, ``other``
    with the weights ``offset`` on and N (g' from the activations, as :func:`_chain`)."""
    one, zero = _like(out, 1.0), _like(out, 0.0)  # out's type: float32 stays float32
    w0, v0 = theta[at], theta[at + offset]
    x0 = R[r0]
    if count == 1:
        if first:
            for i in range(m):
                out[i] = (w0 * x0[i]) * (one if M[i] > zero else zero)
                other[i] = (v0 * x0[i]) * (one if N[i] > zero else zero)
        else:
            for i in range(m):
                out[i] = (out[i] + w0 * x0[i]) * (one if M[i] > zero else zero)
                other[i] = (other[i] + v0 * x0[i]) * (one if N[i] > zero else zero)
        return
    w1, v1 = theta[at + stride], theta[at + offset + stride]
    x1 = R[r0 + 1]
    if count == 2:
        if first:
            for i in range(m):
                out[i] = (w0 * x0[i] + w1 * x1[i]) * (one if M[i] > zero else zero)
                other[i] = (v0 * x0[i] + v1 * x1[i]) * (one if N[i] > zero else zero)
        else:
            for i in range(m):
                out[i] = (out[i] + w0 * x0[i] + w1 * x1[i]) * (one if M[i] > zero else zero)
                other[i] = (other[i] + v0 * x0[i] + v1 * x1[i]) * (one if N[i] > zero else zero)
        return
    w2, v2 = theta[at + 2 * stride], theta[at + offset + 2 * stride]
    x2 = R[r0 + 2]
    if count == 3:
        if first:
            for i in range(m):
                out[i] = (w0 * x0[i] + w1 * x1[i] + w2 * x2[i]) * (one if M[i] > zero else zero)
                other[i] = (v0 * x0[i] + v1 * x1[i] + v2 * x2[i]) * (one if N[i] > zero else zero)
        else:
            for i in range(m):
                out[i] = (out[i] + w0 * x0[i] + w1 * x1[i] + w2 * x2[i]) * (one if M[i] > zero else zero)
                other[i] = (other[i] + v0 * x0[i] + v1 * x1[i] + v2 * x2[i]) * (one if N[i] > zero else zero)
        return
    w3, v3 = theta[at + 3 * stride], theta[at + offset + 3 * stride]
    x3 = R[r0 + 3]
    if count == 4:
        if first:
            for i in range(m):
                out[i] = (w0 * x0[i] + w1 * x1[i] + w2 * x2[i] + w3 * x3[i]) * (one if M[i] > zero else zero)
                other[i] = (v0 * x0[i] + v1 * x1[i] + v2 * x2[i] + v3 * x3[i]) * (one if N[i] > zero else zero)
        else:
            for i in range(m):
                out[i] = (out[i] + w0 * x0[i] + w1 * x1[i] + w2 * x2[i] + w3 * x3[i]) * (one if M[i] > zero else zero)
                other[i] = (other[i] + v0 * x0[i] + v1 * x1[i] + v2 * x2[i] + v3 * x3[i]) * (
                    one if N[i] > zero else zero
                )
        return
    w4, v4 = theta[at + 4 * stride], theta[at + offset + 4 * stride]
    x4 = R[r0 + 4]
    if first:
        for i in range(m):
            out[i] = (w0 * x0[i] + w1 * x1[i] + w2 * x2[i] + w3 * x3[i] + w4 * x4[i]) * (one if M[i] > zero else zero)
            other[i] = (v0 * x0[i] + v1 * x1[i] + v2 * x2[i] + v3 * x3[i] + v4 * x4[i]) * (one if N[i] > zero else zero)
    else:
        for i in range(m):
            out[i] = (out[i] + w0 * x0[i] + w1 * x1[i] + w2 * x2[i] + w3 * x3[i] + w4 * x4[i]) * (
                one if M[i] > zero else zero
            )
            other[i] = (other[i] + v0 * x0[i] + v1 * x1[i] + v2 * x2[i] + v3 * x3[i] + v4 * x4[i]) * (
                one if N[i] > zero else zero
            )


@_jit(_i8(_i8))
def _pass_size(remaining):
    """Terms in the next pass: at most five, the passes as even as possible (10 = 5 + 5, 12 = 4 + 4 + 4)."""
    passes = (remaining + 4) // 5
    return (remaining + passes - 1) // passes


@_jit(lambda f, row, rows, cube: types.void(row, row, _i8, _i8, _i8, rows, _i8, f, f, row, types.boolean))
def _matvec_rows(out, theta, at, stride, terms, R, m, b, floor, M, mask):
    """``out = max(b + sum_{q < terms} theta[at + q stride] R[q], floor)``: one output row of a matrix product,
    up to five terms a pass, the bias in the first and the floor in the last; with ``mask``, the last pass
    multiplies by relu's g' ``M > 0`` instead (``W^T dZ``: no bias and no floor, so b = 0 and floor = -inf)."""
    q = 0
    while q < terms:
        count = _pass_size(terms - q)
        last = q + count == terms
        if last and mask:
            _accumulate_relu(out, q == 0, theta, at + q * stride, stride, count, R, q, m, M)
        else:
            _accumulate(out, q == 0, theta, at + q * stride, stride, count, R, q, m, b, floor if last else -np.inf)
        q += count


@_jit(
    lambda f, row, rows, cube: types.void(
        row, row, row, _i8, _i8, _i8, _i8, rows, _i8, f, f, f, row, row, types.boolean
    )
)
def _matvec_rows2(out, other, theta, at, offset, stride, terms, R, m, b, c, floor, M, N, mask):
    """:func:`_matvec_rows` for two output rows (weights ``offset`` apart, biases b and c, masks M and N),
    sharing the loads of R."""
    q = 0
    while q < terms:
        count = _pass_size(terms - q)
        last = q + count == terms
        if last and mask:
            _accumulate2_relu(out, other, q == 0, theta, at + q * stride, offset, stride, count, R, q, m, M, N)
        else:
            _accumulate2(out, other, q == 0, theta, at + q * stride, offset, stride, count, R, q, m, b, c,
                         floor if last else -np.inf)  # fmt: skip
        q += count


@_jit(lambda f, row, rows, cube: types.void(_i8, f, row, f, row, _i8))
def _activate(kind, slope, A, b, D, m):
    """``A = g(A + b)`` in place, for one unit (a row of m); ``D = g'(A + b)`` where not derivable from A.

    The formulas of :mod:`initlab.activations`, in the same order of operations. relu, tanh,
    sigmoid and linear get ``g'`` from ``A`` in :func:`_chain` (one store less here);
    leaky_relu (its slope may be negative), selu and gelu store it in ``D``.
    """
    if kind == 0:  # relu; nan stays nan, as np.maximum
        for i in range(m):
            v = A[i] + b
            A[i] = 0.0 if v < 0.0 else v
    elif kind == 1:  # leaky_relu
        for i in range(m):
            v = A[i] + b
            D[i] = 1.0 if v > 0.0 else slope
            A[i] = v * slope if v <= 0.0 else v
    elif kind == 2 and _is_single(A):  # tanh, float32
        for i in range(m):
            A[i] = _tanh_f32(A[i] + b)
    elif kind == 2:  # tanh
        for i in range(m):
            A[i] = _tanh(A[i] + b)
    elif kind == 3 and _is_single(A):  # sigmoid, float32
        for i in range(m):
            A[i] = _sigmoid_f32(A[i] + b)
    elif kind == 3:  # sigmoid
        for i in range(m):
            A[i] = _sigmoid(A[i] + b)
    elif kind == 4:  # linear
        for i in range(m):
            A[i] = A[i] + b
    elif kind == 5 and _is_single(A):  # selu, float32
        for i in range(m):
            v = A[i] + b
            u = _ZERO_F32 if v > _ZERO_F32 else v
            D[i] = (_ONE_F32 if v > _ZERO_F32 else _exp_f32(u) * _SELU_ALPHA_F32) * _SELU_SCALE_F32
            A[i] = ((_ZERO_F32 if v < _ZERO_F32 else v) + _expm1_f32(u) * _SELU_ALPHA_F32) * _SELU_SCALE_F32
    elif kind == 5:  # selu
        for i in range(m):
            v = A[i] + b
            u = 0.0 if v > 0.0 else v  # min(v, 0), nan stays nan
            D[i] = (1.0 if v > 0.0 else _exp(u) * _SELU_ALPHA) * _SELU_SCALE
            A[i] = ((0.0 if v < 0.0 else v) + _expm1(u) * _SELU_ALPHA) * _SELU_SCALE
    elif _is_single(A):  # gelu, float32
        for i in range(m):
            v = A[i] + b
            t = _tanh_f32(_GELU_C_F32 * (v + _GELU_A_F32 * (v * v * v)))
            du = _GELU_C_F32 * (_ONE_F32 + _GELU_3A_F32 * v * v)
            D[i] = _HALF_F32 * (_ONE_F32 + t) + _HALF_F32 * v * (_ONE_F32 - t * t) * du
            A[i] = v * ((t + _ONE_F32) * _HALF_F32)
    else:  # gelu, tanh form
        for i in range(m):
            v = A[i] + b
            t = _tanh(_GELU_C * (v + _GELU_A * v**3))
            du = _GELU_C * (1.0 + 3.0 * _GELU_A * v * v)
            D[i] = 0.5 * (1.0 + t) + 0.5 * v * (1.0 - t * t) * du
            A[i] = v * ((t + 1.0) * 0.5)


@_jit(lambda f, row, rows, cube: types.void(_i8, row, row, row, _i8))
def _chain(kind, dA, A, D, m):
    """``D = dA * g'(Z)`` for one unit: dZ from dL/dA, with g' from ``A = g(Z)`` or from ``D``."""
    one, zero = _like(D, 1.0), _like(D, 0.0)
    if kind == 0:  # relu: Z > 0 exactly where A > 0
        for i in range(m):
            D[i] = dA[i] * (one if A[i] > zero else zero)
    elif kind == 2:  # tanh: 1 - tanh^2
        for i in range(m):
            D[i] = dA[i] * (one - A[i] * A[i])
    elif kind == 3:  # sigmoid: s (1 - s)
        for i in range(m):
            D[i] = dA[i] * (A[i] * (one - A[i]))
    elif kind == 4:  # linear
        for i in range(m):
            D[i] = dA[i] * one
    else:
        for i in range(m):
            D[i] = dA[i] * D[i]


@_jit_sum(lambda f, row, rows, cube: types.void(row, rows, _i8, _i8, row, _i8))
def _gradient_block1(dz, A_in, k, count, g, m):
    """``g[q] = dz . A_in[k + q]`` for q < count (1..5) and ``g[10] = sum(dz)``, in one pass over m."""
    x0 = A_in[k]
    s = s0 = s1 = s2 = s3 = s4 = _like(dz, 0.0)  # sums in dz's type
    if count == 1:
        for i in range(m):
            d = dz[i]
            s += d
            s0 += d * x0[i]
    elif count == 2:
        x1 = A_in[k + 1]
        for i in range(m):
            d = dz[i]
            s += d
            s0 += d * x0[i]
            s1 += d * x1[i]
    elif count == 3:
        x1, x2 = A_in[k + 1], A_in[k + 2]
        for i in range(m):
            d = dz[i]
            s += d
            s0 += d * x0[i]
            s1 += d * x1[i]
            s2 += d * x2[i]
    elif count == 4:
        x1, x2, x3 = A_in[k + 1], A_in[k + 2], A_in[k + 3]
        for i in range(m):
            d = dz[i]
            s += d
            s0 += d * x0[i]
            s1 += d * x1[i]
            s2 += d * x2[i]
            s3 += d * x3[i]
    else:
        x1, x2, x3, x4 = A_in[k + 1], A_in[k + 2], A_in[k + 3], A_in[k + 4]
        for i in range(m):
            d = dz[i]
            s += d
            s0 += d * x0[i]
            s1 += d * x1[i]
            s2 += d * x2[i]
            s3 += d * x3[i]
            s4 += d * x4[i]
    g[0], g[1], g[2], g[3], g[4], g[10] = s0, s1, s2, s3, s4, s


@_jit_sum(lambda f, row, rows, cube: types.void(row, row, rows, _i8, _i8, row, _i8))
def _gradient_block2(dz, dy, A_in, k, count, g, m):
    """:func:`_gradient_block1` for two rows at once: ``g[q]``, ``g[10]`` for ``dz``; ``g[5 + q]``, ``g[11]`` for ``dy``."""
    x0 = A_in[k]
    s = t = s0 = s1 = s2 = s3 = s4 = t0 = t1 = t2 = t3 = t4 = _like(dz, 0.0)  # sums in dz's type
    if count == 1:
        for i in range(m):
            d, e = dz[i], dy[i]
            s += d
            t += e
            s0 += d * x0[i]
            t0 += e * x0[i]
    elif count == 2:
        x1 = A_in[k + 1]
        for i in range(m):
            d, e = dz[i], dy[i]
            s += d
            t += e
            s0 += d * x0[i]
            t0 += e * x0[i]
            s1 += d * x1[i]
            t1 += e * x1[i]
    elif count == 3:
        x1, x2 = A_in[k + 1], A_in[k + 2]
        for i in range(m):
            d, e = dz[i], dy[i]
            s += d
            t += e
            s0 += d * x0[i]
            t0 += e * x0[i]
            s1 += d * x1[i]
            t1 += e * x1[i]
            s2 += d * x2[i]
            t2 += e * x2[i]
    elif count == 4:
        x1, x2, x3 = A_in[k + 1], A_in[k + 2], A_in[k + 3]
        for i in range(m):
            d, e = dz[i], dy[i]
            s += d
            t += e
            s0 += d * x0[i]
            t0 += e * x0[i]
            s1 += d * x1[i]
            t1 += e * x1[i]
            s2 += d * x2[i]
            t2 += e * x2[i]
            s3 += d * x3[i]
            t3 += e * x3[i]
    else:
        x1, x2, x3, x4 = A_in[k + 1], A_in[k + 2], A_in[k + 3], A_in[k + 4]
        for i in range(m):
            d, e = dz[i], dy[i]
            s += d
            t += e
            s0 += d * x0[i]
            t0 += e * x0[i]
            s1 += d * x1[i]
            t1 += e * x1[i]
            s2 += d * x2[i]
            t2 += e * x2[i]
            s3 += d * x3[i]
            t3 += e * x3[i]
            s4 += d * x4[i]
            t4 += e * x4[i]
    g[0], g[1], g[2], g[3], g[4], g[10] = s0, s1, s2, s3, s4, s
    g[5], g[6], g[7], g[8], g[9], g[11] = t0, t1, t2, t3, t4, t


@_jit(lambda f, row, rows, cube: types.void(row, f, _i8))
def _add_bias(z, b, m):
    """``z += b``."""
    for i in range(m):
        z[i] = z[i] + b


@_jit_sum(lambda f, row, rows, cube: types.boolean(row, _i8))
def _logits_diverged(x, n):
    """``sum |x[:n]|`` is beyond the divergence line of x's type or not finite (not :func:`initlab.network.logits_sound`).

    Summed in x's type, as numpy sums: a float32 sum that overflows is inf."""
    s = _like(x, 0.0)
    for q in range(n):
        s += abs(x[q])
    return not s <= _divergence_line(x)  # nan compares False


@_jit(lambda f, row, rows, cube: f(row, _i8, _i8))
def _pairwise_sum(x, start, n):
    """``sum(x[start : start + n])`` in numpy's order (its pairwise summation, ``np.add.reduce``).

    The divergence check sums each model's parameters as :mod:`initlab.training` does: in the
    same order, values large enough to overflow the sum (but each finite) count alike in both
    engines. Eight interleaved sums over blocks of up to 128, halved above.
    """
    if n < 8:
        s = _like(x, 0.0)  # in x's type: a float32 sum overflows where numpy's does
        for i in range(start, start + n):
            s += x[i]
        return s
    if n <= 128:
        r0, r1, r2, r3 = x[start], x[start + 1], x[start + 2], x[start + 3]
        r4, r5, r6, r7 = x[start + 4], x[start + 5], x[start + 6], x[start + 7]
        i = start + 8
        end = start + n - n % 8
        while i < end:
            r0 += x[i]
            r1 += x[i + 1]
            r2 += x[i + 2]
            r3 += x[i + 3]
            r4 += x[i + 4]
            r5 += x[i + 5]
            r6 += x[i + 6]
            r7 += x[i + 7]
            i += 8
        s = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
        while i < start + n:
            s += x[i]
            i += 1
        return s
    half = n // 2
    half -= half % 8
    return _pairwise_sum(x, start, half) + _pairwise_sum(x, start + half, n - half)


@_jit(lambda f, row, rows, cube: _f8(_i8, _i8, rows, rows, _i8, _i8))  # the loss in float64
def _output_loss(output, loss, Z, T, C, m):
    """The recorded loss from the logits Z (C, m): stable BCE / softmax CE, or the notebook's legacy BCE."""
    if output == 0 and loss == 1:  # the notebook's, from probabilities, nansum
        total = 0.0
        for i in range(m):
            a = _sigmoid(Z[0, i])
            term = -np.log(a) * T[0, i] + -np.log(1.0 - a) * (1.0 - T[0, i])
            if not np.isnan(term):
                total += term
        return 1.0 / m * total
    if output == 0:  # max(z, 0) - z y + log(1 + e^{-|z|})
        total = 0.0
        for i in range(m):
            v = Z[0, i]
            total += (max(v, 0.0) - v * T[0, i]) + math.log1p(_exp(-abs(v)))
        return total / m
    lse = 0.0  # softmax: sum_i LSE(z_i) - sum z y
    zy = 0.0
    for i in range(m):
        z_max = Z[0, i]
        for c in range(1, C):
            z_max = max(z_max, Z[c, i])
        s = 0.0
        for c in range(C):
            s += _exp(Z[c, i] - z_max)
            zy += Z[c, i] * T[c, i]
        lse += z_max + math.log(s)
    return (lse - zy) / m


@_jit(lambda f, row, rows, cube: types.void(_i8, rows, rows, _i8, _i8, row, row))
def _output_delta(output, Z, T, C, m, r, s):
    """Overwrite the logits Z (C, m) with ``dZ = (A - T) / m``, A = sigmoid(Z) or softmax over C (r, s: scratch rows)."""
    inv_m = 1.0 / m
    if output == 0 and _is_single(Z):
        z = Z[0]
        t = T[0]
        inv_m_f32 = _like(Z, inv_m)
        for i in range(m):
            z[i] = inv_m_f32 * (_sigmoid_f32(z[i]) - t[i])
        return
    if output == 0:
        z = Z[0]
        t = T[0]
        for i in range(m):
            z[i] = inv_m * (_sigmoid(z[i]) - t[i])
        return
    for i in range(m):  # r = max over classes
        r[i] = Z[0, i]
    for c in range(1, C):
        z = Z[c]
        for i in range(m):
            r[i] = max(r[i], z[i])
    for i in range(m):
        s[i] = 0.0
    for c in range(C):
        z = Z[c]
        if _is_single(Z):
            for i in range(m):
                e = _exp_f32(z[i] - r[i])
                z[i] = e
                s[i] += e
        else:
            for i in range(m):
                e = _exp(z[i] - r[i])
                z[i] = e
                s[i] += e
    for c in range(C):
        z = Z[c]
        t = T[c]
        for i in range(m):
            z[i] = inv_m * (z[i] / s[i] - t[i])


@_jit_sum(lambda f, row, rows, cube: types.void(row, row, rows, _i8, _i8, row, _i8))
def _gradient_block_t(x0, x1, dZ, j, count, g, m):
    """``g[2 q + h] = dZ[j + q] . x_h`` for h < 2 and ``g[10 + q] = sum(dZ[j + q])``, q < count (1..5), in one pass.

    :func:`_gradient_block2` the other way round, for layers fed by one or two rows (the input layer of
    a two-feature data set): five rows of dZ by the two of A share their loads, where two by two would
    load one value per multiply-add (a layer fed by one row passes it as both x0 and x1).
    """
    s0 = s1 = s2 = s3 = s4 = t0 = t1 = t2 = t3 = t4 = u0 = u1 = u2 = u3 = u4 = _like(dZ, 0.0)  # in dZ's type
    d0 = dZ[j]
    d1 = dZ[j + 1] if count > 1 else d0
    d2 = dZ[j + 2] if count > 2 else d0
    d3 = dZ[j + 3] if count > 3 else d0
    d4 = dZ[j + 4] if count > 4 else d0
    if count == 1:
        for i in range(m):
            a, c = x0[i], x1[i]
            e = d0[i]
            s0 += e * a
            t0 += e * c
            u0 += e
    elif count == 2:
        for i in range(m):
            a, c = x0[i], x1[i]
            e = d0[i]
            s0 += e * a
            t0 += e * c
            u0 += e
            e = d1[i]
            s1 += e * a
            t1 += e * c
            u1 += e
    elif count == 3:
        for i in range(m):
            a, c = x0[i], x1[i]
            e = d0[i]
            s0 += e * a
            t0 += e * c
            u0 += e
            e = d1[i]
            s1 += e * a
            t1 += e * c
            u1 += e
            e = d2[i]
            s2 += e * a
            t2 += e * c
            u2 += e
    elif count == 4:
        for i in range(m):
            a, c = x0[i], x1[i]
            e = d0[i]
            s0 += e * a
            t0 += e * c
            u0 += e
            e = d1[i]
            s1 += e * a
            t1 += e * c
            u1 += e
            e = d2[i]
            s2 += e * a
            t2 += e * c
            u2 += e
            e = d3[i]
            s3 += e * a
            t3 += e * c
            u3 += e
    else:
        for i in range(m):
            a, c = x0[i], x1[i]
            e = d0[i]
            s0 += e * a
            t0 += e * c
            u0 += e
            e = d1[i]
            s1 += e * a
            t1 += e * c
            u1 += e
            e = d2[i]
            s2 += e * a
            t2 += e * c
            u2 += e
            e = d3[i]
            s3 += e * a
            t3 += e * c
            u3 += e
            e = d4[i]
            s4 += e * a
            t4 += e * c
            u4 += e
    g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7], g[8], g[9] = s0, t0, s1, t1, s2, t2, s3, t3, s4, t4
    g[10], g[11], g[12], g[13], g[14] = u0, u1, u2, u3, u4


@_jit(lambda f, row, rows, cube: types.void(row, row, f, types.boolean, _i8, _i8, _i8, _i8, rows, rows, _i8, row))
def _gradient(out, theta, alpha, descend, w_at, b_at, n, p, dZ, A_in, m, g):
    r"""``dW = dZ A_in^T`` of one layer into ``out`` (P,) at ``w_at``, and ``db = sum_i dZ`` at ``b_at`` (-1: no bias).

    With ``descend``, ``out`` gets the gd step ``theta - alpha d`` instead, written in the same pass
    (full-batch gd, :func:`_train_one`). Blocks of two rows of dZ by up to five rows of A_in share
    their loads, or up to five rows of dZ by A_in's one or two (:func:`_gradient_block_t`; notebook's
    network, 1 thread, interleaved A/B: +6-8%); g : scratch of 15. :mod:`initlab.kernels_residual`
    uses it for its layers too (branch biases are a group of their own; Fixup's branches have none).
    """
    j = 0
    if p <= 2 < n:
        x0, x1 = A_in[0], A_in[p - 1]
        while j < n:
            count = _pass_size(n - j)
            _gradient_block_t(x0, x1, dZ, j, count, g, m)
            for q in range(count):
                at = w_at + (j + q) * p
                for h in range(p):
                    out[at + h] = theta[at + h] - alpha * g[2 * q + h] if descend else g[2 * q + h]
                if b_at >= 0:
                    at = b_at + j + q
                    out[at] = theta[at] - alpha * g[10 + q] if descend else g[10 + q]
            j += count
        return
    while j < n:
        rows = min(2, n - j)
        k = 0
        while k < p:
            count = _pass_size(p - k)
            if rows == 2:
                _gradient_block2(dZ[j], dZ[j + 1], A_in, k, count, g, m)
            else:
                _gradient_block1(dZ[j], A_in, k, count, g, m)
            for h in range(rows):
                at = w_at + (j + h) * p + k
                for q in range(count):
                    out[at + q] = theta[at + q] - alpha * g[5 * h + q] if descend else g[5 * h + q]
            k += count
        if b_at >= 0:  # db, from the last block's sums
            for h in range(rows):
                at = b_at + j + h
                out[at] = theta[at] - alpha * g[10 + h] if descend else g[10 + h]
        j += rows


@_jit(types.void(_row, _i8, _i8, _i8, _rows, _rows, _i8, _f8), inline="always")
def _product(theta, at, n, p, A_in, out, m, floor):
    """``out[:n] = max(W A_in + b, floor)`` for W (n, p) at ``theta[at:]`` and b (n,) after it: two output rows a
    pass (:func:`_matvec_rows2`), the bias added and the floor applied in the last (relu's 0, else -inf)."""
    b_at = at + n * p
    for j in range(0, n - 1, 2):
        _matvec_rows2(out[j], out[j + 1], theta, at + j * p, p, 1, p, A_in, m, theta[b_at + j], theta[b_at + j + 1],
                      floor, out[j], out[j], False)  # fmt: skip
    if n % 2:
        _matvec_rows(out[n - 1], theta, at + (n - 1) * p, 1, p, A_in, m, theta[b_at + n - 1], floor, out[0], False)


@_jit(types.void(_row, _i8, _i8, _i8, _rows, _rows, _rows, _i8, _row, _row, _i8), inline="always")
def _propagate(theta, at, n, p, dZ, A_prev, D_prev, hidden, r, s, m):
    r"""dZ of the layer below, :math:`(W^T dZ) \odot g'(Z)`, into ``D_prev`` (p, m), for W (n, p) at ``theta[at:]``.

    Two of W's columns a pass; relu's g' (``A_prev > 0``) is applied in the pass's last terms, the other
    activations' by :func:`_chain` after it, from the scratch rows r, s (g' from ``A_prev`` or ``D_prev``).
    """
    if hidden == 0:
        for q in range(0, p - 1, 2):
            _matvec_rows2(D_prev[q], D_prev[q + 1], theta, at + q, 1, p, n, dZ, m, 0.0, 0.0, -np.inf, A_prev[q],
                          A_prev[q + 1], True)  # fmt: skip
        if p % 2:
            _matvec_rows(D_prev[p - 1], theta, at + p - 1, p, n, dZ, m, 0.0, -np.inf, A_prev[p - 1], True)
        return
    for q in range(0, p - 1, 2):
        _matvec_rows2(r, s, theta, at + q, 1, p, n, dZ, m, 0.0, 0.0, -np.inf, r, s, False)
        _chain(hidden, r, A_prev[q], D_prev[q], m)
        _chain(hidden, s, A_prev[q + 1], D_prev[q + 1], m)
    if p % 2:
        _matvec_rows(r, theta, at + p - 1, p, n, dZ, m, 0.0, -np.inf, r, False)
        _chain(hidden, r, A_prev[p - 1], D_prev[p - 1], m)


@_jit(lambda f, row, rows, cube: types.void(row, rows, cube, cube, rows, _ints, _ints, _i8, f, _i8))
def _forward(theta, X, A, D, Z, layers, w_at, hidden, slope, m):
    r"""The logits ``Z[:, :m]`` of the examples ``X[:, :m]``: :math:`A^{[l]} = g(W^{[l]} A^{[l-1]} + b^{[l]})`, then :math:`W^{[L]} A^{[L-1]} + b^{[L]}`.

    A, D : (L - 1, width, >= m) hidden activations and ``g'`` where :func:`_activate` stores it; Z : (n_L, >= m).
    The bias, and relu itself (a floor of 0), are applied in the product's last pass; other activations after it.
    """
    L = layers.shape[0] - 1
    A_in = X
    for l in range(L - 1):
        n, p = layers[l + 1], layers[l]
        _product(theta, w_at[l], n, p, A_in, A[l], m, 0.0 if hidden == 0 else -np.inf)
        if hidden != 0 and hidden != 4:  # relu done, linear is the identity
            for j in range(n):
                _activate(hidden, slope, A[l, j], 0.0, D[l, j], m)
        A_in = A[l]
    p, C = layers[L - 1], layers[L]
    _product(theta, w_at[L - 1], C, p, A_in, Z, m, -np.inf)


@_jit(lambda f, row, rows, cube: types.void(row, row, f, types.boolean, rows, rows, cube, cube, rows, _ints, _ints, _i8, _i8, _i8, row,
                 row, row))  # fmt: skip
def _backward(theta, out, alpha, descend, X, T, A, D, Z, layers, w_at, hidden, output, m, r, s, g):
    r"""The gradient (P,) into ``out``, after :func:`_forward` on the same ``X[:, :m]``; Z becomes dZ of the output.

    :math:`dZ^{[L]} = \tfrac1m (A^{[L]} - T)`, :math:`dW^{[l]} = dZ^{[l]} A^{[l-1]T}`,
    :math:`dZ^{[l-1]} = (W^{[l]T} dZ^{[l]}) \odot g'(Z^{[l-1]})` (into D). With ``descend``, ``out`` gets
    the gd step :math:`\theta - \alpha\, d\theta` instead, written in the gradient's pass (:func:`_gradient`).
    r, s : scratch rows (>= m); g : scratch of 15
    """
    L = layers.shape[0] - 1
    _output_delta(output, Z, T, layers[L], m, r, s)
    dZ = Z
    for l in range(L - 1, -1, -1):
        n, p = layers[l + 1], layers[l]
        A_prev = A[l - 1] if l > 0 else X
        _gradient(out, theta, alpha, descend, w_at[l], w_at[l] + n * p, n, p, dZ, A_prev, m, g)  # b follows W
        if l > 0:  # dZ[l-1] = (W^T dZ) * g'(Z[l-1]), into D[l-1]
            _propagate(theta, w_at[l], n, p, dZ, A_prev, D[l - 1], hidden, r, s, m)
            dZ = D[l - 1]


@_jit(lambda f, row, rows, cube: types.void(_i8, row, row, row, row, row, row, row, row, f, f))
def _update(rule, theta, proposed, grad, alpha, epsilon, v, s, hyper, c1, c2):
    r"""One update of one model into ``proposed`` (P,), in :mod:`initlab.optimizers`' arithmetic order.

    rule 0 (gd, sgd): :math:`\theta - \alpha g`; 1 (momentum, ``hyper = (\beta, 1 - \beta)``):
    :math:`v \leftarrow \beta v + (1 - \beta) g`, :math:`\theta - \alpha v`; 2 (adam, ``hyper =
    (\beta_1, 1 - \beta_1, \beta_2, 1 - \beta_2)``, ``c1, c2`` = :math:`1 - \beta_{1,2}^t`):
    :math:`\theta - \alpha \frac{v / c_1}{\sqrt{s / c_2} + \varepsilon}`. alpha, epsilon : (P,) per
    parameter; v, s : the rule's state rows, updated in place. Each operation rounds as numpy's
    (no fused multiply-add), so given the same gradient the update is numpy's to the bit.
    """
    P = theta.shape[0]
    if rule == 0:
        for q in range(P):
            proposed[q] = theta[q] - alpha[q] * grad[q]
    elif rule == 1:
        beta, keep = hyper[0], hyper[1]
        for q in range(P):
            velocity = v[q] * beta + grad[q] * keep
            v[q] = velocity
            proposed[q] = theta[q] - alpha[q] * velocity
    else:
        beta1, keep1, beta2, keep2 = hyper[0], hyper[1], hyper[2], hyper[3]
        for q in range(P):
            d = grad[q]
            first = v[q] * beta1 + d * keep1
            second = s[q] * beta2 + (d * d) * keep2
            v[q] = first
            s[q] = second
            proposed[q] = theta[q] - (alpha[q] * (first / c1)) / (np.sqrt(second / c2) + epsilon[q])


@_jit(lambda f, row, rows, cube: types.void(rows, rows, rows, rows, _ints, _i8, _i8))
def _gather(Xb, Tb, X, T, order, at, b):
    """The minibatch ``X[:, order[at : at + b]]``, ``T[:, ...]`` into the first b columns of Xb, Tb."""
    for c in range(X.shape[0]):
        for q in range(b):
            Xb[c, q] = X[c, order[at + q]]
    for c in range(T.shape[0]):
        for q in range(b):
            Tb[c, q] = T[c, order[at + q]]


@_jit_sum(lambda f, row, rows, cube: types.boolean(rows, _i8, _i8))
def _logits_diverged_rows(Z, C, m):
    """``sum |Z[:C, :m]|`` is beyond the divergence line or not finite (:func:`_logits_diverged` on rows)."""
    total = _like(Z, 0.0)
    for c in range(C):
        row = Z[c]
        for i in range(m):
            total += abs(row[i])
    return not total <= _divergence_line(Z)  # nan compares False


@_jit(lambda f, row, rows, cube: _i8(row, rows, rows, f, _ints, _ints, _i8, f, _i8, _i8, _i8, _i8, _i8, _row), nrt=True)
def _train_one(theta, X, T, alpha, layers, w_at, hidden, slope, output, loss, start, stop, record_every, losses):
    """Full-batch gradient descent at one rate for all parameters: :func:`_train_model`'s special case, fused.

    The same arithmetic as :func:`_train_model` with rule 0, no minibatch and factors of 1 (the
    update written during the gradient's pass, :func:`_gradient` with ``descend``, instead of a gradient row and
    :func:`_update`): on the notebook's network the general loop measured 4% below this one, so the
    default run keeps it (``tests/test_kernels_optimizers.py`` checks both give the same bits).
    Trains ``theta`` (P,) in place from iteration ``start`` to ``stop``; returns ``diverged_at`` (-1 if not).

    X : (n_0, m); T : (n_L, m) targets; alpha : its learning rate
    layers : (L + 1,) units; w_at : (L,) offset of W{l+1} in ``theta`` (b{l+1} follows it)
    hidden, output, loss : codes of _HIDDEN, _OUTPUT, _LOSS
    losses : (n_records,) written at ``i // record_every`` for ``i % record_every == 0``
    """
    P = theta.shape[0]
    m = X.shape[1]
    L = layers.shape[0] - 1
    C = layers[L]
    width = 1
    for l in range(1, L + 1):
        width = max(width, layers[l])
    # this model's buffers, for its whole run
    current = theta.copy()  # (P,)
    proposed = np.empty(P, theta.dtype)  # (P,) the update, kept only if finite
    A = np.empty((max(L - 1, 1), width, m), theta.dtype)  # hidden activations
    D = np.empty((max(L - 1, 1), width, m), theta.dtype)  # g'(Z), then dZ
    logits = np.empty(C * m, theta.dtype)
    Z_L = logits.reshape((C, m))  # logits, then dZ of the output
    r = np.empty(m, theta.dtype)
    s = np.empty(m, theta.dtype)
    g = np.empty(15, theta.dtype)  # one block of dW, db
    diverged_at = -1
    for i in range(start, stop):
        _forward(current, X, A, D, Z_L, layers, w_at, hidden, slope, m)
        if _logits_diverged(logits, C * m):  # logits: frozen at the parameters of the start of i
            diverged_at = i
            break
        if i % record_every == 0:
            losses[i // record_every] = _output_loss(output, loss, Z_L, T, C, m)
        _backward(current, proposed, alpha, True, X, T, A, D, Z_L, layers, w_at, hidden, output, m, r, s, g)
        if not np.isfinite(_pairwise_sum(proposed, 0, P)):  # the update: frozen before it
            diverged_at = i
            break
        current, proposed = proposed, current
    for q in range(P):  # (a loop: numba's slice assignment costs seconds of compilation)
        theta[q] = current[q]
    return diverged_at


@_jit(lambda f, row, rows, cube: _i8(row, row, row, rows, rows, _ints2, _f8, _row, row, _i8, row, rows, _ints, _ints, _i8,
                                     f, _i8, _i8, _i8, _i8, _i8, _i8, _i8, _i8, _row), nrt=True)  # fmt: skip
def _train_model(theta, v, s, X, T, order, lr, factors, epsilon, rule, hyper, bias, layers, w_at, hidden, slope,
                 output, loss, start, stop, record_every, batch, n_batches, first_epoch, losses):  # fmt: skip
    """Train one model, ``theta`` (P,) in place, from iteration ``start`` to ``stop``; returns ``diverged_at`` (-1 if not).

    theta, v, s : (P,) parameters and the rule's state (v, s: (0,) when it keeps none), updated in place
    X : (n_0, m); T : (n_L, m) targets; lr : its learning rate; factors, epsilon : (P,) per parameter
    rule, hyper, bias : :func:`_update`'s; bias : (stop - start, 2) Adam's ``1 - beta^t`` of each iteration
    layers : (L + 1,) units; w_at : (L,) offset of W{l+1} in ``theta`` (b{l+1} follows it)
    hidden, output, loss : codes of _HIDDEN, _OUTPUT, _LOSS
    batch : B, or 0 for the full batch; n_batches : ceil(m / B)
    order : (E, m) permutations of epochs first_epoch, first_epoch + 1, ... (minibatch i: ``order[i // n_batches -
        first_epoch, j B : (j + 1) B]``, j = i % n_batches, the last one shorter)
    losses : (n_records,) written at ``i // record_every`` for ``i % record_every == 0`` (the whole training set's)
    """
    P = theta.shape[0]
    m = X.shape[1]
    L = layers.shape[0] - 1
    C = layers[L]
    width = 1
    for l in range(1, L + 1):
        width = max(width, layers[l])
    # this model's buffers, for its whole run
    current = theta.copy()  # (P,)
    proposed = np.empty(P, theta.dtype)  # (P,) the update, kept only if finite
    grad = np.empty(P, theta.dtype)
    alpha = np.empty(P, theta.dtype)  # the learning rate of each parameter, lr * factor as numpy's (K, 1) * (P,)
    for q in range(P):
        alpha[q] = lr * factors[q]
    A = np.empty((max(L - 1, 1), width, m), theta.dtype)  # hidden activations (minibatches use the first columns)
    D = np.empty((max(L - 1, 1), width, m), theta.dtype)  # g'(Z), then dZ
    Z = np.empty((C, m), theta.dtype)  # logits, then dZ of the output
    Xb = np.empty((X.shape[0], max(batch, 1)), theta.dtype)
    Tb = np.empty((C, max(batch, 1)), theta.dtype)
    r = np.empty(m, theta.dtype)
    r2 = np.empty(m, theta.dtype)
    g = np.empty(15, theta.dtype)  # one block of dW, db
    diverged_at = -1
    for i in range(start, stop):
        Xi, Ti, mi = X, T, m
        record = i % record_every == 0
        value = np.nan
        if batch > 0:
            if record:  # the loss of the whole training set, as with gd; its logits must be sound too
                _forward(current, X, A, D, Z, layers, w_at, hidden, slope, m)
                if _logits_diverged_rows(Z, C, m):
                    diverged_at = i
                    break
                value = _output_loss(output, loss, Z, T, C, m)
            j = i % n_batches
            mi = min(batch, m - j * batch)
            _gather(Xb, Tb, X, T, order[i // n_batches - first_epoch], j * batch, mi)
            Xi, Ti = Xb, Tb
        _forward(current, Xi, A, D, Z, layers, w_at, hidden, slope, mi)
        if _logits_diverged_rows(Z, C, mi):  # logits: frozen at the parameters of the start of i
            diverged_at = i
            break
        if record:
            losses[i // record_every] = value if batch > 0 else _output_loss(output, loss, Z, T, C, m)
        _backward(current, grad, 0.0, False, Xi, Ti, A, D, Z, layers, w_at, hidden, output, mi, r, r2, g)
        c1 = bias[i - start, 0] if rule == 2 else 1.0
        c2 = bias[i - start, 1] if rule == 2 else 1.0
        _update(rule, current, proposed, grad, alpha, epsilon, v, s, hyper, c1, c2)
        if not np.isfinite(_pairwise_sum(proposed, 0, P)):  # the update: frozen before it
            diverged_at = i
            break
        current, proposed = proposed, current
    for q in range(P):  # (a loop: numba's slice assignment costs seconds of compilation)
        theta[q] = current[q]
    return diverged_at


@njit(parallel=True, fastmath=False, cache=True, error_model="numpy")
def _train_models(theta, v, s, X, T, orders, lr, factors, epsilon, rule, hyper, bias, layers, hidden, slope, output,
                  loss, start, stop, record_every, batch, n_batches, first_epoch, losses, diverged_at, fused):  # fmt: skip
    """:func:`_train_model` (or, when ``fused``, :func:`_train_one`) for every model k with ``diverged_at[k] < 0``, one model per thread.

    theta : (K, P), overwritten with the final (or last finite) parameters; v, s : (K, P) or (K, 0)
    orders : (K, E, m) or (K, 0, 0); lr : (K,); losses : (K, n_records); diverged_at : (K,) int64,
    written for models that diverge
    """
    L = layers.shape[0] - 1
    w_at = np.zeros(L, dtype=np.int64)  # offset of W{l+1} in a row; b{l+1} follows it
    for l in range(1, L):
        w_at[l] = w_at[l - 1] + layers[l] * (layers[l - 1] + 1)
    for k in prange(theta.shape[0]):
        if diverged_at[k] < 0 and fused:
            diverged_at[k] = _train_one(theta[k], X, T, lr[k], layers, w_at, hidden, slope, output, loss, start, stop,
                                        record_every, losses[k])  # fmt: skip
        elif diverged_at[k] < 0:
            diverged_at[k] = _train_model(theta[k], v[k], s[k], X, T, orders[k], lr[k], factors, epsilon, rule, hyper,
                                          bias, layers, w_at, hidden, slope, output, loss, start, stop, record_every,
                                          batch, n_batches, first_epoch, losses[k])  # fmt: skip


# --------------------------------------------------------------------------------------------
# Python entry points
# --------------------------------------------------------------------------------------------
def train_flat(
    net: MLP,
    theta: np.ndarray,
    X: np.ndarray,
    T: np.ndarray,
    learning_rate: np.ndarray,
    *,
    start: int,
    stop: int,
    record_every: int,
    loss: str,
    losses: np.ndarray,
    diverged_at: np.ndarray,
    optimizer=None,
    opt_state: tuple = (),
    lr_factors: np.ndarray | None = None,
    epsilon_factors: np.ndarray | None = None,
    batch_size: int | None = None,
    orders: np.ndarray | None = None,
    first_epoch: int = 0,
    threads: int | None = None,
) -> None:
    r"""Iterations ``start .. stop - 1`` of any compiled optimizer on validated inputs, in place (the inner entry point).

    What :meth:`initlab.state.TrainingState.advance` does, on the same arrays: models with
    ``diverged_at >= 0`` are skipped; the others are trained from ``theta`` (and their optimizer
    state) and either finish or freeze. Calling it for consecutive segments equals one call.

    Parameters
    ----------
    net : MLP (see :func:`supported`)
    theta : (K, P) float64 or float32 C-contiguous, layout W1, b1, W2, ... (``layer_views``); overwritten.
        Its type is the run's: X, T, the optimizer's state, its options and Adam's epsilons are taken in it
        (rounded once from float64); float32 compiles the kernel's float32 form on first use (about a minute).
    X : (n_0, m); T : (n_L, m) targets (one-hot for softmax), as ``MLP.check_data`` gives
    learning_rate : (K,) float64
    start, stop : iteration range (Adam's step counter is ``t = i + 1``)
    record_every : the loss of the whole training set is written at iterations ``i % record_every == 0``
    loss : {"stable", "legacy"}
    losses : (K, n_records) float64, written at ``[k, i // record_every]``; leave nan-filled
    diverged_at : (K,) int64, -1 while training; written with the iteration of divergence
    optimizer : Optimizer, optional
        gd (default), sgd, momentum or adam (:mod:`initlab.optimizers`; read through its name and options).
    opt_state : tuple of (K, P) C-contiguous arrays of theta's type
        The optimizer's state, ``()``, ``(v,)`` or ``(v, s)`` (:meth:`~initlab.optimizers.Optimizer.init_state`); updated in place.
    lr_factors : (P,) float64, optional
        A parametrization's learning-rate factors: parameter p of model k trains at ``learning_rate[k] * lr_factors[p]``.
    epsilon_factors : (P,) float64, optional
        Adam's epsilon factors (:func:`initlab.optimizers.with_epsilon_factors`): epsilon ``* epsilon_factors[p]``.
    batch_size : int, optional
        B examples per update; None: the full batch. With it, ``orders`` is required.
    orders : (K, E, m) int64
        ``orders[k, e]``: model k's permutation of the examples for epoch ``first_epoch + e``;
        iteration i takes ``orders[k, i // n - first_epoch, j B : (j + 1) B]``, ``j = i % n``,
        ``n = ceil(m / B)`` (:meth:`initlab.state.TrainingState.minibatch_orders` draws them).
    first_epoch : int
    threads : int, optional
        Threads for this call (default: numba's, the number of cores); restored afterwards.
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
    shape = (np.asarray(net.layers, dtype=np.int64), _HIDDEN[net.activation], float(net.slope), _OUTPUT[net.output])
    step = _BIAS_CHUNK if rule == 2 else max(stop - start, 1)
    fused = rule == 0 and B == 0 and bool(np.all(arrays[4] == 1.0))  # the default run (factors of 1): _train_one
    try:
        for a in range(start, stop, step):
            b = min(a + step, stop)
            bias = _bias_table(optimizer, rule, a, b, theta.dtype)
            _train_models(theta, *state, *arrays, rule, hyper, bias, *shape, _LOSS[loss], int(a), int(b),
                          int(record_every), B, n_batches, int(first_epoch), losses, diverged_at, fused)  # fmt: skip
    finally:
        numba.set_parallel_chunksize(chunk)
        numba.set_num_threads(previous)


def gd_flat(net: MLP, theta: np.ndarray, X: np.ndarray, T: np.ndarray, learning_rate: np.ndarray, *, start: int,
            stop: int, record_every: int, loss: str, losses: np.ndarray, diverged_at: np.ndarray,
            threads: int | None = None) -> None:  # fmt: skip
    """Full-batch gradient descent: :func:`train_flat` with its defaults (one learning rate per model)."""
    train_flat(net, theta, X, T, learning_rate, start=start, stop=stop, record_every=record_every, loss=loss,
               losses=losses, diverged_at=diverged_at, threads=threads)  # fmt: skip


def advance(state, n: int, *, threads: int | None = None) -> None:
    """Run ``n`` iterations of a :class:`initlab.state.TrainingState` with the compiled kernel (not past its end).

    The same computation as ``state.advance(n)`` (within rounding; see the module docstring), on
    the state's own arrays: ``theta``, ``opt_state``, ``losses`` and ``diverged_at`` are written in
    place, the minibatch streams are drawn as the numpy engine draws them
    (:meth:`~initlab.state.TrainingState.minibatch_orders`) and ``iteration`` moves on, so the two
    engines can take turns on one state. ``threads`` as in :func:`train_flat`.
    """
    reason = supported(state.net, state.loss, state.optimizer)
    if reason is not None:
        raise ValueError(f"kernels.advance cannot train this state: {reason}. Advance it with state.advance (numpy).")
    advance_segments(state, n, train_flat, threads)


def advance_segments(state, n: int, train, threads: int | None) -> None:
    """The loop of a compiled engine's ``advance``: ``n`` iterations of ``state`` (not past its end) in calls of ``train``.

    ``train``: a ``train_flat`` (this module's or :mod:`initlab.kernels_residual`'s), called on the
    state's arrays. With minibatches each call takes as many whole epochs as keep their permutations
    within ``_ORDER_BUDGET``, drawn by :meth:`~initlab.state.TrainingState.minibatch_orders` into one
    buffer kept across the calls; the loop stops early once every model has diverged.
    """
    start = state.iteration
    stop = min(start + n, state.iterations)
    B = state.batch_size
    K, m = state.theta.shape[0], state.X.shape[1]
    # iterations per call: with minibatches, as many whole epochs as keep the permutations within the budget
    step = max(stop - start, 1) if B is None else max(1, _ORDER_BUDGET // (K * m)) * state.batches_per_epoch
    # one buffer for every call's permutations (a fresh 32 MB each call cost more in page faults than the drawing)
    epochs = -(-min(step, max(stop - start, 1)) // state.batches_per_epoch) + 1  # + the one begun before
    buffer = None if B is None else np.empty(K * epochs * m, dtype=np.int64)
    for a in range(start, stop, step):
        if (state.diverged_at >= 0).all():  # nothing left to train (numpy's engine stops drawing minibatches too)
            break
        b = min(a + step, stop)
        first_epoch, orders = state.minibatch_orders(a, b, buffer) if B is not None else (0, None)
        train(state.net, state.theta, state.X, state.T, state.learning_rate, start=a, stop=b,
              record_every=state.record_every, loss=state.loss, losses=state.losses,
              diverged_at=state.diverged_at, optimizer=state.optimizer, opt_state=state.opt_state,
              lr_factors=state.learning_rate_factors, epsilon_factors=state.epsilon_factors, batch_size=B,
              orders=orders, first_epoch=first_epoch, threads=threads)  # fmt: skip
    state.iteration = max(start, stop)


def max_threads() -> int:
    """The most threads the kernel can run on here (numba's ``NUMBA_NUM_THREADS``, the number of cores by default)."""
    return numba.config.NUMBA_NUM_THREADS


def warm_up() -> float:
    """Compile (or load from numba's cache) the kernel on a tiny problem; returns the seconds it took."""
    begin = time.perf_counter()
    net = MLP((2, 3, 1))
    theta = np.zeros((1, parameter_count(net.layers)))
    gd_flat(net, theta, np.zeros((2, 4)), np.zeros((1, 4)), np.ones(1), start=0, stop=1, record_every=1,
            loss="stable", losses=np.full((1, 1), np.nan), diverged_at=np.full(1, -1, dtype=np.int64))  # fmt: skip
    return time.perf_counter() - begin


def _rule(optimizer) -> tuple[int, np.ndarray]:
    """The kernel's code of an optimizer and its ``hyper`` row (the ``1 - beta`` in Python's arithmetic, as optimizers')."""
    options = dict(optimizer.options)
    rule = _OPTIMIZER[optimizer.name]
    if rule == 1:
        return rule, np.array([options["beta"], 1 - options["beta"]])
    if rule == 2:
        beta1, beta2 = options["beta1"], options["beta2"]
        return rule, np.array([beta1, 1 - beta1, beta2, 1 - beta2])
    return rule, np.zeros(1)


def _kernel_inputs(optimizer, theta, X, T, learning_rate, opt_state, lr_factors, epsilon_factors, batch_size, orders,
                   first_epoch: int, start: int, stop: int) -> tuple:  # fmt: skip
    """``(rule, hyper, (v, s), (X, T, orders, learning_rate, factors, epsilon), B, n_batches)`` for a compiled
    engine's kernel (this module's or :mod:`initlab.kernels_residual`'s), checked, in the type of ``theta``.

    float32 runs: X, T, the optimizer's options and Adam's epsilons (``epsilon * factor`` computed in float64)
    rounded once to float32, as the numpy engine rounds them; the learning rates and their factors stay float64
    (the kernel rounds ``lr * factor`` once); the kernel's float32 forms are compiled on first use.
    """
    K, P = theta.shape
    dtype = theta.dtype
    rule, hyper = _rule(optimizer)
    state = _check_state(optimizer, opt_state, K, P, dtype)
    factors = _check_row("lr_factors", lr_factors, P)
    epsilon = dict(optimizer.options).get("epsilon", 1.0) * _check_row("epsilon_factors", epsilon_factors, P)
    B, n_batches, orders = _check_orders(batch_size, orders, first_epoch, start, stop, K, np.shape(X)[1])
    if dtype == np.float32:
        _compile_float32()
    arrays = (np.ascontiguousarray(X, dtype=dtype), np.ascontiguousarray(T, dtype=dtype), orders,
              np.ascontiguousarray(learning_rate, dtype=np.float64), factors, epsilon.astype(dtype))  # fmt: skip
    return rule, hyper.astype(dtype), state, arrays, B, n_batches


def _bias_table(optimizer, rule: int, start: int, stop: int, dtype) -> np.ndarray:
    """Adam's bias corrections 1 - beta^t for iterations ``start .. stop - 1`` (:func:`_bias_corrections`, in Python's
    arithmetic as optimizers computes them, then rounded to ``dtype``), or a (1, 2) stand-in for the other rules."""
    return (_bias_corrections(optimizer, start, stop) if rule == 2 else np.ones((1, 2))).astype(dtype)


def _bias_corrections(optimizer, start: int, stop: int) -> np.ndarray:
    """(stop - start, 2): Adam's ``1 - beta1**t``, ``1 - beta2**t`` for ``t = start + 1 .. stop``, as Python computes them."""
    options = dict(optimizer.options)
    beta1, beta2 = options["beta1"], options["beta2"]
    return np.array([(1 - beta1**t, 1 - beta2**t) for t in range(start + 1, stop + 1)], dtype=np.float64)


def _buffer(a, dtype) -> bool:
    return isinstance(a, np.ndarray) and a.dtype == dtype and a.flags.c_contiguous and a.flags.writeable


def _check_state(optimizer, opt_state, K: int, P: int, dtype) -> tuple[np.ndarray, np.ndarray]:
    """``(v, s)`` for the kernel from the optimizer's state arrays (of ``dtype``, theta's); (K, 0) stand-ins for those
    it does not keep."""
    opt_state = tuple(opt_state)
    size = optimizer.state_size
    if len(opt_state) != size or not all(_buffer(a, dtype) and a.shape == (K, P) for a in opt_state):
        shapes = [(getattr(a, "dtype", None), np.shape(a)) for a in opt_state]
        raise ValueError(f"train_flat: 'opt_state' must be {size} writeable C-contiguous {dtype} ({K}, {P}) arrays for "
                         f"{optimizer!r} (Optimizer.init_state); got {shapes}.")  # fmt: skip
    none = np.empty((K, 0), dtype)
    return (opt_state + (none, none))[:2]


def _check_row(name: str, row, P: int) -> np.ndarray:
    """A (P,) float64 row of per-parameter factors; ones when None."""
    if row is None:
        return np.ones(P)
    if np.shape(row) != (P,):
        raise ValueError(f"train_flat: '{name}' must be ({P},), one factor per parameter; got {np.shape(row)}.")
    return np.ascontiguousarray(row, dtype=np.float64)


def _check_orders(batch_size, orders, first_epoch: int, start: int, stop: int, K: int, m: int):
    """``(B, n_batches, orders)`` for the kernel: B = 0 and empty orders for the full batch; the minibatch
    permutations checked to cover every iteration and to index the m examples (the kernel does not check)."""
    if batch_size is None:
        return 0, 1, np.empty((K, 0, 0), dtype=np.int64)
    B = int(batch_size)
    n = -(-m // B) if 1 <= B <= m else 0
    epochs = (stop - 1) // n - first_epoch + 1 if n and stop > start else 0
    ok = (
        n > 0
        and 0 <= first_epoch <= start // n
        and isinstance(orders, np.ndarray)
        and orders.dtype == np.int64
        and orders.flags.c_contiguous
        and orders.ndim == 3
        and orders.shape[0] == K
        and orders.shape[1] >= epochs
        and orders.shape[2] == m
        and (orders.size == 0 or (orders.min() >= 0 and orders.max() < m))
    )
    if not ok:
        raise ValueError(
            f"train_flat: with batch_size={batch_size!r} (1 to {m}) 'orders' must be a C-contiguous int64 ({K}, >= "
            f"{epochs}, {m}) array of example indices covering epochs {first_epoch} to {first_epoch + epochs - 1}; got "
            f"{getattr(orders, 'dtype', None)} {np.shape(orders)} (TrainingState.minibatch_orders draws them)."
        )
    return B, n, orders


def _check_buffers(net, theta, X, T, learning_rate, start, stop, record_every, losses, diverged_at) -> None:
    """The shapes and dtypes :func:`train_flat` relies on: the kernel does not check its indices."""
    P = parameter_count(net.layers)
    K = theta.shape[0] if theta.ndim == 2 else -1
    n_records = -(-stop // record_every) if record_every >= 1 else 0
    buffer = _buffer
    problems = [
        (
            (buffer(theta, np.float64) or buffer(theta, np.float32)) and theta.shape == (K, P),
            f"'theta' must be a writeable C-contiguous float64 or float32 (K, {P})"
            f" array (trained in place); got {getattr(theta, 'dtype', None)} {np.shape(theta)}",
        ),
        (np.ndim(X) == 2 and np.shape(X)[0] == net.layers[0], f"'X' must be ({net.layers[0]}, m); got {np.shape(X)}"),
        (np.shape(T) == (net.layers[-1], np.shape(X)[-1]), f"'T' must be ({net.layers[-1]}, m); got {np.shape(T)}"),
        (np.shape(learning_rate) == (K,), f"'learning_rate' must be ({K},); got {np.shape(learning_rate)}"),
        (
            0 <= start <= stop and record_every >= 1,
            f"need 0 <= start <= stop, record_every >= 1; got {start}, {stop}, {record_every}",
        ),
        (
            buffer(losses, np.float64) and losses.ndim == 2 and losses.shape[0] == K and losses.shape[1] >= n_records,
            f"'losses' must be a C-contiguous float64 (K, >= {n_records}) array; got {getattr(losses, 'dtype', None)} {np.shape(losses)}",
        ),
        (
            buffer(diverged_at, np.int64) and diverged_at.shape == (K,),
            f"'diverged_at' must be a C-contiguous int64 ({K},) array; got {getattr(diverged_at, 'dtype', None)} {np.shape(diverged_at)}",
        ),
    ]
    for ok, message in problems:
        if not ok:
            raise ValueError(f"train_flat: {message}.")
