"""report.html opened from a file:// URL in a real browser, with the network cut off."""

from __future__ import annotations

import contextlib
import io
import json

import pytest
from browser import artifact, browser_page, offline

from initlab.cli import main

pytestmark = pytest.mark.browser


def test_report_renders_offline(tmp_path):
    out = tmp_path / "rep"
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert main(["reproduce", "--out", str(out), "--iterations", "3000", "-q"]) == 0
    with browser_page() as page:
        requests = offline(page)
        page.goto((out / "report.html").as_uri())
        page.wait_for_load_state("load")
        sizes = page.eval_on_selector_all("img", "imgs => imgs.map(i => [i.complete, i.naturalWidth, i.naturalHeight])")
        assert len(sizes) == 4 and all(ok and w > 200 and h > 200 for ok, w, h in sizes), sizes
        assert page.locator("#summary tbody tr").count() == 3
        assert "He initialization" in page.locator("#card-he").inner_text()
        page.screenshot(path=str(artifact("report.png")), full_page=True)
    assert all(u.startswith(("file:", "data:")) for u in requests), requests


def test_study_report_and_index_render_offline(tmp_path):
    out = tmp_path / "studies" / "glorot2010-quick"
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert main(["study", "glorot2010", "--quick", "--seeds", "3", "--out", str(out)]) == 0
        assert main(["report", str(out.parent)]) == 0  # the index of the folder of studies
    with browser_page() as page:
        requests = offline(page)
        page.goto((out / "report.html").as_uri())
        page.wait_for_load_state("load")
        sizes = page.eval_on_selector_all("img", "imgs => imgs.map(i => [i.complete, i.naturalWidth, i.naturalHeight])")
        assert len(sizes) == 1 and all(ok and w > 600 and h > 200 for ok, w, h in sizes), sizes
        assert page.locator("#verdict").inner_text().startswith("Verdict: ")
        rows = json.loads((out / "result.json").read_text())["table"]["rows"]
        assert page.locator("#evidence tbody tr").count() == len(rows) > 0  # the whole evidence table
        page.screenshot(path=str(artifact("study-report.png")), full_page=True)
        page.goto((out.parent / "index.html").as_uri())
        page.wait_for_load_state("load")
        assert page.locator("#studies tbody tr").count() == 1
        assert page.eval_on_selector("img", "i => i.complete && i.naturalWidth > 600")
        page.click("#card-glorot2010-quick h3 a")  # the card links to the study's own page
        page.wait_for_load_state("load")
        assert page.title() == "initlab study glorot2010" and page.locator("#verdict").count() == 1
        page.screenshot(path=str(artifact("study-index.png")), full_page=False)
    assert all(u.startswith(("file:", "data:")) for u in requests), requests
