"""Fixtures shared by several test modules."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def circles():
    """The notebook's data, ``course.load_dataset()``: ``X (2, 300), Y (1, 300), X_test (2, 100), Y_test (1, 100)``.

    Read-only, so that no test (and no library function under test) can change them for the others.
    """
    from initlab import course

    arrays = course.load_dataset()
    for a in arrays:
        a.flags.writeable = False
    return arrays


@pytest.fixture(scope="session")
def study_quick():
    """``study_quick(name, rng=0)``: ``studies.run(name, size="quick", rng=rng)``, run once per session.

    Every test module that looks at a study's quick result shares these runs (the quick studies are
    the slowest part of the suite).
    """
    from initlab import studies

    cache = {}

    def get(name, rng=0):
        if (name, rng) not in cache:
            cache[name, rng] = studies.run(name, size="quick", rng=rng)
        return cache[name, rng]

    return get


@pytest.fixture(scope="session")
def torch():
    """``torch`` for the cross-checks against a second implementation.

    Skipped where torch is not installed, except under ``INITLAB_REQUIRE_PEERS=1`` (set by
    ``.ci/run``, which installs the ``peers`` extra): there a missing torch fails the test, so that
    the peer comparison cannot silently stop running.
    """
    import os

    if os.environ.get("INITLAB_REQUIRE_PEERS") == "1":
        import torch as module  # an ImportError here is the failure we want

        return module
    return pytest.importorskip("torch")


@pytest.fixture(scope="module")
def server():
    """The playground on 127.0.0.1 at a free port, for one test module (its URL); stopped afterwards."""
    pytest.importorskip("starlette", reason="the playground needs the web extra: pip install -e '.[web]'")
    pytest.importorskip("uvicorn")
    from initlab.playground.server import running

    with running() as url:
        yield url


@pytest.fixture(scope="module")
def browser(server):
    """One chromium page for a test module (tests/browser.py's launcher; skipped without chromium)."""
    from browser import browser_page

    with browser_page() as page:
        yield page
