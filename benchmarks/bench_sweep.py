"""Time a whole small sweep end to end (plan, pool start-up, training, SQLite commits) with 1 and 2 workers.

    python benchmarks/bench_sweep.py [--seeds 16] [--iterations 3000] [--workers 1 2] [--engine numpy]

The sweep: the notebook's 2-10-5-1 network on its circles, zeros / random x10 / He, ``--seeds``
seeds each, full-batch gradient descent at 0.01. Each worker count runs into a fresh temporary
folder; the table gives wall time, runs per second and model-iterations per second, the speed-up
over the first worker count, and the plan's estimate for comparison. The stored numbers of every
run are checked to be identical across worker counts. No targets are asserted.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time

import numpy as np

from initlab.sweeps import InitSpec, OptimizerSpec, Store, SweepSpec, make_plan, run_sweep
from initlab.sweeps.plan import estimate, make_chunks


def stored(folder) -> dict:
    with Store.open(folder) as store:
        return {row.key: (loss.tobytes(), store.params(row.id).tobytes()) for row, loss in store.finished_runs()}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=16)
    parser.add_argument("--iterations", type=int, default=3000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--chunk-size", type=int, default=32)
    parser.add_argument("--engine", default="numpy")
    args = parser.parse_args(argv)

    spec = SweepSpec(
        init=(InitSpec("zeros"), InitSpec("random", scale=10), InitSpec("he_normal")),
        optimizer=OptimizerSpec("gd", 0.01),
        seeds=args.seeds,
        iterations=args.iterations,
        record_every=100,
        engine=args.engine,
        name="bench",
    )
    runs = len(make_plan(spec).runs)
    print(f"numpy {np.__version__}; {platform.machine()}, {os.cpu_count()} cores; engine {args.engine!r}")
    print(f"{runs} runs of the notebook's network, {args.iterations} iterations each, chunks of at most {args.chunk_size}\n")
    print(f"{'workers':>7s} {'wall s':>8s} {'runs/s':>8s} {'model-it/s':>12s} {'speed-up':>9s} {'estimate s':>11s}")
    first, reference = None, None
    for workers in args.workers:
        the_plan = make_plan(spec)
        guess = estimate(make_chunks(the_plan.runs, chunk_size=args.chunk_size, workers=workers), workers=workers).seconds
        with tempfile.TemporaryDirectory(prefix="bench_sweep.") as out:
            start = time.perf_counter()
            outcome = run_sweep(spec, out, workers=workers, chunk_size=args.chunk_size)
            wall = time.perf_counter() - start
            numbers = stored(out)
        assert outcome.done == runs, outcome
        if reference is None:
            reference = numbers
        identical = "" if numbers == reference else "  (numbers differ!)"
        first = first or wall
        print(f"{workers:7d} {wall:8.2f} {runs / wall:8.1f} {runs * args.iterations / wall:12,.0f} {first / wall:8.2f}x "
              f"{guess:11.2f}{identical}")  # fmt: skip


if __name__ == "__main__":
    main()
