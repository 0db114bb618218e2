"""The console's overview (live), URL groups and flow-control keys, keyboard use and labels
on every page, and what a read-only token may do, in headless Chromium (see test_console.py).
"""

from __future__ import annotations

import asyncio
import math

import pytest

from tests.browser.chromium import Browser, css, inside, label, role
from tests.browser.conftest import artifact, assert_well_behaved, sign_in, visit
from tests.support.api import api, by_path, eventually, status
from tests.support.hookstream import TEST_TOKEN, Hookstream
from tests.support.sink import Sink

pytestmark = pytest.mark.browser

PAGES = {
    "Overview": "Overview",
    "Events": "Events",
    "DLQ": "Dead-letter queue",
    "Schedules": "Schedules",
    "Queues": "Queues",
    "URL groups": "URL groups",
    "Flow control": "Flow-control keys",
    "Workflows": "Workflows",
    "Signing keys": "Signing keys",
}
"""Navigation link → the heading of its page."""
UNLABELLED = """[...document.querySelectorAll('#page :is(input, select, textarea, button)')]
  .filter((el) => !el.labels?.length && !el.getAttribute('aria-label') && !el.textContent.trim())
  .map((el) => el.outerHTML)"""
FLOW = {"Upstash-Flow-Control-Key": "tenant-1", "Upstash-Flow-Control-Value": "parallelism=2"}


async def _dlq_size(hookstream: Hookstream) -> int:
    _, stats = await api(hookstream, "GET", "/v2/stats")
    return int(stats["dlq"])


async def _seed(hookstream: Hookstream, sink: Sink) -> None:
    """Some of everything: deliveries, dead letters, a flow-control key, a queue, a URL
    group and a schedule."""
    sink.respond = by_path({"/down": status(500, "unavailable")})
    for index in range(6):
        await hookstream.publish(sink.url("/ok"), str(index), **FLOW)
    for index in range(2):
        await hookstream.publish(sink.url("/down"), str(index), Upstash_Retries="0")
    await api(hookstream, "POST", "/v2/queues", json={"queueName": "emails", "parallelism": 2})
    endpoints = {"endpoints": [{"url": sink.url("/a"), "name": "a"}]}
    await api(hookstream, "POST", "/v2/topics/fanout/endpoints", json=endpoints)
    cron = {"Upstash-Cron": "0 4 * * *", "Upstash-Schedule-Id": "nightly"}
    await api(hookstream, "POST", f"/v2/schedules/{sink.url('/nightly')}", headers=cron)
    await sink.wait_for(6, path="/ok")

    async def dead() -> bool:
        return await _dlq_size(hookstream) == 2

    await eventually(dead)


async def _traffic(hookstream: Hookstream, sink: Sink, seconds: float) -> None:
    """Publish at a rate that rises and falls, some of it failing, for `seconds`."""
    started = asyncio.get_running_loop().time()
    tick = 0
    while (elapsed := asyncio.get_running_loop().time() - started) < seconds:
        tick += 1
        burst = 1 + int(6 * abs(math.sin(elapsed)))
        for index in range(burst):
            path = "/down" if (tick + index) % 9 == 0 else "/ok"
            await hookstream.publish(sink.url(path), "x", Upstash_Retries="1")
        await asyncio.sleep(0.1)


async def test_overview_refreshes_live(browser: Browser, server: Hookstream, sink: Sink) -> None:
    """The figures follow Redis without a reload: a new dead letter shows up by itself."""
    await _seed(server, sink)
    await sign_in(browser, server)
    dlq = css("[data-figure='dlq']")
    await browser.wait(dlq, contains="2")
    await server.publish(sink.url("/down"), "late", Upstash_Retries="0")
    await browser.wait(dlq, contains="3")
    assert "/down" in await browser.text(role("table", "Recent failed attempts and dead letters"))
    assert await browser.text(css("[data-figure='published']")) != "0.00/s"
    await _traffic(server, sink, seconds=5)  # a few samples of rates for the chart
    await browser.screenshot(artifact("overview.png"))
    await assert_well_behaved(browser)


async def test_every_page_is_labelled_and_reachable_by_keyboard(
    browser: Browser, server: Hookstream, sink: Sink
) -> None:
    """Sign in and move between pages with the keyboard only; on every page each control
    has a label or an accessible name. A screenshot of each page is kept."""
    await _seed(server, sink)
    await browser.open(f"{server.url}/console/")
    assert (await browser.focused())["id"] == "token"
    await browser.fill(label("API token"), TEST_TOKEN)
    await browser.press("Enter")
    await browser.wait(role("heading", "Overview"))
    assert (await browser.focused())["text"] == "Overview"  # the page heading has the focus
    assert TEST_TOKEN not in await browser.evaluate("location.href")
    stored = "[sessionStorage.getItem('hookstream.token'), localStorage.length, document.cookie]"
    assert await browser.evaluate(stored) == [TEST_TOKEN, 0, ""]  # this tab only
    await browser.press("Shift+Tab")  # back into the header: Sign out, then the last link
    await browser.press("Shift+Tab")
    assert (await browser.focused())["text"] == "Signing keys"
    await browser.press("Enter")
    await browser.wait(role("heading", "Signing keys"))
    # The heading comes before the keys are fetched; tabbing earlier would pass no button.
    await browser.wait(role("button", "Rotate keys"))
    for _ in range(3):  # Reveal current, Reveal next, Rotate keys
        await browser.press("Tab")
    assert (await browser.focused())["text"] == "Rotate keys"
    await browser.press("Enter")
    await browser.wait(role("dialog", "Rotate the signing keys?"))
    assert (await browser.focused())["text"] == "Cancel"  # the safe choice comes first
    await browser.press("Escape")
    assert (await browser.focused())["text"] == "Rotate keys"
    for page, heading in PAGES.items():
        await visit(browser, page, heading)
        assert await browser.evaluate(UNLABELLED) == [], page
        await browser.screenshot(artifact(f"page-{page.lower().replace(' ', '-')}.png"))
    await assert_well_behaved(browser)


async def test_url_group_endpoints_and_flow_control_keys(
    browser: Browser, server: Hookstream, sink: Sink
) -> None:
    """Add and remove URL-group endpoints; pause, resume and reset a flow-control key."""
    await sign_in(browser, server)
    await visit(browser, "URL groups", "URL groups")
    for path in ("/a", "/b"):
        await browser.fill(label("URL group"), "fanout")
        await browser.fill(label("Endpoint URL"), sink.url(path))
        await browser.click(role("button", "Add endpoint"))
        await browser.wait(role("status"), contains=f"Added {sink.url(path)}")
    await browser.wait(role("table", "Endpoints of fanout"), contains=sink.url("/b"))
    await server.publish("fanout", "to both")
    assert sorted(r.path for r in await sink.wait_for(2)) == ["/a", "/b"]
    await browser.screenshot(artifact("groups.png"))
    await browser.click(role("button", f"Remove {sink.url('/a')} from fanout"))
    await browser.click(inside(role("dialog"), role("button", "Remove endpoint")))
    await browser.wait(role("status"), contains=f"Removed {sink.url('/a')}")
    _, group = await api(server, "GET", "/v2/topics/fanout")
    assert [e["url"] for e in group["endpoints"]] == [sink.url("/b")]
    await server.publish(sink.url("/fc"), "x", **FLOW)
    await visit(browser, "Flow control", "Flow-control keys")
    await browser.click(role("button", "Pause tenant-1"))
    await browser.wait(role("button", "Resume tenant-1"))
    assert (await api(server, "GET", "/v2/flowControl/tenant-1"))[1]["isPaused"] is True
    await browser.screenshot(artifact("flow.png"))
    await browser.click(role("button", "Resume tenant-1"))
    await browser.wait(role("button", "Pause tenant-1"))
    assert (await api(server, "GET", "/v2/flowControl/tenant-1"))[1]["isPaused"] is False
    await browser.click(role("button", "Reset rate tenant-1"))
    await browser.wait(role("status"), contains="tenant-1: reset rate done")
    await assert_well_behaved(browser)


READ_ONLY_TOKEN = "read-only-token-0123456789"


async def test_a_read_only_token_sees_everything_and_acts_on_nothing(
    browser: Browser, redis_url: str, sink: Sink
) -> None:
    """A read-only token (HOOKSTREAM_READONLY_TOKENS) sees every page, and the console offers
    no action it could not take: the server refuses them, the page shows it is read-only."""
    hookstream = Hookstream(redis_url, readonly_tokens=(READ_ONLY_TOKEN,))
    await hookstream.start()
    try:
        await _seed(hookstream, sink)
        await _read_only_session(browser, hookstream)
    finally:
        await hookstream.stop()


async def _read_only_session(browser: Browser, hookstream: Hookstream) -> None:
    await sign_in(browser, hookstream, READ_ONLY_TOKEN)
    await browser.wait(css("#mode"), contains="Read-only token")
    await browser.wait(css("[data-figure='dlq']"), contains="2")
    await visit(browser, "DLQ", "Dead-letter queue")
    await browser.check(role("checkbox", "Select all on this page"))
    assert not await browser.enabled(role("button", "Retry selected (2)"))
    assert not await browser.enabled(role("button", "Delete selected (2)"))
    await visit(browser, "Schedules", "Schedules")
    assert not await browser.enabled(role("button", "Pause nightly"))
    assert not await browser.enabled(role("button", "Create schedule"))
    await visit(browser, "Queues", "Queues")
    assert not await browser.enabled(role("button", "Pause emails"))
    await visit(browser, "Signing keys", "Signing keys")
    await browser.wait(css("#page"), contains="cannot see the signing keys")
    assert await browser.count(role("button", "Rotate keys")) == 0
    status_code, _ = await api(hookstream, "POST", "/v2/keys/rotate", headers=_bearer())
    assert status_code == 403  # the server refuses whatever the page shows
    await assert_well_behaved(browser)


def _bearer() -> dict[str, str]:
    return {"Authorization": f"Bearer {READ_ONLY_TOKEN}"}


INJECT = """(() => {
  const tried = {};
  try {
    document.body.insertAdjacentHTML('beforeend', '<b id=injected>x</b>');
  } catch (e) { tried.html = e.name; }
  try {
    const script = document.createElement('script');
    script.textContent = 'window.inlineRan = true';
    document.body.append(script);
  } catch (e) { tried.script = e.name; }
  tried.ran = window.inlineRan === true;
  tried.parsed = document.getElementById('injected') !== null;
  return tried;
})()"""


async def test_the_browser_enforces_the_content_security_policy(
    browser: Browser, server: Hookstream
) -> None:
    """The page arrives with the policy, and Chromium applies it: HTML from a string and an
    inline script are refused, even when something on the page tries."""
    headers = await browser.open(f"{server.url}/console/")
    policy = headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "style-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert "unsafe-eval" not in policy
    assert headers["x-content-type-options"] == "nosniff"
    assert await browser.evaluate(INJECT) == {
        "html": "TypeError",  # Trusted Types: no HTML parsed from strings
        "script": "TypeError",  # nor script text
        "ran": False,
        "parsed": False,
    }
