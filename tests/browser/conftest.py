"""Fixtures of the browser tier: one Chromium for the module, a fresh tab per test, a
hookstream (ingress, worker and scheduler) on 127.0.0.1 with a real sink."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.browser.chromium import HERE, Browser, label, role
from tests.conftest import IN_CI, require_tool
from tests.support.hookstream import TEST_TOKEN, Hookstream

ARTIFACTS = HERE / "artifacts"
"""Screenshots and the driver's log (gitignored), kept after the run for a look."""


@pytest.fixture(scope="module")
async def browser(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Browser]:
    """Debian's Chromium, headless, with a fresh profile; skipped on a laptop without it,
    required under CI=true (deploy/install-tools.sh installs it there)."""
    chromium = require_tool("chromium", "the console tests drive headless Chromium")
    node = require_tool("node", "Playwright runs on Node.js")
    if not (HERE / "node_modules" / "playwright-core").is_dir():
        message = "tests/browser/node_modules is missing: `make test` runs npm ci there"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    ARTIFACTS.mkdir(exist_ok=True)
    profile = tmp_path_factory.mktemp("chromium-profile")
    driver = await Browser.launch(node, chromium, profile, ARTIFACTS / "driver.log")
    yield driver
    await driver.close()


@pytest.fixture
async def server(redis_url: str) -> AsyncIterator[Hookstream]:
    """The roles `hookstream dev` runs; crons may have seconds, so ticks come quickly."""
    hookstream = Hookstream(redis_url, with_scheduler=True, second_field_crons=True)
    try:
        yield await hookstream.start()
    finally:
        await hookstream.stop()


async def sign_in(browser: Browser, hookstream: Hookstream, token: str = TEST_TOKEN) -> None:
    """A fresh tab on the console, signed in with `token`."""
    await browser.open(f"{hookstream.url}/console/")
    await browser.fill(label("API token"), token)
    await browser.click(role("button", "Sign in"))
    await browser.wait(role("navigation", "Console pages"))


async def visit(browser: Browser, page: str, heading: str) -> None:
    """Follow the navigation link `page` and wait for the page's heading."""
    await browser.click(role("link", page))
    await browser.wait(role("heading", heading))


async def assert_well_behaved(browser: Browser) -> None:
    """Nothing the tab did broke the Content-Security-Policy, threw, or left the origin.
    (Chromium logs refused API calls, 404s and 403s, as errors too: those are expected.)"""
    seen = await browser.seen()
    refused = [m for m in seen["console"] if "Failed to load resource" not in m]
    assert refused == [], refused
    assert seen["pageErrors"] == []
    assert seen["foreign"] == []


def artifact(name: str) -> Path:
    return ARTIFACTS / name
