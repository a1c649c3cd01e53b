"""initlab against its peers in one run: the notebook's loop, torch, JAX and initlab's engines, on three shapes.

    .venv/bin/python benchmarks/bench_peers.py [--quick] [--repeat 5] [--only small|residual|wide]

Every contender trains K models of the same network on the circles' 300 training points with plain
gradient descent (lr 0.01, float64, sigmoid output, mean binary cross-entropy from the logits) and
is timed on whole iterations (forward, loss, backward, update); rates are model-iterations per
second, best of ``--repeat`` runs, compile time excluded (each is run once before timing).

``small``
    The notebook's network (2, 10, 5, 1), relu, K = 256, 2,000 iterations; one core each (torch
    ``set_num_threads(1)``, JAX with one XLA thread, BLAS pinned), then initlab's numba engine on
    all cores. The numba engine on one thread and on all, and a one-second window of one-thread
    dgemm (the practical float64 peak), are timed in interleaved rounds (:func:`interleaved`); then
    the numba engine in float32 on one thread (``dtype="float32"``), against its float64 rate. The notebook's loop trains one model at a time (its rate does not depend on K).
``residual``
    A residual MLP, width 16, 8 blocks of 2 layers (initlab.residual.ResidualMLP; initlab's runs start
    from ``zero_last``, which costs what He costs but lets no model diverge and stop early), K = 64,
    300 iterations, one core each, then initlab's numba engine (initlab.kernels_residual) on all cores,
    and on one in float32.
``wide``
    (2, 1024, 1024, 1), K = 4, 20 iterations, and (2, 2048, 2048, 1), K = 2, 10 iterations, every core for
    everyone; against a bare numpy chain of the same matrix products (the BLAS floor: forward W A, backward
    dZ A^T and W^T dZ), each contender's step time as a multiple of the chain's.

torch and JAX are optional (the ``peers`` extra): a contender that is not installed is listed as
such. No target is asserted here; issue #17 states them, and the closing notes carry the tables.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
os.environ.setdefault("JAX_ENABLE_X64", "1")

import numpy as np
from threadpoolctl import threadpool_limits

from initlab import course
from initlab.network import MLP
from initlab.residual import ResidualMLP
from initlab.training import train

LR = 0.01


def best(run, repeat: int) -> float:
    """Smallest of ``repeat`` timings of ``run()`` (seconds), after one untimed run (compilation, caches)."""
    run()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


# ---- the contenders' networks as lists of (W (K, n, p), b (K, n, 1)) and a residual flag -------------------------
def mlp_params(layers, K, rng):
    return [
        (rng.standard_normal((K, n, p)) * np.sqrt(2.0 / p), np.zeros((K, n, 1)))
        for p, n in zip(layers[:-1], layers[1:])
    ]


def torch_trainer(layers_or_res, K, X, Y, iterations, residual=None):
    """A closure training K models with torch autograd on bmm (float64), or None without torch."""
    try:
        import torch
    except ImportError:
        return None
    rng = np.random.default_rng(0)
    Xt, Yt = torch.tensor(X, dtype=torch.float64), torch.tensor(Y, dtype=torch.float64)
    if residual is None:
        params = [(torch.tensor(W, requires_grad=True), torch.tensor(b, requires_grad=True))
                  for W, b in mlp_params(layers_or_res, K, rng)]  # fmt: skip
    else:
        width, blocks, m = residual
        shapes = [(width, 2)] + [(width, width)] * (blocks * m) + [(1, width)]
        params = [(torch.tensor(rng.standard_normal((K, n, p)) * np.sqrt(2.0 / p), requires_grad=True),
                   torch.zeros((K, n, 1), dtype=torch.float64, requires_grad=True)) for n, p in shapes]  # fmt: skip

    def logits():
        A = Xt.expand(K, *Xt.shape)
        if residual is None:
            for i, (W, b) in enumerate(params):
                Z = torch.baddbmm(b, W, A)
                A = torch.relu(Z) if i < len(params) - 1 else Z
            return A
        width, blocks, m = residual
        h = torch.baddbmm(params[0][1], params[0][0], A)
        for blk in range(blocks):
            u = h
            for j in range(m):
                W, b = params[1 + blk * m + j]
                v = torch.baddbmm(b, W, u)
                u = torch.relu(v) if j < m - 1 else v
            h = h + u
        return torch.baddbmm(params[-1][1], params[-1][0], torch.relu(h))

    def run():
        torch.set_num_threads(1 if residual is not None or layers_or_res[1] < 256 else os.cpu_count())
        for _ in range(iterations):
            loss = torch.nn.functional.binary_cross_entropy_with_logits(
                logits(), Yt.expand(K, *Yt.shape), reduction="none"
            )
            loss.mean(dim=(1, 2)).sum().backward()
            with torch.no_grad():
                for W, b in params:
                    W -= LR * W.grad
                    b -= LR * b.grad
                    W.grad = None
                    b.grad = None

    return run


def jax_trainer(layers_or_res, K, X, Y, iterations, residual=None):
    """A closure running ``jit(fori_loop(vmap(step)))`` for K models (float64), or None without JAX."""
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return None
    rng = np.random.default_rng(0)
    if residual is None:
        params = [(jnp.asarray(W), jnp.asarray(b)) for W, b in mlp_params(layers_or_res, K, rng)]
    else:
        width, blocks, m = residual
        shapes = [(width, 2)] + [(width, width)] * (blocks * m) + [(1, width)]
        params = [
            (jnp.asarray(rng.standard_normal((K, n, p)) * np.sqrt(2.0 / p)), jnp.zeros((K, n, 1))) for n, p in shapes
        ]
    Xj, Yj = jnp.asarray(X, dtype=jnp.float64), jnp.asarray(Y, dtype=jnp.float64)

    def logits(ps):
        if residual is None:
            A = Xj
            for i, (W, b) in enumerate(ps):
                Z = W @ A + b
                A = jax.nn.relu(Z) if i < len(ps) - 1 else Z
            return A
        width, blocks, m = residual
        h = ps[0][0] @ Xj + ps[0][1]
        for blk in range(blocks):
            u = h
            for j in range(m):
                W, b = ps[1 + blk * m + j]
                u = W @ u + b if j == m - 1 else jax.nn.relu(W @ u + b)
            h = h + u
        return ps[-1][0] @ jax.nn.relu(h) + ps[-1][1]

    def loss(ps):
        z = logits(ps)
        return jnp.mean(jnp.maximum(z, 0) - z * Yj + jnp.log1p(jnp.exp(-jnp.abs(z))))

    def step(ps):
        g = jax.grad(loss)(ps)
        return jax.tree_util.tree_map(lambda p, d: p - LR * d, ps, g)

    many = jax.jit(lambda ps: jax.lax.fori_loop(0, iterations, lambda _, q: jax.vmap(step)(q), ps))
    return lambda: jax.block_until_ready(many(params))


def numpy_chain(layers, K, X, iterations):
    """The BLAS floor: only the matrix products of forward and backward, same shapes, every core."""
    rng = np.random.default_rng(0)
    Ws = [W for W, _ in mlp_params(layers, K, rng)]

    def run():
        for _ in range(iterations):
            As = [X]  # (n_0, m), shared: matmul broadcasts it over the K models
            for W in Ws:
                As.append(W @ As[-1])
            dZ = As[-1]
            for i in range(len(Ws) - 1, -1, -1):
                dZ @ np.swapaxes(As[i], -1, -2)
                if i:
                    dZ = np.swapaxes(Ws[i], -1, -2) @ dZ

    return run


def initlab_trainer(net, K, X, Y, iterations, **options):
    params = net.initialize("he_normal", rng=0, models=K)
    return lambda: train(net, params, X, Y, learning_rate=LR, iterations=iterations, record_every=iterations, **options)


def table(title: str, rows: list, base: float | None, against: str = "vs notebook") -> None:
    """Rows of (name, rate or None); beside each, ``rate / base`` (``against="vs notebook"``) or, for the wide
    shapes, ``base / rate``: the time of a step against the BLAS floor's (``against="time vs chain"``)."""
    print(f"\n{title}")
    print(f"  {'contender':52s} {'model-it/s':>12s} {against:>14s}")
    for name, rate in rows:
        shown = "not installed" if rate is None else f"{rate:12,.0f}" if rate >= 1000 else f"{rate:12.1f}"
        ratio = (
            ""
            if rate is None or base is None
            else f"{(rate / base if against == 'vs notebook' else base / rate):13.2f}x"
        )
        print(f"  {name:52s} {shown:>12s} {ratio:>14s}")


def small(X, Y, repeat: int, quick: bool) -> None:
    K, n, n_ref = (64, 200, 100) if quick else (256, 2000, 300)
    layers = tuple(course.NOTEBOOK_LAYERS)
    he = course.initialize_parameters_he(list(layers))
    with threadpool_limits(limits=1, user_api="blas"):
        from bench_engine import notebook_loop

        base = n_ref / best(lambda: notebook_loop(X, Y, dict(he), n_ref), repeat)
        rows = [("the notebook's loop (course.*, one model at a time)", base)]
        for name, make in (("torch float64, bmm + autograd, 1 thread", torch_trainer),
                           ("JAX x64, jit(fori_loop(vmap(step))), 1 XLA thread", jax_trainer)):  # fmt: skip
            run = make(layers, K, X, Y, n)
            rows.append((name, None if run is None else K * n / best(run, repeat)))
        net = MLP(layers)
        rows.append(("initlab numpy engine", K * n_ref / best(initlab_trainer(net, K, X, Y, n_ref), repeat)))
    cores = os.cpu_count()
    one, many, peak = interleaved(
        initlab_trainer(net, K, X, Y, n, engine="numba", threads=1),
        initlab_trainer(net, K, X, Y, n, engine="numba", threads=cores),
        repeat,
    )
    rows.append(("initlab numba engine, 1 thread", K * n / one))
    rows.append((f"initlab numba engine, {cores} threads", K * n / many))
    with threadpool_limits(limits=1, user_api="blas"):  # float32: not a peer row (the peers run float64)
        single = K * n / best(initlab_trainer(net, K, X, Y, n, engine="numba", threads=1, dtype="float32"), repeat)
    table(f"small: {layers}, relu, K = {K}, {n:,} iterations (notebook loop and numpy engine {n_ref:,})", rows, base)
    from bench_kernel_parts import blas_burst_gflops
    from bench_kernels import flops_per_model_iteration

    print(f"  {'initlab numba engine, float32, 1 thread':52s} {single:12,.0f} {single / base:13.2f}x"
          f"  ({single / rows[-2][1]:.2f}x float64's)")  # fmt: skip
    peers = [rate for name, rate in rows[1:3] if rate is not None]
    one, flops = rows[-2][1], flops_per_model_iteration(layers, X.shape[1])
    print(f"  numba 1 thread: {one * flops / 1e9:.1f} GFLOP/s = {100 * one * flops / 1e9 / peak:.0f}% of one-thread "
          f"dgemm in this run ({peak:.1f} GFLOP/s sustained over 1 s, 512 x 512, timed between the numba runs; its "
          f"best single product {blas_burst_gflops(repeat):.1f})"
          + (f"; {one / max(peers):.2f}x the best peer per core" if peers else "")
          + f"; {cores} threads {rows[-1][1] / one:.2f}x 1 thread")  # fmt: skip


def interleaved(one_thread, all_threads, repeat: int) -> tuple[float, float, float]:
    """Best seconds of the compiled engine on one thread and on all, and the best sustained one-thread
    dgemm GFLOP/s, timed in ``repeat`` rounds of one of each (after one untimed round): the two ratios
    (share of dgemm, scaling to all cores) compare timings taken seconds apart, so that the machine's
    drift over a run (this VM's dgemm reads 16-19 GFLOP/s from minute to minute) moves both sides."""
    from bench_kernel_parts import blas_gflops

    one_thread(), all_threads()
    one, many, peak = np.inf, np.inf, 0.0
    for _ in range(repeat):
        with threadpool_limits(limits=1, user_api="blas"):
            start = time.perf_counter()
            one_thread()
            one = min(one, time.perf_counter() - start)
        start = time.perf_counter()
        all_threads()
        many = min(many, time.perf_counter() - start)
        peak = max(peak, blas_gflops(1, windows=1))
    return one, many, peak


def residual_shape(X, Y, repeat: int, quick: bool) -> None:
    K, n, (width, blocks, m) = (16, 30, (16, 8, 2)) if quick else (64, 300, (16, 8, 2))
    with threadpool_limits(limits=1, user_api="blas"):
        rows = []
        for name, make in (("torch float64, bmm + autograd, 1 thread", torch_trainer),
                           ("JAX x64, jit(fori_loop(vmap(step))), 1 XLA thread", jax_trainer)):  # fmt: skip
            run = make(None, K, X, Y, n, residual=(width, blocks, m))
            rows.append((name, None if run is None else K * n / best(run, repeat)))
        net = ResidualMLP(2, width, 1, blocks, branch_depth=m)
        # zero_last, not He: with He, 9 of 64 models diverge within 10 iterations and initlab stops training them,
        # which would flatter its rate; zero_last costs the same arithmetic per iteration and no model diverges.
        params = net.initialize("zero_last", rng=0, models=K)

        def trainer(**options):
            return lambda: train(net, params, X, Y, learning_rate=LR, iterations=n, record_every=n, **options)

        rows.append(("initlab numpy engine", K * n / best(trainer(), repeat)))
        rows.append(("initlab numba engine, 1 thread", K * n / best(trainer(engine="numba", threads=1), repeat)))
        single = K * n / best(trainer(engine="numba", threads=1, dtype="float32"), repeat)
    cores = os.cpu_count()
    rows.append(
        (f"initlab numba engine, {cores} threads", K * n / best(trainer(engine="numba", threads=cores), repeat))
    )
    table(
        f"residual: width {width}, {blocks} blocks of {m} layers, relu, K = {K}, {n} iterations, one core each "
        f"(numba also on {cores})",
        rows,
        None,
    )
    print(f"  {'initlab numba engine, float32, 1 thread':52s} {single:12,.0f}  ({single / rows[3][1]:.2f}x float64's)")


def wide(X, Y, repeat: int, quick: bool) -> None:
    shapes = [((2, 256, 256, 1), 2, 5)] if quick else [((2, 1024, 1024, 1), 4, 20), ((2, 2048, 2048, 1), 2, 10)]
    for layers, K, n in shapes:
        floor = K * n / best(numpy_chain(layers, K, X, n), repeat)
        rows = [("bare numpy matmul chain (the BLAS floor)", floor)]
        for name, make in (("torch float64, bmm + autograd, all threads", torch_trainer),
                           ("JAX x64, jit(fori_loop(vmap(step)))", jax_trainer)):  # fmt: skip
            run = make(layers, K, X, Y, n)
            rows.append((name, None if run is None else K * n / best(run, repeat)))
        rows.append(("initlab numpy engine", K * n / best(initlab_trainer(MLP(layers), K, X, Y, n), repeat)))
        table(f"wide: {layers}, relu, K = {K}, {n} iterations, every core ({os.cpu_count()})", rows, floor,
              against="time vs chain")  # fmt: skip
    print("  (JAX runs with one XLA thread throughout: its thread count is fixed when it is imported)")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="small sizes: checks that every contender runs")
    parser.add_argument(
        "--only", choices=("small", "residual", "wide"), nargs="+", default=("small", "residual", "wide")
    )
    args = parser.parse_args(argv)
    X, Y, _, _ = course.load_dataset()
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, {platform.machine()}, {os.cpu_count()} cores; "
          f"best of {args.repeat}; rates in model-iterations per second")  # fmt: skip
    for shape in args.only:
        {"small": small, "residual": residual_shape, "wide": wide}[shape](X, Y, args.repeat, args.quick)


if __name__ == "__main__":
    main()
