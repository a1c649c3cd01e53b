"""The compiled engine against the notebook's loop and the numpy engine, on the notebook's network.

    .venv/bin/python benchmarks/bench_kernels.py [--iterations 15000] [--models 1 64 1024]
        [--reference-iterations 1000] [--repeat 3] [--budget 30]

Network (2, 10, 5, 1), relu, sigmoid output, the 300 training points of the circles, He
initialization, learning rate 0.01, loss recorded every 1000 iterations. Prints model-iterations
per second (K models x iterations / seconds; best of ``--repeat`` runs, fewer when a run exceeds
``--budget`` seconds) for

* the notebook's own loop (``initlab.course``: forward_propagation, compute_loss,
  backward_propagation, update_parameters every iteration; one model at a time, so its rate does
  not depend on K), on ``--reference-iterations``;
* the numpy engine (``initlab.training.train``), on ``--reference-iterations`` (its cost per
  iteration does not change over a run);
* the numba kernel (``initlab.training.train(engine="numba", threads=t)``) with 1 thread and with 2 threads, on ``--iterations``;

with the ratios to the notebook loop measured in the same run, the per-core ratio, the 2-thread
speed-up and the share of what one-thread BLAS reaches on this core in the same run (a 512 x 512
float64 product, :func:`bench_kernel_parts.blas_gflops`: the practical float64 peak; a constant 41
GFLOP/s used before was below it, dgemm measured 45-49). Compilation is timed separately: once in a child
process with an empty numba cache (a true compile) and once as this process's first call (from
the cache). No target is asserted; the targets of issue #5 are printed next to the measurements.
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import subprocess
import sys
import tempfile
import time

import numba
import numpy as np
from bench_engine import notebook_loop  # the same measurement of the notebook loop (this folder is on sys.path)
from bench_kernel_parts import blas_gflops
from threadpoolctl import threadpool_info

from initlab import course, kernels
from initlab.network import MLP
from initlab.training import train

TARGET_PER_CORE = 18.0  # x the notebook loop, per core, at K >= 64
TARGET_TWO_CORES = 1.7  # x more with both cores


def best(run, repeat: int, budget: float) -> tuple[float, int]:
    """Smallest of up to ``repeat`` timings of ``run()`` (seconds), stopping once ``budget`` seconds are spent."""
    times = []
    while len(times) < repeat and sum(times) < budget:
        times.append(run())
    return min(times), len(times)


def flops_per_model_iteration(layers: tuple[int, ...], m: int) -> int:
    """Multiply-adds x 2 of one iteration: W A forward, dZ A^T and W^T dZ backward (elementwise work not counted)."""
    products = [n * p for p, n in itertools.pairwise(layers)]
    return 2 * m * (2 * sum(products) + sum(products[1:]))


COLD_COMPILE = """
import time
start = time.perf_counter()
from initlab import kernels
imported = time.perf_counter()
kernels.warm_up()
print(imported - start, time.perf_counter() - imported)
"""


def cold_compile_seconds() -> tuple[float, float]:
    """(import, first call) seconds in a fresh process with an empty numba cache."""
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        out = subprocess.run([sys.executable, "-c", COLD_COMPILE], env=env, capture_output=True, text=True, check=True)
    imported, first_call = (float(v) for v in out.stdout.split())
    return imported, first_call


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=15000, help="kernel runs (default 15000, the notebook's)")
    parser.add_argument("--reference-iterations", type=int, default=1000, help="notebook loop and numpy engine runs")
    parser.add_argument("--models", type=int, nargs="+", default=[1, 64, 1024])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--budget", type=float, default=30.0, help="seconds per measurement before repeats stop")
    parser.add_argument("--no-cold-compile", action="store_true", help="skip the child process with an empty cache")
    args = parser.parse_args(argv)
    n, n_ref = args.iterations, args.reference_iterations

    X, Y, _, _ = course.load_dataset()
    layers = tuple(course.NOTEBOOK_LAYERS)
    he = course.initialize_parameters_he(list(layers))
    net = MLP(layers)
    flops = flops_per_model_iteration(layers, X.shape[1])
    cores = numba.config.NUMBA_NUM_THREADS
    blas = ", ".join(f"{i['internal_api']} {i.get('version')}" for i in threadpool_info())
    print(f"numpy {np.__version__}, numba {numba.__version__}; {blas}; {platform.machine()}, {os.cpu_count()} cores")
    print(f"network {layers}, m = {X.shape[1]}, {flops:,} flop per model-iteration; kernel {n:,} iterations, "
          f"notebook loop and numpy engine {n_ref:,}; best of {args.repeat} (budget {args.budget:.0f} s)\n")  # fmt: skip

    if not args.no_cold_compile:
        imported, first_call = cold_compile_seconds()
        print(
            f"compile, empty cache (child process): import {imported:.1f} s (helpers) + first call {first_call:.1f} s (parallel kernel)"
        )
    start = time.perf_counter()
    kernels.warm_up()
    print(f"first call in this process (numba cache): {time.perf_counter() - start:.2f} s\n")

    base, runs = best(lambda: notebook_loop(X, Y, dict(he), n_ref), args.repeat, args.budget)
    base = n_ref / base
    rows = [("notebook loop (course.*)", "-", base, runs)]
    for K in args.models:
        params = net.initialize("he_normal", rng=0, models=K)
        seconds, runs = best(lambda params=params: train(net, params, X, Y, iterations=n_ref, record_every=1000).wall_time,
                             args.repeat, args.budget)  # fmt: skip
        rows.append(("numpy engine (training.train)", K, K * n_ref / seconds, runs))
        for threads in sorted({1, cores}):
            seconds, runs = best(
                lambda t=threads, params=params: (
                    train(net, params, X, Y, iterations=n, record_every=1000, engine="numba", threads=t).wall_time
                ),
                args.repeat,
                args.budget,
            )
            rows.append((f"numba kernel, {threads} thread{'s' * (threads > 1)}", K, K * n / seconds, runs))

    peak = blas_gflops(args.repeat)
    print(f"{'':32s} {'K':>5s} {'model-it/s':>12s} {'vs notebook':>12s} {'GFLOP/s':>8s} {'% BLAS':>7s} {'runs':>5s}")
    for name, K, rate, runs in rows:
        used = 1 if "1 thread" in name or "notebook" in name else (cores if "kernel" in name else 1)
        gflops = rate * flops / 1e9
        print(f"{name:32s} {K!s:>5s} {rate:12,.0f} {rate / base:11.1f}x {gflops:8.1f} "
              f"{100 * gflops / (peak * used):6.0f}% {runs:5d}")  # fmt: skip

    print(f"\nper core and scaling (targets: >= {TARGET_PER_CORE:.0f}x the notebook loop per core at K >= 64, "
          f">= {TARGET_TWO_CORES}x more with {cores} cores; one-thread dgemm {peak:.1f} GFLOP/s sustained per core)")  # fmt: skip
    kernel = {(name, K): rate for name, K, rate, _ in rows if "kernel" in name}
    for K in args.models:
        one = kernel[("numba kernel, 1 thread", K)]
        line = f"  K = {K:5d}: 1 core {one / base:5.1f}x"
        if cores > 1:
            many = kernel[(f"numba kernel, {cores} threads", K)]
            line += f"; {cores} cores {many / base:5.1f}x = {many / base / cores:5.1f}x per core, {many / one:4.2f}x the 1-core rate"
        met = (
            ""
            if K < 64
            else ("  (per-core target met)" if one / base >= TARGET_PER_CORE else "  (per-core target not met)")
        )
        print(line + met)


if __name__ == "__main__":
    main()
