"""Time the engine against the notebook's own training loop on the notebook's network.

    python benchmarks/bench_engine.py [--iterations 3000] [--models 1 64] [--repeat 3]

Network (2, 10, 5, 1), relu, sigmoid; the 300 training points of the circles; He initialization;
learning rate 0.01. Reports model-iterations per second (K models x iterations / seconds, best of
``--repeat``) and the ratio to the notebook loop (``initlab.course``: forward_propagation,
compute_loss, backward_propagation, update_parameters, the cost every iteration as ``model``
computes it). The engine records the loss every 1000 iterations. No targets are asserted.
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from initlab import course
from initlab.network import MLP
from initlab.training import train


def notebook_loop(X, Y, parameters, iterations: int, learning_rate: float = 0.01) -> float:
    """Seconds for the notebook's loop (model() without printing and plotting)."""
    start = time.perf_counter()
    for _ in range(iterations):
        a3, cache = course.forward_propagation(X, parameters)
        course.compute_loss(a3, Y)
        grads = course.backward_propagation(X, Y, cache)
        parameters = course.update_parameters(parameters, grads, learning_rate)
    return time.perf_counter() - start


def best(fn, repeat: int) -> float:
    return min(fn() for _ in range(repeat))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=3000)
    parser.add_argument("--models", type=int, nargs="+", default=[1, 64])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    n = args.iterations

    X, Y, _, _ = course.load_dataset()
    layers = list(course.NOTEBOOK_LAYERS)
    he = course.initialize_parameters_he(layers)
    blas = ", ".join(f"{i['internal_api']} {i.get('version')} ({i['num_threads']} threads)" for i in threadpool_info())
    print(f"numpy {np.__version__}; {blas}; {platform.machine()}")
    print(f"network {tuple(layers)}, m = {X.shape[1]}, {n} iterations, best of {args.repeat}\n")

    rows = []
    base = n / best(lambda: notebook_loop(X, Y, dict(he), n), args.repeat)
    rows.append(("notebook loop (course.*)", base))
    with threadpool_limits(limits=1, user_api="blas"):
        one = n / best(lambda: notebook_loop(X, Y, dict(he), n), args.repeat)
    rows.append(("notebook loop, BLAS 1 thread", one))

    net = MLP(tuple(layers))
    for K in args.models:
        params = net.initialize("he_normal", rng=0, models=K)
        seconds = best(lambda p=params: train(net, p, X, Y, iterations=n, record_every=1000).wall_time, args.repeat)
        rows.append((f"engine train, K = {K}", K * n / seconds))

    print(f"{'':32s} {'model-it/s':>12s} {'vs notebook':>12s}")
    for name, rate in rows:
        print(f"{name:32s} {rate:12,.0f} {rate / base:11.2f}x")


if __name__ == "__main__":
    main()
