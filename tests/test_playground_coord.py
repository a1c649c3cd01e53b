"""The playground's coordinate check over the WebSocket (issue #16): the same numbers as the library, bounded errors, limits.

Independent of the server's code path: the expected numbers come from :func:`initlab.coordcheck.coord_check`
called here on the batch built here from :func:`initlab.datasets.load` (the page's data rule written out).
"""

from __future__ import annotations

import contextlib
import json

import numpy as np
import pytest

pytest.importorskip("starlette", reason="the playground needs the web extra: pip install -e '.[web]'")
pytest.importorskip("uvicorn")
ws_client = pytest.importorskip("websockets.sync.client")

from initlab import coordcheck, datasets, initializers  # noqa: E402
from initlab.playground import coord  # noqa: E402
from initlab.playground.server import running  # noqa: E402


def _ws(url):
    return ws_client.connect(url.replace("http", "ws") + "/ws")


def _ask(ws, timeout=60, **message) -> dict:
    """Send a coord_check message; the first reply that is not a training message."""
    ws.send(json.dumps({"action": "coord_check", **message}))
    while True:
        m = json.loads(ws.recv(timeout=timeout))
        if m["type"] in ("coord_check", "error"):  # not coord_started, nor a training's messages
            return m


def _nan(a) -> np.ndarray:
    return np.array(a, dtype=float)  # JSON null -> nan


@pytest.mark.parametrize(
    "config, widths, steps, seeds, X_rule",
    [
        # the notebook's circles (rng=None: the notebook's own data), standard, adam
        ({"hidden": [10, 5], "optimizer": "adam", "learning_rate": 0.01, "seed": 3}, [64, 128, 256], 3, 2,
         ("circles", None, None)),
        # moons (seeded 0), tanh, mup with a base width, sgd, the initializer's options (the scale factor: a note)
        ({"dataset": "moons", "noise": 0.2, "hidden": [16, 16, 16], "activation": "tanh", "parametrization": "mup",
          "base_width": 32, "optimizer": "sgd", "learning_rate": 0.05, "seed": 11, "init_options": {"a": 0.5},
          "scale": 2.0}, [32, 64, 128, 256], 2, 3, ("moons", 0.2, 0)),
    ],
)  # fmt: skip
def test_the_reply_is_coord_check_of_the_pages_settings(server, config, widths, steps, seeds, X_rule):
    with _ws(server) as ws:
        got = _ask(ws, config=config, widths=widths, steps=steps, seeds=seeds)
    assert got["type"] == "coord_check", got
    name, noise, rng = X_rule
    data = datasets.load(name, noise=noise, rng=rng)
    X, Y = data.X_train[:, :128], data.Y_train[:, :128]
    expected = coordcheck.coord_check(
        X, Y, widths=widths, depth=len(config["hidden"]), activation=config.get("activation", "relu"),
        parametrization=config.get("parametrization", "standard"), base_width=config.get("base_width"),
        init=initializers.get("he_normal", **config.get("init_options", {})), optimizer=config["optimizer"], learning_rate=config["learning_rate"], steps=steps,
        seeds=seeds, rng=config["seed"],
    )  # fmt: skip
    mean, lo, hi = expected.slope_summary()
    # both sides run coord_check's engine context (BLAS on one thread): the same arithmetic
    np.testing.assert_allclose(_nan(got["size"]), expected.size, rtol=1e-12, atol=0)
    np.testing.assert_allclose(_nan(got["slope"]["mean"]), mean.T, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(_nan(got["slope"]["min"]), lo.T, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(_nan(got["slope"]["max"]), hi.T, rtol=1e-10, atol=1e-12)
    assert got["readings"] == expected.readings()
    assert got["widths"] == widths and got["layers"] == list(expected.layers)
    s = got["setting"]
    assert (s["depth"], s["steps"], s["seeds"], s["examples"], s["seed"]) == (len(config["hidden"]), steps, seeds, 128, config["seed"])  # fmt: skip
    assert s["base_width"] == (32 if "base_width" in config else None)
    assert got["thresholds"] == {"flat": coordcheck.FLAT, "blowup": coordcheck.BLOWUP}
    assert s["init_options"] == config.get("init_options", {})
    assert ["scale factor (2) is not part" in n for n in got["notes"]] == ([True] if "scale" in config else [])


def test_standard_adam_blows_up_and_mup_stays_flat_at_the_output(server):
    """TP5's claim at the page's size: the output's slope after the steps is ~1 under SP + Adam, ~0 under muP."""
    config = {"dataset": "moons", "hidden": [16, 16], "optimizer": "adam", "learning_rate": 0.01, "seed": 3}
    with _ws(server) as ws:
        sp = _ask(ws, config=config, widths=[64, 128, 256, 512], steps=3, seeds=2)
        mup = _ask(ws, config={**config, "parametrization": "mup"}, widths=[64, 128, 256, 512], steps=3, seeds=2)
    sp_out, mup_out = sp["slope"]["mean"][-1][1:], mup["slope"]["mean"][-1][1:]
    assert min(sp_out) > 0.7 and max(map(abs, mup_out)) < 0.25  # measured: 0.89-1.32 and 0.03-0.05
    assert "standard parametrization blows up" in sp["readings"][-1]
    assert sp["readings"][-1].startswith("output grows like width^") and "flat" in mup["readings"][-1]


BIG = "9" * 20_000


@pytest.mark.parametrize(
    "message, field, words",
    [
        ({"widths": BIG}, "coord_widths", ["2 to 5 different integers from 8 to 1024", "(20,002 characters)"]),
        ({"widths": [64, 128, 256, 512, 1024, 96]}, "coord_widths", ["2 to 5"]),
        ({"widths": [64, 2048]}, "coord_widths", ["from 8 to 1024", "2048"]),
        ({"widths": [64, 64]}, "coord_widths", ["2 to 5 different"]),
        ({"widths": [64, True]}, "coord_widths", ["integers"]),
        ({"steps": 6}, "coord_steps", ["'steps' must be an integer from 1 to 5", "Got 6"]),
        ({"steps": 2.5}, "coord_steps", ["from 1 to 5"]),
        ({"seeds": 9}, "coord_seeds", ["'seeds' must be an integer from 1 to 8", "Got 9"]),
        ({"seeds": BIG}, "coord_seeds", ["from 1 to 8", "characters)"]),
        ({"config": {"learning_rate": "fast"}}, "learning_rate", ["a number", "'fast'"]),
        ({"config": BIG}, "config", ["JSON object", "str"]),
        ({"config": {"blocks": 2, "hidden": [8]}}, "blocks", ["plain MLPs", "blocks=2"]),
        ({"config": {"init": "lsuv"}}, "init", ["'lsuv'", "'he_normal'"]),
        ({"config": {"init": "notebook_he"}}, "init", ["'notebook_he'"]),
        ({BIG: 1}, BIG[:100], ["Unknown field", "characters)"]),
        ({"config": {"hidden": [64] * 8}, "widths": [64, 128, 256, 512, 1024], "steps": 5, "seeds": 8},
         "coord_widths", ["would take about", "at most 20 s", "initlab coord-check"]),
    ],
)  # fmt: skip
def test_bad_input_gets_one_bounded_error_naming_the_field_and_the_tab_goes_on(server, message, field, words):
    with _ws(server) as ws:
        got = _ask(ws, **message)
        assert got["type"] == "error" and got["action"] == "coord_check"
        assert [e["field"] for e in got["errors"]] == [field]
        text = got["errors"][0]["message"]
        assert all(w in text for w in words), text
        assert len(json.dumps(got)) < 1200  # never grows with what was sent
        ok = _ask(ws, widths=[16, 32], steps=1, seeds=1)  # the connection is still good
        assert ok["type"] == "coord_check"


def test_the_page_limit_is_check_costs_estimate():
    """Refused exactly when coordcheck.check_cost's estimate passes coord.MAX_SECONDS (computed here from the shapes)."""
    for hidden, widths, seeds, steps in [([64] * 8, [64, 128, 256, 512, 1024], 8, 5), ([10] * 3, [64, 256, 1024], 4, 3),
                                         ([8] * 6, [128, 512, 1024], 8, 5), ([8], [64, 1024], 1, 1)]:  # fmt: skip
        shapes = [(2, *(n,) * len(hidden), 1) for n in widths]
        _, seconds = coordcheck.check_cost(shapes, seeds, 128, steps)
        request, errors = coord.validate_request({"config": {"hidden": hidden}, "widths": widths, "steps": steps, "seeds": seeds})  # fmt: skip
        assert (request is None) == (seconds > coord.MAX_SECONDS), (hidden, widths, seconds, errors)
    assert (
        coordcheck.check_cost([(2, *(1024,) * 8, 1)], 8, 128, 5)[1] > coord.MAX_SECONDS
    )  # the table's first row is refused


#: A check of about a second here, long enough for a message already sent to overtake it.
SLOW = {"config": {"hidden": [32] * 3}, "widths": [128, 256, 512], "steps": 2, "seeds": 2}


def test_one_check_per_tab_at_a_time(server):
    with _ws(server) as ws:
        for m in (SLOW, {"widths": [16, 32], "steps": 1, "seeds": 1}):
            ws.send(json.dumps({"action": "coord_check", **m}))  # both queued before the first ends
        started = json.loads(ws.recv(timeout=60))
        assert started["type"] == "coord_started" and started["estimate"]["seconds"] > 0
        second = json.loads(ws.recv(timeout=60))
        assert second["type"] == "error" and "is running; wait for its chart" in second["errors"][0]["message"]
        assert json.loads(ws.recv(timeout=120))["type"] == "coord_check"


def test_checks_count_toward_the_servers_runs_at_once():
    with running(max_trainings=1) as url, _ws(url) as a, _ws(url) as b:
        a.send(json.dumps({"action": "train", "iterations": 100_000, "hidden": [64] * 8}))
        while json.loads(a.recv(timeout=30))["type"] != "progress":
            pass
        got = _ask(b, widths=[16, 32], steps=1, seeds=1)
        assert got["type"] == "error" and "The server is busy" in got["errors"][0]["message"]
        a.send(json.dumps({"action": "reset"}))
        while json.loads(a.recv(timeout=30)).get("status") != "idle":
            pass
        assert _ask(b, widths=[16, 32], steps=1, seeds=1)["type"] == "coord_check"
        # and a check in flight holds the place: a train now is refused until it ends
        b.send(json.dumps({"action": "coord_check", **SLOW}))
        assert json.loads(b.recv(timeout=30))["type"] == "coord_started"
        a.send(json.dumps({"action": "train", "iterations": 10}))
        m = json.loads(a.recv(timeout=30))
        assert m["type"] == "error" and "The server is busy" in m["errors"][0]["message"]
        assert json.loads(b.recv(timeout=120))["type"] == "coord_check"
        with contextlib.suppress(TimeoutError):
            a.recv(timeout=0.2)
