"""The playground's parametrization controls and its Jacobian spectrum view (issue #16).

Independent checks: the session's singular values against torch autograd's Jacobian of the same weights;
the page's chart against the server's numbers; orthogonal-tanh against Gaussian-ReLU deep nets
(Pennington, Schoenholz & Ganguli 2017: the first stays near s = 1, the second spreads).
"""

from __future__ import annotations

import numpy as np
import pytest

from initlab.network import MLP
from initlab.playground import options, validate
from initlab.playground.session import JACOBIAN_BINS, JACOBIAN_EXAMPLES, Run

DEEP = [64] * 8  # the playground's deepest, widest plain net


def run_of(**raw) -> Run:
    config, errors = validate(raw)
    assert errors == [], errors
    return Run(config)


# ---------------------------------------------------------------------------------------------
# Config: the fields, the alias, the refusals
# ---------------------------------------------------------------------------------------------
def test_parametrization_and_base_width_are_config_fields_with_a_url_alias():
    config, errors = validate({"param": "mup", "base_width": 4, "hidden": [16, 16]})
    assert errors == [] and (config.parametrization, config.base_width) == ("mup", 4)
    assert config.to_json()["parametrization"] == "mup" and config.to_json()["base_width"] == 4
    assert validate({})[0].parametrization == "standard" and validate({})[0].base_width is None
    o = options()
    assert o["parametrizations"] == ["standard", "ntk", "mup"] and o["aliases"]["param"] == "parametrization"


@pytest.mark.parametrize(
    "raw, field, words",
    [
        ({"parametrization": "mu"}, "parametrization", ["'standard', 'ntk', 'mup'", "'mu'"]),
        ({"base_width": 8}, "base_width", ["goes with parametrization 'mup'", "'standard'"]),
        ({"parametrization": "mup", "base_width": 0}, "base_width", ["between 1 and 64", "0"]),
        ({"parametrization": "mup", "base_width": "eight"}, "base_width", ["an integer", "eight"]),
        ({"parametrization": "ntk", "init": "xavier_normal"}, "parametrization", ["gain^2/fan_in", "xavier_normal"]),
        ({"parametrization": "mup", "init": "lsuv"}, "parametrization", ["from the width", "'lsuv'", "he_normal"]),
        ({"parametrization": "mup", "init": "notebook_he"}, "parametrization", ["'notebook_he'"]),
        ({"parametrization": "mup", "blocks": 2, "hidden": [8]}, "parametrization", ["plain MLP", "blocks=2"]),
    ],
)
def test_bad_parametrizations_are_refused_with_the_field_and_how_to_fix(raw, field, words):
    config, errors = validate(raw)
    assert config is None and [e["field"] for e in errors] == [field]
    assert all(w in errors[0]["message"] for w in words), errors[0]["message"]


def test_a_mup_run_trains_the_parametrized_net_with_its_learning_rates():
    """The session's net is MLP(..., parametrization='mup', base_width=4) on 2-16-16-1: its output layer starts
    1/sqrt(mu) = 1/2 of standard's draw, and one gd update moves each array by -lr * factor * dL/dW with the
    factors of TP5's Table 3 for the effective weights, written out by hand (mu = 16/4 = 4): input W and hidden
    biases x mu, hidden W x 1, output W x 1/mu, output bias x 1. The gradient is torch autograd's."""
    torch = pytest.importorskip("torch")
    lr = 0.1
    mup = run_of(param="mup", base_width=4, hidden=[16, 16], iterations=5, learning_rate=lr, init="he_normal")
    std = run_of(hidden=[16, 16], iterations=5, learning_rate=lr, init="he_normal")
    assert mup.net == MLP((2, 16, 16, 1), parametrization="mup", base_width=4)
    (Wm, bm), (Ws, _) = mup.views(), std.views()
    np.testing.assert_array_equal(Wm[0], Ws[0])  # input and hidden layers: standard's draw
    np.testing.assert_array_equal(Wm[1], Ws[1])
    np.testing.assert_array_equal(Wm[2], Ws[2] / 2.0)  # output: x 1/sqrt(16/4), exact in binary
    params = [torch.tensor(a[0].copy(), requires_grad=True) for pair in zip(Wm, bm) for a in pair]
    X, Y = torch.tensor(mup.X), torch.tensor(mup.T)
    a = X
    for l in range(3):
        z = params[2 * l] @ a + params[2 * l + 1]
        a = torch.relu(z) if l < 2 else z
    torch.nn.functional.binary_cross_entropy_with_logits(a, Y).backward()
    before = [p.detach().numpy().copy() for p in params]
    mup.step(1)
    after = [x[0] for pair in zip(*mup.views()) for x in pair]
    factors = [4.0, 4.0, 1.0, 4.0, 0.25, 1.0]  # W1, b1, W2, b2, W3, b3
    for name, f, p, b0, b1 in zip(["W1", "b1", "W2", "b2", "W3", "b3"], factors, params, before, after):
        np.testing.assert_allclose(b1 - b0, -lr * f * p.grad.numpy(), rtol=1e-9, atol=1e-14, err_msg=name)


def test_the_export_of_a_mup_run_carries_its_parametrization_and_factors():
    from initlab import export

    run = run_of(param="mup", base_width=4, hidden=[16, 16], iterations=3)
    run.step(3)
    net, params, _ = export.load_json(run.export("json").text)
    assert net == run.net and all(params[k].tobytes() == v.tobytes() for k, v in run.selected_params().items())
    assert "LR_FACTORS = {'sgd': [(4.0, 4.0), (1.0, 4.0), (0.25, 1.0)]" in run.export("pytorch").text


# ---------------------------------------------------------------------------------------------
# The spectrum: the session's numbers against torch autograd
# ---------------------------------------------------------------------------------------------
def torch_singular_values(run: Run) -> np.ndarray:
    """Every model's singular values of d(last hidden A)/d(x) at the session's inputs, by torch autograd."""
    torch = pytest.importorskip("torch")
    Ws, bs = run.views()
    m = run.X.shape[1]
    columns = np.unique(np.linspace(0, m - 1, min(JACOBIAN_EXAMPLES, m)).round().astype(int))
    act = {"tanh": torch.tanh, "relu": torch.relu}[run.net.activation]
    out = []
    for k in range(run.K):
        W = [torch.tensor(w[k]) for w in Ws[:-1]]  # hidden layers only
        b = [torch.tensor(v[k, :, 0]) for v in bs[:-1]]

        def hidden(x, W=W, b=b):
            a = x
            for Wl, bl in zip(W, b):
                a = act(Wl @ a + bl)
            return a

        for i in columns:
            J = torch.autograd.functional.jacobian(hidden, torch.tensor(run.X[:, i]))
            out.append(torch.linalg.svdvals(J).numpy())
    return np.concatenate(out)


@pytest.mark.parametrize("activation, init", [("tanh", "orthogonal"), ("relu", "he_normal")])
def test_the_spectrum_is_every_models_jacobian_singular_values(activation, init):
    run = run_of(hidden=DEEP, activation=activation, init=init, seeds=4, iterations=20, learning_rate=0.05)
    run.step(20)  # current weights, not the initial ones
    j = run.snapshot()["jacobian"]
    s = torch_singular_values(run)
    assert (j["models"], j["examples"], j["values"], j["stop"]) == (4, JACOBIAN_EXAMPLES, s.size, len(DEEP))
    assert j["zeros"] == int((s <= 1e-300).sum())
    assert j["median"] == pytest.approx(float(np.median(s)), rel=1e-10)
    assert j["max"] == pytest.approx(float(s.max()), rel=1e-10)
    assert j["near_one"] == pytest.approx(float(((s >= 0.5) & (s <= 2)).mean()))
    logs = np.log10(s[s > 1e-300])
    assert j["lo"] <= min(logs.min(), -1.0) + 1e-12 and j["hi"] >= max(logs.max(), 1.0) - 1e-12
    counts, _ = np.histogram(logs, bins=JACOBIAN_BINS, range=(j["lo"], j["hi"]))
    assert j["counts"] == counts.tolist()


def test_orthogonal_tanh_stays_near_one_and_gaussian_relu_spreads():
    """Pennington et al. 2017 at the playground's size (8 layers of 64, 8 seeds, at initialization)."""
    ortho = run_of(hidden=DEEP, activation="tanh", init="orthogonal", seeds=8).snapshot()["jacobian"]
    relu = run_of(hidden=DEEP, activation="relu", init="he_normal", seeds=8).snapshot()["jacobian"]
    assert ortho["near_one"] > 0.9 and ortho["max"] < 2  # measured: 1.0 and 0.94
    assert relu["near_one"] < 0.3 and relu["max"] > 5  # measured: 0.02 and 22


def test_a_residual_run_has_no_jacobian_view():
    snap = run_of(blocks=2, hidden=[8], iterations=2).snapshot()
    assert snap["jacobian"] is None


# ---------------------------------------------------------------------------------------------
# In the browser
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def page(server):
    from browser import browser_page

    with browser_page() as p:
        yield p


def train_to_done(page):
    page.evaluate("window.playground.initial = null")
    page.click("#train")
    page.wait_for_function(
        "() => window.playground.initial !== null && window.playground.last && window.playground.last.done && "
        "['done', 'diverged'].includes(document.getElementById('status').dataset.status)",
        timeout=120_000,
    )
    assert page.evaluate("window.playground.drawErrors") == {}


def chart_pixels(page) -> np.ndarray:
    raw = page.evaluate("""() => { const cv = document.getElementById('jacobian-chart');
        return [cv.width, cv.height, Array.from(cv.getContext('2d').getImageData(0, 0, cv.width, cv.height).data)]; }""")
    w, h, data = raw
    return np.array(data, dtype=float).reshape(h, w, 4)


def bar_heights(page) -> list[int]:
    """Inked pixels of each bar of the chart (a column through its middle, inside the plotting box)."""
    info = page.evaluate("window.playground.jacobian")
    dpr = page.evaluate("devicePixelRatio")
    px = chart_pixels(page)
    box = info["box"]
    heights = []
    for bar in info["bars"]:
        x = int((bar["x"] + bar["w"] / 2) * dpr)
        column = px[int(box["t"] * dpr) : int(box["b"] * dpr) - 1, x]
        heights.append(int(((column[:, 3] > 0) & (column[:, :3].min(axis=1) < 200)).sum()))
    return heights


@pytest.mark.browser
def test_the_chart_appears_and_differs_between_orthogonal_tanh_and_gaussian_relu(page, server):
    from browser import artifact

    hidden = ",".join(map(str, DEEP))
    drawn = {}
    for name, query in (
        ("ortho_tanh", "activation=tanh&init=orthogonal"),
        ("he_relu", "activation=relu&init=he_normal"),
    ):
        page.goto(f"{server}/?hidden={hidden}&{query}&k=8&iterations=1&speed=max")
        page.wait_for_function("document.getElementById('status').dataset.status === 'idle'")
        train_to_done(page)
        j = page.evaluate("window.playground.last.jacobian")
        info = page.evaluate("window.playground.jacobian")
        assert info["decades"] == [j["lo"], j["hi"]] and len(info["bars"]) == len(j["counts"])
        # the line at s = 1 is where log10(1) = 0 maps, and it is inked
        box = info["box"]
        assert info["lineX"] == pytest.approx(box["l"] + (0 - j["lo"]) / (j["hi"] - j["lo"]) * (box["r"] - box["l"]))
        heights = bar_heights(page)
        assert sum(h > 0 for h in heights) == sum(c > 0 for c in j["counts"])  # a bar wherever the server counted
        tallest = int(np.argmax(j["counts"]))
        assert heights[tallest] == max(heights)
        summary = page.inner_text("#jacobian-summary")
        assert f"{round(100 * j['near_one'])}% within 2x of 1" in summary
        drawn[name] = (j, heights, chart_pixels(page))
        page.screenshot(path=str(artifact(f"playground_jacobian_{name}.png")), full_page=True)
    (jo, ho, po), (jr, hr, pr) = drawn["ortho_tanh"], drawn["he_relu"]
    assert jo["near_one"] > 0.9 > 0.3 > jr["near_one"]
    # where the mass is: left of, or at, the line for orthogonal-tanh; right of it for Gaussian-ReLU
    centre = lambda j: j["lo"] + (np.argmax(j["counts"]) + 0.5) * (j["hi"] - j["lo"]) / len(j["counts"])  # noqa: E731
    assert -0.3 < centre(jo) <= 0.1 and centre(jr) > 0.3
    assert ho != hr and (po.shape != pr.shape or np.abs(po - pr).mean() > 1)  # the drawn charts differ


@pytest.mark.browser
def test_parametrization_select_base_width_url_and_errors(page, server):
    page.goto(f"{server}/?param=mup&base_width=8&hidden=16,16&iterations=3&speed=max")
    page.wait_for_function("document.getElementById('status').dataset.status === 'idle'")
    assert page.input_value("#parametrization") == "mup" and page.input_value("#base-width") == "8"
    train_to_done(page)
    config = page.evaluate("window.playground.config")
    assert (config["parametrization"], config["base_width"]) == ("mup", 8)
    assert "parametrization=mup" in page.url and "base_width=8" in page.url
    assert "mup base 8" in page.inner_text("#table tbody")
    page.select_option("#parametrization", "standard")
    assert "parametrization" not in page.url  # the default stays out of links
    page.click("#train")  # base width without mup: the server's message, the field marked
    page.wait_for_function("document.getElementById('status').dataset.status === 'error'")
    assert "'base_width' field goes with parametrization 'mup'" in page.inner_text("#error")
    assert "invalid" in (page.get_attribute("#base-width", "class") or "")
    page.goto(f"{server}/?parametrization=ntk&init=xavier_normal")
    page.wait_for_function("document.getElementById('status').dataset.status === 'idle'")
    page.click("#train")
    page.wait_for_function("document.getElementById('status').dataset.status === 'error'")
    assert "gain^2/fan_in" in page.inner_text("#error") and "invalid" in (
        page.get_attribute("#parametrization", "class") or ""
    )
