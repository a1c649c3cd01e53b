"""The playground's web server: the static page, ``GET /api/options``, ``POST /api/validate`` and ``/ws``.

The WebSocket protocol (JSON both ways; one :class:`~initlab.playground.session.Run` per connection,
so tabs never share state, and closing a tab cancels its training):

client -> server
    ``{"action": "train", <PlaygroundConfig fields>}``, ``{"action": "pause"}``, ``{"action": "resume"}``,
    ``{"action": "reset"}``
server -> client
    ``{"type": "error", "errors": [{"field", "message"}, ...]}`` (the connection stays open);
    ``{"type": "start", "config", "points", "layers"}`` when a run starts;
    ``{"type": "progress", "iteration", "loss", "test_loss", "accuracy", "test_accuracy",
    "boundary": {"n", "extent", "p"}, "layers": [...], "curve": [[iteration, loss, test_loss], ...],
    "done", "diverged"}`` several times a second (``curve``: the loss points since the last message);
    ``{"type": "status", "status": "training" | "paused" | "idle" | "done"}``.

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
from pathlib import Path

from starlette.applications import Starlette
from starlette.responses import FileResponse, JSONResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket, WebSocketDisconnect

from .config import options, validate
from .guard import MAX_MESSAGE, LocalOnly, allowed_hosts, is_loopback
from .session import Run

__all__ = ["create_app", "is_loopback", "probe", "running", "serve"]

STATIC = Path(__file__).resolve().parent / "static"
FRAME_SECONDS = 0.12  # training time between two progress messages: ~8 updates a second
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
        self.resume = asyncio.Event()
        self.resume.set()

    async def serve(self):
        if self.limits.connections >= self.limits.max_connections:  # accepted, so the page learns why
            await self.ws.accept()
            await self.ws.close(code=1013, reason="too many open playground tabs; close one and reload")
            return
        self.limits.connections += 1
        try:
            await self.ws.accept()
            while True:
                training = self.task is not None and not self.task.done()
                try:
                    message = await asyncio.wait_for(self.ws.receive(), None if training else self.limits.idle_seconds)
                except asyncio.TimeoutError:
                    if self.task is not None and not self.task.done():
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
            await self.stop()
            self.release()

    async def handle(self, text: str) -> None:
        message = _parse(text)
        if message is None:
            return await self.send(_error("message", 'Messages must be JSON objects, e.g. {"action": "train"}.'))
        action = message.get("action")
        if action == "train":
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
            await self.send({"type": "start", "config": config.to_json(), "points": self.run.points()})
            self.resume.set()
            self.task = asyncio.create_task(self.train())
        elif action == "pause" and self.task is not None and not self.task.done():
            self.resume.clear()
            await self.send({"type": "status", "status": "paused"})
        elif action == "resume" and self.task is not None and not self.task.done():
            self.resume.set()
            await self.send({"type": "status", "status": "training"})
        elif action == "reset":
            await self.stop()
            self.release()
            await self.send({"type": "status", "status": "idle"})
        elif action not in ("pause", "resume"):
            shown = repr(action) if len(repr(action)) <= 100 else repr(action)[:100] + "..."
            await self.send(_error("action", f"Unknown action {shown}. Allowed: 'train', 'pause', 'resume', 'reset'."))

    async def train(self) -> None:
        run = self.run
        self.limits.trainings += 1
        try:
            await self.send({"type": "status", "status": "training"})
            await self.send(await asyncio.to_thread(run.snapshot))
            chunk = 20
            while not run.done:
                await self.resume.wait()
                start = time.perf_counter()
                await asyncio.to_thread(run.step, chunk)
                elapsed = time.perf_counter() - start
                # Aim at FRAME_SECONDS of training per message, whatever the network's size.
                chunk = max(1, min(5000, int(chunk * FRAME_SECONDS / max(elapsed, 1e-4))))
                await self.send(await asyncio.to_thread(run.snapshot))
            await self.send({"type": "status", "status": "done"})
        finally:
            self.limits.trainings -= 1

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
