"""The playground's validation, training session and HTTP/WebSocket API (a real uvicorn server on a free port)."""

from __future__ import annotations

import contextlib
import io
import json
import re
import time
import urllib.error
import urllib.request
from dataclasses import replace

import numpy as np
import pytest

from initlab import seeding

pytest.importorskip("starlette", reason="the playground needs the web extra: pip install -e '.[web]'")
pytest.importorskip("uvicorn")
ws_client = pytest.importorskip("websockets.sync.client")

from initlab import course  # noqa: E402
from initlab.cli import main  # noqa: E402
from initlab.network import flatten_params  # noqa: E402
from initlab.playground import LIMITS, NOTEBOOK, PlaygroundConfig, options, validate  # noqa: E402
from initlab.playground.server import is_loopback, running  # noqa: E402
from initlab.playground.session import GRID, Run  # noqa: E402


# ---------------------------------------------------------------------------- validate()
def test_validate_defaults_and_a_full_config():
    config, errors = validate({})
    assert errors == [] and config == PlaygroundConfig()
    raw = {"action": "train", "dataset": "moons", "noise": 0.1, "hidden": [8, 8, 8], "activation": "tanh", "init": "variance_scaling",
           "init_options": {"scale": 2.0, "mode": "fan_avg"}, "scale": 0.5, "optimizer": "adam", "learning_rate": 0.003,
           "iterations": 500, "seed": 7}  # fmt: skip
    config, errors = validate(raw)
    assert errors == []
    assert config.hidden == (8, 8, 8) and config.init_options == (("mode", "fan_avg"), ("scale", 2.0))
    assert config.to_json()["init_options"] == {"scale": 2.0, "mode": "fan_avg"}


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("dataset", "digits", "must be one of"),
        ("hidden", [10] * (LIMITS["depth"][1] + 1), "1 to 8 hidden layers"),
        ("hidden", [], "1 to 8 hidden layers"),
        ("hidden", [10, 65], "between 1 and 64 units"),
        ("hidden", "10,x", "hidden layers"),
        ("iterations", 100_001, "between 1 and 100000. Got 100001"),
        ("iterations", 2.5, "an integer"),
        ("learning_rate", -1, "between 1e-06 and 10. Got -1"),
        ("learning_rate", "fast", "a number"),
        ("noise", 3, "between 0 and 1"),
        ("activation", "rleu", "'relu'"),
        ("init", "he", "'he_normal'"),
        ("seed", -1, "between 0 and"),
        ("scale", float("nan"), "a number"),
        ("bogus", 1, "Unknown field 'bogus'"),
    ],
)
def test_validate_names_the_field_and_what_was_allowed(field, value, words):
    config, errors = validate({field: value})
    assert config is None
    assert [e["field"] for e in errors] == [field]
    assert words in errors[0]["message"]


def test_validate_reports_every_bad_field_and_initializer_options():
    _, errors = validate({"iterations": 0, "learning_rate": 100, "init": "sparse"})
    assert {e["field"] for e in errors} == {"iterations", "learning_rate", "init_options"}
    assert "sparsity" in next(e for e in errors if e["field"] == "init_options")["message"]
    _, errors = validate({"init": "he_normal", "init_options": {"mood": "x"}})
    assert errors[0]["field"] == "init_options" and "mood" in errors[0]["message"]
    assert validate([1, 2])[1][0]["field"] == "config"


def test_options_come_from_the_registries():
    o = options()
    assert list(o["datasets"]) == ["circles", "moons", "spirals", "xor", "gaussian_quantiles"]
    assert {"he_normal", "zeros", "random", "notebook_he"} <= set(o["initializers"])
    assert [p["name"] for p in o["initializers"]["random"]["options"]] == ["scale"]
    assert list(o["optimizers"]) == ["gd", "sgd", "momentum", "adam"]
    assert o["limits"]["iterations"] == [1, 100_000] and o["notebook"]["init"] == "notebook_he"


# ---------------------------------------------------------------------------- Run
def test_notebook_preset_is_the_notebooks_experiment():
    run = Run(replace(NOTEBOOK, iterations=1000))
    X, Y, _, _ = course.load_dataset(plot=False)
    np.testing.assert_array_equal(run.X, X)
    W1 = course.initialize_parameters_he([2, 10, 5, 1])["W1"]
    np.testing.assert_array_equal(run.views()[0][0][0], W1)
    # chunks equal one run: the course's own gradient descent, 1000 iterations
    run.step(300), run.step(700)
    reference, _ = course.train_preallocated(X, Y, course.initialize_parameters_he([2, 10, 5, 1]), num_iterations=1000)
    np.testing.assert_allclose(run.views()[0][0][0], reference["W1"], rtol=1e-10, atol=1e-12)


def test_adam_state_carries_over_between_chunks():
    cfg = replace(NOTEBOOK, optimizer="adam", iterations=200)
    a, b = Run(cfg), Run(cfg)
    a.step(200)
    for _ in range(8):
        b.step(25)
    np.testing.assert_array_equal(a.state.theta, b.state.theta)


def test_a_run_is_the_librarys_training_state():
    """The page's chunks train what ``train`` trains (one state, one engine, one divergence rule)."""
    from initlab.training import train

    cfg = replace(NOTEBOOK, init="he_normal", optimizer="momentum", learning_rate=0.05, iterations=240)
    run = Run(cfg)
    params = run.net.initialize("he_normal", rng=seeding.split(cfg.seed)[0])
    for n in (7, 100, 1, 132):
        run.step(n)
    history = train(run.net, params, run.X, run.data.Y_train, learning_rate=0.05, iterations=240,
                    record_every=run.record_every, optimizer="momentum")  # fmt: skip
    np.testing.assert_array_equal(run.state.theta, flatten_params(history.params))
    np.testing.assert_array_equal(run.state.losses, history.loss)
    assert run.iteration == 240 and run.done and not run.diverged


def test_minibatches_follow_the_seed_rule_and_the_one_batch_size_rule():
    from initlab import seeding
    from initlab.training import train

    cfg, errors = validate({**NOTEBOOK.to_json(), "init": "he_normal", "optimizer": "sgd", "batch_size": 64,
                            "learning_rate": 0.1, "iterations": 30})  # fmt: skip
    assert errors == [] and cfg.batch_size == 64
    run = Run(cfg)
    run.step(11), run.step(19)
    init_rng, order_rng = seeding.split(cfg.seed)  # initlab train --seed: init and order streams
    history = train(run.net, run.net.initialize("he_normal", rng=init_rng), run.X, run.data.Y_train, learning_rate=0.1,
                    iterations=30, record_every=run.record_every, optimizer="sgd", batch_size=64,
                    rng=order_rng)  # fmt: skip
    np.testing.assert_array_equal(run.state.theta, flatten_params(history.params))
    for bad, pattern in ((dict(batch_size=64), "goes with a minibatch optimizer"),  # gd is full-batch
                         (dict(optimizer="sgd", batch_size=301), "must be <= 300"),
                         (dict(optimizer="sgd", batch_size="all"), "must be an integer")):  # fmt: skip
        config, errors = validate({**NOTEBOOK.to_json(), **bad})
        assert config is None and [e["field"] for e in errors] == ["batch_size"]
        assert re.search(pattern, errors[0]["message"]), errors


def test_zeros_stays_symmetric_and_he_learns():
    zeros = Run(replace(NOTEBOOK, init="zeros", iterations=500))
    zeros.step(500)
    snap = zeros.snapshot()
    assert [l["distinct_units"] for l in snap["layers"]] == [1, 1, 1]
    assert all(p <= 0.5 for p in snap["boundary"]["p"]) and len(snap["boundary"]["p"]) == GRID * GRID
    he = Run(replace(NOTEBOOK, optimizer="adam"))
    he.step(500)
    snap = he.snapshot()
    assert snap["loss"] < 0.2 and snap["test_accuracy"] > 0.9
    assert [l["distinct_units"] for l in snap["layers"]] == [10, 5, 1]
    json.dumps(snap)  # plain JSON


def test_a_saturated_run_keeps_finite_parameters():
    run = Run(replace(NOTEBOOK, init="random", init_options=(("scale", 1000.0),), learning_rate=10.0, iterations=2000))
    run.step(2000)
    assert np.isfinite(run.state.theta).all()
    json.dumps(run.snapshot())


def test_a_diverging_run_stops_where_train_says_it_diverges():
    from initlab import initializers
    from initlab.training import train

    cfg = replace(NOTEBOOK, hidden=(64,) * 8, init="random", init_options=(("scale", 10.0),), learning_rate=10.0,
                  iterations=200)  # fmt: skip
    run = Run(cfg)
    params = run.net.initialize(initializers.get("random", scale=10.0), rng=seeding.split(cfg.seed)[0])
    assert run.step(200) == run.iteration < 200 and run.diverged and run.done
    history = train(run.net, params, run.X, run.data.Y_train, learning_rate=10.0, iterations=200, record_every=1)
    assert history.diverged_at[0] == run.iteration
    np.testing.assert_array_equal(run.state.theta, flatten_params(history.params))  # the last finite parameters
    assert run.step(50) == 0
    json.dumps(run.snapshot())


# ---------------------------------------------------------------------------- HTTP and WebSocket
@pytest.fixture(scope="module")
def url():
    with running() as base:
        yield base


def _get(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.status, r.headers.get("content-type"), r.read()


def _post(url, body):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_page_and_assets_are_served_locally(url):
    status, kind, body = _get(url + "/")
    assert status == 200 and kind.startswith("text/html")
    for needed in (
        b'id="dataset"',
        b'id="init"',
        b'id="train"',
        b'id="status"',
        b'id="loss-value"',
        b'id="accuracy-value"',
    ):
        assert needed in body
    assert b"http" not in body.replace(b'lang="en"', b"")  # no CDN: every asset is relative
    for asset in ("app.js", "style.css"):
        status, _, text = _get(f"{url}/static/{asset}")
        assert status == 200 and b"http://" not in text and b"https://" not in text


def test_api_options_and_validate(url):
    status, kind, body = _get(url + "/api/options")
    assert status == 200 and kind == "application/json" and "he_normal" in json.loads(body)["initializers"]
    assert _post(url + "/api/validate", {"init": "zeros"}) == (
        200,
        {"ok": True, "config": replace(PlaygroundConfig(), init="zeros").to_json()},
    )
    status, body = _post(url + "/api/validate", {"hidden": [10] * 20, "learning_rate": 0})
    assert status == 422 and {e["field"] for e in body["errors"]} == {"hidden", "learning_rate"}


def _messages(ws, until, timeout=20.0):
    out, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = json.loads(ws.recv(timeout=deadline - time.monotonic()))
        out.append(m)
        if until(m):
            return out
    raise AssertionError(f"timed out; got {[m.get('type') for m in out]}")


def test_ws_trains_streams_progress_and_finishes(url):
    with ws_client.connect(url.replace("http", "ws") + "/ws") as ws:
        ws.send(json.dumps({"action": "train", **replace(NOTEBOOK, optimizer="adam", iterations=1500).to_json()}))
        got = _messages(ws, lambda m: m == {"type": "status", "status": "done"})
    kinds = [m["type"] for m in got]
    assert kinds[0] == "start" and len(got[0]["points"]["train"]["x"]) == 300
    progress = [m for m in got if m["type"] == "progress"]
    assert progress[0]["iteration"] == 0 and progress[-1]["iteration"] == 1500 and progress[-1]["done"]
    assert [m["iteration"] for m in progress] == sorted(m["iteration"] for m in progress)
    assert progress[-1]["loss"] < 0.2 and len(progress[-1]["layers"]) == 3
    curve = [point for m in progress for point in m["curve"]]  # [iteration, loss, test_loss], the loss chart
    iterations = [p[0] for p in curve]
    assert iterations[0] == 0 and iterations[-1] == 1500 and iterations == sorted(set(iterations))
    assert 250 <= len(curve) <= 320 and curve[-1][1] == progress[-1]["loss"]


def test_ws_bad_value_is_an_error_message_and_the_server_keeps_serving(url):
    with ws_client.connect(url.replace("http", "ws") + "/ws") as ws:
        ws.send(json.dumps({"action": "train", "iterations": 10**9}))
        m = json.loads(ws.recv(timeout=10))
        assert (
            m["type"] == "error" and m["errors"][0]["field"] == "iterations" and "100000" in m["errors"][0]["message"]
        )
        ws.send("not json")
        assert json.loads(ws.recv(timeout=10))["type"] == "error"
        ws.send(json.dumps({"action": "fly"}))
        assert "Unknown action" in json.loads(ws.recv(timeout=10))["errors"][0]["message"]
        ws.send(json.dumps({"action": "train", "iterations": 50}))
        _messages(ws, lambda m: m.get("status") == "done")


def test_ws_pause_resume_reset(url):
    with ws_client.connect(url.replace("http", "ws") + "/ws") as ws:
        ws.send(json.dumps({"action": "train", "iterations": 100_000, "hidden": [64] * 8}))
        _messages(ws, lambda m: m["type"] == "progress" and m["iteration"] > 0)
        ws.send(json.dumps({"action": "pause"}))
        _messages(ws, lambda m: m.get("status") == "paused")
        time.sleep(0.3)  # a chunk in flight may still report
        with contextlib.suppress(TimeoutError):
            while True:
                ws.recv(timeout=0.5)
        ws.send(json.dumps({"action": "resume"}))
        _messages(ws, lambda m: m["type"] == "progress")
        ws.send(json.dumps({"action": "reset"}))
        _messages(ws, lambda m: m.get("status") == "idle")


def test_two_tabs_do_not_interfere_and_closing_one_stops_its_training(url):
    ws_url = url.replace("http", "ws") + "/ws"
    with ws_client.connect(ws_url) as a, ws_client.connect(ws_url) as b:
        a.send(json.dumps({"action": "train", "iterations": 100_000, "hidden": [64] * 8}))
        _messages(a, lambda m: m["type"] == "progress")
        b.send(json.dumps({"action": "train", "init": "zeros", "iterations": 300}))
        got = _messages(b, lambda m: m.get("status") == "done")
        last = [m for m in got if m["type"] == "progress"][-1]
        assert last["iterations"] == 300 and [l["distinct_units"] for l in last["layers"]] == [1, 1, 1]
    # a was closed mid-run: the server is free for a new tab at once
    with ws_client.connect(ws_url) as c:
        start = time.monotonic()
        c.send(json.dumps({"action": "train", "iterations": 200}))
        _messages(c, lambda m: m.get("status") == "done")
        assert time.monotonic() - start < 5


# ---------------------------------------------------------------------------- CLI
def test_cli_rejects_a_bad_port_in_one_line():
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert main(["playground", "--port", "70000"]) == 2
    assert err.getvalue().count("\n") == 1 and "'--port'" in err.getvalue()


def test_cli_reports_a_port_in_use(url):
    port = url.rsplit(":", 1)[1]
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert main(["playground", "--port", port]) == 2
    assert "could not listen" in err.getvalue() and "warning" not in err.getvalue()
    err = io.StringIO()
    with contextlib.redirect_stderr(err):  # checked before anything is printed: one line, no warning, no "on http://"
        assert main(["playground", "--host", "0.0.0.0", "--port", port]) == 2
    assert err.getvalue().count("\n") == 1 and "could not listen" in err.getvalue()
    err = io.StringIO()
    with contextlib.redirect_stderr(err):  # not an address of this machine
        assert main(["playground", "--host", "192.0.2.1", "--port", port]) == 2
    assert err.getvalue().count("\n") == 1 and "could not listen on 192.0.2.1" in err.getvalue()


@pytest.mark.parametrize(
    "origin", ["evil.example.com", "http://x.org/path", "ftp://x.org", "http://" + "a" * 500 + "/p"]
)
def test_cli_refuses_a_bad_allow_origin_in_one_line(origin):
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert main(["playground", "--allow-origin", origin, "--port", "1"]) == 2
    assert err.getvalue().count("\n") == 1 and "'--allow-origin'" in err.getvalue() and len(err.getvalue()) < 400


def test_loopback_detection():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")


def test_open_flag_opens_the_served_url_in_the_browser(monkeypatch):
    """`initlab playground --open`: the default browser gets the page's URL once the server is starting."""
    import socket
    import webbrowser

    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    opened, served = [], []
    monkeypatch.setattr(webbrowser, "open", lambda url: opened.append(url))

    def fake_run(server):  # stands for uvicorn's blocking loop until the browser is asked
        served.append((server.config.host, server.config.port))
        deadline = time.monotonic() + 10
        while not opened and time.monotonic() < deadline:
            time.sleep(0.05)

    monkeypatch.setattr(uvicorn.Server, "run", fake_run)
    with contextlib.redirect_stderr(io.StringIO()):
        assert main(["playground", "--port", str(port), "--open"]) == 0
    assert served == [("127.0.0.1", port)]
    assert opened == [f"http://127.0.0.1:{port}/"]


# ---------------------------------------------------------------------------- seeds, speed, aliases, lsuv (issue 14)
def test_aliases_are_one_table_and_never_clash_with_their_field():
    from initlab.playground.config import ALIASES

    config, errors = validate({"lr": 0.1, "k": 4, "iters": 50, "act": "tanh", "data": "moons", "layers": [8, 8],
                               "init_scale": 0.5, "optimizer": "sgd", "bs": 32})  # fmt: skip
    assert errors == []
    assert (config.learning_rate, config.seeds, config.iterations, config.activation, config.dataset) == (
        0.1, 4, 50, "tanh", "moons"
    )  # fmt: skip
    assert (config.hidden, config.scale, config.batch_size) == ((8, 8), 0.5, 32)
    assert validate({"optimizer": "sgd", "batch": 16})[0].batch_size == 16
    for given in ({"lr": 0.1, "learning_rate": 0.2}, {"bs": 8, "batch": 8, "optimizer": "sgd"}):
        config, errors = validate(given)
        assert config is None and len(errors) == 1 and "short name" in errors[0]["message"]
        assert errors[0]["field"] in ("lr", "batch")
    assert options()["aliases"] == ALIASES and set(ALIASES.values()) <= set(PlaygroundConfig.__dataclass_fields__)
    config, errors = validate({"learnig_rate": 0.1})  # still refused, with the short names listed
    assert config is None and errors[0]["field"] == "learnig_rate" and "lr (learning_rate)" in errors[0]["message"]


def test_seeds_speed_and_paused_fields():
    assert validate({"seeds": 32})[0].seeds == 32 and validate({"speed": None})[0].speed is None
    assert PlaygroundConfig().speed == 1000 and PlaygroundConfig().seeds == 1
    assert validate({"paused": True})[1] == [] and validate({"action": "train", "paused": False})[1] == []
    for field, value, words in (("seeds", 33, "between 1 and 32"), ("seeds", 0, "between 1 and 32"),
                                ("speed", 0, "between 1 and 100000"), ("speed", "fast", "an integer"),
                                ("paused", "yes", "true or false")):  # fmt: skip
        config, errors = validate({field: value})
        assert config is None and [e["field"] for e in errors] == [field] and words in errors[0]["message"]


def test_seeds_times_parameters_is_bounded_with_a_message_naming_both():
    from initlab.network import parameter_count
    from initlab.playground.config import MAX_PARAMETERS

    config, errors = validate({"hidden": [64] * 8, "seeds": 32})
    assert config is None and [e["field"] for e in errors] == ["seeds"]
    message = errors[0]["message"]
    assert "64x8 hidden layers" in message and "32 seeds" in message and "or a smaller network" in message
    P = parameter_count((2, *[64] * 8, 1))
    most = MAX_PARAMETERS // P
    assert f"at most {most}" in message
    assert validate({"hidden": [64] * 8, "seeds": most})[1] == []
    assert validate({"hidden": [64] * 8, "seeds": most + 1})[1][0]["field"] == "seeds"
    _, errors = validate({"init": "notebook_he", "seed": 2**32 - 2, "seeds": 4})  # RandomState takes < 2**32
    assert errors[0]["field"] == "seed" and "seed + k" in errors[0]["message"]


def test_lsuv_is_an_initializer_of_the_page_with_its_formula():
    config, errors = validate({"init": "lsuv", "init_options": {"tol": 0.05, "max_iter": 3}})
    assert errors == [] and config.init_options == (("max_iter", 3), ("tol", 0.05))
    _, errors = validate({"init": "lsuv", "init_options": {"mode": "fan_in"}})
    assert errors[0]["field"] == "init_options" and "tol, max_iter" in errors[0]["message"]
    entries = options()["initializers"]
    assert "Var(Z[l])" in entries["lsuv"]["summary"] and [o["name"] for o in entries["lsuv"]["options"]] == [
        "tol", "max_iter"
    ]  # fmt: skip
    assert all(entry["summary"] for entry in entries.values())  # every initializer keeps its formula


# ---------------------------------------------------------------------------- the WebSocket actions of issue 14
def _ws(url):
    return ws_client.connect(url.replace("http", "ws") + "/ws")


def _send(ws, **message):
    ws.send(json.dumps(message))


def _quiet(ws, seconds=0.3):
    """Whatever arrives within ``seconds`` (nothing is expected)."""
    got = []
    with contextlib.suppress(TimeoutError):
        while True:
            got.append(json.loads(ws.recv(timeout=seconds)))
    return got


def test_ws_step_from_a_paused_start_equals_trains_iterations(url):
    from initlab.training import train

    cfg = replace(NOTEBOOK, init="he_normal", seeds=2, optimizer="adam", learning_rate=0.01, iterations=7)
    with _ws(url) as ws:
        _send(ws, action="step")
        assert "no run to step" in json.loads(ws.recv(timeout=10))["errors"][0]["message"]
        _send(ws, action="train", paused=True, **cfg.to_json())
        got = _messages(ws, lambda m: m["type"] == "progress")
        assert [m["type"] for m in got] == ["start", "status", "progress"] and got[1]["status"] == "paused"
        assert got[0]["seeds"] == ["3/0", "3/1"] and got[2]["iteration"] == 0
        assert _quiet(ws) == []  # paused at 0: nothing trains
        _send(ws, action="step", n=1)
        one = json.loads(ws.recv(timeout=10))
        assert one["type"] == "progress" and one["iteration"] == 1 and not one["done"]
        run = Run(cfg)
        history = train(run.net, run.net.initialize("he_normal", rng=seeding.split(3)[0], models=2), run.X, run.data.Y_train,
                        learning_rate=0.01, iterations=1, optimizer="adam")  # fmt: skip
        for l in range(3):  # full precision over the wire: exactly the library's one update
            np.testing.assert_array_equal(np.array(one["weights"]["W"][l]), history.params[f"W{l + 1}"][0])
            np.testing.assert_array_equal(np.array(one["weights"]["b"][l]), history.params[f"b{l + 1}"][0, :, 0])
        for n in (0, 1001, "2", True):
            _send(ws, action="step", n=n)
            error = json.loads(ws.recv(timeout=10))
            assert error["errors"][0]["field"] == "n" and "from 1 to 1000" in error["errors"][0]["message"]
        _send(ws, action="step", n=3)
        assert json.loads(ws.recv(timeout=10))["iteration"] == 4
        assert _quiet(ws) == []  # still paused
        _send(ws, action="resume")
        _send(ws, action="step", n=1)  # while training: refused (or the run is already done)
        got = _messages(ws, lambda m: m.get("status") == "done")
        assert [m["iteration"] for m in got if m["type"] == "progress"][-1] == 7
        _send(ws, action="step", n=1)
        assert json.loads(ws.recv(timeout=10))["type"] == "error"  # a done run cannot be stepped


def test_ws_step_to_the_end_reports_done(url):
    with _ws(url) as ws:
        _send(ws, action="train", paused=True, iterations=3)
        _messages(ws, lambda m: m["type"] == "progress")
        _send(ws, action="step", n=10)
        got = _messages(ws, lambda m: m.get("status") == "done")
        assert got[0]["type"] == "progress" and got[0]["iteration"] == 3 and got[0]["done"]


def test_ws_speed_paces_the_run_and_can_change(url):
    with _ws(url) as ws:
        _send(ws, action="train", speed=200, iterations=100_000)
        _messages(ws, lambda m: m["type"] == "progress" and m["iteration"] > 0)
        start, first = time.monotonic(), None
        last = 0
        while time.monotonic() - start < 1.0:
            m = json.loads(ws.recv(timeout=5))
            if m["type"] == "progress":
                first = m["iteration"] if first is None else first
                last = m["iteration"]
        assert 50 <= last - first <= 400  # ~200 in a second (loosely: not a timing test)
        _send(ws, action="step", n=1)
        m = _messages(ws, lambda m: m["type"] == "error")[-1]
        assert "pause it" in m["errors"][0]["message"]
        for bad in (0, 100_001, "fast", 2.5):
            _send(ws, action="speed", speed=bad)
            m = _messages(ws, lambda m: m["type"] == "error")[-1]
            assert m["errors"][0]["field"] == "speed" and "100000" in m["errors"][0]["message"]
        _send(ws, action="speed")
        assert _messages(ws, lambda m: m["type"] == "error")[-1]["errors"][0]["field"] == "speed"
        _send(ws, action="speed", speed=None)  # as fast as it goes
        got = _messages(ws, lambda m: m["type"] == "progress", timeout=5)
        begin = got[-1]["iteration"]
        time.sleep(1.0)
        later = [m["iteration"] for m in _quiet(ws, 0.5) if m["type"] == "progress"]
        assert later[-1] - begin > 1000
        _send(ws, action="reset")
        _messages(ws, lambda m: m.get("status") == "idle")


def test_ws_select_shows_another_model(url):
    with _ws(url) as ws:
        _send(ws, action="select", model=0)
        assert json.loads(ws.recv(timeout=10))["errors"][0]["field"] == "model"
        _send(ws, action="train", paused=True, k=3, iterations=100, init="he_normal")
        got = _messages(ws, lambda m: m["type"] == "progress")
        zero = got[-1]
        assert zero["selected"] == 0 and len(zero["models"]) == 3 and got[0]["config"]["seeds"] == 3
        _send(ws, action="select", model=2)
        two = json.loads(ws.recv(timeout=10))
        assert two["type"] == "progress" and two["selected"] == 2 and two["iteration"] == 0
        assert two["weights"] != zero["weights"] and two["boundary"]["p"] != zero["boundary"]["p"]
        assert two["loss"] == zero["models"][2]["loss"] and two["models"] == zero["models"]
        for bad in (3, -1, "1", None):
            _send(ws, action="select", model=bad)
            m = json.loads(ws.recv(timeout=10))
            assert m["errors"][0]["field"] == "model" and "from 0 to 2" in m["errors"][0]["message"]


def test_ws_export_reply(url, monkeypatch):
    import sys
    import types

    import initlab

    def render(fmt, net, params, *, init, init_options, scale, settings):
        if fmt not in ("pytorch", "jax", "json"):
            raise ValueError(f"The 'fmt' parameter must be one of 'pytorch', 'jax', 'json'. Got {fmt!r} instead.")
        text = json.dumps({"W1": params["W1"].tolist(), "settings": settings})
        return types.SimpleNamespace(filename=f"net.{fmt}", media_type="application/json", text=text)

    fake = types.ModuleType("initlab.export")
    fake.render = render
    monkeypatch.setitem(sys.modules, "initlab.export", fake)
    monkeypatch.setattr(initlab, "export", fake, raising=False)
    with _ws(url) as ws:
        _send(ws, action="export", format="json")
        assert "no run to export" in json.loads(ws.recv(timeout=10))["errors"][0]["message"]
        _send(ws, action="train", paused=True, seeds=2, iterations=10)
        _messages(ws, lambda m: m["type"] == "progress")
        _send(ws, action="select", model=1)
        selected = json.loads(ws.recv(timeout=10))
        _send(ws, action="export", format="json")
        m = json.loads(ws.recv(timeout=10))
        assert set(m) == {"type", "format", "filename", "media_type", "text"}
        assert (m["type"], m["format"], m["filename"], m["media_type"]) == (
            "export",
            "json",
            "net.json",
            "application/json",
        )
        body = json.loads(m["text"])
        assert body["W1"] == selected["weights"]["W"][0] and body["settings"]["model"] == 1
        for bad in ("onnx", 3):
            _send(ws, action="export", format=bad)
            m = json.loads(ws.recv(timeout=10))
            assert m["type"] == "error" and m["errors"][0]["field"] == "format"


def test_ws_export_with_the_real_module(url):
    pytest.importorskip("initlab.export")
    with _ws(url) as ws:
        _send(ws, action="train", paused=True, seeds=2, iterations=10)
        _messages(ws, lambda m: m["type"] == "progress")
        for fmt in ("pytorch", "jax", "json"):
            _send(ws, action="export", format=fmt)
            m = json.loads(ws.recv(timeout=10))
            assert m["type"] == "export" and m["format"] == fmt and m["filename"] and m["text"]
        _send(ws, action="export", format="onnx")
        assert json.loads(ws.recv(timeout=10))["errors"][0]["field"] == "format"


def test_ws_train_with_aliases_and_unknown_fields(url):
    with _ws(url) as ws:
        _send(ws, action="train", lr=0.05, k=2, iters=5, speed=None)
        got = _messages(ws, lambda m: m.get("status") == "done")
        assert got[0]["config"]["learning_rate"] == 0.05 and got[0]["config"]["seeds"] == 2
        assert len(got[0]["seeds"]) == 2 and [m for m in got if m["type"] == "progress"][-1]["iteration"] == 5
        _send(ws, action="train", lr=0.05, learning_rate=0.05, colour="red")
        errors = json.loads(ws.recv(timeout=10))["errors"]
        assert {e["field"] for e in errors} == {"lr", "colour"}
