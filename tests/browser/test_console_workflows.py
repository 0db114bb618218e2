"""The console's Workflows page in headless Chromium, with runs of a real workflow app (the
Python SDK's, tests/workflow/app_py.py) on the hookstream the console talks to."""

from __future__ import annotations

import json

import pytest

from tests.browser.chromium import Browser, css, inside, label, role
from tests.browser.conftest import artifact, assert_well_behaved, sign_in, visit
from tests.support.api import eventually
from tests.support.hookstream import Hookstream
from tests.support.sink import Sink
from tests.workflow.conftest import run_in
from tests.workflow.python_app import python_app

pytestmark = pytest.mark.browser

EVIL = "<img src=x onerror=window.pwned=1>"
RUNS = "Workflow runs, newest first"
STEPS = "Finished steps, in order"


async def test_runs_are_listed_with_their_steps_and_a_running_one_cancels(
    browser: Browser, server: Hookstream, sink: Sink
) -> None:
    """A finished run and a sleeping one are listed with their state and URL; the finished
    one's page shows its steps and outputs (markup in the payload stays text); cancelling
    the sleeping one, after the confirmation, ends it RUN_CANCELED in the list and the API;
    the state filter then lists only the finished one."""
    async with python_app(server, sink) as app:
        done = await app.trigger("/path", {"text": EVIL}, **{"X-Custom": "c1"})
        await run_in(server, done, "RUN_SUCCESS")
        napping = await app.trigger("/nap")
        await run_in(server, napping, "RUN_STARTED")
        await sign_in(browser, server)
        await visit(browser, "Workflows", "Workflows")
        runs = role("table", RUNS)
        await browser.wait(runs, contains=napping)
        row = inside(runs, css("tbody tr", has_text=done))
        buttons = inside(runs, inside(css("tbody tr", has_text=done), role("button")))
        assert "RUN_SUCCESS" in await browser.text(row)
        assert f"{app.url}/path" in await browser.text(row)
        assert await browser.count(buttons) == 0  # nothing to cancel

        await browser.click(role("link", done))
        await browser.wait(role("heading", f"Workflow run {done}"))
        await browser.wait(role("table", STEPS))
        names = await browser.texts(inside(role("table", STEPS), css("tbody tr td:nth-child(2)")))
        assert names == ["init", "first", "second", "third"]
        third = await browser.text(css("pre[aria-label='Output of step third']"))
        assert json.loads(third) == {"result": f"{EVIL}|first|c1|third"}
        assert await browser.evaluate("window.pwned === undefined") is True
        await browser.screenshot(artifact("workflow-run.png"))

        await browser.click(role("link", "All workflow runs"))
        await browser.click(role("button", f"Cancel {napping}"))
        dialog = role("dialog", f"Cancel run {napping}?")
        await browser.wait(dialog)
        await browser.click(inside(dialog, role("button", "Cancel run")))
        await browser.wait(inside(runs, css("tbody tr", has_text=napping)), contains="RUN_CANCELED")
        await run_in(server, napping, "RUN_CANCELED")
        assert (await app.stats(napping))["bodies"] == {"before": 1}

        await browser.select(label("State"), "RUN_SUCCESS")
        await browser.click(role("button", "Apply filters"))
        ids = inside(runs, css("tbody tr td:first-child"))

        async def filtered() -> bool:
            return await browser.texts(ids) == [done]

        await eventually(filtered)
        assert "state=RUN_SUCCESS" in await browser.evaluate("location.hash")
        await browser.screenshot(artifact("workflows.png"))
        await assert_well_behaved(browser)
