"""The playground's web server: the static page, ``GET /api/options``, ``POST /api/validate`` and ``/ws``.

The WebSocket protocol (JSON both ways; one :class:`~initlab.playground.session.Run` per connection,
so tabs never share state, and closing a tab cancels its training):

client -> server
    ``{"action": "train", <RunConfig fields>}``, ``{"action": "pause"}``, ``{"action": "resume"}``,
    ``{"action": "reset"}``
server -> client
    ``{"type": "error", "errors": [{"field", "message"}, ...]}`` (the connection stays open);
    ``{"type": "start", "config", "points", "layers"}`` when a run starts;
    ``{"type": "progress", "iteration", "loss", "test_loss", "accuracy", "test_accuracy",
    "boundary": {"n", "extent", "p"}, "layers": [...], "curve": [[iteration, loss, test_loss], ...],
    "done", "diverged"}`` several times a second (``curve``: the loss points since the last message);
    ``{"type": "status", "status": "training" | "paused" | "idle" | "done"}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from pathlib import Path

from starlette.applications import Starlette
from starlette.responses import FileResponse, JSONResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket, WebSocketDisconnect

from .config import options, validate
from .session import Run

__all__ = ["create_app", "is_loopback", "running", "serve"]

STATIC = Path(__file__).resolve().parent / "static"
FRAME_SECONDS = 0.12  # training time between two progress messages: ~8 updates a second


def create_app() -> Starlette:
    """The Starlette application (tests drive it with a uvicorn server or TestClient)."""

    async def index(request):
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    async def api_options(request):
        return JSONResponse(options())

    async def api_validate(request):
        try:
            raw = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return JSONResponse({"ok": False, "errors": [{"field": "config", "message": "The request body must be a JSON object."}]}, 422)
        config, errors = validate(raw)
        if errors:
            return JSONResponse({"ok": False, "errors": errors}, 422)
        return JSONResponse({"ok": True, "config": config.to_json()})

    return Starlette(routes=[
        Route("/", index),
        Route("/api/options", api_options),
        Route("/api/validate", api_validate, methods=["POST"]),
        WebSocketRoute("/ws", lambda websocket: _Connection(websocket).serve()),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ])  # fmt: skip


class _Connection:
    """One tab: its own run, its own training task, cancelled when the socket closes."""

    def __init__(self, websocket: WebSocket):
        self.ws = websocket
        self.run: Run | None = None
        self.task: asyncio.Task | None = None
        self.resume = asyncio.Event()
        self.resume.set()

    async def serve(self):
        await self.ws.accept()
        try:
            while True:
                text = await self.ws.receive_text()
                await self.handle(text)
        except WebSocketDisconnect:
            pass
        finally:
            await self.stop()

    async def handle(self, text: str) -> None:
        try:
            message = json.loads(text)
        except json.JSONDecodeError:
            return await self.send({"type": "error", "errors": [{"field": "message", "message": "Messages must be JSON objects."}]})
        action = message.get("action") if isinstance(message, dict) else None
        if action == "train":
            config, errors = validate(message)
            if errors:
                return await self.send({"type": "error", "errors": errors})
            await self.stop()
            try:
                self.run = await asyncio.to_thread(Run, config)
            except (TypeError, ValueError) as exc:  # a combination the engine refuses
                return await self.send({"type": "error", "errors": [{"field": "config", "message": str(exc)}]})
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
            self.run = None
            await self.send({"type": "status", "status": "idle"})
        elif action not in ("pause", "resume"):
            await self.send({"type": "error", "errors": [{"field": "action", "message": f"Unknown action {action!r}. Allowed: 'train', 'pause', 'resume', 'reset'."}]})  # fmt: skip

    async def train(self) -> None:
        run = self.run
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

    async def stop(self) -> None:
        if self.run is not None:
            self.run.cancelled = True  # the chunk in flight in its thread ends at the next iteration
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task
            self.task = None

    async def send(self, message: dict) -> None:
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            await self.ws.send_text(json.dumps(message))


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost: a server only this machine can reach."""
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(host: str = "127.0.0.1", port: int = 8000, *, open_browser: bool = False) -> None:
    """Run the playground with uvicorn until interrupted (I/O only: the CLI's ``initlab playground``)."""
    import threading
    import webbrowser

    import uvicorn

    import socket

    # Fail with OSError (the CLI's clear message) rather than uvicorn's log line and exit when the port is taken.
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))
    url = f"http://{'[' + host + ']' if ':' in host else host}:{port}/"
    if open_browser:
        threading.Timer(1.0, webbrowser.open, args=(url,)).start()
    with one_blas_thread():
        uvicorn.run(create_app(), host=host, port=port, log_level="warning")


def one_blas_thread():
    """Limit BLAS to one thread while serving: tabs train in parallel threads, and OpenBLAS's own
    threads on top of them oversubscribe the cores (measured 20-100x slower steps on a busy 2-core machine)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


@contextlib.contextmanager
def running(host: str = "127.0.0.1", port: int = 0):
    """Serve the playground in a background thread; yield its base URL; always stop it on exit.

    ``port=0`` takes a free port (the socket is bound before the server starts, so no race). For
    tests and scripts that drive the page::

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
    server = uvicorn.Server(uvicorn.Config(create_app(), log_level="warning", lifespan="off"))
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
