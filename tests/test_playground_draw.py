"""The page's drawing (static/draw.js, window.initlabDraw) in a real browser, checked against the numpy engine
and by reading back the canvas pixels.

draw.js is loaded alone from the playground server into an empty page (not through index.html and app.js),
so these tests depend on nothing but the drawing module. Screenshots go to test-artifacts/draw_*.png.
"""

from __future__ import annotations

import numpy as np
import pytest
from browser import artifact

pytest.importorskip("starlette", reason="the playground needs the web extra: pip install -e '.[web]'")
pytest.importorskip("uvicorn")

from initlab import activations
from initlab.network import MLP

pytestmark = pytest.mark.browser

ORANGE, BLUE = (230, 159, 0), (0, 114, 178)  # Okabe-Ito class 0 / class 1


def load_draw(page, server):
    outside = []

    def only_local(route):
        if route.request.url.startswith(server):
            route.continue_()
        else:  # offline: the drawing fetches nothing
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", only_local)
    page.goto(server + "/api/options")  # any page of the server's origin, then an empty document
    page.set_content("<!doctype html><html><body style='margin:0;background:#fff'></body></html>")
    page.add_script_tag(url=server + "/static/draw.js")
    assert page.evaluate("typeof window.initlabDraw.boundary") == "function"
    return outside


@pytest.fixture
def page(browser, server):
    outside = load_draw(browser, server)
    yield browser
    browser.unroute("**/*")
    assert outside == []


def canvas(page, name, width, height):
    """A canvas of CSS size width x height appended to the page, with id ``name``."""
    page.evaluate(
        """([name, w, h]) => { const c = document.createElement('canvas'); c.id = name;
           c.style.width = w + 'px'; c.style.height = h + 'px'; c.style.display = 'block';
           c.style.margin = '4px'; document.body.appendChild(c); }""",
        [name, width, height],
    )


def pixels(page, name, rect=None) -> np.ndarray:
    """The canvas's RGBA pixels (device pixels), shape (h, w, 4); ``rect`` {x, y, w, h} for a part."""
    data = page.evaluate(
        """([name, r]) => { const c = document.getElementById(name);
           r = r || {x: 0, y: 0, w: c.width, h: c.height};
           return [r.w, r.h, Array.from(c.getContext('2d').getImageData(r.x, r.y, r.w, r.h).data)]; }""",
        [name, rect],
    )
    w, h, flat = data
    return np.array(flat, dtype=np.uint8).reshape(h, w, 4)


def weights_json(params: dict, L: int) -> dict:
    """The protocol's ``weights``: ``{"W": [n_l rows of n_{l-1}], "b": [n_l floats]}``."""
    return {
        "W": [np.asarray(params[f"W{l}"]).tolist() for l in range(1, L + 1)],
        "b": [np.asarray(params[f"b{l}"]).ravel().tolist() for l in range(1, L + 1)],
    }


def blue(px: np.ndarray) -> np.ndarray:
    return px[..., 2].astype(int) > px[..., 0].astype(int) + 40


def orange(px: np.ndarray) -> np.ndarray:
    return px[..., 0].astype(int) > px[..., 2].astype(int) + 40


def shot(page, name):
    page.screenshot(path=artifact(f"draw_{name}.png"), full_page=True)


# ---------------------------------------------------------------------------- forward()
@pytest.mark.parametrize("activation", activations.available())
def test_forward_equals_the_numpy_engine(page, activation):
    rng = np.random.default_rng(14)
    net = MLP((2, 7, 5, 3, 1), activation=activation)
    params = {k: v[0] * 1.5 for k, v in net.initialize("he_normal", rng=rng, models=1).items()}
    params = {k: (v + 0.3 * rng.standard_normal(v.shape) if k.startswith("b") else v) for k, v in params.items()}
    X = rng.uniform(-4, 4, size=(2, 300))
    out = page.evaluate(
        """([w, act, xs, ys]) => { const r = initlabDraw.forward(w, act, xs, ys);
           return {p: Array.from(r.p), units: r.units.map((l) => l.map((u) => Array.from(u)))}; }""",
        [weights_json(params, 4), activation, X[0].tolist(), X[1].tolist()],
    )
    p, record = net.forward(params, X, record=True)
    np.testing.assert_allclose(out["p"], p[0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(out["p"], p[0], rtol=1e-11, atol=0)  # small probabilities too, relatively
    assert len(out["units"]) == 4
    for l, A in enumerate(record.A):  # every unit of every layer, (n_l, m)
        np.testing.assert_allclose(np.array(out["units"][l]), A, rtol=1e-12, atol=1e-12)
    assert record.A[0].std() > 0.1 and np.ptp(p[0]) > 0.01  # non-trivial functions were checked


def test_forward_refuses_malformed_weights(page):
    message = page.evaluate(
        """() => { try { initlabDraw.forward({W: [[[1, 2, 3]]], b: [[0]]}, 'relu', [0], [0]); return 'no error'; }
           catch (e) { return e.message; } }"""
    )
    assert "weights.W[0]" in message and "rows of 2" in message
    # a diverged network's non-finite weights arrive as null: NaN out (drawn grey), not a silent 0
    p = page.evaluate(
        "() => Array.from(initlabDraw.forward({W: [[[1, null]], [[1]]], b: [[0], [0]]}, 'relu', [1], [1]).p)"
    )
    assert len(p) == 1 and np.isnan(p[0])


# ---------------------------------------------------------------------------- boundary()
def half_plane(axis: int, steep: float = 5.0) -> dict:
    """A relu net (2, 2, 1) whose output logit is steep * x_axis: class 1 is exactly the half-plane x_axis > 0."""
    e = [0.0, 0.0]
    e[axis] = 1.0
    return {"W": [[e, [-v for v in e]], [[steep, -steep]]], "b": [[0.0, 0.0], [0.0]]}


@pytest.mark.parametrize("resolution", [None, 24])
def test_boundary_half_plane_is_orange_left_and_blue_right(page, resolution):
    canvas(page, "b", 200, 160)
    opts = {"legend": False, **({"resolution": resolution} if resolution else {})}
    result = page.evaluate(
        "([w, o]) => initlabDraw.boundary(document.getElementById('b'), w, 'relu', [-2, 2, -1.5, 1.5], null, o)",
        [half_plane(0), opts],
    )
    px = pixels(page, "b")
    assert px.shape == (160, 200, 4)
    assert result["share1"] == pytest.approx(0.5, abs=0.03)
    if resolution is None:
        assert result["grid"] == [200, 160]  # a small net: every pixel computed
    margin = 2 if resolution is None else 200 // resolution + 2  # the smoothed seam of a coarse grid
    assert orange(px[:, : 100 - margin]).all() and blue(px[:, 100 + margin :]).all()
    shot(page, f"half_plane_{resolution or 'full'}")


def test_boundary_y_points_up(page):
    canvas(page, "b", 160, 200)
    result = page.evaluate(
        "w => initlabDraw.boundary(document.getElementById('b'), w, 'tanh', [-1, 1, -3, 1], null, {legend: false})",
        half_plane(1),
    )
    px = pixels(page, "b")
    # class 1 is y > 0: the top quarter of the extent [-3, 1] (rows 0..49)
    assert result["share1"] == pytest.approx(0.25, abs=0.02)
    assert blue(px[:48]).all() and orange(px[52:]).all()


def test_boundary_zeros_network_has_class_1_only_at_the_points(page):
    net = MLP((2, 10, 5, 1))
    zeros = weights_json({k: v[0] for k, v in net.initialize("zeros", rng=0, models=1).items()}, 3)
    rng = np.random.default_rng(3)
    pts = {}
    for name, m in (("train", 40), ("test", 20)):
        X = rng.uniform(-1.8, 1.8, size=(2, m))
        pts[name] = {"x": X[0].tolist(), "y": X[1].tolist(), "label": (X[0] * X[1] > 0).astype(int).tolist()}
    canvas(page, "b", 240, 240)
    result = page.evaluate(
        "([w, p]) => initlabDraw.boundary(document.getElementById('b'), w, 'relu', [-2, 2, -2, 2], p, {legend: false})",
        [zeros, pts],
    )
    assert result["share1"] == 0.0
    px = pixels(page, "b")
    ys, xs = np.nonzero(blue(px))
    assert len(xs) > 0  # the class-1 points are drawn ...
    ones = [(x, y) for s in pts.values() for x, y, k in zip(s["x"], s["y"], s["label"]) if k]
    cx = np.array([(x + 2) / 4 * 240 for x, _ in ones])
    cy = np.array([240 - (y + 2) / 4 * 240 for _, y in ones])
    near = np.min(np.hypot(xs[:, None] - cx[None, :], ys[:, None] - cy[None, :]), axis=1)
    assert near.max() <= 5  # ... and nothing else is blue (radius 3 + ring)
    # test points: white inside, train points filled
    test_one = next((x, y) for x, y, k in zip(pts["test"]["x"], pts["test"]["y"], pts["test"]["label"]) if k)
    centre = px[round(240 - (test_one[1] + 2) / 4 * 240), round((test_one[0] + 2) / 4 * 240)]
    assert centre[:3].min() > 200  # hollow
    shot(page, "zeros_with_points")


def test_boundary_legend_and_device_pixel_ratio(browser, server):
    context = browser.context.browser.new_context(viewport={"width": 600, "height": 400}, device_scale_factor=2)
    try:
        page = context.new_page()
        load_draw(page, server)
        canvas(page, "b", 200, 150)
        result = page.evaluate(
            "w => initlabDraw.boundary(document.getElementById('b'), w, 'relu', [-2, 2, -1.5, 1.5], null, {})",
            half_plane(0),
        )
        size = page.evaluate("() => [document.getElementById('b').width, document.getElementById('b').height]")
        assert size == [400, 300] and result["dpr"] == 2
        px = pixels(page, "b")
        assert result["share1"] == pytest.approx(0.5, abs=0.03)
        assert orange(px[:200, :196]).all() and blue(px[:200, 204:]).all()  # above the legend strip
        strip = px[-60:, :200]  # the legend (bottom left) has a class-1 swatch in the class-0 half
        assert blue(strip).sum() > 20
        page.screenshot(path=artifact("draw_boundary_dpr2.png"))
        sizes = page.evaluate(
            """w => { const c = document.createElement('canvas'); c.width = 120; c.height = 80;
               document.body.appendChild(c); const out = [];
               for (let i = 0; i < 2; i++) { initlabDraw.boundary(c, w, 'relu', [-2, 2, -1.5, 1.5], null, {});
                 out.push([c.width, c.height, c.clientWidth, c.clientHeight]); }
               return out; }""",
            half_plane(0),
        )
        assert sizes == [[240, 160, 120, 80]] * 2  # attributes only: kept as the CSS size, not grown
    finally:
        context.close()


def test_boundary_of_a_64x8_net_is_fast(page):
    net = MLP((2, *[64] * 8, 1), activation="tanh")
    params = {k: v[0] for k, v in net.initialize("he_normal", rng=1, models=1).items()}
    canvas(page, "b", 320, 320)
    times = page.evaluate(
        """w => { const c = document.getElementById('b'), out = [];
           for (let i = 0; i < 6; i++) { const t = performance.now();
             const r = initlabDraw.boundary(c, w, 'tanh', [-2, 2, -2, 2], null, {});
             out.push([performance.now() - t, r.grid]); }
           return out; }""",
        weights_json(params, 9),
    )
    print("64x8 boundary frames (ms, grid):", times)
    # best of 6, as timeit does: on a shared machine the slower frames time the other processes
    assert min(ms for ms, _ in times) < 100
    assert all(g[0] >= 16 for _, g in times)
    shot(page, "boundary_64x8")


# ---------------------------------------------------------------------------- network()
def diagram(page, weights, activation="relu", width=520, height=300):
    canvas(page, "n", width, height)
    return page.evaluate(
        "([w, a]) => initlabDraw.network(document.getElementById('n'), w, a, [-2, 2, -2, 2], {})", [weights, activation]
    )


def thumbnails(page, rects) -> list[bytes]:
    return [pixels(page, "n", r).tobytes() for r in rects]


@pytest.mark.parametrize("init", ["zeros", "constant"])
def test_network_symmetric_units_have_identical_thumbnails(page, init):
    layers = (2, 6, 4, 1)
    net = MLP(layers)
    params = {k: v[0] for k, v in net.initialize("zeros", rng=0, models=1).items()}
    if init == "constant":  # every unit of a layer the same non-trivial function
        params = {k: np.full_like(v, 0.7 if k.startswith("W") else 0.1) for k, v in params.items()}
        params["W1"][:, 1] = -0.4
    d = diagram(page, weights_json(params, 3))
    assert [len(col) for col in d["layers"]] == list(layers)
    assert d["lines"] == sum(a * b for a, b in zip(layers, layers[1:]))
    for col in d["layers"][1:]:
        images = thumbnails(page, col)
        assert len(set(images)) == 1
    if init == "constant":
        first = pixels(page, "n", d["layers"][1][0])
        assert first[..., :3].std() > 5  # a picture, not a blank square
    shot(page, f"network_{init}")


def test_network_random_units_differ(page):
    layers = (2, 8, 8, 1)
    net = MLP(layers, activation="tanh")
    params = {k: v[0] for k, v in net.initialize("he_normal", rng=5, models=1).items()}
    d = diagram(page, weights_json(params, 3), "tanh")
    assert d["lines"] == 2 * 8 + 8 * 8 + 8
    assert len(set(thumbnails(page, d["layers"][1]))) == 8
    assert len(set(thumbnails(page, d["layers"][2]))) == 8
    assert len(set(thumbnails(page, d["layers"][0]))) == 2  # x1 and x2
    shot(page, "network_he")


def test_network_wide_deep_fits_the_canvas(page):
    layers = (2, *[64] * 8, 1)
    net = MLP(layers)
    params = {k: v[0] for k, v in net.initialize("he_normal", rng=2, models=1).items()}
    d = diagram(page, weights_json(params, 9), width=700, height=420)
    assert d["units"] == list(layers)
    assert [len(col) for col in d["layers"]] == [2, *[16] * 8, 1]  # wide layers: their first 16 units
    assert d["lines"] == 2 * 16 + 7 * 16 * 16 + 16  # every line between drawn units
    assert all(r["w"] >= 10 for col in d["layers"] for r in col)  # thumbnails large enough to read
    for col in d["layers"]:
        for r in col:
            assert r["x"] >= 0 and r["y"] >= 0 and r["x"] + r["w"] <= 700 and r["y"] + r["h"] <= 420
        ys = [r["y"] for r in col]
        assert all(b - a >= r["h"] for a, b, r in zip(ys, ys[1:], col))  # no overlapping squares
    shot(page, "network_64x8")


# ---------------------------------------------------------------------------- histogram(), niceTicks()
def test_histogram_one_bin_is_a_spike(page):
    canvas(page, "h", 180, 56)
    kind = page.evaluate(
        "() => initlabDraw.histogram(document.getElementById('h'), {lo: 0, hi: 0, counts: [500]}, '#0072B2').kind"
    )
    assert kind == "spike"
    px = pixels(page, "h")
    bars = px[30:42]  # under the label, above the axis
    painted = (bars[..., 3] > 0).any(axis=0)
    assert 1 <= painted.sum() <= 5  # a spike: nearly every column empty
    canvas(page, "h2", 180, 56)
    page.evaluate(
        "() => initlabDraw.histogram(document.getElementById('h2'), {lo: -1, hi: 2, counts: [3, 9, 20, 9, 3, 1]}, '#0072B2')"
    )
    painted = (pixels(page, "h2")[30:42, :, 3] > 0).any(axis=0)
    assert painted.mean() > 0.8  # bars fill the width
    shot(page, "histograms")


@pytest.mark.parametrize(
    "lo, hi, count",
    [(0, 1, 5), (0, 0.3, 3), (-0.37, 2.91, 5), (0, 15000, 6), (1e-7, 3.3e-6, 4), (-120, -3, 5), (0.6931, 0.6931, 4)],
)
def test_nice_ticks_are_round_and_cover_the_range(page, lo, hi, count):
    ticks = page.evaluate("([a, b, n]) => initlabDraw.niceTicks(a, b, n)", [lo, hi, count])
    assert ticks[0] <= lo and ticks[-1] >= hi
    assert 2 <= len(ticks) <= 2 * count + 2
    steps = np.diff(ticks)
    step = steps[0]
    np.testing.assert_allclose(steps, step, rtol=1e-9)
    mantissa = step / 10 ** np.floor(np.log10(step))
    assert min(abs(mantissa - m) for m in (1, 2, 5, 10)) < 1e-9
    for t in ticks:  # round numbers: no float noise in the shortest repr
        assert abs(t / step - round(t / step)) < 1e-9 and len(repr(t)) <= 8


def test_nice_ticks_exact_values(page):
    assert page.evaluate("() => initlabDraw.niceTicks(0, 0.3, 3)") == [0, 0.1, 0.2, 0.3]
    assert page.evaluate("() => initlabDraw.niceTicks(0, 15000, 3)") == [0, 5000, 10000, 15000]


# ---------------------------------------------------------------------------- charts
def test_charts_draw_with_axes_legends_and_integer_layer_ticks(page):
    rng = np.random.default_rng(0)
    its = list(range(0, 15001, 500))
    series = []
    for i, (label, K) in enumerate((("he", 8), ("zeros", 1), ("random x10", 16))):
        base = np.exp(-np.array(its) / (3000 + 2000 * i))[:, None] * (0.7 + 0.3 * rng.random((1, K)))
        losses = base.tolist()
        losses[3][0] = None  # a diverged model's gap
        series.append({"label": label, "iterations": its, "losses": losses, "selected": 0 if K > 1 else None})
    models = [{"accuracy": float(a), "test_accuracy": float(a - 0.05)} for a in rng.uniform(0.54, 1, 8)]
    layers = [{"a_std": 10.0**-k, "grad_norm": 10.0 ** (k - 3)} for k in range(11)]
    for name, w, h in (("loss", 520, 240), ("acc", 520, 120), ("depth", 520, 220)):
        canvas(page, name, w, h)
    out = page.evaluate(
        """([series, models, layers]) => ({
            loss: initlabDraw.lossFan(document.getElementById('loss'), series, {iterations: 15000}),
            acc: initlabDraw.accuracyDots(document.getElementById('acc'),
                 [{label: 'he', models, selected: 2}, {label: 'zeros', models: models.map(() => ({accuracy: 0.5, test_accuracy: 0.5}))}]),
            depth: initlabDraw.depthChart(document.getElementById('depth'), layers, layers.slice(0, 6)),
        })""",
        [series, models, layers],
    )
    assert out["loss"]["xTicks"][-1] >= 15000 and out["loss"]["yTicks"][-1] >= 1.0
    assert out["depth"]["xTicks"] == sorted(set(out["depth"]["xTicks"]))
    assert all(isinstance(t, int) for t in out["depth"]["xTicks"]) and out["depth"]["xTicks"][-1] == 11
    assert out["depth"]["decades"][0] <= -10 and out["depth"]["decades"][1] >= 7
    for name in ("loss", "acc", "depth"):
        px = pixels(page, name)
        assert (px[..., 3] > 0).mean() > 0.01  # something was drawn
    shot(page, "charts")
