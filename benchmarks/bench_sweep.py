"""Time a whole small sweep end to end (plan, pool start-up, training, SQLite commits) with 1 and 2 workers.

    python benchmarks/bench_sweep.py [--seeds 16] [--iterations 3000] [--workers 1 2] [--engine numpy]
    python benchmarks/bench_sweep.py --optimizer adam --batch-size 64 --chunk-size 1 32 --workers 1

The sweep: the notebook's 2-10-5-1 network on its circles, zeros / random x10 / He, ``--seeds``
seeds each, full-batch gradient descent at 0.01 (or ``--optimizer`` with ``--batch-size``). Each
(chunk size, worker count) runs into a fresh temporary folder; the table gives wall time, runs per
second and model-iterations per second, the ratio to the notebook's own loop (its 2-10-5-1 full-batch
loop, measured first in the same run, one model at a time) and to the first row, and the plan's
estimate. ``--chunk-size 1`` trains one run per chunk (how minibatch runs trained before they were
batched). With ``--batch-size`` an update reads that many examples instead of the loop's 300, so
"vs loop" compares updates, not examples. The stored numbers of every run are checked to be
identical across rows. No targets are asserted.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time

import numpy as np
from bench_engine import (
    notebook_loop,  # the same measurement of the notebook loop (this folder is on sys.path)
)

from initlab import course
from initlab.sweeps import (
    InitSpec,
    OptimizerSpec,
    Store,
    SweepSpec,
    make_plan,
    run_sweep,
)
from initlab.sweeps.forecast import estimate
from initlab.sweeps.plan import make_chunks


def stored(folder) -> dict:
    with Store.open(folder) as store:
        return {row.key: (loss.tobytes(), store.params(row.id).tobytes()) for row, loss in store.finished_runs()}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=16)
    parser.add_argument("--iterations", type=int, default=3000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--chunk-size", type=int, nargs="+", default=[32])
    parser.add_argument("--engine", default="numpy")
    parser.add_argument("--optimizer", default="gd", help="gd (full batch), sgd, momentum or adam")
    parser.add_argument("--batch-size", type=int, default=None, help="examples per update (not with gd)")
    parser.add_argument("--learning-rate", type=float, default=0.01)
    args = parser.parse_args(argv)

    options = {} if args.batch_size is None else {"batch_size": args.batch_size}
    spec = SweepSpec(
        init=(InitSpec("zeros"), InitSpec("random", scale=10), InitSpec("he_normal")),
        optimizer=OptimizerSpec(args.optimizer, args.learning_rate, options),
        seeds=args.seeds,
        iterations=args.iterations,
        record_every=100,
        engine=args.engine,
        name="bench",
    )
    runs = len(make_plan(spec).runs)
    X, Y, _, _ = course.load_dataset(plot=False)
    loop_iterations = min(args.iterations, 3000)
    he = course.initialize_parameters_he(list(course.NOTEBOOK_LAYERS))
    loop_rate = loop_iterations / min(notebook_loop(X, Y, dict(he), loop_iterations) for _ in range(2))  # model-it/s
    print(
        f"numpy {np.__version__}; {platform.machine()}, {os.cpu_count()} cores; engine {args.engine!r}; "
        f"optimizer {args.optimizer} {options or '(full batch)'}"
    )
    print(
        f"{runs} runs of the notebook's network, {args.iterations} iterations each; "
        f"the notebook's loop: {loop_rate:,.0f} model-it/s\n"
    )
    print(
        f"{'chunk':>5s} {'workers':>7s} {'wall s':>8s} {'runs/s':>8s} {'model-it/s':>12s} {'vs loop':>8s} "
        f"{'vs row 1':>9s} {'estimate s':>11s}"
    )
    first, reference = None, None
    for chunk_size in args.chunk_size:
        for workers in args.workers:
            the_plan = make_plan(spec)
            chunks = make_chunks(the_plan.runs, chunk_size=chunk_size, workers=workers)
            guess = estimate(chunks, workers=workers).seconds
            with tempfile.TemporaryDirectory(prefix="bench_sweep.") as out:
                start = time.perf_counter()
                outcome = run_sweep(spec, out, workers=workers, chunk_size=chunk_size)
                wall = time.perf_counter() - start
                numbers = stored(out)
            assert outcome.done == runs, outcome
            if reference is None:
                reference = numbers
            identical = "" if numbers == reference else "  (numbers differ!)"
            first = first or wall
            rate = runs * args.iterations / wall
            print(f"{chunk_size:5d} {workers:7d} {wall:8.2f} {runs / wall:8.1f} {rate:12,.0f} {rate / loop_rate:7.2f}x "
                  f"{first / wall:8.2f}x {guess:11.2f}{identical}")  # fmt: skip


if __name__ == "__main__":
    main()
