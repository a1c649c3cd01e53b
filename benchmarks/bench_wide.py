"""Where BLAS on every core starts to pay: the numpy engine on one thread and on all, by width.

    .venv/bin/python benchmarks/bench_wide.py [--quick] [--repeat 3] [--widths 64 128 ...]

For each width n, K models of (2, n, n, 1) (relu, sigmoid output, mean cross-entropy, plain gradient
descent) train on the circles' 300 points; the rate is model-iterations per second, best of
``--repeat`` after one untimed run. Columns: the engine with BLAS pinned to one thread, the engine on
every core, and a bare numpy chain of the same matrix products on every core (the BLAS floor:
forward ``W A``, backward ``dZ A^T`` and ``W^T dZ``, nothing else) and how many times a step of the
engine on the threads ``auto`` chooses takes the chain's (issue #17: within 1.5x), then the engine in float32
(``dtype="float32"``, sgemm) on the threads ``auto`` chooses and its ratio to float64 there. ``auto`` is what
:func:`initlab.state.blas_threads` chooses for the shape; the last column says whether the choice
was the faster one here. The crossover it encodes (:data:`initlab.state.WIDE_MULTIPLY_ADDS`) was set
from this table; run it on a quiet machine (its numbers are meaningless on a loaded one).
"""

from __future__ import annotations

import argparse
import functools
import os

import numpy as np
from bench_peers import best, numpy_chain  # one timing rule and one BLAS floor for both benchmarks

from initlab import course
from initlab.network import MLP
from initlab.state import WIDE_MULTIPLY_ADDS, blas_threads
from initlab.training import train


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--widths", type=int, nargs="+", default=None)
    parser.add_argument("--models", type=int, default=4)
    args = parser.parse_args(argv)
    widths = args.widths or ((32, 128, 512) if args.quick else (32, 64, 128, 256, 512, 1024, 2048))
    X, Y, _, _ = course.load_dataset()
    K, cores = args.models, os.cpu_count()
    print(
        f"numpy {np.__version__}, {cores} cores (crossover: {WIDE_MULTIPLY_ADDS:,} multiply-adds), K = {K}, m = {X.shape[1]}; model-it/s, best of {args.repeat}"
    )
    print(f"  {'width':>6s} {'1 thread':>10s} {f'{cores} threads':>10s} {'chain':>10s} {'auto':>5s} {'chain/auto':>10s} "
          f"{'float32':>10s} {'f32/f64':>8s}  choice")  # fmt: skip
    for n in widths:
        layers = (2, n, n, 1)
        net = MLP(layers)
        params = net.initialize("he_normal", rng=0, models=K)
        its = max(2, min(400, int(4e8 / (K * n * n * X.shape[1]))))
        rates = {}
        for threads in (1, cores):
            run = functools.partial(train, net, params, X, Y, learning_rate=0.01, iterations=its,
                                    record_every=its, threads=threads)  # fmt: skip
            rates[threads] = K * its / best(run, args.repeat)
        floor = K * its / best(numpy_chain(layers, K, X, its), args.repeat)
        auto = blas_threads(net.layers, X.shape[1])
        run32 = functools.partial(train, net, params, X, Y, learning_rate=0.01, iterations=its, record_every=its,
                                  threads=auto, dtype="float32")  # fmt: skip
        single = K * its / best(run32, args.repeat)
        ok = "faster" if rates[auto] >= max(rates.values()) else f"slower by {max(rates.values()) / rates[auto]:.2f}x"
        print(f"  {n:6d} {rates[1]:10,.1f} {rates[cores]:10,.1f} {floor:10,.1f} {auto:5d} {floor / rates[auto]:9.2f}x "
              f"{single:10,.1f} {single / rates[auto]:7.2f}x  {ok}")  # fmt: skip


if __name__ == "__main__":
    main()
