"""The playground lets in only its own page, bounds every size and survives hostile messages (real server, free port)."""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import time

import pytest

pytest.importorskip("starlette", reason="the playground needs the web extra: pip install -e '.[web]'")
pytest.importorskip("uvicorn")
ws_client = pytest.importorskip("websockets.sync.client")
from websockets.exceptions import ConnectionClosed  # noqa: E402

from initlab.playground.guard import MAX_BODY, MAX_MESSAGE, allowed_hosts, check_origin  # noqa: E402
from initlab.playground.server import running  # noqa: E402


@pytest.fixture(scope="module")
def url():
    with running() as base:
        yield base


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def _request(url, method, path, headers=None, body=None):
    """One raw HTTP request to the server at ``url``, with exactly the headers given (Host included)."""
    conn = http.client.HTTPConnection("127.0.0.1", _port(url), timeout=30)
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        for k, v in (headers or {}).items():
            conn.putheader(k, v)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def _handshake(url, host=None, origin=None) -> int:
    """The status of a WebSocket handshake on /ws: 101 accepted, 403 refused."""
    headers = {"Host": host or f"127.0.0.1:{_port(url)}", "Upgrade": "websocket", "Connection": "Upgrade",
               "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version": "13"}  # fmt: skip
    if origin is not None:
        headers["Origin"] = origin
    with socket.create_connection(("127.0.0.1", _port(url)), timeout=10) as s:
        s.sendall(("GET /ws HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n").encode())
        return int(s.recv(4096).split(b" ", 2)[1])


# ---------------------------------------------------------------------------- Host (DNS rebinding)
@pytest.mark.parametrize("host", ["evil.example.com", "evil.example.com:{port}", "127.0.0.1.evil.example.com:{port}",
                                  "127.0.0.1:1", ""])  # fmt: skip
def test_a_foreign_host_gets_421_and_no_page(url, host):
    status, body = _request(url, "GET", "/", {"Host": host.format(port=_port(url))} if host else {})
    assert status == (421 if host else 400) and b"<html" not in body.lower()  # no Host at all: HTTP/1.1's own 400
    assert _handshake(url, host=host.format(port=_port(url)) or "x") == 403


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "LOCALHOST:{port}", "[::1]:{port}"])
def test_the_servers_own_names_get_the_page(url, host):
    status, body = _request(url, "GET", "/", {"Host": host.format(port=_port(url))})
    assert status == 200 and b'id="train"' in body


# ---------------------------------------------------------------------------- Origin (cross-site)
@pytest.mark.parametrize("origin", ["http://evil.example.com", "null", "http://127.0.0.1.evil.example.com:{port}",
                                    "http://127.0.0.1:1", "https://127.0.0.1:{port}", "http://127.0.0.1"])  # fmt: skip
def test_another_origin_cannot_open_the_socket_or_post(url, origin):
    origin = origin.format(port=_port(url))
    assert _handshake(url, origin=origin) == 403
    host = {"Host": f"127.0.0.1:{_port(url)}", "Origin": origin, "Content-Type": "text/plain"}
    status, body = _request(url, "POST", "/api/validate", host, body=b'{"init": "zeros"}')
    assert status == 403 and b"ok" not in body


@pytest.mark.parametrize("origin", ["http://127.0.0.1:{port}", "http://localhost:{port}", "http://[::1]:{port}", None])
def test_the_page_itself_and_local_programs_get_in(url, origin):
    assert _handshake(url, origin=origin.format(port=_port(url)) if origin else None) == 101


def test_allow_origin_lets_one_more_page_in():
    with running(allow_origins=[check_origin("http://example.local:3000")]) as base:
        assert _handshake(base, origin="http://example.local:3000") == 101
        assert _handshake(base, origin="http://example.local:3001") == 403


def test_allowed_hosts_and_origins_are_spelled_out():
    assert allowed_hosts("127.0.0.1", 8000) == {"127.0.0.1:8000", "localhost:8000", "[::1]:8000"}
    assert "192.168.1.5:8000" in allowed_hosts("192.168.1.5", 8000)  # --host: its own address counts
    assert "localhost" in allowed_hosts("127.0.0.1", 80)  # browsers omit port 80
    assert check_origin("http://example.local:3000/") == "http://example.local:3000"
    for bad in ("example.local", "http://x/path", "ftp://x", "null"):
        with pytest.raises(ValueError, match="'--allow-origin'"):
            check_origin(bad)


# ---------------------------------------------------------------------------- sizes and amplification
def test_an_oversized_body_is_refused_before_it_is_read(url):
    """A 10 MB body announced by Content-Length: 413 at once, after only its first bytes were sent."""
    with socket.create_connection(("127.0.0.1", _port(url)), timeout=10) as s:
        s.sendall((f"POST /api/validate HTTP/1.1\r\nHost: 127.0.0.1:{_port(url)}\r\nContent-Type: application/json\r\n"
                   f"Content-Length: {10 * 2**20}\r\n\r\n").encode() + b'{"' + b"x" * 1000)  # fmt: skip
        reply = s.recv(4096)
    assert reply.startswith(b"HTTP/1.1 413") and len(reply) < 400


def test_a_chunked_oversized_body_is_refused_too(url):
    """No Content-Length (chunked): the body is read only up to the limit, then 413."""
    chunk = b"[" * 8192
    with socket.create_connection(("127.0.0.1", _port(url)), timeout=10) as s:
        s.sendall((f"POST /api/validate HTTP/1.1\r\nHost: 127.0.0.1:{_port(url)}\r\nContent-Type: application/json\r\n"
                   "Transfer-Encoding: chunked\r\n\r\n").encode())  # fmt: skip
        with contextlib.suppress(OSError):  # the server may answer and close before the last chunks
            for _ in range(MAX_BODY // len(chunk) + 4):
                s.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        reply = s.recv(4096)
    assert reply.startswith(b"HTTP/1.1 413") and len(reply) < 400


def test_error_replies_never_echo_large_input(url):
    host = {"Host": f"127.0.0.1:{_port(url)}", "Content-Type": "application/json"}
    for raw in ({"k" * 50_000: 1}, {"init": "z" * 50_000}, {"hidden": [10] * 5000}, {"learning_rate": "q" * 50_000}):
        status, body = _request(url, "POST", "/api/validate", host, body=json.dumps(raw).encode())
        assert status == 422 and len(body) < 2000, (list(raw), len(body))
    with ws_client.connect(url.replace("http", "ws") + "/ws") as ws:
        ws.send(json.dumps({"action": "train", "k" * 60_000: 1}))
        assert len(ws.recv(timeout=10)) < 2000
        ws.send(json.dumps({"action": "a" * 60_000}))
        reply = ws.recv(timeout=10)
        assert len(reply) < 2000 and "Unknown action" in reply


def test_an_oversized_message_closes_the_socket_with_1009(url):
    with ws_client.connect(url.replace("http", "ws") + "/ws", max_size=None) as ws:
        ws.send(json.dumps({"action": "train", "x": "y" * (MAX_MESSAGE + 10)}))
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


# ---------------------------------------------------------------------------- hostile messages
def test_hostile_messages_get_an_error_and_the_connection_goes_on(url):
    nested = "[" * 60_000  # deep enough to overflow a recursive parser, small enough to pass the size limit
    status, body = _request(url, "POST", "/api/validate", {"Host": f"127.0.0.1:{_port(url)}",
                                                           "Content-Type": "application/json"}, nested.encode())  # fmt: skip
    assert status == 422 and b"JSON object" in body
    with ws_client.connect(url.replace("http", "ws") + "/ws") as ws:
        for message in (nested, b"\x00\x01binary", "[1, 2]", '"train"', "{bad"):
            ws.send(message)
            reply = json.loads(ws.recv(timeout=10))
            assert reply["type"] == "error" and "JSON object" in reply["errors"][0]["message"], (message[:10], reply)
        ws.send(json.dumps({"action": "train", "iterations": 30}))
        got = []
        while not got or got[-1].get("status") != "done":
            got.append(json.loads(ws.recv(timeout=20)))
        assert any(m["type"] == "progress" for m in got)


# ---------------------------------------------------------------------------- limits
def test_connections_beyond_the_cap_are_closed_with_1013():
    with running(max_connections=2) as base:
        ws_url = base.replace("http", "ws") + "/ws"
        with ws_client.connect(ws_url) as a, ws_client.connect(ws_url) as b:
            with ws_client.connect(ws_url) as c, pytest.raises(ConnectionClosed) as closed:
                c.recv(timeout=10)
            assert closed.value.rcvd.code == 1013
            a.send(json.dumps({"action": "reset"}))
            assert json.loads(a.recv(timeout=10))["status"] == "idle"
            del b
        with ws_client.connect(ws_url) as d:  # the two closed: room again
            d.send(json.dumps({"action": "reset"}))
            assert json.loads(d.recv(timeout=10))["status"] == "idle"


def test_trainings_beyond_the_cap_get_a_busy_message():
    with running(max_trainings=1) as base:
        ws_url = base.replace("http", "ws") + "/ws"
        with ws_client.connect(ws_url) as a, ws_client.connect(ws_url) as b:
            a.send(json.dumps({"action": "train", "iterations": 100_000, "hidden": [64] * 8}))
            while json.loads(a.recv(timeout=20))["type"] != "progress":
                pass
            b.send(json.dumps({"action": "train", "iterations": 50}))
            reply = json.loads(b.recv(timeout=10))
            assert reply["type"] == "error" and "busy" in reply["errors"][0]["message"]
            a.send(json.dumps({"action": "reset"}))
            while json.loads(a.recv(timeout=20)).get("status") != "idle":
                pass
            b.send(json.dumps({"action": "train", "iterations": 50}))  # a's run ended: b may train
            while (m := json.loads(b.recv(timeout=20))).get("status") != "done":
                assert m["type"] != "error", m


def test_an_idle_socket_is_closed_and_a_training_one_is_not():
    with running(idle_seconds=0.5) as base:
        ws_url = base.replace("http", "ws") + "/ws"
        with ws_client.connect(ws_url) as ws:
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=10)
            assert closed.value.rcvd.code == 1001
        with ws_client.connect(ws_url) as ws:
            ws.send(json.dumps({"action": "train", "iterations": 100_000, "hidden": [64] * 4}))
            deadline = time.monotonic() + 2.0  # four idle periods: still streaming progress
            while time.monotonic() < deadline:
                assert json.loads(ws.recv(timeout=5))["type"] in ("start", "status", "progress")
