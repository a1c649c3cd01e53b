"""The playground's residual toggle (issue #15): config, session, the page's residual forward pass and diagram.

Independent checks: the page's JavaScript forward pass against :meth:`initlab.residual.ResidualMLP.forward`
(numpy) to 1e-12 for every scalars/norm variant; the session's K models against
:func:`initlab.training.train` of ``ResidualMLP.initialize`` from ``seeding.split(seed)[0]`` (the CLI's
recipe); the per-block statistics against a forward pass written here from the module docstring's formulas.
Screenshots: test-artifacts/playground_page_residual.png, draw_residual_*.png.
"""

from __future__ import annotations

import json
import subprocess
import sys
from urllib.parse import parse_qsl, urlsplit

import numpy as np
import pytest

from initlab import activations, residual, seeding
from initlab.playground.config import MAX_PARAMETERS, options, parameters_per_model, validate
from initlab.playground.session import Run, _residual_weights
from initlab.residual import ResidualMLP
from initlab.training import train


def _config(**fields):
    config, errors = validate(fields)
    assert errors == [], errors
    return config


# ---------------------------------------------------------------------------- config
def test_defaults_are_the_plain_mlp_and_blocks_build_a_residual_net():
    d = _config()
    assert (d.blocks, d.branch_depth, d.norm) == (0, 2, "none")
    c = _config(blocks=16, hidden=[16], init="fixup", m=3, norm="layer", seeds=4)
    assert (c.blocks, c.branch_depth, c.norm, c.hidden) == (16, 3, "layer", (16,))
    assert c.to_json()["blocks"] == 16 and c.to_json()["norm"] == "layer"
    net = ResidualMLP(2, 16, 1, 16, branch_depth=3, norm="layer", scalars="fixup")
    assert parameters_per_model(c) == net.parameter_count  # Fixup's scalars and the LN gains counted


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"blocks": 33}, "blocks", ["between 0 and 32", "33"]),
        ({"blocks": -1}, "blocks", ["between 0 and 32"]),
        ({"blocks": 1.5}, "blocks", ["an integer"]),
        ({"blocks": True}, "blocks", ["an integer"]),
        ({"blocks": 2, "hidden": [8], "branch_depth": 0}, "branch_depth", ["between 1 and 4"]),
        ({"blocks": 2, "hidden": [8], "norm": "batch"}, "norm", ["'none', 'layer'", "batch"]),
        ({"init": "fixup"}, "init", ["structural", "blocks >= 1", "blocks=0", "he_normal", "Zhang"]),
        ({"init": "rezero", "blocks": 0}, "init", ["structural", "blocks >= 1"]),
        ({"norm": "layer"}, "norm", ["residual nets", "blocks=0"]),
        ({"branch_depth": 3}, "branch_depth", ["residual nets", "blocks=0"]),
        ({"blocks": 4, "hidden": [10, 5]}, "hidden", ["one trunk width", "[10, 5]", "blocks=0"]),
        ({"blocks": 4, "hidden": [8], "init": "notebook_he"}, "init", ["plain MLP", "he_normal", "blocks=4"]),
        ({"blocks": 4, "hidden": [8], "init": "skipinit", "init_options": {"alpha0": "x"}}, "init_options", ["alpha0"]),
        ({"blocks": 4, "hidden": [8], "init": "fixup", "init_options": {"mode": "fan_in"}}, "init_options", ["mode"]),
        (
            {"blocks": 4, "hidden": [8], "init": "fixup", "init_options": {"layer_init": "nope"}},
            "init_options",
            ["nope"],
        ),
    ],
)
def test_residual_fields_are_validated_with_messages_naming_them(fields, field, words):
    config, errors = validate(fields)
    assert config is None
    mine = [e for e in errors if e["field"] == field]
    assert mine, errors
    for w in words:
        assert w in mine[0]["message"], (w, mine[0]["message"])


def test_the_size_bound_counts_residual_parameters():
    # width 64, 32 blocks of 4 layers: 532,737 parameters per model, over the bound even for one seed
    config, errors = validate({"blocks": 32, "hidden": [64], "branch_depth": 4, "seeds": 1})
    assert config is None and errors[0]["field"] == "seeds"
    P = ResidualMLP(2, 64, 1, 32, branch_depth=4).parameter_count
    assert P > MAX_PARAMETERS and f"{P:,} per model" in errors[0]["message"]
    assert "residual net of width 64 with 32 blocks of 4 layers" in errors[0]["message"]
    # at the edge: K * P <= MAX_PARAMETERS passes, one more seed fails
    P = ResidualMLP(2, 32, 1, 8, scalars="fixup").parameter_count
    k = MAX_PARAMETERS // P
    assert validate({"blocks": 8, "hidden": [32], "init": "fixup", "seeds": min(k, 32)})[1] == []
    if k < 32:
        assert validate({"blocks": 8, "hidden": [32], "init": "fixup", "seeds": k + 1})[1][0]["field"] == "seeds"


def test_options_list_the_structural_inits_with_formula_and_paper():
    o = options()
    assert o["structural"] == list(residual.STRUCTURAL)
    for name, (formula, paper, _, allowed) in residual.STRUCTURAL.items():
        entry = o["initializers"][name]
        assert formula in entry["summary"] and paper in entry["summary"]
        assert [opt["name"] for opt in entry["options"]] == list(allowed)
    assert "B^(-1/(2m-2))" in o["initializers"]["fixup"]["summary"]
    assert o["limits"]["blocks"] == [0, 32] and o["limits"]["branch_depth"] == [1, 4]
    assert o["aliases"]["m"] == "branch_depth" and o["norms"] == ["none", "layer"]
    assert o["plain_only"] == ["notebook_he"]
    assert o["defaults"]["blocks"] == 0


# ---------------------------------------------------------------------------- session
@pytest.mark.parametrize(
    ("init", "fields"),
    [
        ("fixup", {}),
        ("rezero", {"norm": "layer"}),
        ("skipinit", {"init_options": {"alpha0": 0.25, "layer_init": "xavier_normal"}}),
        ("zero_last", {"branch_depth": 3}),
        ("he_normal", {"scale": 0.5}),
        ("random", {"init_options": {"scale": 0.3}}),
    ],
)
def test_k_residual_models_are_the_librarys_k_models(init, fields):
    config = _config(blocks=3, hidden=[6], init=init, seeds=3, iterations=40, learning_rate=0.05, **fields)
    run = Run(config)
    run.step(40)
    net = ResidualMLP(2, 6, 1, 3, branch_depth=config.branch_depth, norm=config.norm,
                      scalars=residual.scalars_for(init))  # fmt: skip
    assert run.net == net
    init_rng, order_rng = seeding.split(config.seed)
    opts = dict(config.init_options)
    if init in residual.STRUCTURAL:
        params = net.initialize(init, rng=init_rng, models=3, scale=config.scale, **opts)
    else:
        from initlab import initializers

        params = net.initialize(initializers.get(init, **opts), rng=init_rng, models=3, scale=config.scale)
    history = train(net, params, run.X, run.data.Y_train, learning_rate=0.05, iterations=40, record_every=10,
                    rng=order_rng, engine="numpy")  # fmt: skip
    got = {k: v for k, v in run.views().items()}
    for key, value in history.params.items():
        np.testing.assert_array_equal(got[key], value, err_msg=key)


def test_structural_init_is_visible_at_iteration_zero():
    run = Run(_config(blocks=4, hidden=[8], init="fixup", seeds=2, iterations=10))
    V = run.selected_params()
    assert not V["W_out"].any() and not V["W_branch"][:, -1].any()  # Fixup: head and last branch layers 0
    snap = run.snapshot()
    names = [l["name"] for l in snap["layers"]]
    assert names == ["input projection", "block 1", "block 2", "block 3", "block 4", "head"]
    for l in snap["layers"][1:-1]:
        assert l["residual_scale"] == 0.0 and l["branch_std"] == 0.0  # every branch adds nothing yet
    assert all(p == 0.5 for p in snap["boundary"]["p"])  # a zero head: p = sigmoid(0) everywhere
    assert len(snap["weights"]["blocks"]) == 4 and "bias" in snap["weights"]["blocks"][0]


def test_block_statistics_match_a_forward_written_from_the_formulas():
    config = _config(blocks=3, hidden=[5], init="he_normal", seeds=2, iterations=30, activation="tanh", norm="layer")
    run = Run(config)
    run.step(30)
    run.select(1)
    snap = run.snapshot()
    V = run.selected_params()
    g = activations.get("tanh")
    X = run.X
    h = V["W_in"] @ X + V["b_in"]
    trunk = [h]
    for b in range(3):
        mu, var = h.mean(0), h.var(0)
        u = V["ln_gain"][b] * (h - mu) / np.sqrt(var + residual.LN_EPS) + V["ln_bias"][b]
        u = g.forward(V["W_branch"][b, 0] @ u + V["b_branch"][b, 0])
        f = V["W_branch"][b, 1] @ u + V["b_branch"][b, 1]
        h = h + f
        trunk.append(h)
        layer = snap["layers"][b + 1]
        assert layer["a_std"] == pytest.approx(h.std(), rel=1e-10)
        assert layer["branch_std"] == pytest.approx(f.std(), rel=1e-10)
        assert layer["residual_scale"] == pytest.approx(np.linalg.norm(f) / np.linalg.norm(trunk[b]), rel=1e-10)
    assert snap["layers"][0]["a_std"] == pytest.approx(trunk[0].std(), rel=1e-10)
    assert snap["layers"][1]["units"] == 5 and snap["layers"][1]["distinct_units"] == 5
    _, grads = run.net.loss_and_grads(V, X, run.data.Y_train)  # the mean cross-entropy's gradient
    for b in range(3):
        assert snap["layers"][b + 1]["grad_norm"] == pytest.approx(np.linalg.norm(grads["dW_branch"][b]), rel=1e-10)
    p = 1 / (1 + np.exp(-(V["W_out"] @ g.forward(h) + V["b_out"])))
    assert snap["layers"][-1]["a_std"] == pytest.approx(p.std(), rel=1e-10)
    assert snap["accuracy"] == pytest.approx(((p > 0.5) == run.data.Y_train).mean())


def test_lsuv_on_a_residual_net_normalizes_on_the_training_inputs():
    config = _config(blocks=3, hidden=[8], init="lsuv", seeds=2, iterations=5)
    run = Run(config)
    expected = run.net.initialize("lsuv", rng=seeding.split(config.seed)[0], models=2, X=run.X)
    for key, value in expected.items():
        np.testing.assert_array_equal(run.views()[key], value, err_msg=key)


def test_zeros_residual_trunk_is_symmetric():
    snap = Run(_config(blocks=2, hidden=[6], init="zeros", iterations=5)).snapshot()
    assert [l["distinct_units"] for l in snap["layers"][:-1]] == [1, 1, 1]


def test_export_of_a_residual_run_is_its_selected_model():
    from initlab import export

    run = Run(_config(blocks=2, hidden=[4], init="rezero", iterations=5, seeds=2))
    run.step(5)
    run.select(1)
    net, params, info = export.load_json(run.export("json").text)
    assert net == run.net and info["init"] == "rezero" and info["settings"]["model"] == 1
    for name, value in run.views().items():  # the selected model's current parameters, bit for bit
        assert params[name].tobytes() == value[1].tobytes(), name
    assert "class ResidualMLP(nn.Module)" in run.export("pytorch").text


# ---------------------------------------------------------------------------- the page's forward pass
pytest.importorskip("starlette", reason="the playground needs the web extra: pip install -e '.[web]'")
pytest.importorskip("uvicorn")

from browser import artifact  # noqa: E402


@pytest.fixture
def drawpage(browser, server):
    """An empty page with only draw.js (nothing else from the playground)."""
    browser.goto(server + "/api/options")
    browser.set_content("<!doctype html><html><body style='margin:0;background:#fff'></body></html>")
    browser.add_script_tag(url=server + "/static/draw.js")
    return browser


def _perturbed(net: ResidualMLP, rng, init="he_normal", **options) -> dict:
    """One model's parameters with every group non-trivial (so that a missing term in the JS would show)."""
    params = {k: v[0] for k, v in net.initialize(init, rng=rng, models=1, **options).items()}
    return {k: v + 0.2 * rng.standard_normal(v.shape) for k, v in params.items()}


VARIANTS = [
    ("relu", "none", "none", 2),
    ("tanh", "layer", "none", 2),
    ("gelu", "none", "alpha", 3),
    ("selu", "layer", "fixup", 2),
    ("leaky_relu", "none", "fixup", 1),
    ("sigmoid", "layer", "alpha", 1),
]


@pytest.mark.browser
@pytest.mark.parametrize(("activation", "norm", "scalars", "m"), VARIANTS)
def test_js_forward_equals_residual_mlp_forward(drawpage, activation, norm, scalars, m):
    rng = np.random.default_rng(15)
    net = ResidualMLP(2, 7, 1, 4, branch_depth=m, activation=activation, norm=norm, scalars=scalars)
    params = _perturbed(net, rng)
    weights = _residual_weights({k: v[None] for k, v in params.items()})  # the page's format, from the session
    X = rng.uniform(-3, 3, size=(2, 250))
    out = drawpage.evaluate(
        """([w, act, xs, ys]) => { const r = initlabDraw.forward(w, act, xs, ys);
           return {p: Array.from(r.p), units: r.units.map((l) => l.map((u) => Array.from(u)))}; }""",
        [weights, activation, X[0].tolist(), X[1].tolist()],
    )
    p = net.forward(params, X)
    np.testing.assert_allclose(out["p"], p[0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(out["p"], p[0], rtol=1e-11, atol=0)
    work = net.passes().workspace(1, X.shape[1])
    net.passes().forward(net.views(net.flatten({k: v[None] for k, v in params.items()})), X, work)
    assert len(out["units"]) == 5  # h_0 .. h_4
    for b, h in enumerate(work.trunk):
        np.testing.assert_allclose(np.array(out["units"][b]), h[0], rtol=1e-12, atol=1e-12)
    assert np.ptp(p) > 0.05  # a non-trivial function was checked


@pytest.mark.browser
def test_js_refuses_malformed_residual_weights(drawpage):
    net = ResidualMLP(2, 3, 1, 2, scalars="fixup")
    weights = _residual_weights({k: v for k, v in net.initialize("fixup", rng=0, models=1).items()})
    weights["blocks"][1]["bias"] = [0, 0]
    message = drawpage.evaluate(
        "w => { try { initlabDraw.forward(w, 'relu', [0], [0]); return 'no error'; } catch (e) { return e.message; } }",
        weights,
    )
    assert "blocks[1].bias" in message and "2m = 4" in message


@pytest.mark.browser
def test_residual_diagram_draws_the_trunk_and_a_block_strip(drawpage):
    net = ResidualMLP(2, 6, 1, 5, scalars="fixup")
    params = net.initialize("fixup", rng=1, models=1)
    params["W_branch"][0, 2, 1] = 0.3  # block 3's branch now adds something; the others still add nothing
    weights = _residual_weights(params)
    drawpage.evaluate(
        """() => { const c = document.createElement('canvas'); c.id = 'n'; c.style.width = '520px';
           c.style.height = '300px'; document.body.appendChild(c); }"""
    )
    d = drawpage.evaluate(
        "w => initlabDraw.network(document.getElementById('n'), w, 'relu', [-2, 2, -2, 2], {})", weights
    )
    assert d["residual"] is True
    assert [len(col) for col in d["layers"]] == [2, 6, 6, 6, 6, 6, 6, 1]  # inputs, h_0 .. h_5, p
    assert len(d["blocks"]) == 5
    scales = [b["scale"] for b in d["blocks"]]
    assert scales[2] > 0 and [s for i, s in enumerate(scales) if i != 2] == [0, 0, 0, 0]
    assert d["lines"] == 2 * 6 + 6 * 1  # W_in and W_out (the skips are grey, not weights)
    for b, (left, right) in zip(d["blocks"], zip(d["layers"][1:], d["layers"][2:])):
        assert left[0]["x"] + left[0]["w"] <= b["x"] and b["x"] + b["w"] <= right[0]["x"]  # between its columns
    drawpage.screenshot(path=artifact("draw_residual_fixup.png"))


# ---------------------------------------------------------------------------- HTTP and WebSocket
def test_api_validate_and_ws_train_a_residual_net(server):
    import urllib.error
    import urllib.request

    ws_client = pytest.importorskip("websockets.sync.client")

    def post(body):
        req = urllib.request.Request(server + "/api/validate", data=json.dumps(body).encode(),
                                     headers={"content-type": "application/json"})  # fmt: skip
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    status, body = post({"blocks": 2, "hidden": [4], "init": "skipinit", "m": 1})
    assert status == 200 and body["config"]["blocks"] == 2 and body["config"]["branch_depth"] == 1
    status, body = post({"init": "zero_last", "norm": "layer"})
    assert status == 422 and {e["field"] for e in body["errors"]} == {"init", "norm"}

    with ws_client.connect(server.replace("http", "ws") + "/ws") as ws:
        ws.send(json.dumps({"action": "train", "blocks": 3, "hidden": [5], "init": "zero_last", "seeds": 2,
                            "iterations": 30, "speed": None}))  # fmt: skip
        got = []
        while not got or got[-1] != {"type": "status", "status": "done"}:
            got.append(json.loads(ws.recv(timeout=60)))
        progress = [m for m in got if m["type"] == "progress"]
        assert got[0]["type"] == "start" and got[0]["config"]["blocks"] == 3
        last = progress[-1]
        assert last["iteration"] == 30 and len(last["models"]) == 2 and len(last["layers"]) == 5
        assert [len(b["W"]) for b in last["weights"]["blocks"]] == [2, 2, 2]
        ws.send(json.dumps({"action": "export", "format": "pytorch"}))
        reply = json.loads(ws.recv(timeout=10))
        assert reply["type"] == "export" and "class ResidualMLP(nn.Module)" in reply["text"]


# ---------------------------------------------------------------------------- the page
@pytest.fixture
def page(browser, server):
    outside, problems = [], []

    def only_local(route):
        if route.request.url.startswith(server):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    def on_error(error):
        problems.append(str(error))

    browser.route("**/*", only_local)
    browser.on("pageerror", on_error)
    yield browser
    browser.remove_listener("pageerror", on_error)
    browser.unroute("**/*")
    assert outside == [] and problems == []


def _open(page, server, query=""):
    page.goto(f"{server}/?{query}")
    page.wait_for_function("document.getElementById('status').dataset.status === 'idle'", timeout=60_000)


def _train_to_done(page):
    page.evaluate("window.playground.initial = null")
    page.click("#train")
    page.wait_for_function(
        "() => window.playground.initial !== null && window.playground.last.done && "
        "['done', 'diverged'].includes(document.getElementById('status').dataset.status)",
        timeout=300_000,
    )
    assert page.evaluate("window.playground.drawErrors") == {}


def _visible_inits(page) -> list[str]:
    return page.evaluate("[...document.getElementById('init').options].filter((o) => !o.disabled).map((o) => o.value)")


@pytest.mark.browser
def test_toggle_residual_train_fixup_16_blocks_4_seeds(page, server, tmp_path):
    _open(page, server, "hidden=12&iterations=200&lr=0.1&speed=max&seed=5")
    structural = list(residual.STRUCTURAL)
    assert not set(structural) & set(_visible_inits(page))  # blocks = 0: not offered
    assert page.is_disabled("#branch-depth") and page.is_disabled("#norm")
    page.check("#residual")
    assert page.input_value("#blocks") == "8" and page.is_enabled("#branch-depth")
    assert set(structural) <= set(_visible_inits(page)) and "notebook_he" not in _visible_inits(page)
    assert page.is_visible("#residual-hint")
    page.fill("#blocks", "16")
    page.dispatch_event("#blocks", "change")
    page.select_option("#init", "fixup")
    page.fill("#seeds", "4")
    page.dispatch_event("#seeds", "change")
    assert "B^(-1/(2m-2))" in page.inner_text("#init-summary")
    _train_to_done(page)

    config = page.evaluate("window.playground.config")
    assert (config["blocks"], config["branch_depth"], config["norm"], config["init"], config["seeds"]) == (
        16, 2, "none", "fixup", 4)  # fmt: skip
    last = page.evaluate("window.playground.last")
    assert len(last["models"]) == 4 and len(last["weights"]["blocks"]) == 16
    # the server's models are the library's: ResidualMLP.initialize + train, the CLI's recipe
    run = Run(_config(**{k: v for k, v in config.items() if k != "speed"}))
    run.step(200)
    np.testing.assert_allclose([m["accuracy"] for m in last["models"]], run._evaluate()[1], rtol=0, atol=1e-12)

    # the boundary: drawn per pixel from the weights, and the same as numpy's forward pass at the grid points
    boundary = page.evaluate("""() => { const b = window.playground.last.boundary, n = b.n, e = b.extent, xs = [], ys = [];
        for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) { xs.push(e[0] + (e[1] - e[0]) * j / (n - 1)); ys.push(e[2] + (e[3] - e[2]) * i / (n - 1)); }
        return {p: Array.from(initlabDraw.forward(window.playground.last.weights, 'relu', xs, ys).p), server: b.p}; }""")  # fmt: skip
    np.testing.assert_allclose(boundary["p"], boundary["server"], atol=5.1e-4)  # the server rounds to 3 digits
    inked = page.evaluate("""() => { const c = document.getElementById('boundary'), d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let blue = 0, orange = 0; for (let i = 0; i < d.length; i += 4) { if (d[i + 2] > d[i] + 40) blue++; else if (d[i] > d[i + 2] + 40) orange++; }
        return [blue, orange, c.width * c.height]; }""")  # fmt: skip
    assert inked[0] + inked[1] > 0.8 * inked[2]  # the plane is coloured by class, every pixel

    # the diagram shows the trunk and 16 blocks; the per-layer views show the blocks
    diagram = page.evaluate("window.playground.diagram")
    assert diagram["residual"] and len(diagram["blocks"]) == 16 and len(diagram["layers"]) == 16 + 3
    assert all(b["scale"] is not None and b["scale"] > 0 for b in diagram["blocks"])  # trained: branches add
    names = page.evaluate("[...document.querySelectorAll('#layers .layer-row .name')].map((e) => e.textContent)")
    assert names[0].startswith("input projection") and names[1].startswith("block 1") and names[-1].startswith("head")
    assert len(names) == 18
    assert "|branch|/|trunk|" in page.inner_text("#layer-2")
    depth = page.evaluate("window.playground.depth")
    assert (
        depth["series"] == ["a_std", "grad_norm", "branch_std"]
        and depth["xTicks"][0] == 0
        and depth["xTicks"][-1] == 17
    )
    assert "16 blocks" in page.inner_text("#table tbody")
    assert page.inner_text("#symmetry").splitlines() == [
        "input projection: 12 distinct units of 12", "blocks 1-16 (trunk after each): 12 distinct units of 12",
        "head: 1 distinct unit of 1"]  # fmt: skip
    page.screenshot(path=str(artifact("playground_page_residual.png")), full_page=True)

    # the export of the residual net: the PyTorch script, run as a learner would, predicts what the page draws
    pytest.importorskip("torch")
    with page.expect_download(timeout=30_000) as info:
        page.click("#export-pytorch")
    script, points = tmp_path / info.value.suggested_filename, tmp_path / "points.json"
    script.write_text(open(info.value.path(), encoding="utf-8").read(), encoding="utf-8")
    X = np.random.default_rng(0).uniform(-1.5, 1.5, size=(2, 50))
    points.write_text(json.dumps(X.T.tolist()), encoding="utf-8")
    done = subprocess.run([sys.executable, str(script), "--points", str(points)], capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    p_page = page.evaluate("([xs, ys]) => Array.from(initlabDraw.forward(window.playground.last.weights, 'relu', xs, ys).p)",
                           [X[0].tolist(), X[1].tolist()])  # fmt: skip
    np.testing.assert_allclose(json.loads(done.stdout), p_page, rtol=0, atol=1e-9)


@pytest.mark.browser
def test_url_round_trip_of_blocks_branch_depth_norm(page, server):
    _open(page, server, "blocks=3&m=3&norm=layer&hidden=6&init=rezero&iters=20&speed=max")
    assert page.inner_text("#error") == ""
    assert page.is_checked("#residual")
    controls = {"#blocks": "3", "#branch-depth": "3", "#norm": "layer", "#hidden": "6", "#init": "rezero"}
    assert {c: page.input_value(c) for c in controls} == controls
    params = dict(parse_qsl(urlsplit(page.url).query))
    assert (params["blocks"], params["branch_depth"], params["norm"]) == ("3", "3", "layer")  # full names
    page.goto(page.url)
    page.wait_for_function("document.getElementById('status').dataset.status === 'idle'")
    assert {c: page.input_value(c) for c in controls} == controls
    _train_to_done(page)
    config = page.evaluate("window.playground.config")
    assert (config["blocks"], config["branch_depth"], config["norm"], config["init"]) == (3, 3, "layer", "rezero")
    assert page.evaluate("window.playground.last.weights.blocks[0].ln_gain.length") == 6
    # toggled off: the plain MLP, branch depth and norm back to their defaults, rezero no longer offered
    page.uncheck("#residual")
    assert page.input_value("#blocks") == "0" and page.input_value("#init") == "he_normal"
    assert "rezero" not in _visible_inits(page) and page.is_disabled("#norm")
    params = dict(parse_qsl(urlsplit(page.url).query))
    assert not {"blocks", "norm", "branch_depth"} & set(params)  # the plain MLP's link, as before residual nets


@pytest.mark.browser
def test_a_structural_init_without_blocks_is_refused_on_the_page(page, server):
    _open(page, server, "init=fixup&iters=10&speed=max")
    page.click("#train")
    page.wait_for_function("document.getElementById('status').dataset.status === 'error'")
    text = page.inner_text("#error")
    assert "'fixup'" in text and "needs blocks >= 1" in text
    assert page.evaluate("document.getElementById('init').classList.contains('invalid')")
    _open(page, server, "blocks=2&hidden=10,5&norm=batch&speed=max")
    assert "URL parameter 'norm' must be one of none, layer" in page.inner_text("#error")
    page.click("#train")
    page.wait_for_function("document.getElementById('status').dataset.status === 'error'")
    assert "one trunk width" in page.inner_text("#error")
