"""muP and NTK in the compiled engine: what the per-layer scalings cost, against standard and the numpy engine.

    .venv/bin/python benchmarks/bench_parametrization.py [--widths 16 64 256] [--repeat 3] [--quick]

Network (2, n, n, 1), relu, sigmoid output, the circles' 300 training points, He initialization; Adam
(lr 0.01) on minibatches of 64 (the setting muP's studies train in), K models, one core (BLAS pinned).
For each width and parametrization (standard, ntk, mup), the numpy engine and the numba engine
(``engine="numba", threads=1``), in model-iterations per second, best of ``--repeat``; then each
engine's muP rate as a share of its standard rate. muP's per-layer learning rates, epsilons and
multipliers are per-model rows the compiled kernel reads (:func:`initlab.kernels.train_flat`), so in
the fast path muP should cost what standard costs. No target is asserted: issue #17's closing note
carries the table.
"""

from __future__ import annotations

import argparse
import platform
import sys

import numpy as np
from bench_peers import best  # this folder is on sys.path
from threadpoolctl import threadpool_limits

from initlab import course
from initlab.network import MLP
from initlab.training import train

PARAMETRIZATIONS = ("standard", "ntk", "mup")


def seconds(net, params, X, Y, iterations: int, repeat: int, **options) -> float:
    """Best of ``repeat`` timed runs of Adam on minibatches of 64, after one untimed run (compilation, caches)."""
    return best(lambda: train(net, params, X, Y, learning_rate=0.01, iterations=iterations, record_every=iterations,
                              optimizer="adam", batch_size=64, rng=0, **options), repeat)  # fmt: skip


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--widths", type=int, nargs="+", default=[16, 64, 256])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="small sizes: checks that it runs")
    args = parser.parse_args(argv)
    X, Y, _, _ = course.load_dataset()
    widths = [16] if args.quick else args.widths
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, {platform.machine()}; Adam, batch 64, "
          f"one core, best of {args.repeat}; model-iterations per second")  # fmt: skip
    print(f"  {'width':>5s} {'K':>4s} {'it':>5s} {'parametrization':16s} {'numpy engine':>13s} {'numba':>10s} "
          f"{'numba/numpy':>12s}")  # fmt: skip
    with threadpool_limits(limits=1, user_api="blas"):
        for width in widths:
            K = 8 if args.quick else max(4, min(64, 16384 // width))  # fewer models as the width grows
            n = 20 if args.quick else max(40, 40 * 256 // width)
            rates = {}
            for parametrization in PARAMETRIZATIONS:
                net = MLP((2, width, width, 1), "relu", parametrization=parametrization)
                params = net.initialize("he_normal", rng=0, models=K)
                reference = K * n / seconds(net, params, X, Y, n, args.repeat)
                fast = K * n / seconds(net, params, X, Y, n, args.repeat, engine="numba", threads=1)
                rates[parametrization] = (reference, fast)
                print(f"  {width:5d} {K:4d} {n:5d} {parametrization:16s} {reference:13,.0f} {fast:10,.0f} "
                      f"{fast / reference:11.2f}x")  # fmt: skip
            (s_ref, s_fast), (m_ref, m_fast) = rates["standard"], rates["mup"]
            print(f"  {'':5s} {'':4s} {'':5s} {'mup / standard':16s} {m_ref / s_ref:12.2f}x {m_fast / s_fast:9.2f}x")


if __name__ == "__main__":
    main()
