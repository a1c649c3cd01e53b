"""Who may talk to the playground, and how much: the page's own origin and host only, bounded sizes.

The playground trains on the user's CPU for whoever connects, so it must not be drivable by any
other web page the user visits:

* **Host** (DNS rebinding): a request whose ``Host`` header is not one of this server's own names
  with its port (``127.0.0.1``, ``localhost``, ``[::1]`` and the ``--host`` it was started on) is
  answered ``421 Misdirected Request``; a WebSocket handshake with such a host is refused.
* **Origin** (cross-site requests): a browser sends ``Origin`` with every WebSocket handshake and
  every POST. One that is not the page's own origin (``http://<allowed host>``) or one the user
  allowed (``--allow-origin``) gets ``403`` / a refused handshake; ``Origin: null`` too. Requests
  without ``Origin`` come from programs on this machine, not from a web page, and pass.
* **Size**: an HTTP body over :data:`MAX_BODY` bytes gets ``413`` before it is parsed (the body is
  read at most that far); WebSocket messages are bounded by the server (:data:`MAX_MESSAGE`).

Starlette's ``TrustedHostMiddleware`` answers 400 and knows nothing of origins or WebSocket
handshakes, hence this small ASGI middleware.
"""

from __future__ import annotations

import ipaddress

__all__ = ["MAX_BODY", "MAX_MESSAGE", "LocalOnly", "allowed_hosts", "check_origin"]

#: Largest HTTP request body, bytes (a run's settings are < 2 KB).
MAX_BODY = 64 * 1024
#: Largest WebSocket message, bytes (uvicorn closes the connection with 1009 past it).
MAX_MESSAGE = 64 * 1024


def _netloc(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def allowed_hosts(host: str, port: int) -> frozenset[str]:
    """The ``Host`` header values of this server: its loopback names and ``host``, with ``port``.

    On port 80 a browser omits the port, so the bare names count too. Compared lower-case.
    """
    names = {"127.0.0.1", "localhost", "::1", host.strip("[]").lower()}
    values = {_netloc(n, port) for n in names}
    if port == 80:
        values |= {f"[{n}]" if ":" in n else n for n in names}
    return frozenset(values)


def check_origin(origin: str) -> str:
    """``origin`` if it is a web origin ``scheme://host[:port]`` (for ``--allow-origin``); else ValueError."""
    from urllib.parse import urlsplit

    parts = urlsplit(origin)
    ok = parts.scheme in ("http", "https") and parts.hostname and not parts.path.strip("/") and not parts.query
    if not ok or origin != origin.strip():
        shown = origin if len(origin) <= 100 else origin[:100] + "..."
        raise ValueError(
            f"The '--allow-origin' option must be a web origin such as http://example.local:3000 "
            f"(scheme, host and port, no path). Got {shown!r} instead."
        )
    return origin.rstrip("/")


class LocalOnly:
    """ASGI middleware: refuse requests from other hosts and origins, and oversized bodies (module docstring).

    Parameters
    ----------
    app : the ASGI application it guards
    hosts : allowed ``Host`` header values (:func:`allowed_hosts`)
    origins : extra allowed origins besides ``http://<each host>``
    max_body : bytes
    """

    def __init__(self, app, *, hosts: frozenset[str], origins=(), max_body: int = MAX_BODY):
        self.app = app
        self.hosts = frozenset(h.lower() for h in hosts)
        self.origins = frozenset({f"http://{h}" for h in self.hosts} | {o.lower() for o in origins})
        self.max_body = max_body

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        host, origin = headers.get("host", "").lower(), headers.get("origin")
        if host not in self.hosts:
            return await self._refuse(
                scope, send, 421, "This playground answers only on its own address (Host header refused)."
            )
        if origin is not None and origin.lower() not in self.origins:
            return await self._refuse(
                scope, send, 403, "Requests from other web pages are refused (Origin not allowed)."
            )
        if scope["type"] == "http" and scope["method"] not in ("GET", "HEAD"):
            length = headers.get("content-length", "")
            if length.isdigit() and int(length) > self.max_body:
                return await self._refuse(scope, send, 413, f"The request body is larger than {self.max_body} bytes.")
            body = await self._read_body(receive)
            if body is None:
                return await self._refuse(scope, send, 413, f"The request body is larger than {self.max_body} bytes.")
            receive = _replay(body, receive)
        return await self.app(scope, receive, send)

    async def _read_body(self, receive) -> bytes | None:
        """The whole body, or None as soon as it passes ``max_body`` (the rest is never read)."""
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    @staticmethod
    async def _refuse(scope, send, status: int, text: str) -> None:
        if scope["type"] == "websocket":  # before accept: the server answers the handshake with 403
            await send({"type": "websocket.close", "code": 1008, "reason": text[:120]})
            return
        body = text.encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})  # fmt: skip
        await send({"type": "http.response.body", "body": body})


def _replay(body: bytes, receive):
    """A ``receive`` that gives the body already read, then waits on the connection as before."""
    sent = False

    async def replay():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost: a server only this machine can reach."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
