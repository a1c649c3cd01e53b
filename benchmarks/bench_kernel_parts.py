"""Where one iteration of the compiled engine spends its time: each pass of the kernel timed alone.

    .venv/bin/python benchmarks/bench_kernel_parts.py [--layers 2 10 5 1] [--activation relu]
        [--examples 300] [--calls 20000] [--repeat 5]

One iteration of full-batch gradient descent in :mod:`initlab.kernels` (``_train_one``, the default
run) is a sequence of passes over the examples: per hidden layer the matrix product ``W A + b`` (two
output rows and up to five terms a pass; relu applied in its last pass) and the other activations; the logits, their divergence test and
``dZ`` of the output; per layer, from the last, ``dW``/``db`` with the update written in the same
pass, then ``W^T dZ`` and the activation's derivative (relu's in the same pass); the finiteness test of the update. Each
pass is run ``--calls`` times in a compiled loop on one core, on the same buffers (so its data is
in cache as it is in the kernel), best of ``--repeat``; the table gives its time per iteration,
its share, and the GFLOP/s of its multiply-adds (2 per term; elementwise passes count none),
beside the rate of a one-thread ``numpy`` matrix product of 512 x 512 matrices measured in the
same run (what BLAS reaches on this core: the practical float64 peak). The sum of the passes is
compared with the whole kernel's rate (``train(engine="numba", threads=1)``).

What the table is for: the issue's question of what bounds the small-net kernel (FLOPs, memory,
``exp``/``tanh``). Passes whose GFLOP/s is near the BLAS rate are bound by arithmetic; the
products with few terms (the input layer's two, the output's one row) move one row of m values
through memory per two or four multiply-adds; the elementwise passes do no counted arithmetic.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from numba import njit
from threadpoolctl import threadpool_limits

from initlab import course, kernels
from initlab.kernels import (
    _HIDDEN,
    _activate,
    _gradient,
    _logits_diverged,
    _matvec_rows,
    _output_delta,
    _pairwise_sum,
    _product,
    _propagate,
)
from initlab.network import MLP, flatten_params
from initlab.training import train


@njit(error_model="numpy", _nrt=False)  # as the kernel's helpers: no reference counting of row views
def _phase(which, l, calls, theta, proposed, X, T, A, D, Z, layers, w_at, hidden, m, r, s, g):
    """Run one pass of the kernel ``calls`` times: 0 forward product, 1 activation, 2 output (logits, test, dZ),
    3 dW/db with the update, 4 W^T dZ and g', 5 the update's finiteness test; ``l``: the layer (0-based)."""
    n, p = layers[l + 1], layers[l]
    A_in = X if l == 0 else A[l - 1]
    L = layers.shape[0] - 1
    for _ in range(calls):
        if which == 0:
            _product(theta, w_at[l], n, p, A_in, A[l], m, 0.0 if hidden == 0 else -np.inf)
        elif which == 1:
            for j in range(n):
                _activate(hidden, 0.01, A[l, j], 0.0, D[l, j], m)
        elif which == 2:
            p = layers[L - 1]
            _matvec_rows(Z[0], theta, w_at[L - 1], 1, p, A[L - 2], m, theta[w_at[L - 1] + p], -np.inf, Z[0], False)
            _logits_diverged(Z[0], m)
            _output_delta(0, Z, T, 1, m, r, s)
        elif which == 3:
            dZ = Z if l == L - 1 else D[l]
            _gradient(proposed, theta, 0.01, True, w_at[l], w_at[l] + n * p, n, p, dZ, A_in, m, g)
        elif which == 4:
            _propagate(theta, w_at[l], n, p, Z if l == L - 1 else D[l], A_in, D[l - 1], hidden, r, s, m)
        else:
            _pairwise_sum(proposed, 0, proposed.shape[0])


def passes(layers: tuple[int, ...], activation: str) -> list[tuple[str, int, int, int]]:
    """(name, phase, layer, multiply-adds per example) of one iteration, in the kernel's order.

    relu is applied in the product's last pass (a floor of 0), linear is nothing: no pass of their own."""
    L = len(layers) - 1
    out = []
    for l in range(L - 1):
        fused = ", relu" if activation == "relu" else ""
        out.append((f"forward W{l + 1} A{l} + b{l + 1}{fused} ({layers[l + 1]}x{layers[l]})", 0, l,
                    layers[l + 1] * layers[l]))  # fmt: skip
        if activation not in ("relu", "linear"):
            out.append((f"activation g(Z{l + 1})", 1, l, 0))
    out.append((f"logits W{L} A{L - 1}, test, dZ{L}", 2, L - 1, layers[L] * layers[L - 1]))
    for l in range(L - 1, -1, -1):
        out.append((f"dW{l + 1}, db{l + 1} and update", 3, l, layers[l + 1] * layers[l]))
        if l > 0:
            out.append((f"W{l + 1}^T dZ{l + 1}, g'(Z{l})", 4, l, layers[l + 1] * layers[l]))
    out.append(("finiteness of the update", 5, 0, 0))
    return out


def blas_gflops(repeat: int, seconds: float = 1.0, windows: int = 3) -> float:
    """GFLOP/s of one-thread 512 x 512 float64 matrix products, sustained: the mean rate of back-to-back
    products over a window of ``seconds``, best of ``repeat`` windows (at least ``windows``).

    Timed as the kernels are: each of their timings is a run of seconds, so a clock boost of a few
    milliseconds counts in neither. The best single product (:func:`blas_burst_gflops`) catches such a
    boost: on the 2-core EPYC of issue #17 it read 16-19 GFLOP/s from run to run against 17.0-17.4 sustained.
    """
    a, b = np.random.default_rng(0).standard_normal((2, 512, 512))
    rates = []
    with threadpool_limits(limits=1, user_api="blas"):
        a @ b
        for _ in range(max(repeat, windows)):
            count, start = 0, time.perf_counter()
            while count == 0 or time.perf_counter() - start < seconds:
                a @ b
                count += 1
            rates.append(2 * 512**3 * count / (time.perf_counter() - start) / 1e9)
    return max(rates)


def blas_burst_gflops(repeat: int) -> float:
    """GFLOP/s of the fastest single one-thread 512 x 512 float64 product of ``repeat`` (at least 3)."""
    a, b = np.random.default_rng(0).standard_normal((2, 512, 512))
    with threadpool_limits(limits=1, user_api="blas"):
        a @ b
        best = min(_timed(lambda: a @ b) for _ in range(max(repeat, 3)))
    return 2 * 512**3 / best / 1e9


def _timed(run) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layers", type=int, nargs="+", default=list(course.NOTEBOOK_LAYERS))
    parser.add_argument("--activation", default="relu", choices=sorted(_HIDDEN))
    parser.add_argument("--examples", type=int, default=300, help="m (the circles' 300 training points, repeated)")
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    layers = tuple(args.layers)
    if layers[-1] != 1 or len(layers) < 3:
        parser.error(f"--layers: a sigmoid-output MLP with at least one hidden layer, ending in 1 unit; got {layers}")
    X0, Y0, _, _ = course.load_dataset()
    index = np.arange(args.examples) % X0.shape[1]
    X = np.ascontiguousarray(np.resize(X0, (layers[0], X0.shape[1]))[:, index], dtype=np.float64)
    T = np.ascontiguousarray(Y0[:, index], dtype=np.float64)
    m, L = X.shape[1], len(layers) - 1
    net = MLP(layers, activation=args.activation)
    theta = np.ascontiguousarray(flatten_params(net.initialize("he_normal", rng=0))[0])
    w_at = np.zeros(L, dtype=np.int64)
    for l in range(1, L):
        w_at[l] = w_at[l - 1] + layers[l] * (layers[l - 1] + 1)
    width = max(layers[1:])
    rng = np.random.default_rng(1)
    A = np.abs(rng.standard_normal((max(L - 1, 1), width, m)))
    D, Z = rng.standard_normal((max(L - 1, 1), width, m)) * 0.1, rng.standard_normal((1, m))
    r, s, g, proposed = np.empty(m), np.empty(m), np.empty(15), np.empty_like(theta)
    layer_codes = np.array(layers, dtype=np.int64)
    hidden = _HIDDEN[args.activation]

    def run(phase: int, l: int, calls: int) -> float:
        buffers = (A.copy(), D.copy(), Z.copy())  # each pass on fresh copies: D and Z are overwritten
        return _timed(lambda: _phase(phase, l, calls, theta, proposed, X, T, *buffers, layer_codes, w_at, hidden, m,
                                     r, s, g))  # fmt: skip

    rows = passes(layers, args.activation)
    for _, phase, l, _ in rows:
        run(phase, l, 2)  # compile
    seconds = [min(run(phase, l, args.calls) for _ in range(args.repeat)) / args.calls for _, phase, l, _ in rows]
    peak = blas_gflops(args.repeat)
    total = sum(seconds)
    K, n = 64, 2000
    params = net.initialize("he_normal", rng=0, models=K)
    kernels.warm_up()
    whole = min(
        train(net, params, X, T, iterations=n, record_every=n, engine="numba", threads=1).wall_time
        for _ in range(args.repeat)
    )
    flops = 2 * m * sum(macs for *_, macs in rows)
    print(f"network {layers}, {args.activation}, m = {m}; numba {kernels.numba.__version__}, "
          f"{os.cpu_count()} cores; best of {args.repeat} x {args.calls:,} calls a pass\n")  # fmt: skip
    print(f"  {'pass':36s} {'us/it':>7s} {'share':>6s} {'GFLOP/s':>8s} {'% BLAS':>7s}")
    for (name, _, _, macs), t in zip(rows, seconds, strict=True):
        rate = 2 * macs * m / t / 1e9
        print(f"  {name:36s} {t * 1e6:7.2f} {100 * t / total:5.0f}% {rate:8.1f} {100 * rate / peak:6.0f}%")
    print(f"  {'sum of the passes':36s} {total * 1e6:7.2f}  100% {flops / total / 1e9:8.1f} "
          f"{100 * flops / total / 1e9 / peak:6.0f}%")  # fmt: skip
    print(f"\nthe whole kernel, 1 thread, K = {K}: {K * n / whole:,.0f} model-it/s = {whole / K / n * 1e6:.2f} us/it, "
          f"{flops * K * n / whole / 1e9:.1f} GFLOP/s = {100 * flops * K * n / whole / 1e9 / peak:.0f}% of one-thread "
          f"BLAS ({peak:.1f} GFLOP/s sustained, 512 x 512 dgemm, this run; its best single product "
          f"{blas_burst_gflops(args.repeat):.1f})")  # fmt: skip


if __name__ == "__main__":
    main()
