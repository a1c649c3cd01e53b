"""Where a job's pieces run: in this process, a local process pool, or a Dask cluster.

A job (a sweep's chunks, a study's units) is a function mapped over pieces. Every executor yields
the results as they finish (in any order), with at most ``2 x workers`` pieces submitted and not
yet collected: the driver holds a bounded number of results however large the job. A piece gives
the same numbers on any of them (its randomness comes from its own streams, :mod:`initlab.seeding`).

``local``
    ``workers == 1``: in the driver process. Otherwise a
    :class:`concurrent.futures.ProcessPoolExecutor` with the ``forkserver`` start method (``spawn``
    where there is none); workers pin BLAS to one thread and ignore SIGINT (the driver handles
    Ctrl-C and stops them) and exit when the driver is gone, even after ``kill -9``. If a worker
    dies (e.g. killed for memory), the pool is rebuilt and its pieces are tried again, at most
    :data:`MAX_ATTEMPTS` times each.
``dask``
    A ``distributed.LocalCluster`` of ``workers`` one-thread processes on 127.0.0.1, or an existing
    cluster given by its scheduler address. Dask reschedules the pieces of a worker that dies.

A compiled engine's threads (numba's ``prange`` over models) get the cores shared out among the
workers of a local pool or LocalCluster (``NUMBA_NUM_THREADS``), so that they do not oversubscribe.
Dask is an optional dependency (``pip install 'initlab[dask]'``), imported only here.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import multiprocessing as mp
import os
import socket
from collections.abc import Callable, Iterable, Iterator

from initlab.validation import check_choice, check_int, excerpt

__all__ = ["EXECUTORS", "MAX_ATTEMPTS", "default_workers", "open_executor"]

EXECUTORS = ("local", "dask")
MAX_ATTEMPTS = 3  # a piece whose worker died this often fails the job (it is probably what kills it)


def default_workers() -> int:
    """The cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


@contextlib.contextmanager
def open_executor(kind: str = "local", *, workers: int | None = None, scheduler: str | None = None):
    """Yield ``imap(fn, items) -> iterator of fn(item)`` (completion order) for the chosen executor.

    Parameters
    ----------
    kind : {"local", "dask"}
    workers : int >= 1, optional
        Processes (local) or LocalCluster workers (dask); default: the number of cores.
    scheduler : str, optional
        ``tcp://host:port`` of an existing Dask scheduler (``kind="dask"`` only); its workers are used.

    Raises
    ------
    ValueError
        Bad arguments, or Dask requested but not installed (the message says how to install it).
    """
    check_choice("executor", kind, EXECUTORS)
    workers = default_workers() if workers is None else check_int("workers", workers, min_value=1)
    if scheduler is not None and kind != "dask":
        raise ValueError(
            f"The 'scheduler' parameter is for executor='dask'. Got executor={kind!r}; add --executor dask."
        )
    if scheduler is not None:
        check_scheduler(scheduler)
    if kind == "dask":
        with _dask(workers, scheduler) as imap:
            yield imap
    elif workers == 1:
        yield lambda fn, items: map(fn, items)
    else:
        with _LocalPool(workers) as pool:
            yield pool.imap


# --------------------------------------------------------------------------------------------
# Local process pool
# --------------------------------------------------------------------------------------------
def _thread_env(workers: int) -> dict[str, str]:
    """Threads per worker: one for BLAS, the cores shared out for a compiled engine's threads."""
    return {"OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
            "NUMBA_NUM_THREADS": str(max(1, default_workers() // workers))}  # fmt: skip


def _worker_init(driver_alive, env: dict[str, str]) -> None:
    """In each worker: leave Ctrl-C to the driver; one BLAS thread (the pieces are the parallelism);
    exit as soon as the driver is gone (``driver_alive`` reads EOF)."""
    import signal
    import threading

    os.environ.update(env)  # before numpy and numba load: they read these once
    import numpy  # noqa: F401  (load BLAS, so that the limit applies to it)
    from threadpoolctl import threadpool_limits

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    global _BLAS_LIMIT
    _BLAS_LIMIT = threadpool_limits(limits=1, user_api="blas")
    threading.Thread(target=_exit_with_driver, args=(driver_alive,), daemon=True).start()


def _exit_with_driver(driver_alive) -> None:
    """Block until the driver's end of the pipe closes (it never writes), then leave.

    A killed driver (``kill -9``) cannot stop its pool, and ProcessPoolExecutor's workers would
    wait for work forever (each holds a write end of the work queue, so they never see EOF there).
    """
    try:
        driver_alive.recv()
    except (EOFError, OSError):
        pass
    os._exit(0)


_BLAS_LIMIT = None


def _terminate(pool) -> None:
    """Stop a ProcessPoolExecutor's workers now (after Ctrl-C: their chunks in progress are lost anyway,
    nothing of them is committed), so that ``pool.shutdown(wait=True)`` returns.

    Terminating is not enough. A worker stopped while it writes its result (a sweep chunk's is
    ~400 KB, several pipe buffers) leaves half a message in the result pipe; the pool's manager
    thread, blocked reading the rest, never returns, and neither does ``shutdown``: the driver hung
    after Ctrl-C (8 of 10 trials with 4 MB results, ``tests/test_sweeps_kill.py``). The
    driver holds the pipe's other write end; once every worker is gone, closing it gives the reader
    end-of-file, the manager thread marks the pool broken and ``shutdown`` completes.
    ProcessPoolExecutor has no public terminate: this reaches its ``_processes`` and ``_result_queue``.
    """
    processes = list((getattr(pool, "_processes", None) or {}).values())
    for process in processes:
        process.terminate()
    for process in processes:
        process.join(5.0)
        if process.is_alive():  # SIGTERM ignored or stuck: the closing below needs every writer gone
            process.kill()
            process.join()
    writer = getattr(getattr(pool, "_result_queue", None), "_writer", None)
    if writer is not None:
        writer.close()


class _LocalPool:
    def __init__(self, workers: int):
        self.workers = workers
        methods = mp.get_all_start_methods()
        self.context = mp.get_context("forkserver" if "forkserver" in methods else "spawn")
        self.pool = None
        self._alive = None  # the driver's end of the pipe the workers watch

    def _start(self):
        from concurrent.futures import ProcessPoolExecutor

        watch, self._alive = self.context.Pipe(duplex=False)
        # The helper processes multiprocessing starts with the pool (its resource tracker, the
        # forkserver) inherit this: after Ctrl-C the tracker would print a raw "leaked semaphore"
        # warning for the queues of the workers it stopped, after initlab's own one-line message.
        saved = os.environ.get("PYTHONWARNINGS")
        os.environ["PYTHONWARNINGS"] = "ignore:resource_tracker:UserWarning" + (f",{saved}" if saved else "")
        try:
            self.pool = ProcessPoolExecutor(self.workers, mp_context=self.context, initializer=_worker_init,
                                            initargs=(watch, _thread_env(self.workers)))  # fmt: skip
        finally:
            if saved is None:
                os.environ.pop("PYTHONWARNINGS", None)
            else:
                os.environ["PYTHONWARNINGS"] = saved
        self._watch = watch  # closed once the workers have it (they start lazily, on the first submit)

    def __enter__(self):
        self._start()
        return self

    def __exit__(self, kind, exc, tb):
        self._stop(interrupted=kind is not None)
        return False

    def _stop(self, *, interrupted: bool):
        if self.pool is None:
            return
        if interrupted:
            _terminate(self.pool)
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.pool = None
        self._watch.close()
        self._alive.close()

    def imap(self, fn: Callable, items: Iterable) -> Iterator:
        from concurrent.futures import FIRST_COMPLETED, wait
        from concurrent.futures.process import BrokenProcessPool

        source = iter(items)
        limit = 2 * self.workers
        attempts: dict[int, int] = {}
        in_flight = {}  # future -> (index, item)
        queue: list[tuple[int, object]] = []  # items to resubmit after a worker died

        def submit_more():
            while len(in_flight) < limit:
                if queue:
                    index, item = queue.pop(0)
                else:
                    nxt = next(source, _END)
                    if nxt is _END:
                        return
                    index, item = next(counter), nxt
                in_flight[self.pool.submit(fn, item)] = (index, item)

        counter = itertools.count()
        submit_more()
        while in_flight:
            finished, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            for future in finished:
                index, item = in_flight.pop(future)
                try:
                    result = future.result()
                except BrokenProcessPool:
                    # Every piece in flight is lost with the pool: rebuild it and try them again.
                    queue.append((index, item))
                    queue.extend(in_flight.values())
                    in_flight.clear()
                    for lost, _ in queue:
                        attempts[lost] = attempts.get(lost, 0) + 1
                        if attempts[lost] >= MAX_ATTEMPTS:
                            raise RuntimeError(
                                f"a worker process died {MAX_ATTEMPTS} times while training the same chunk (out of "
                                "memory?). Try a smaller --chunk-size or fewer --workers."
                            ) from None
                    self._stop(interrupted=True)
                    self._start()
                    submit_more()
                    break
                submit_more()  # keep the workers busy while the driver stores this result
                yield result


_END = object()


# --------------------------------------------------------------------------------------------
# Dask
# --------------------------------------------------------------------------------------------
def check_scheduler(address: str, timeout: float = 5.0) -> str:
    """``address`` if a TCP connection to it opens within ``timeout`` seconds; else a ValueError saying what to give.

    A quick look before anything is printed or stored; Dask's client connects for real later.
    """
    from urllib.parse import urlsplit

    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        host, port = None, None
    problem = "not of the form tcp://HOST:PORT" if not host or port is None else None
    if problem is None:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
        except OSError as exc:
            problem = exc.strerror or str(exc) or type(exc).__name__
    if problem is not None:
        raise ValueError(
            f"The 'scheduler' parameter {excerpt(address)} cannot be reached ({problem}). Give the address a running "
            "dask scheduler prints, e.g. tcp://127.0.0.1:8786."
        )
    return address


@contextlib.contextmanager
def _dask(workers: int, scheduler: str | None):
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ValueError(
            "The 'executor' parameter 'dask' needs Dask, which is not installed: pip install 'initlab[dask]'."
        ) from None
    cluster = None
    if scheduler is None:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                               dashboard_address=None, silence_logs=logging.ERROR, env=_thread_env(workers))  # fmt: skip
        client = Client(cluster)
    else:
        try:
            client = Client(scheduler, timeout="10s")
        except OSError as exc:
            raise ValueError(
                f"The 'scheduler' parameter {scheduler!r} cannot be reached ({exc}). Give the address a running "
                "dask scheduler prints, e.g. tcp://127.0.0.1:8786."
            ) from None
    try:
        yield lambda fn, items: _dask_imap(client, fn, items)
    finally:
        if cluster is not None:
            client.shutdown()  # our LocalCluster: stop its scheduler and workers
        else:
            client.close()  # someone else's cluster: only disconnect


def _dask_imap(client, fn: Callable, items: Iterable) -> Iterator:
    from distributed import as_completed

    n_workers = max(1, len(client.scheduler_info().get("workers", {})))
    source = iter(items)
    pending = as_completed()
    for item in itertools.islice(source, 2 * n_workers):
        pending.add(client.submit(fn, item, pure=False))
    for future in pending:
        result = future.result()
        future.release()
        nxt = next(source, _END)
        if nxt is not _END:
            pending.add(client.submit(fn, nxt, pure=False))
        yield result
