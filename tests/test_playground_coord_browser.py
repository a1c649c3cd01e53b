"""The coordinate-check panel in the browser (issue #16): run it, read the chart and the table against the server's numbers.

Standard parametrization with Adam: the output's slope after the steps is clearly positive (TP5: ~1, the
update sums n aligned terms); muP: near 0. The chart is checked against the reply it was drawn from
(the line through the seeds' geometric mean has the table's mean slope; its points are inked where it says).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

pytestmark = pytest.mark.browser

URL = "/?dataset=moons&hidden=16,16&optimizer=adam&lr=0.01&seed=3&coord.widths=64,128,256&coord.seeds=2&coord.steps=3"


def run_check(page) -> dict:
    page.evaluate("window.playground.coord = null")
    page.click("#coord-run")
    page.wait_for_function(
        "() => window.playground.coord !== null && document.getElementById('coord-status').dataset.status === 'done'",
        timeout=120_000,
    )
    assert page.evaluate("window.playground.drawErrors") == {}
    return page.evaluate("window.playground.coord")


def shown_slopes(page, layer: str) -> list[float]:
    """The slopes the table shows for ``layer`` after steps 1..T (its data-slope cells, the text checked too)."""
    cells = page.query_selector_all(f"#coord-table tr[data-layer='{layer}'] td.slope")
    values = [float(c.get_attribute("data-slope")) for c in cells]
    for c, v in zip(cells, values):
        assert c.inner_text().startswith(f"{v:+.2f}")
    return values[1:]


def least_squares_slope(widths, values) -> float:
    x, y = np.log(widths), np.log(values)
    return float(np.polyfit(x, y, 1)[0])


def check_chart(page, reply: dict) -> None:
    """The drawn lines are the reply's numbers: one per step, a point per width, slope = the table's mean."""
    chart = page.evaluate("window.playground.coordChart")
    T = len(reply["size"][0]) - 1
    assert chart["layer"] == "output" and [line["t"] for line in chart["lines"]] == list(range(T + 1))
    dpr = page.evaluate("devicePixelRatio")
    pixels = page.evaluate("""() => { const cv = document.getElementById('coord-chart');
        return [cv.width, Array.from(cv.getContext('2d').getImageData(0, 0, cv.width, cv.height).data)]; }""")
    width, data = pixels[0], np.array(pixels[1], dtype=float)
    for line in chart["lines"]:
        points = line["points"]
        assert [p["width"] for p in points] == reply["widths"]
        xs = [p["x"] for p in points]
        assert xs == sorted(xs)
        geo = [math.exp(np.mean(np.log(reply["size"][i][line["t"]][-1]))) for i in range(len(reply["widths"]))]
        np.testing.assert_allclose([p["value"] for p in points], geo, rtol=1e-12)
        expected = reply["slope"]["mean"][-1][line["t"]]
        assert least_squares_slope(reply["widths"], [p["value"] for p in points]) == pytest.approx(expected, abs=1e-9)
        # higher values are drawn higher up (smaller y)
        order = np.argsort([p["value"] for p in points])
        assert list(np.argsort([-p["y"] for p in points])) == list(order)
        for p in points:  # a dot at each point: inked; in the line's colour for the last step (drawn on top)
            i = 4 * (int(round(p["y"] * dpr)) * width + int(round(p["x"] * dpr)))
            rgb, alpha = data[i : i + 3], data[i + 3]
            assert alpha == 255 and rgb.min() < 200, (line["t"], rgb)
            if line["t"] == T:
                colour = [int(line["color"][k : k + 2], 16) for k in (1, 3, 5)]
                assert np.abs(rgb - colour).max() < 30, (rgb, colour)


def test_standard_adam_blows_up_and_mup_is_flat_in_the_page(browser, server):
    from browser import artifact

    page = browser
    page.goto(server + URL)
    page.wait_for_function("document.getElementById('status').dataset.status === 'idle'")
    assert page.input_value("#coord-widths") == "64,128,256" and page.input_value("#optimizer") == "adam"
    assert page.evaluate("window.playground.coordChart.kind") == "empty"  # nothing yet

    sp = run_check(page)
    assert sp["setting"]["parametrization"] == "standard" and sp["widths"] == [64, 128, 256]
    assert sp["setting"]["depth"] == 2 and sp["setting"]["seeds"] == 2 and sp["setting"]["optimizer"] == "adam"
    slopes = shown_slopes(page, "output")
    assert min(slopes) > 0.5 and max(slopes) > 0.9  # measured: 1.22, 0.95, 0.83 (seed 3)
    reading = page.inner_text("#coord-table tr[data-layer='output'] td.reading")
    assert reading.startswith("output grows like width^") and "standard parametrization blows up here" in reading
    assert "blowup" in (page.get_attribute("#coord-table tr[data-layer='output'] td.slope:nth-child(3)", "class") or "")
    check_chart(page, sp)
    assert "standard, adam lr 0.01, relu depth 2" in page.inner_text("#coord-summary")
    page.locator("#coord-figure").screenshot(path=str(artifact("playground_coord_check.png")))
    sp_pixels = page.evaluate("Array.from(document.getElementById('coord-chart').getContext('2d').getImageData(0, 0, 200, 200).data)")  # fmt: skip

    page.select_option("#parametrization", "mup")
    assert "parametrization=mup" in page.url and "coord.widths=64%2C128%2C256" in page.url  # a link keeps both
    mup = run_check(page)
    assert mup["setting"]["parametrization"] == "mup" and mup["setting"]["base_width"] == 64  # the narrowest
    slopes = shown_slopes(page, "output")
    assert max(abs(s) for s in slopes) < 0.25  # measured: 0.01, -0.08, -0.07
    assert "flat" in page.inner_text("#coord-table tr[data-layer='output'] td.reading")
    check_chart(page, mup)
    assert sp_pixels != page.evaluate("Array.from(document.getElementById('coord-chart').getContext('2d').getImageData(0, 0, 200, 200).data)")  # fmt: skip
    page.locator("#coord-figure").screenshot(path=str(artifact("playground_coord_check_mup.png")))

    # another layer from the selector: the chart follows, the table stays
    page.select_option("#coord-layer", "0")
    assert page.evaluate("window.playground.coordChart.layer") == "layer 1"


def test_a_refused_check_shows_in_the_panel_and_training_is_untouched(browser, server):
    page = browser
    page.goto(server + URL + "&coord.seeds=9")
    page.wait_for_function("document.getElementById('status').dataset.status === 'idle'")
    assert page.input_value("#coord-seeds") == "9"
    page.click("#coord-run")
    page.wait_for_function("document.getElementById('coord-status').dataset.status === 'error'")
    text = page.inner_text("#coord-error")
    assert "'seeds' must be an integer from 1 to 8. Got 9" in text
    assert "invalid" in (page.get_attribute("#coord-seeds", "class") or "")
    assert (
        page.evaluate("document.getElementById('status').dataset.status") == "idle"
    )  # the run's status is not touched
    page.fill("#coord-seeds", "2")
    page.fill("#coord-widths", "64,128,256,512,1024,2048")
    page.click("#coord-run")
    page.wait_for_function("document.getElementById('coord-status').dataset.status === 'error'")
    assert "2 to 5 different integers from 8 to 1024" in page.inner_text("#coord-error")
    assert "invalid" not in (page.get_attribute("#coord-seeds", "class") or "")
    page.fill("#coord-widths", "16,32")
    run_check(page)
    assert page.is_hidden("#coord-error")
