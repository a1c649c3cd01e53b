r"""Many epochs of permutations from numpy's PCG64 streams at once, bit for bit what ``Generator.permutation`` draws.

The minibatch order of model k in each epoch is ``streams[k].permutation(m)`` (:mod:`initlab.state`).
numpy costs about 5.5 µs a call at m = 300, which a compiled engine running a minibatch
iteration in a fraction of that cannot hide: drawing the orders took 21-40% of a compiled
minibatch run (K = 64-256, batch 64). :func:`permutations` draws E epochs of K streams in one
compiled loop instead, on a copy of each stream's state, and writes the states back, so the
streams end exactly where E calls of ``permutation`` per stream would leave them and the numpy
engine, which draws epoch by epoch, can take over at any point.

What is reproduced (numpy 1.17+ ``Generator`` over ``PCG64``, unchanged through numpy 2.x):

* PCG64's step, a 128-bit linear congruence :math:`s \leftarrow s a + c \bmod 2^{128}`
  (:math:`a` = ``0x2360ED051FC65DA4_4385DF649FCCF645``, :math:`c` the stream's increment), then
  the XSL-RR output of the new state, :math:`\mathrm{rotr}_{64}(s_{hi} \oplus s_{lo}, s_{hi} \gg 58)`;
* ``next_uint32``: the low half of a 64-bit output, the high half kept for the next call
  (``has_uint32``, ``uinteger`` in the state);
* ``random_interval(max)``: the smallest all-ones mask covering ``max``, then 32-bit draws
  (64-bit for ``max`` beyond :math:`2^{32} - 1`) masked and rejected until :math:`\le` ``max``;
* ``permutation(m)``: ``arange(m)`` shuffled by Fisher-Yates from the end, ``j =
  random_interval(i)`` swapped with ``i`` for i = m - 1 .. 1.

Streams over another bit generator take numpy's own calls (the same numbers, numpy's speed).
Tested against ``Generator.permutation`` on many seeds, sizes and stream positions (including a
buffered 32-bit half), and the streams' states after the draw.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir as llvm_ir
from numba import njit, prange, types
from numba.extending import intrinsic

__all__ = ["permutations"]

_MASK32 = np.uint64(0xFFFFFFFF)
_MULT_HI = np.uint64(0x2360ED051FC65DA4)
_MULT_LO = np.uint64(0x4385DF649FCCF645)


@intrinsic
def _mul_high(typingctx, a, b):
    """The high 64 bits of the 128-bit product of uint64 ``a``, ``b`` (one ``mul`` on x86-64)."""

    def codegen(context, builder, signature, args):
        wide = llvm_ir.IntType(128)
        product = builder.mul(builder.zext(args[0], wide), builder.zext(args[1], wide))
        return builder.trunc(builder.lshr(product, llvm_ir.Constant(wide, 64)), llvm_ir.IntType(64))

    return types.uint64(types.uint64, types.uint64), codegen


@njit(cache=True, inline="always")
def _step(s_hi, s_lo, c_hi, c_lo):
    """PCG64 (XSL-RR) on scalars: the state (s_hi, s_lo) advanced by the increment (c_hi, c_lo), and its 64-bit output."""
    low = s_lo * _MULT_LO
    high = _mul_high(s_lo, _MULT_LO) + s_hi * _MULT_LO + s_lo * _MULT_HI
    s_lo = low + c_lo
    s_hi = high + c_hi + (np.uint64(1) if s_lo < low else np.uint64(0))
    x = s_hi ^ s_lo
    rot = s_hi >> np.uint64(58)
    return s_hi, s_lo, (x >> rot) | (x << ((np.uint64(64) - rot) & np.uint64(63)))


@njit(types.void(types.uint64[:, ::1], types.int64[:, :, :]), cache=True, parallel=True)  # one compiled form
def _draw(states, out):
    """``out[k, e]`` = the e-th next permutation of stream k, from ``states[k]`` = (s_hi, s_lo, c_hi, c_lo, has_uint32,
    uinteger), written back advanced; streams in parallel. m - 1 < 2**32: numpy's 32-bit ``random_interval``."""
    K, E, m = out.shape
    for k in prange(K):
        s_hi, s_lo, c_hi, c_lo = states[k, 0], states[k, 1], states[k, 2], states[k, 3]
        has, half = states[k, 4] != 0, states[k, 5]  # the buffered high half of the last 64-bit output
        for e in range(E):
            row = out[k, e]
            for i in range(m):
                row[i] = i
            for i in range(m - 1, 0, -1):  # Fisher-Yates from the end: j = random_interval(i)
                top = np.uint64(i)
                mask = top
                mask |= mask >> np.uint64(1)
                mask |= mask >> np.uint64(2)
                mask |= mask >> np.uint64(4)
                mask |= mask >> np.uint64(8)
                mask |= mask >> np.uint64(16)
                while True:  # next_uint32, masked, until <= top
                    if has:
                        has, value = False, half
                    else:
                        s_hi, s_lo, word = _step(s_hi, s_lo, c_hi, c_lo)
                        has, half, value = True, word >> np.uint64(32), word & _MASK32
                    value &= mask
                    if value <= top:
                        break
                j = np.int64(value)
                row[i], row[j] = row[j], row[i]
        states[k, 0], states[k, 1] = s_hi, s_lo
        states[k, 4], states[k, 5] = np.uint64(1) if has else np.uint64(0), half


def permutations(streams, m: int, epochs: int, out: np.ndarray | None = None) -> np.ndarray:
    """The next ``epochs`` permutations of ``range(m)`` of each stream: (K, epochs, m) int64.

    ``out[k, e]`` equals the e-th of ``epochs`` successive ``streams[k].permutation(m)`` calls, and the
    streams are left as those calls leave them. ``out``: an int64 (K, epochs, m) array to fill (a
    buffer used again saves the page faults of a fresh one: on this project's VM, 50 ms against 15 ms
    for 30 MB of orders).
    """
    if out is None:
        out = np.empty((len(streams), epochs, m), dtype=np.int64)
    if epochs == 0 or not streams:
        return out
    if m - 1 > 0xFFFFFFFF or not all(type(stream.bit_generator).__name__ == "PCG64" for stream in streams):
        for e in range(epochs):
            out[:, e] = [stream.permutation(m) for stream in streams]
        return out
    states = np.empty((len(streams), 6), dtype=np.uint64)
    for k, stream in enumerate(streams):
        full = stream.bit_generator.state
        s, c = full["state"]["state"], full["state"]["inc"]
        states[k] = (s >> 64, s & (2**64 - 1), c >> 64, c & (2**64 - 1), full["has_uint32"], full["uinteger"])
    _draw(states, out)
    for k, stream in enumerate(streams):
        hi, lo, c_hi, c_lo, has, half = (int(v) for v in states[k])
        stream.bit_generator.state = {
            "bit_generator": "PCG64",
            "state": {"state": (hi << 64) | lo, "inc": (c_hi << 64) | c_lo},
            "has_uint32": has,
            "uinteger": half,
        }
    return out
