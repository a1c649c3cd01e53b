"""How fast initlab runs the notebook's experiment, against the notebook's own loop in the same run.

    .venv/bin/python benchmarks/bench_notebook.py [--iterations 15000] [--repeats 3]

Prints seconds per model for:
  * the notebook's loop (initlab.course.model: forward, compute_loss, backward, update, as printed
    in the notebook), which allocates every array anew each iteration;
  * course.train_preallocated, the same operations writing into preallocated buffers (bit-identical),
    with the cost computed every 10 iterations as `initlab reproduce` records it;
  * the whole `initlab reproduce` command (three models in parallel child processes, figures, report).
Best of --repeats; ratios are against the notebook's loop.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from initlab import course


def best(fn, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--iterations", type=int, default=15000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    X, Y, _, _ = course.load_dataset()
    n = args.iterations
    print(f"notebook net 2-10-5-1, {X.shape[1]} points, {n:,} iterations, best of {args.repeats}")
    print(f"{'initialization':>14} {'notebook loop':>14} {'preallocated':>13} {'ratio':>6}")
    for kind in ("zeros", "random", "he"):

        def notebook(kind=kind):
            with contextlib.redirect_stdout(io.StringIO()):
                course.model(X, Y, num_iterations=n, print_cost=False, initialization=kind)

        init = course.INITIALIZERS[kind]([2, 10, 5, 1])
        t_nb = best(notebook, args.repeats)
        t_pre = best(lambda init=init: course.train_preallocated(X, Y, init, 0.01, n, record_every=10), args.repeats)
        print(f"{kind:>14} {t_nb:>12.3f} s {t_pre:>11.3f} s {t_nb / t_pre:>5.2f}x")
    with tempfile.TemporaryDirectory() as tmp:
        cli = [
            sys.executable,
            "-m",
            "initlab",
            "reproduce",
            "--out",
            str(Path(tmp) / "r"),
            "--iterations",
            str(n),
            "-q",
        ]
        t_cli = best(lambda: subprocess.run(cli, check=True, capture_output=True), 1)
    print(f"`initlab reproduce` (3 models, figures, report, process start-up): {t_cli:.2f} s wall")


if __name__ == "__main__":
    main()
