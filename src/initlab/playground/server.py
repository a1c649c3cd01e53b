"""The playground's web server: the static page, ``GET /api/options``, ``POST /api/validate`` and ``/ws``.

The WebSocket protocol (JSON both ways; one :class:`~initlab.playground.session.Run` per connection,
so tabs never share state, and closing a tab cancels its training). A run trains K = ``seeds`` models
at once; one of them, the *selected* one (model 0 until a ``select``), is the one whose boundary,
layers, weights and curve are sent.

client -> server
    ``{"action": "train", <PlaygroundConfig fields>, "paused": false}``: start a run (``paused: true``
    starts it paused at iteration 0); ``action`` and ``paused`` are the only non-config keys, and
    the short names of :data:`~initlab.playground.config.ALIASES` are accepted.
    ``{"action": "pause"}``, ``{"action": "resume"}``, ``{"action": "reset"}``.
    ``{"action": "step", "n": 1}``: n updates (1 <= n <= :data:`MAX_STEP`) of a paused run, then one
    progress message; the status stays "paused" (or becomes "done"). An error when nothing is paused.
    ``{"action": "speed", "speed": 200 | null}``: the pacing of the run from now on, in iterations per
    second (validated as the ``speed`` field; null: as fast as the machine goes).
    ``{"action": "select", "model": k}``: show model k (0 <= k < K) from now on; a progress message follows.
    ``{"action": "export", "format": "pytorch" | "jax" | "json"}``: the selected model's current
    weights as a file (:func:`initlab.export.render`: plain MLPs and residual nets).
    ``{"action": "coord_check", "config": {<train fields>}, "widths": [64, 128, 256], "steps": 3, "seeds": 2}``:
    a coordinate check for the page's settings (:mod:`~initlab.playground.coord`: its fields, limits and
    reply), computed in a worker thread while the tab's run goes on; one at a time per tab, and it counts
    toward ``max_trainings`` while it runs. Accepted: ``{"type": "coord_started", "estimate": {"seconds"}}``
    at once, the reply when done; refused: ``{"type": "error", "action": "coord_check", "errors"}``.
server -> client
    ``{"type": "error", "errors": [{"field", "message"}, ...]}`` (the connection stays open);
    ``{"type": "start", "config", "points", "seeds"}`` when a run starts (``seeds``: each model's seed
    label, :meth:`~initlab.playground.session.Run.seed_labels`: the int ``seed + k`` for
    ``notebook_he``, else the string ``"seed/k"``);
    ``{"type": "progress", "iteration", "iterations", "done", "diverged", "loss", "test_loss",
    "accuracy", "test_accuracy", "boundary": {"n", "extent", "p"}, "layers": [...],
    "curve": [[iteration, loss, test_loss], ...], "selected", "activation", "output",
    "weights": {"W": [W1, ...], "b": [b1, ...]}, "models": [{"loss", "test_loss", "accuracy",
    "test_accuracy", "diverged"}, ...], "curves": [[iteration, [loss_0, ..., loss_{K-1}]], ...],
    "jacobian": {"lo", "hi", "counts", "zeros", "values", "models", "examples", "stop", "median", "near_one",
    "max"} (every model's Jacobian spectrum, :mod:`~initlab.playground.session`; null for residual nets)}``
    about 1 / :data:`FRAME_SECONDS` times a second: everything but ``models`` and ``curves`` is of
    the selected model (``Wl``: n_l rows of n_{l-1} floats, full precision; ``bl``: n_l floats; a
    residual net's ``weights`` and ``layers``: :mod:`~initlab.playground.session`'s docstring);
    ``curve``/``curves``: the points since the last message, null where diverged or not finite;
    ``done``: every model diverged or the iterations are done;
    ``{"type": "status", "status": "training" | "paused" | "idle" | "done"}``;
    ``{"type": "export", "format", "filename", "media_type", "text"}``;
    ``{"type": "coord_check", "setting", "widths", "layers", "size", "slope", "readings", ...}``
    (:func:`initlab.playground.coord.reply`).

Pacing: at ``speed`` S iterations per second each frame trains about ``S * FRAME_SECONDS`` updates
(at least 1, fewer if the machine is slower) and then waits out the rest of its ``n / S`` seconds;
with ``speed`` null each frame trains as many updates as fit in ``FRAME_SECONDS``.

Limits (:mod:`initlab.playground.guard` keeps other hosts and web pages out): at most
``max_connections`` sockets (more are closed with 1013, "try again later"), at most
``max_trainings`` runs training at once over all tabs (2 per core; a further ``train`` gets an
error the page shows), a socket idle (no message, nothing training) for ``idle_seconds`` is closed
with 1001, messages over :data:`~initlab.playground.guard.MAX_MESSAGE` bytes close it with 1009,
and a message that is not a JSON object (binary, nested past any sense, an array) gets an error
reply while the connection goes on. Error replies quote at most ~100 characters of what was sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import time
from dataclasses import replace
from pathlib import Path

from starlette.applications import Starlette
from starlette.responses import FileResponse, JSONResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket, WebSocketDisconnect

from initlab.validation import excerpt

from . import coord
from .config import check_speed, options, validate
from .guard import MAX_MESSAGE, LocalOnly, allowed_hosts, is_loopback
from .session import Run

__all__ = ["create_app", "is_loopback", "probe", "running", "serve"]

STATIC = Path(__file__).resolve().parent / "static"
FRAME_SECONDS = 0.12  # training time between two progress messages: ~8 updates a second
MAX_STEP = 1000  # most updates of one "step" action
MAX_CHUNK = 5000  # most updates of one frame (a chunk in a worker thread)
ACTIONS = ("train", "pause", "resume", "reset", "step", "speed", "select", "export", "coord_check")
IDLE_SECONDS = 900.0  # a socket with no message and nothing training for this long is closed
MAX_CONNECTIONS = 32
MAX_TRAININGS = 2 * (os.cpu_count() or 1)


def _clipped(errors: list[dict]) -> list[dict]:
    """``[{field, message}, ...]`` cut so that no reply grows with what was sent (messages already quote
    at most ~100 characters of a value: :func:`initlab.validation.excerpt`; this bounds the rest)."""
    return [{"field": str(e["field"])[:100], "message": str(e["message"])[:500]} for e in errors[:20]]


def _error(field: str, message: str) -> dict:
    """An error reply over the WebSocket."""
    return {"type": "error", "errors": _clipped([{"field": field, "message": message}])}


class _Limits:
    """What all connections of one app share: how many are open and how many train."""

    def __init__(self, max_connections: int, max_trainings: int, idle_seconds: float):
        self.max_connections, self.max_trainings, self.idle_seconds = max_connections, max_trainings, idle_seconds
        self.connections = 0
        self.trainings = 0


def create_app(
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    allow_origins=(),
    max_connections: int = MAX_CONNECTIONS,
    max_trainings: int = MAX_TRAININGS,
    idle_seconds: float = IDLE_SECONDS,
):
    """The ASGI application for a server on ``host:port``: Starlette behind the :class:`~initlab.playground.guard.LocalOnly` guard.

    Parameters
    ----------
    host, port : where it is served (its own ``Host`` and ``Origin``; the loopback names always count)
    allow_origins : further web origins allowed to use it (``--allow-origin``), e.g. ``"http://example.local:3000"``
    max_connections, max_trainings, idle_seconds : the limits in the module docstring
    """
    limits = _Limits(max_connections, max_trainings, idle_seconds)

    async def index(request):
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    async def api_options(request):
        return JSONResponse(options())

    async def api_validate(request):
        raw = _parse(await request.body())
        if raw is None:
            return JSONResponse(
                {"ok": False, "errors": [{"field": "config", "message": "The request body must be a JSON object."}]},
                422,
            )
        config, errors = validate(raw)
        if errors:
            return JSONResponse({"ok": False, "errors": _clipped(errors)}, 422)
        return JSONResponse({"ok": True, "config": config.to_json()})

    app = Starlette(routes=[
        Route("/", index),
        Route("/api/options", api_options),
        Route("/api/validate", api_validate, methods=["POST"]),
        WebSocketRoute("/ws", lambda websocket: _Connection(websocket, limits).serve()),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ])  # fmt: skip
    return LocalOnly(app, hosts=allowed_hosts(host, port), origins=allow_origins)


def _parse(data: bytes | str):
    """A JSON object from a request or message, or None (not JSON, not an object, nested too deep, not UTF-8)."""
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        return None
    return value if isinstance(value, dict) else None


class _Connection:
    """One tab: its own run, its own training task, cancelled when the socket closes."""

    def __init__(self, websocket: WebSocket, limits: _Limits):
        self.ws = websocket
        self.limits = limits
        self.run: Run | None = None
        self.task: asyncio.Task | None = None
        self.resume = asyncio.Event()  # clear while paused
        self.resume.set()
        self.wake = asyncio.Event()  # ends a frame's pacing wait early (pause, speed)
        self.lock = asyncio.Lock()  # one computation on the run at a time: a frame, a step, a select, an export
        self.coord_task: asyncio.Task | None = None  # the tab's coordinate check, at most one
        self.handlers = {"train": self.on_train, "pause": self.on_pause, "resume": self.on_resume,
                         "reset": self.on_reset, "step": self.on_step, "speed": self.on_speed,
                         "select": self.on_select, "export": self.on_export,
                         "coord_check": self.on_coord_check}  # fmt: skip

    async def serve(self):
        if self.limits.connections >= self.limits.max_connections:  # accepted, so the page learns why
            await self.ws.accept()
            await self.ws.close(code=1013, reason="too many open playground tabs; close one and reload")
            return
        self.limits.connections += 1
        try:
            await self.ws.accept()
            while True:
                try:
                    message = await asyncio.wait_for(
                        self.ws.receive(), None if self.training else self.limits.idle_seconds
                    )
                except asyncio.TimeoutError:
                    if self.training:
                        continue  # a run started while we waited: not idle
                    await self.ws.close(code=1001, reason="idle: reload the page to go on")
                    break
                if message["type"] == "websocket.disconnect":
                    break
                data = message.get("text")
                if data is None:  # a binary frame
                    await self.send(_error("message", "Messages must be text frames holding a JSON object."))
                elif len(data) > MAX_MESSAGE:  # uvicorn enforces this on the wire; TestClient does not
                    await self.ws.close(code=1009, reason="message too big")
                    break
                else:
                    await self.handle(data)
        except WebSocketDisconnect:
            pass
        finally:
            self.limits.connections -= 1
            if self.coord_task is not None:  # its thread finishes its (bounded) check; nobody reads the reply
                self.coord_task.cancel()
            await self.stop()
            self.release()

    @property
    def training(self) -> bool:
        """A run's task is alive (training or paused)."""
        return self.task is not None and not self.task.done()

    async def handle(self, text: str) -> None:
        message = _parse(text)
        if message is None:
            return await self.send(_error("message", 'Messages must be JSON objects, e.g. {"action": "train"}.'))
        action = message.get("action")
        handler = self.handlers.get(action) if isinstance(action, str) else None
        if handler is None:
            shown = repr(action) if len(repr(action)) <= 100 else repr(action)[:100] + "..."
            allowed = ", ".join(repr(a) for a in ACTIONS)
            return await self.send(_error("action", f"Unknown action {shown}. Allowed: {allowed}."))
        await handler(message)

    async def on_train(self, message: dict) -> None:
        config, errors = validate(message)
        if errors:
            return await self.send({"type": "error", "errors": _clipped(errors)})
        await self.stop()
        self.release()
        if self.limits.trainings >= self.limits.max_trainings:
            return await self.send(_error("config", f"The server is busy: {self.limits.trainings} runs are training (the most "
                                                    "it runs at once). Try again when one of them ends."))  # fmt: skip
        try:
            self.run = await asyncio.to_thread(Run, config)
        except (TypeError, ValueError) as exc:  # a combination the engine refuses
            return await self.send(_error("config", str(exc)))
        start = {"type": "start", "config": config.to_json(), "points": self.run.points(), "seeds": self.run.seed_labels()}  # fmt: skip
        await self.send(start)
        if message.get("paused", False):
            self.resume.clear()
        else:
            self.resume.set()
        await self.send({"type": "status", "status": "training" if self.resume.is_set() else "paused"})
        await self.send(await asyncio.to_thread(self.run.snapshot))  # iteration 0, before any step or frame
        self.task = asyncio.create_task(self.train())

    async def on_pause(self, message: dict) -> None:
        if self.training:
            self.resume.clear()
            self.wake.set()
            await self.send({"type": "status", "status": "paused"})

    async def on_resume(self, message: dict) -> None:
        if self.training:
            self.resume.set()
            await self.send({"type": "status", "status": "training"})

    async def on_reset(self, message: dict) -> None:
        await self.stop()
        self.release()
        await self.send({"type": "status", "status": "idle"})

    async def on_step(self, message: dict) -> None:
        n = message.get("n", 1)
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_STEP:
            return await self.send(_error("n", f"The 'n' field of a step must be an integer from 1 to {MAX_STEP}. Got {excerpt(n)} instead."))  # fmt: skip
        if not self.training or self.run.done:
            return await self.send(_error("action", "There is no run to step (none, or it is done). Start one paused: "
                                                    '{"action": "train", ..., "paused": true}.'))  # fmt: skip
        if self.resume.is_set():
            return await self.send(_error("action", 'The run is training; pause it ({"action": "pause"}) to step it.'))
        async with self.lock:
            await asyncio.to_thread(self.run.step, n)
            await self.send(await asyncio.to_thread(self.run.snapshot))
        if self.run.done:
            self.resume.set()  # the training task sees the end and reports "done"

    async def on_speed(self, message: dict) -> None:
        if "speed" not in message:
            return await self.send(_error("speed", 'The speed action needs a \'speed\': iterations per second, or null '
                                                   'for as fast as it goes, e.g. {"action": "speed", "speed": 200}.'))  # fmt: skip
        speed, errors = check_speed(message["speed"])
        if errors:
            return await self.send({"type": "error", "errors": _clipped(errors)})
        if self.run is not None:
            self.run.config = replace(self.run.config, speed=speed)  # the pacing of the next frame
            self.wake.set()

    async def on_select(self, message: dict) -> None:
        model = message.get("model")
        if self.run is None:
            return await self.send(_error("model", "There is no run to select a model of; start one with train."))
        K = self.run.K
        if isinstance(model, bool) or not isinstance(model, int) or not 0 <= model < K:
            return await self.send(_error("model", f"The 'model' field must be an integer from 0 to {K - 1} (this run "
                                                   f"trains {K} seed{'s' if K > 1 else ''}). Got {excerpt(model)} instead."))  # fmt: skip
        async with self.lock:
            self.run.select(model)
            await self.send(await asyncio.to_thread(self.run.snapshot))

    async def on_export(self, message: dict) -> None:
        fmt = message.get("format")
        if self.run is None:
            return await self.send(_error("format", "There is no run to export; start one with train."))
        if not isinstance(fmt, str):
            return await self.send(_error("format", f"The 'format' field must be a format name such as 'pytorch', 'jax' or 'json'. Got {excerpt(fmt)} instead."))  # fmt: skip
        try:
            async with self.lock:
                out = await asyncio.to_thread(self.run.export, fmt)
        except ImportError:
            return await self.send(_error("format", "Export is not available in this installation (initlab.export)."))
        except (TypeError, ValueError) as exc:
            return await self.send(_error("format", str(exc)))
        await self.send({"type": "export", "format": fmt, "filename": out.filename, "media_type": out.media_type,
                         "text": out.text})  # fmt: skip

    async def on_coord_check(self, message: dict) -> None:
        request, errors = coord.validate_request(message)
        if errors:
            return await self.send({"type": "error", "action": "coord_check", "errors": _clipped(errors)})
        busy = None
        if self.coord_task is not None and not self.coord_task.done():
            busy = "A coordinate check of this tab is running; wait for its chart."
        elif self.limits.trainings >= self.limits.max_trainings:
            busy = (f"The server is busy: {self.limits.trainings} runs and checks are computing (the most it runs at "
                    "once). Try again when one of them ends.")  # fmt: skip
        if busy:
            return await self.send({"type": "error", "action": "coord_check", "errors": _clipped([{"field": "coord_check", "message": busy}])})  # fmt: skip
        self.limits.trainings += 1  # counted from now, so that two messages in a row cannot both pass the check
        await self.send({"type": "coord_started", "estimate": {"seconds": request.seconds}})
        self.coord_task = asyncio.create_task(self.coord_check(request))

    async def coord_check(self, request) -> None:
        """Compute the check in a worker thread (BLAS on one thread there) and send its reply.

        The count in ``max_trainings`` is released when the thread ends, not when the tab goes (a closed
        tab cancels this task, but a thread cannot be stopped: its check, bounded by
        :data:`~initlab.playground.coord.MAX_SECONDS`, runs out)."""
        work = asyncio.ensure_future(asyncio.to_thread(coord.compute, request))
        work.add_done_callback(self._coord_done)
        try:
            reply = await asyncio.shield(work)
        except (TypeError, ValueError) as exc:  # a combination the library refuses
            reply = {"type": "error", "action": "coord_check", "errors": _clipped([{"field": "config", "message": str(exc)}])}  # fmt: skip
        await self.send(reply)

    def _coord_done(self, work: asyncio.Future) -> None:
        self.limits.trainings -= 1
        if not work.cancelled():
            work.exception()  # retrieved: a tab closed before the reply leaves no "never retrieved" warning

    async def train(self) -> None:
        """Train frames until the run is done: each ~FRAME_SECONDS of updates (or paced by speed), then a progress."""
        run = self.run
        self.limits.trainings += 1
        try:
            chunk = 20  # the updates that fit in FRAME_SECONDS, measured as it goes
            while not run.done:
                await self.resume.wait()
                if run.done:  # a step finished it while paused
                    break
                frame, speed = time.perf_counter(), run.config.speed
                n = chunk if speed is None else min(chunk, max(1, round(speed * FRAME_SECONDS)))
                async with self.lock:
                    start = time.perf_counter()
                    await asyncio.to_thread(run.step, n)
                    elapsed = time.perf_counter() - start
                    await self.send(await asyncio.to_thread(run.snapshot))
                # Aim at FRAME_SECONDS of training per message, whatever the network's size.
                chunk = max(1, min(MAX_CHUNK, int(n * FRAME_SECONDS / max(elapsed, 1e-4))))
                if speed is not None:  # pacing: this frame's n updates take n / speed seconds
                    await self.pace(frame + n / speed - time.perf_counter())
            await self.send({"type": "status", "status": "done"})
        finally:
            self.limits.trainings -= 1

    async def pace(self, seconds: float) -> None:
        """Wait ``seconds`` unless woken (pause, a new speed)."""
        if seconds > 0:
            self.wake.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.wake.wait(), seconds)

    def release(self) -> None:
        """Drop the run and hand its memory back to the system (its arrays were allocated in worker threads,
        whose malloc arenas glibc keeps otherwise: ~580 MB after rounds of the largest nets)."""
        self.run = None
        gc.collect()
        _trim_heap()

    async def stop(self) -> None:
        if self.run is not None:
            self.run.cancelled = True  # the chunk in flight in its thread ends at its next curve point
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task
            self.task = None

    async def send(self, message: dict) -> None:
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            await self.ws.send_text(json.dumps(message))


def _trim_heap() -> None:
    """glibc's ``malloc_trim(0)``: return freed heap pages to the system (elsewhere nothing to do)."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if name:
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(name).malloc_trim(0)


def _uvicorn_config(app, **kw):
    import uvicorn

    return uvicorn.Config(
        app, log_level="warning", ws_max_size=MAX_MESSAGE, ws_ping_interval=20.0, ws_ping_timeout=20.0, **kw
    )


def serve(host: str = "127.0.0.1", port: int = 8000, *, open_browser: bool = False, allow_origins=()) -> None:
    """Run the playground with uvicorn until interrupted (I/O only: the CLI's ``initlab playground``)."""
    import threading
    import webbrowser

    import uvicorn

    probe(host, port)
    url = f"http://{'[' + host + ']' if ':' in host else host}:{port}/"
    if open_browser:
        threading.Timer(1.0, webbrowser.open, args=(url,)).start()
    with one_blas_thread():
        uvicorn.Server(_uvicorn_config(create_app(host, port, allow_origins=allow_origins), host=host, port=port)).run()


def probe(host: str, port: int) -> None:
    """Raise OSError now if ``host:port`` cannot be listened on (taken, or not this machine's address).

    The CLI calls it before it prints anything, so a refusal is its one line, not uvicorn's log and exit.
    """
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))


def one_blas_thread():
    """Limit BLAS to one thread while serving: tabs train in parallel threads, and OpenBLAS's own
    threads on top of them oversubscribe the cores (measured 20-100x slower steps on a busy 2-core machine)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


@contextlib.contextmanager
def running(host: str = "127.0.0.1", port: int = 0, **app_options):
    """Serve the playground in a background thread; yield its base URL; always stop it on exit.

    ``port=0`` takes a free port (the socket is bound before the server starts, so no race);
    ``app_options`` go to :func:`create_app`. For tests and scripts that drive the page::

        with running() as url:
            ...  # open url + "?init=zeros" in a browser
    """
    import socket
    import threading

    import uvicorn

    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound = sock.getsockname()[1]
    server = uvicorn.Server(_uvicorn_config(create_app(host, bound, **app_options), lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    blas = one_blas_thread()
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the playground server did not start")
            time.sleep(0.02)
        yield f"http://{'[' + host + ']' if ':' in host else host}:{bound}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        blas.restore_original_limits()
