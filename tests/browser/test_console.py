"""The web console in a real browser (headless Chromium) against a running hookstream with
real data and a real sink, all on 127.0.0.1.

Each test signs in on a fresh tab, drives the pages the way a user does (controls are found
by their labels and roles, so an unlabelled control fails the test), checks the effect at
the sink or through the API, and ends by checking that the tab broke no Content-Security-
Policy rule, threw nothing and asked nothing of another origin. Screenshots of every page
land in tests/browser/artifacts/.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp import web

from tests.browser.chromium import Browser, css, inside, label, role
from tests.browser.conftest import artifact, assert_well_behaved, sign_in, visit
from tests.support.api import api, by_path, events_of, eventually, status
from tests.support.hookstream import Hookstream
from tests.support.sink import Sink

pytestmark = pytest.mark.browser

SCRIPT_BODY = '<script>window.pwned = 1</script><img src="x" onerror="window.pwned = 2">'
EVIL_HEADER = "<img src=x onerror=window.pwned=3>"


def rows(table_name: str) -> dict[str, Any]:
    return inside(role("table", table_name), css("tbody tr"))


async def dead_letters(hookstream: Hookstream) -> list[dict[str, Any]]:
    return (await api(hookstream, "GET", "/v2/dlq"))[1]["messages"]  # type: ignore[no-any-return]


async def texts_once(
    browser: Browser, loc: Any, settled: Callable[[list[str]], bool], timeout: float = 10.0
) -> list[str]:
    """The texts of `loc` once `settled` holds for them (a re-render done), or the last ones
    seen when it never does, for the caller's assertion to report."""
    texts: list[str] = []

    async def done() -> bool:
        nonlocal texts
        texts = await browser.texts(loc)
        return settled(texts)

    with contextlib.suppress(AssertionError):
        await eventually(done, timeout=timeout)
    return texts


async def wait_dead(hookstream: Hookstream, count: int) -> list[dict[str, Any]]:
    async def done() -> bool:
        return len(await dead_letters(hookstream)) == count

    await eventually(done)
    return await dead_letters(hookstream)


def fail_first(times: int, code: int, text: str) -> Any:
    """A responder answering `code` with `text` the first `times` requests, then 200."""
    calls = 0

    async def respond(_: web.Request, __: bytes) -> web.StreamResponse:
        nonlocal calls
        calls += 1
        return web.Response(status=code if calls <= times else 200, text=text)

    return respond


async def test_find_a_message_by_id_and_read_its_timeline(
    browser: Browser, server: Hookstream, sink: Sink
) -> None:
    """A message that failed once (503) and then got through: the timeline shows both
    attempts with their status, the response text as text, and when the retry was due."""
    sink.respond = fail_first(1, 503, "busy <b>try later</b>")
    message_id = (await server.publish(sink.url("/flaky"), "hello", Upstash_Retries="2"))[
        "messageId"
    ]

    async def delivered() -> bool:
        return "DELIVERED" in await events_of(server, message_id)

    await eventually(delivered)
    await sign_in(browser, server)
    await visit(browser, "Events", "Events")
    await browser.fill(label("Find message by id"), message_id)
    await browser.click(role("button", "Show timeline"))
    await browser.wait(role("table", "Delivery attempts"))
    first, second = await browser.texts(rows("Delivery attempts"))
    assert first.startswith("1")
    assert "ERROR" in first
    assert "503" in first
    assert "busy <b>try later</b>" in first  # the response, as text
    assert "DELIVERED" in second
    assert "200" in second
    states = await browser.texts(
        inside(rows("Every event of the message, oldest first"), css("td:nth-child(2)"))
    )
    assert states == ["CREATED", "ACTIVE", "ERROR", "RETRY", "ACTIVE", "DELIVERED"]
    assert await browser.evaluate("document.querySelectorAll('#page b').length") == 0
    # The timeline starts the log at the id's time: a cursor the server took, not a 400.
    assert not [m for m in (await browser.seen())["console"] if "status of 400" in m]
    await browser.screenshot(artifact("timeline.png"))
    await assert_well_behaved(browser)


async def test_events_filters_and_cursor_paging(
    browser: Browser, server: Hookstream, sink: Sink
) -> None:
    """A state filter keeps to that state; Next and Previous page walk the log by cursor."""
    sink.respond = by_path({"/down": status(500)})
    for index in range(20):
        await server.publish(sink.url("/ok"), str(index))
    await server.publish(sink.url("/down"), "x", Upstash_Retries="0")
    await wait_dead(server, 1)
    await sink.wait_for(20, path="/ok")
    await sign_in(browser, server)
    await visit(browser, "Events", "Events")
    await browser.select(label("State"), "FAILED")
    await browser.click(role("button", "Apply filters"))
    await browser.wait(rows("Events"), contains="FAILED")
    assert [r.split("\t")[1] for r in await browser.texts(rows("Events"))] == ["FAILED"]
    await browser.click(role("link", "Clear filters"))
    await browser.wait(role("link", "Next page"))
    first_page = await browser.texts(rows("Events"))
    assert len(first_page) == 50
    await browser.click(role("link", "Next page"))
    await browser.wait(role("link", "Previous page"))
    # The links change before the rows do: wait for the rows themselves.
    second_page = await texts_once(browser, rows("Events"), lambda t: bool(t) and t != first_page)
    assert not set(second_page) & set(first_page)
    await browser.click(role("link", "Previous page"))
    await browser.wait_gone(role("link", "Previous page"))
    assert await texts_once(browser, rows("Events"), lambda t: t == first_page) == first_page
    await browser.screenshot(artifact("events.png"))
    await assert_well_behaved(browser)


async def _show_evil_dead_letter(browser: Browser, dlq_id: str) -> None:
    """Open the dead letter whose body, header and response are HTML, and check that each
    is shown as text and none ran or became markup."""
    await browser.click(role("button", f"Show {dlq_id}"))
    await browser.wait(role("heading", f"Dead letter {dlq_id}"))
    assert await browser.text(css("pre[aria-label='Request body']")) == SCRIPT_BODY
    assert await browser.text(css("pre[aria-label='Response body']")) == "down <i>for now</i>"
    headers = await browser.texts(rows("Request headers"))
    assert any("X-Evil" in row and EVIL_HEADER in row for row in headers), headers
    injected = "document.querySelectorAll('#page script, #page img, #page i').length"
    assert await browser.evaluate(injected) == 0
    assert await browser.evaluate("window.pwned === undefined") is True


async def test_dlq_shows_hostile_content_as_text_and_retries_and_deletes(
    browser: Browser, server: Hookstream, sink: Sink
) -> None:
    """Bodies and headers are attacker-controlled: shown as text. Retrying a selected dead
    letter (after the confirmation) delivers it at the sink; deleting removes it."""
    sink.respond = status(500, "down <i>for now</i>")
    await server.publish(sink.url("/down"), "first", Upstash_Retries="0")
    await wait_dead(server, 1)
    evil = {"Upstash-Retries": "0", "Upstash-Forward-X-Evil": EVIL_HEADER}
    await server.publish(sink.url("/down"), SCRIPT_BODY, **evil)
    by_body = {m["body"]: m["dlqId"] for m in await wait_dead(server, 2)}
    await sign_in(browser, server)
    await visit(browser, "DLQ", "Dead-letter queue")
    await browser.wait(role("checkbox", f"Select {by_body['first']}"))
    await _show_evil_dead_letter(browser, by_body[SCRIPT_BODY])
    await browser.screenshot(artifact("dlq.png"))
    sink.respond = status(200)
    await browser.check(role("checkbox", f"Select {by_body['first']}"))
    await browser.click(role("button", "Retry selected (1)"))
    await browser.wait(role("dialog", "Retry 1 dead letter?"))
    await browser.click(inside(role("dialog"), role("button", "Cancel")))
    assert len(await dead_letters(server)) == 2
    await browser.click(role("button", "Retry selected (1)"))
    await browser.click(inside(role("dialog"), role("button", "Retry 1")))
    await browser.wait(role("status"), contains="Retried 1")
    retried = await sink.wait_for(3, path="/down")
    assert retried[-1].body == b"first"
    await browser.check(role("checkbox", f"Select {by_body[SCRIPT_BODY]}"))
    await browser.click(role("button", "Delete selected (1)"))
    await browser.click(inside(role("dialog"), role("button", "Delete 1")))
    await browser.wait(css("p.empty"), contains="The DLQ is empty")
    assert await dead_letters(server) == []
    await assert_well_behaved(browser)


async def _create_schedule(browser: Browser, sink: Sink) -> None:
    """Fill the form: a bad cron shows its error, a good one its next five runs."""
    await browser.fill(label("Destination (URL or URL group)"), sink.url("/tick"))
    cron = label("Cron (minute hour day month weekday, UTC or CRON_TZ=Zone)")
    await browser.fill(cron, "61 * * * *")
    await browser.wait(css("#cron-preview"), contains="invalid cron")
    await browser.fill(cron, "* * * * * *")  # every second (the test API allows seconds)
    await browser.wait(css("#cron-preview li"))
    assert await browser.count(css("#cron-preview li")) == 5
    await browser.fill(label("Schedule id (optional)"), "every-second")
    await browser.screenshot(artifact("schedules-form.png"))
    await browser.click(role("button", "Create schedule"))
    await browser.wait(role("status"), contains="Created schedule every-second")


async def _paused(server: Hookstream) -> bool:
    return bool((await api(server, "GET", "/v2/schedules/every-second"))[1]["isPaused"])


async def test_create_pause_resume_and_delete_a_schedule(
    browser: Browser, server: Hookstream, sink: Sink
) -> None:
    """A schedule made in the console fires at the sink; paused, it stops; resumed, it
    fires again; deleted (after the confirmation), it is gone."""
    await sign_in(browser, server)
    await visit(browser, "Schedules", "Schedules")
    await _create_schedule(browser, sink)
    await sink.wait_for(1, path="/tick")
    await browser.click(role("button", "Pause every-second"))
    await browser.wait(role("button", "Resume every-second"))
    assert await _paused(server)
    before = len(await sink.wait_for(1, path="/tick"))
    await asyncio.sleep(3)  # three ticks, were it running
    # A tick claimed just before the pause may still arrive; no more than that.
    assert len(await sink.wait_for(1, path="/tick")) <= before + 1
    await browser.screenshot(artifact("schedules.png"))
    await browser.click(role("button", "Resume every-second"))
    await browser.wait(role("button", "Pause every-second"))
    assert not await _paused(server)
    await sink.wait_for(before + 2, path="/tick")
    await browser.click(role("button", "Delete every-second"))
    await browser.click(inside(role("dialog"), role("button", "Delete schedule")))
    await browser.wait(css("p.empty"), contains="No schedules yet.")
    assert (await api(server, "GET", "/v2/schedules"))[1] == []
    await assert_well_behaved(browser)


async def test_pause_a_queue_and_watch_its_lag_grow(
    browser: Browser, server: Hookstream, sink: Sink
) -> None:
    """Paused in the console, a queue keeps what is enqueued (the live page shows the lag
    grow without a reload); resumed, it delivers everything."""
    await sign_in(browser, server)
    await visit(browser, "Queues", "Queues")
    await browser.fill(label("Queue name"), "orders")
    await browser.fill(label("Parallelism"), "2")
    await browser.click(role("button", "Create queue"))
    await browser.click(role("button", "Pause orders"))
    await browser.wait(role("button", "Resume orders"))
    lag = css("[data-lag='orders']")
    for index in range(3):
        await api(server, "POST", f"/v2/enqueue/orders/{sink.url('/q')}", data=str(index))
        await browser.wait(lag, contains=str(index + 1))
    assert sink.received == []
    await browser.screenshot(artifact("queues.png"))
    await browser.fill(label("Parallelism of orders"), "3")
    await browser.click(role("button", "Set parallelism of orders"))
    await browser.wait(role("status"), contains="orders: parallelism 3")
    assert (await api(server, "GET", "/v2/queues/orders"))[1]["parallelism"] == 3
    await browser.click(role("button", "Resume orders"))
    await sink.wait_for(3, path="/q")
    await browser.wait(lag, contains="0")
    await assert_well_behaved(browser)


async def test_rotate_the_signing_keys(browser: Browser, server: Hookstream) -> None:
    """Keys are hidden until revealed; rotation asks first, says what it does, and makes
    the next key current."""
    _, before = await api(server, "GET", "/v2/keys")
    await sign_in(browser, server)
    await visit(browser, "Signing keys", "Signing keys")
    current = css("[data-key='current'] code")
    assert before["current"] not in await browser.text(current)
    await browser.click(role("button", "Reveal current key"))
    assert await browser.text(current) == before["current"]
    await browser.click(role("button", "Rotate keys"))
    dialog = role("dialog", "Rotate the signing keys?")
    await browser.wait(dialog, contains="The next key becomes the current key")
    await browser.screenshot(artifact("keys.png"))
    await browser.click(inside(dialog, role("button", "Cancel")))
    assert (await api(server, "GET", "/v2/keys"))[1] == before
    await browser.click(role("button", "Rotate keys"))
    await browser.click(inside(dialog, role("button", "Rotate keys")))
    await browser.wait(role("status"), contains="Rotated")
    _, after = await api(server, "GET", "/v2/keys")
    assert after["current"] == before["next"]
    assert after["next"] != before["next"]
    await browser.click(role("button", "Reveal current key"))
    assert await browser.text(current) == after["current"]
    await assert_well_behaved(browser)
