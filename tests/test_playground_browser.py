"""The playground page in a real browser (Debian's chromium via Playwright), driven by its element ids."""

from __future__ import annotations

import re

import pytest
from browser import artifact

pytest.importorskip("starlette", reason="the playground needs the web extra: pip install -e '.[web]'")
pytest.importorskip("uvicorn")


pytestmark = pytest.mark.browser


@pytest.fixture
def page(browser, server):
    outside = []

    def only_local(route):
        if route.request.url.startswith(server):
            route.continue_()
        else:  # offline: nothing may leave the machine (no CDN)
            outside.append(route.request.url)
            route.abort()

    browser.route("**/*", only_local)
    browser.goto(server + "/")
    wait_status(browser, "idle")
    yield browser
    browser.unroute("**/*")
    assert outside == []


def wait_status(page, *statuses, timeout=30_000):
    page.wait_for_function(
        "s => s.includes(document.getElementById('status').dataset.status)", arg=list(statuses), timeout=timeout
    )


def number(page, selector) -> float:
    return float(page.locator(selector).inner_text())


def bluish_share(page) -> float:
    """Share of the #boundary canvas's pixels in class 1's colour (blue), read from the canvas itself."""
    return page.evaluate("""() => {
        const c = document.getElementById('boundary'), d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let blue = 0; for (let i = 0; i < d.length; i += 4) if (d[i + 2] > d[i] + 40) blue++;
        return blue / (d.length / 4);
    }""")


def test_zeros_stays_one_colour_and_shows_the_symmetry(page):
    page.select_option("#init", "zeros")
    page.fill("#iterations", "1000")
    page.click("#train")
    wait_status(page, "done")
    assert "init=zeros" in page.url  # the shareable state
    assert page.locator("#boundary-summary").inner_text() == "one colour: class 0 everywhere"
    symmetry = page.locator("#symmetry").inner_text()
    assert "layer 1: 1 distinct unit of 10 (symmetric)" in symmetry
    assert "layer 2: 1 distinct unit of 5 (symmetric)" in symmetry
    assert abs(number(page, "#loss-value") - 0.6931) < 1e-3  # log 2: it learned nothing
    assert number(page, "#accuracy-value") == pytest.approx(0.5, abs=0.01)
    assert bluish_share(page) < 0.05  # the canvas: no blue region, only the blue data points (~3 %)
    page.screenshot(path=str(artifact("playground_zeros.png")), full_page=True)


def test_notebook_he_learns_the_circles_and_compares_with_a_pinned_run(page):
    page.click("#notebook")
    assert page.input_value("#init") == "notebook_he" and page.input_value("#iterations") == "15000"
    page.click("#train")
    wait_status(page, "done")
    assert number(page, "#loss-value") < 0.2
    assert number(page, "#accuracy-value") > 0.95 and number(page, "#test-accuracy-value") > 0.9
    assert re.fullmatch(r"two regions: \d+% class 1", page.locator("#boundary-summary").inner_text())
    p = page.evaluate("window.playground.last.boundary.p")
    n = 40
    assert p[(n // 2) * n + n // 2] > 0.5 and max(p[0], p[n - 1], p[-1], p[-n]) < 0.5  # inner circle vs corners
    assert bluish_share(page) > 0.15  # a blue region inside the red one
    assert "layer 1: 10 distinct units of 10" in page.locator("#symmetry").inner_text()
    assert page.locator("#layers .layer-row").count() == 3
    page.screenshot(path=str(artifact("playground_he.png")), full_page=True)

    page.click("#pin")
    page.select_option("#init", "zeros")
    page.fill("#iterations", "2000")
    page.click("#train")
    wait_status(page, "done")
    assert page.locator("#pinned").is_visible()
    assert "notebook_he" in page.locator("#pinned-summary").inner_text()
    # the status may still read "done" from the pinned run when it is first looked at: wait for the new boundary
    page.wait_for_function("() => document.querySelector('#boundary-summary').innerText.startsWith('one colour')",
                           timeout=30_000)  # fmt: skip
    page.screenshot(path=str(artifact("playground_compare.png")), full_page=True)


def test_a_bad_value_gives_its_message_and_the_server_keeps_serving(page):
    page.fill("#lr", "-1")
    page.click("#train")
    wait_status(page, "error")
    error = page.locator("#error")
    assert error.is_visible()
    assert "The 'learning_rate' field must be between 1e-06 and 10. Got -1 instead." in error.inner_text()
    assert "invalid" in page.get_attribute("#lr", "class")
    page.screenshot(path=str(artifact("playground_error.png")), full_page=True)
    page.fill("#lr", "0.1")
    page.fill("#iterations", "200")
    page.click("#train")
    wait_status(page, "done")
    assert not error.is_visible() and page.get_attribute("#lr", "class") in (None, "")


def test_the_url_restores_the_settings(page, server):
    page.goto(
        server
        + "/?dataset=moons&hidden=8,8,8&init=random&opt.scale=3&optimizer=adam&learning_rate=0.005&iterations=300&seed=5"
    )
    wait_status(page, "idle")
    assert page.input_value("#dataset") == "moons" and page.input_value("#hidden") == "8,8,8"
    assert page.input_value("#depth") == "3" and page.input_value("#init-opt-scale") == "3"
    page.click("#train")
    wait_status(page, "done")
    config = page.evaluate("window.playground.config")
    assert config["init_options"] == {"scale": 3} and config["optimizer"] == "adam" and config["hidden"] == [8, 8, 8]
    assert page.locator("#layers .layer-row").count() == 4


def test_pause_resume_and_reset(page):
    page.fill("#hidden", "64,64,64,64")
    page.fill("#iterations", "100000")
    page.click("#train")
    wait_status(page, "training")
    page.wait_for_function("document.getElementById('iteration-value').textContent.split(' / ')[0] > 0")
    page.click("#pause")
    wait_status(page, "paused")
    assert page.inner_text("#pause") == "Resume"
    page.wait_for_timeout(300)  # a chunk in flight may still report
    before = page.inner_text("#iteration-value")
    page.wait_for_timeout(500)
    assert page.inner_text("#iteration-value") == before  # paused means paused
    page.click("#pause")
    wait_status(page, "training")
    page.click("#reset")
    wait_status(page, "idle")
    assert page.inner_text("#loss-value") == "-" and page.inner_text("#symmetry") == "-"
