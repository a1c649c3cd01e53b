"""The playground page of issue #14 in a real browser: the diagram, the seeds, step/speed/reseed, export, URL, layout.

Runs at ``speed=max`` unless the pacing itself is tested. Independent checks: the initial weights against
``MLP.initialize`` in Python, the exported PyTorch code run by torch against the page's own forward pass,
the spread and the table against the server's per-model numbers.
"""

from __future__ import annotations

import json
import re
import statistics
import subprocess
import sys
import xml.etree.ElementTree as ET
from urllib.parse import parse_qsl, urlsplit

import numpy as np
import pytest
from browser import artifact

pytest.importorskip("starlette", reason="the playground needs the web extra: pip install -e '.[web]'")
pytest.importorskip("uvicorn")

from initlab import datasets, seeding
from initlab.network import MLP
from initlab.playground import options

pytestmark = pytest.mark.browser


@pytest.fixture
def page(browser, server):
    outside, problems = [], []

    def only_local(route):
        if route.request.url.startswith(server):
            route.continue_()
        else:  # offline: nothing may leave the machine (no CDN)
            outside.append(route.request.url)
            route.abort()

    browser.route("**/*", only_local)

    def on_error(error):
        problems.append(str(error))

    browser.on("pageerror", on_error)
    yield browser
    browser.remove_listener("pageerror", on_error)
    browser.unroute("**/*")
    browser.set_viewport_size({"width": 1200, "height": 900})
    assert outside == [] and problems == []


def open_page(page, server, query=""):
    page.goto(f"{server}/?{query}")
    wait_status(page, "idle")


def wait_status(page, *statuses, timeout=60_000):
    page.wait_for_function(
        "s => s.includes(document.getElementById('status').dataset.status)", arg=list(statuses), timeout=timeout
    )


def train_to_done(page, button="#train"):
    """Click ``button`` and wait for the run it starts to finish (a fresh ``initial`` marks the new run)."""
    page.evaluate("window.playground.initial = null")
    page.click(button)
    page.wait_for_function(
        "() => window.playground.initial !== null && window.playground.last.done && ['done', 'diverged'].includes(document.getElementById('status').dataset.status)",
        timeout=120_000,
    )  # fmt: skip
    assert page.evaluate("window.playground.drawErrors") == {}


def url_params(url: str) -> dict:
    return dict(parse_qsl(urlsplit(url).query))


def thumbnails(page, layer: int) -> list[np.ndarray]:
    """The pixels of each unit's square of layer ``layer`` in #network, from the rectangles initlabDraw.network returned."""
    raw = page.evaluate(
        """(l) => {
        const c = document.getElementById('network').getContext('2d');
        return window.playground.diagram.layers[l].map((r) => {
            const x = Math.ceil(r.x) + 1, y = Math.ceil(r.y) + 1, w = Math.floor(r.w) - 3, h = Math.floor(r.h) - 3;
            return Array.from(c.getImageData(x, y, w, h).data);
        });
    }""",
        layer,
    )
    return [np.array(t, dtype=float) for t in raw]


def test_zeros_draws_identical_units_and_he_does_not(page, server):
    open_page(page, server, "init=zeros&iterations=300&speed=max")
    train_to_done(page)
    assert "layer 1: 1 distinct unit of 10 (symmetric)" in page.inner_text("#symmetry")
    diagram = page.evaluate("window.playground.diagram.layers.map((l) => l.length)")
    assert diagram == [2, 10, 5, 1]
    for layer in (1, 2):  # the hidden layers: every unit computes the same function, so the same picture
        units = thumbnails(page, layer)
        assert units[0].size > 100
        assert max(np.abs(u - units[0]).max() for u in units) <= 2
    assert "symmetric: every unit the same" in page.inner_text("#table tbody")
    page.screenshot(path=str(artifact("playground_page_zeros.png")), full_page=True)

    open_page(page, server, "init=he_normal&iterations=300&speed=max")
    train_to_done(page)
    units = thumbnails(page, 1)
    assert max(np.abs(u - units[0]).mean() for u in units) > 5  # the check above can fail: He's units differ
    assert "symmetric" not in page.inner_text("#symmetry")


def test_eight_seeds_fan_dots_spread_table_and_model_choice(page, server):
    open_page(page, server, "init=random&k=8&iterations=1500&speed=max")
    assert page.input_value("#seeds") == "8" and page.input_value("#init-opt-scale") == "10"
    train_to_done(page)
    models = page.evaluate("window.playground.last.models")
    assert len(models) == 8
    fan = page.evaluate("window.playground.fan")
    assert len(fan["iterations"]) > 10 and all(len(row) == 8 for row in fan["losses"])
    # the fan is drawn: many coloured pixels inside its plotting box
    inked = page.evaluate("""() => {
        const cv = document.getElementById('loss-chart'), d = cv.getContext('2d').getImageData(0, 0, cv.width, cv.height).data;
        let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 0 && Math.max(d[i], d[i + 1], d[i + 2]) < 200) n++;
        return n / (d.length / 4);
    }""")  # fmt: skip
    assert inked > 0.01
    dots = page.evaluate("window.playground.dots.dots.filter((d) => d.current)")
    assert len(dots) == 8
    for d in dots:  # each dot is on the canvas where the page says (not white)
        rgba = page.evaluate(
            "([x, y]) => Array.from(document.getElementById('accuracy-chart').getContext('2d').getImageData(x, y, 1, 1).data)",
            [round(d["x"] * page.evaluate("devicePixelRatio")), round(d["y"] * page.evaluate("devicePixelRatio"))],
        )  # fmt: skip
        assert rgba[3] > 0 and min(rgba[:3]) < 230
    train = [m["accuracy"] for m in models]
    test = [m["test_accuracy"] for m in models]
    lo, hi = round(100 * min(train)), round(100 * max(train))
    spread = f"{lo}-{hi}" if lo != hi else f"{lo}"
    assert page.inner_text("#spread") == f"random: train accuracy {spread}% over 8 seeds"
    rows = page.locator("#table tbody tr")
    assert rows.count() == 1
    cells = [rows.nth(0).locator("td").nth(i).inner_text() for i in range(6)]
    assert cells[1:3] == ["random", "8"]
    pct = lambda v: round(100 * v)  # noqa: E731
    assert cells[3] == f"{pct(statistics.median(train))}% [{pct(min(train))}-{pct(max(train))}%]"
    assert cells[4] == f"{pct(statistics.median(test))}% [{pct(min(test))}-{pct(max(test))}%]"
    diverged = sum(m["diverged"] for m in models)
    if diverged:
        assert cells[5] == f"diverged in {diverged} of 8 seeds"
    elif max(train) - min(train) > 0.1:
        assert cells[5] == f"spread {lo}-{hi}%: one draw is a gamble"
    page.screenshot(path=str(artifact("playground_page_random_x10_8_seeds.png")), full_page=True)

    w0 = page.evaluate("window.playground.last.weights.W[0]")
    page.select_option("#model", "3")
    page.wait_for_function("window.playground.last.selected === 3")
    assert page.evaluate("window.playground.last.weights.W[0]") != w0
    # clicking a dot picks its model: choose one whose dot stands apart from the others
    apart = [d for d in dots if d["model"] != 3 and all((d["x"] - e["x"]) ** 2 + (d["y"] - e["y"]) ** 2 > 144 for e in dots if e is not d)]  # fmt: skip
    if apart:
        chart = page.locator("#accuracy-chart")
        chart.scroll_into_view_if_needed()  # a mouse click lands only inside the viewport (the chart sat below it
        box = chart.bounding_box()  # with this machine's fonts); the box is in viewport coordinates after the scroll
        page.mouse.click(box["x"] + apart[0]["x"], box["y"] + apart[0]["y"])
        page.wait_for_function("k => window.playground.last.selected === k", arg=apart[0]["model"])
        assert page.input_value("#model") == str(apart[0]["model"])


def test_step_from_idle_then_step_again(page, server):
    open_page(page, server, "iterations=100&speed=max")
    page.click("#step")
    page.wait_for_function("document.getElementById('iteration-value').textContent === '1 / 100'")
    wait_status(page, "paused")
    page.click("#step")
    page.wait_for_function("document.getElementById('iteration-value').textContent === '2 / 100'")
    page.wait_for_timeout(300)
    assert page.inner_text("#iteration-value") == "2 / 100"  # stepping does not set it running
    assert page.get_attribute("#status", "data-status") == "paused" and page.inner_text("#pause") == "Resume"


def current_iteration(page) -> int:
    return int(page.inner_text("#iteration-value").split(" / ")[0])


def test_speed_paces_the_run_and_changes_mid_run(page, server):
    open_page(page, server, "iterations=5000&speed=10")
    assert page.input_value("#speed") == "10"
    page.click("#train")
    wait_status(page, "training")
    page.wait_for_timeout(1000)
    slow = current_iteration(page)
    assert slow < 50  # 10 per second (max takes the notebook's net through thousands in a second)
    page.select_option("#speed", "max")  # mid-run: the speed action
    assert "speed=max" in page.url
    wait_status(page, "done", timeout=60_000)
    assert current_iteration(page) == 5000

    open_page(page, server, "iterations=5000&speed=max")
    page.click("#train")
    wait_status(page, "training", "done")
    page.wait_for_timeout(1000)
    assert page.get_attribute("#status", "data-status") == "done" or current_iteration(page) > 5 * max(slow, 10)


def initial_weights(page) -> list[np.ndarray]:
    return [np.array(W) for W in page.evaluate("window.playground.initial.weights.W")]


def test_reseed_changes_only_the_seed_and_restart_repeats_the_draw(page, server):
    open_page(page, server, "iterations=200&speed=max&hidden=6,4")
    train_to_done(page)
    first, url0 = initial_weights(page), url_params(page.url)
    train_to_done(page, "#reseed")
    url1 = url_params(page.url)
    assert url1["seed"] != url0["seed"] and page.input_value("#seed") == url1["seed"]
    assert {k: v for k, v in url1.items() if k != "seed"} == {k: v for k, v in url0.items() if k != "seed"}
    reseeded = initial_weights(page)
    assert any(not np.array_equal(a, b) for a, b in zip(first, reseeded))
    # independent: the page's initial weights are `initlab train --seed S`'s draw (init stream of split(S))
    expected = MLP((2, 6, 4, 1), "relu", "sigmoid").initialize("he_normal", rng=seeding.split(int(url1["seed"]))[0])
    for l, W in enumerate(reseeded, start=1):
        np.testing.assert_allclose(W, expected[f"W{l}"][0], rtol=0, atol=1e-15)

    train_to_done(page, "#restart")
    assert url_params(page.url) == url1
    for a, b in zip(reseeded, initial_weights(page)):
        np.testing.assert_array_equal(a, b)


def download(page, button: str):
    with page.expect_download(timeout=30_000) as info:
        page.click(button)
    d = info.value
    return d.suggested_filename, open(d.path(), encoding="utf-8").read()


def page_predictions(page, X: np.ndarray) -> np.ndarray:
    """P(class 1) at the columns of ``X`` (2, m), computed in the page by initlabDraw.forward from the last weights."""
    return np.array(page.evaluate(
        "([xs, ys]) => { const m = window.playground.last; return Array.from(initlabDraw.forward(m.weights, m.activation, xs, ys).p); }",
        [X[0].tolist(), X[1].tolist()],
    ))  # fmt: skip


def run_script(tmp_path, name: str, text: str, X: np.ndarray) -> np.ndarray:
    """Run a downloaded script as a learner would: ``python file.py --points points.json``; its printed P(class 1)."""
    script, points = tmp_path / name, tmp_path / "points.json"
    script.write_text(text, encoding="utf-8")
    points.write_text(json.dumps(X.T.tolist()), encoding="utf-8")  # repr floats: the exact training points
    done = subprocess.run(
        [sys.executable, str(script), "--points", str(points)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return np.array(json.loads(done.stdout), dtype=float).reshape(-1)


def test_export_pytorch_reproduces_the_pages_predictions(page, server, tmp_path):
    pytest.importorskip("torch")
    open_page(page, server, "hidden=7,5&activation=tanh&iterations=300&speed=max")
    train_to_done(page)
    name, text = download(page, "#export-pytorch")
    assert name.endswith(".py") and "import torch" in text
    X = datasets.load("circles").X_train  # (2, m): the page's training points, at full precision
    p_page = page_predictions(page, X)
    assert 0.05 < p_page.mean() < 0.95 and p_page.std() > 0.01  # a real boundary, not a constant
    np.testing.assert_allclose(run_script(tmp_path, name, text, X), p_page, rtol=0, atol=1e-9)


def test_export_json_round_trips_and_jax_runs(page, server, tmp_path):
    export = pytest.importorskip("initlab.export")
    open_page(page, server, "hidden=4&iterations=100&speed=max&seed=7&activation=relu")
    train_to_done(page)
    name, text = download(page, "#export-json")
    assert name.endswith(".json")
    net, params, info = export.load_json(text)
    weights = page.evaluate("window.playground.last.weights")
    assert net.layers == (2, 4, 1) and info["init"] == "he_normal"
    for l, (W, b) in enumerate(zip(weights["W"], weights["b"]), start=1):  # the same bits
        np.testing.assert_array_equal(params[f"W{l}"], np.array(W))
        np.testing.assert_array_equal(params[f"b{l}"].ravel(), np.array(b))
    name, text = download(page, "#export-jax")
    assert name.endswith(".py") and "jax" in text
    pytest.importorskip("jax")
    X = datasets.load("circles").X_train
    np.testing.assert_allclose(run_script(tmp_path, name, text, X), page_predictions(page, X), rtol=0, atol=1e-9)


EVERY_FIELD = {
    "data": ("dataset", "moons"),
    "noise": ("noise", "0.1"),
    "layers": ("hidden", "8,6,4"),
    "act": ("activation", "tanh"),
    "init": ("init", "variance_scaling"),
    "opt.scale": ("opt.scale", "2"),
    "opt.mode": ("opt.mode", "fan_avg"),
    "opt.distribution": ("opt.distribution", "uniform"),
    "init_scale": ("scale", "1.5"),
    "optimizer": ("optimizer", "adam"),
    "lr": ("learning_rate", "0.005"),
    "bs": ("batch_size", "32"),
    "iters": ("iterations", "120"),
    "seed": ("seed", "11"),
    "k": ("seeds", "3"),
    "speed": ("speed", "100"),
}


def test_url_round_trip_every_field_and_aliases(page, server):
    assert set(options()["aliases"]) >= {"lr", "k", "data", "layers", "act", "iters", "bs", "init_scale"}
    open_page(page, server, "&".join(f"{k}={v}" for k, (_, v) in EVERY_FIELD.items()))
    assert page.inner_text("#error") == "" and not page.locator("#error").is_visible()
    controls = {"#dataset": "moons", "#noise": "0.1", "#hidden": "8,6,4", "#depth": "3", "#width": "",
                "#activation": "tanh", "#init": "variance_scaling", "#init-opt-scale": "2", "#init-opt-mode": "fan_avg",
                "#init-opt-distribution": "uniform", "#scale": "1.5", "#optimizer": "adam", "#lr": "0.005",
                "#batch-size": "32", "#iterations": "120", "#seed": "11", "#seeds": "3", "#speed": "100"}  # fmt: skip
    assert {c: page.input_value(c) for c in controls} == controls
    assert page.get_attribute("#width", "placeholder") == "mixed"
    full = dict(EVERY_FIELD.values())
    assert url_params(page.url) == full  # written back under the full names
    page.goto(page.url)  # the link reproduces the page
    wait_status(page, "idle")
    assert {c: page.input_value(c) for c in controls} == controls
    page.select_option("#speed", "max")
    train_to_done(page)
    config = page.evaluate("window.playground.config")
    assert config == {"dataset": "moons", "noise": 0.1, "hidden": [8, 6, 4], "activation": "tanh", "init": "variance_scaling",
                      "init_options": {"distribution": "uniform", "mode": "fan_avg", "scale": 2}, "scale": 1.5,
                      "optimizer": "adam", "learning_rate": 0.005, "batch_size": 32, "iterations": 120, "seed": 11,
                      "seeds": 3, "speed": None, "blocks": 0, "branch_depth": 2, "norm": "none",
                      "parametrization": "standard", "base_width": None}  # fmt: skip


def test_url_refuses_unknown_parameters_visibly(page, server):
    open_page(page, server, "lrr=0.5&iters=20&speed=max")
    error = page.locator("#error")
    assert error.is_visible()
    assert error.inner_text().startswith("Unknown URL parameter 'lrr'. Allowed: dataset, noise, hidden,")
    assert "lr (learning_rate)" in error.inner_text()
    assert page.input_value("#lr") == "0.01" and page.input_value("#iterations") == "20"
    assert url_params(page.url)["lrr"] == "0.5"  # kept in the address, not silently dropped
    train_to_done(page)
    assert page.evaluate("window.playground.config.learning_rate") == 0.01  # the default, as the message says
    assert error.is_visible() and "'lrr'" in error.inner_text()

    open_page(page, server, "lr=0.1&learning_rate=0.2&init=bogus")
    text = page.inner_text("#error")
    assert "URL parameters 'lr' and 'learning_rate' both set 'learning_rate': keep one." in text
    assert "URL parameter 'init' must be one of" in text and page.input_value("#init") == "he_normal"


def test_hidden_depth_and_width_never_disagree(page, server):
    open_page(page, server, "speed=max")
    page.fill("#hidden", "8,8,8")
    assert (page.input_value("#depth"), page.input_value("#width")) == ("3", "8")
    page.fill("#hidden", "10,5")
    assert (page.input_value("#depth"), page.input_value("#width")) == ("2", "")
    assert page.get_attribute("#width", "placeholder") == "mixed"
    page.fill("#depth", "4")
    page.dispatch_event("#depth", "change")
    assert page.input_value("#hidden") == "10,5,5,5" and page.input_value("#width") == ""
    page.fill("#width", "6")
    page.dispatch_event("#width", "change")
    assert page.input_value("#hidden") == "6,6,6,6" and page.input_value("#depth") == "4"
    page.fill("#depth", "2")
    page.dispatch_event("#depth", "change")
    assert page.input_value("#hidden") == "6,6" and page.input_value("#width") == "6"
    assert url_params(page.url)["hidden"] == "6,6"


def pixels_of(page, selector: str, color: str, box=None) -> int:
    """How many pixels of the canvas are (nearly) ``color`` ("#rrggbb"), inside ``box`` ({l, r, t, b} in CSS pixels) if given."""
    return page.evaluate(
        """([sel, hex, box]) => {
        const cv = document.querySelector(sel), k = cv.width / cv.clientWidth, b = box || { l: 0, t: 0, r: cv.clientWidth, b: cv.clientHeight };
        const x = Math.ceil(b.l * k), y = Math.ceil(b.t * k), w = Math.floor((b.r - b.l) * k), h = Math.floor((b.b - b.t) * k);
        const d = cv.getContext('2d').getImageData(x, y, w, h).data;
        const t = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
        let n = 0;
        for (let i = 0; i < d.length; i += 4) if (Math.abs(d[i] - t[0]) + Math.abs(d[i + 1] - t[1]) + Math.abs(d[i + 2] - t[2]) < 24) n++;
        return n;
    }""",
        [selector, color, box],
    )


def test_pinned_runs_side_by_side_in_the_fan_and_the_table(page, server):
    # three runs whose curves part (flat at log 2, falling, falling), pinned; a fourth trained beside them
    # (x10 random is the fourth: with k=2 its median can sit on log 2 too, drawn over the zeros line)
    open_page(page, server, "iterations=1000&lr=1&speed=max&k=2")
    for init in ("zeros", "he_normal", "xavier_normal", "random"):
        page.select_option("#init", init)
        train_to_done(page)
        if init != "random":
            page.click("#pin")
    cards = page.locator("#pinned-cards .pin-card")
    assert cards.count() == 3 and page.locator("#table tbody tr").count() == 4  # the current run and each pinned one
    colors = page.evaluate("window.playground.pinned.map((p) => p.color)")
    assert len(set(colors)) == 3 and "#000000" not in colors  # apart from each other and from the current run's
    fan_box = page.evaluate("window.playground.fanBox")  # the plot itself, not its legend
    for color in colors:  # each pinned run drawn in its own colour, in the fan and among the dots
        assert pixels_of(page, "#loss-chart", color, fan_box) >= 20, color
        assert pixels_of(page, "#accuracy-chart", color) >= 10, color
    page.click("#pin")
    assert cards.count() == 4 and page.is_disabled("#pin")  # at most 4
    tops = {round(cards.nth(i).bounding_box()["y"]) for i in range(4)}
    assert len(tops) == 1  # one row, never wrapped below
    assert page.locator("#table tbody tr").count() == 5
    assert "zeros" in cards.nth(0).inner_text() and "random" in page.inner_text("#pinned-summary")
    cards.nth(0).locator("button.unpin-one").click()
    assert cards.count() == 3 and "zeros" not in page.inner_text("#pinned-cards")
    assert page.locator("#table tbody tr").count() == 4 and not page.is_disabled("#pin")
    page.click("#unpin")
    assert cards.count() == 0 and not page.locator("#pinned").is_visible()


def test_every_initializer_listed_with_its_formula_and_lsuv_trains(page, server):
    open_page(page, server, "iterations=30&speed=max")
    inits = options()["initializers"]
    listed = page.evaluate("[...document.querySelectorAll('#init option')].map((o) => [o.value, o.title])")
    assert dict(listed) == {name: entry["summary"] for name, entry in inits.items()}
    assert "lsuv" in dict(listed)
    page.select_option("#init", "lsuv")
    assert page.inner_text("#init-summary") == "lsuv: " + inits["lsuv"]["summary"]
    train_to_done(page)
    assert page.evaluate("window.playground.config.init") == "lsuv"


def test_notebook_he_screenshot_and_the_notebook_keeps_one_seed(page, server):
    open_page(page, server, "k=8")
    page.click("#notebook")
    assert page.input_value("#seeds") == "1" and page.input_value("#init") == "notebook_he"
    page.select_option("#speed", "max")
    page.fill("#seeds", "8")
    train_to_done(page)
    assert page.evaluate("window.playground.last.models.length") == 8
    assert re.fullmatch(r"notebook_he: train accuracy \d+-\d+% over 8 seeds", page.inner_text("#spread"))
    page.screenshot(path=str(artifact("playground_page_he.png")), full_page=True)


def test_420px_stacks_without_horizontal_overflow(page, server):
    page.set_viewport_size({"width": 420, "height": 900})
    open_page(page, server, "init=random&k=8&iterations=200&speed=max")
    train_to_done(page)
    page.click("#pin")
    page.select_option("#init", "he_normal")
    train_to_done(page)
    page.click("#pin")
    assert page.evaluate("document.scrollingElement.scrollWidth") <= 420
    controls, results = page.locator("#controls").bounding_box(), page.locator("#results").bounding_box()
    assert controls["y"] + controls["height"] <= results["y"] + 1  # stacked
    for sel in ("#boundary", "#network", "#loss-chart", "#accuracy-chart", "#std-chart"):
        box = page.locator(sel).bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 420, sel
    page.screenshot(path=str(artifact("playground_page_420px.png")), full_page=True)


def test_favicon_is_linked_and_served(page, server):
    open_page(page, server)
    href = page.evaluate("document.querySelector('link[rel=icon]').href")
    assert href == server + "/static/favicon.svg"
    reply = page.request.get(href)
    assert reply.status == 200 and reply.headers["content-type"].startswith("image/svg+xml")
    assert ET.fromstring(reply.text()).tag.endswith("svg")
