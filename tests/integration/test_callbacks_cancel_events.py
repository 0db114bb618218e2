"""Callbacks, failure callbacks, cancellation (waiting, in flight, bulk) and the events API."""

from __future__ import annotations

import asyncio
import base64

import pytest
from aiohttp import web
from qstash import AsyncQStash
from qstash.log import LogState

from tests.support.api import (
    api,
    by_path,
    events_of,
    eventually,
    json_body,
    status,
    verify_signature,
)
from tests.support.barriers import nothing_due
from tests.support.hookstream import TEST_TOKEN, Hookstream
from tests.support.sink import Sink

pytestmark = pytest.mark.integration


@pytest.mark.cluster
async def test_callback_after_every_attempt_and_failure_callback(
    hookstream: Hookstream, sink: Sink
) -> None:
    """Two failing attempts → two signed callbacks, then one failure callback with a real dlqId."""
    sink.respond = by_path({"/dest": status(500, "boom")})
    message_id = (
        await hookstream.publish(
            sink.url("/dest"),
            "source body",
            **{
                "Upstash-Retries": "1",
                "Upstash-Callback": sink.url("/cb"),
                "Upstash-Failure-Callback": sink.url("/fail"),
                "Upstash-Failure-Callback-Forward-X-Extra": "yes",
            },
        )
    )["messageId"]
    callbacks = await sink.wait_for(2, path="/cb")
    bodies = sorted((json_body(c.body) for c in callbacks), key=lambda b: b["retried"])
    assert [b["retried"] for b in bodies] == [0, 1]
    for body in bodies:
        assert body["status"] == 500
        assert base64.b64decode(body["body"]) == b"boom"
        assert body["sourceMessageId"] == message_id
        assert body["url"] == sink.url("/dest")
        assert body["method"] == "POST"
        assert body["maxRetries"] == 1
        assert base64.b64decode(body["sourceBody"]) == b"source body"
        assert isinstance(body["createdAt"], int)
        assert isinstance(body["notBefore"], int)

    (failure,) = await sink.wait_for(1, path="/fail")
    failure_body = json_body(failure.body)
    assert failure_body["sourceMessageId"] == message_id
    assert failure.headers["X-Extra"] == "yes"
    code, entry = await api(hookstream, "GET", f"/v2/dlq/{failure_body['dlqId']}")
    assert code == 200
    assert entry["messageId"] == message_id

    await verify_signature(hookstream, failure, sink.url("/fail"))


async def test_callback_on_success(hookstream: Hookstream, sink: Sink) -> None:
    """A delivered message's callback carries the destination's status and body."""
    sink.respond = by_path({"/dest": status(201, "created!")})
    await hookstream.publish(sink.url("/dest"), "x", **{"Upstash-Callback": sink.url("/cb")})
    (callback,) = await sink.wait_for(1, path="/cb")
    body = json_body(callback.body)
    assert body["status"] == 201
    assert base64.b64decode(body["body"]) == b"created!"
    assert body["retried"] == 0


@pytest.mark.cluster
async def test_cancel_waiting_message(hookstream: Hookstream, sink: Sink) -> None:
    """A delayed message cancelled before its time leaves the delayed set at once, ends
    CANCELED and is never delivered; a second cancel is 404."""
    message_id = (await hookstream.publish(sink.url(), "x", **{"Upstash-Delay": "1h"}))["messageId"]
    assert await api(hookstream, "DELETE", f"/v2/messages/{message_id}") == (200, {"cancelled": 1})
    code, _ = await api(hookstream, "DELETE", f"/v2/messages/{message_id}")
    assert code == 404
    code, _ = await api(hookstream, "GET", f"/v2/messages/{message_id}")
    assert code == 404
    assert await nothing_due(hookstream, message_id)
    assert await events_of(hookstream, message_id) == ["CREATED", "CANCEL_REQUESTED", "CANCELED"]
    assert sink.received == []


async def test_cancel_in_flight_is_not_retried(hookstream: Hookstream, sink: Sink) -> None:
    """Cancelled while its attempt is running and failing: no retry, no DLQ entry."""
    release = asyncio.Event()

    async def slow_failure(_: web.Request, __: bytes) -> web.StreamResponse:
        await release.wait()
        return web.Response(status=500)

    sink.respond = slow_failure
    message_id = (await hookstream.publish(sink.url(), "x", **{"Upstash-Retries": "3"}))[
        "messageId"
    ]
    await sink.wait_for(1)
    assert await api(hookstream, "DELETE", f"/v2/messages/{message_id}") == (200, {"cancelled": 1})
    release.set()

    async def cancelled() -> bool:
        return (await events_of(hookstream, message_id))[-1:] == ["CANCELED"]

    await eventually(cancelled)
    assert await events_of(hookstream, message_id) == [
        "CREATED", "ACTIVE", "CANCEL_REQUESTED", "ERROR", "CANCELED",
    ]  # fmt: skip
    assert await nothing_due(hookstream, message_id)
    assert len(sink.received) == 1
    _, dlq = await api(hookstream, "GET", "/v2/dlq")
    assert dlq["messages"] == []


@pytest.mark.cluster
async def test_bulk_cancel_both_wire_forms(hookstream: Hookstream, sink: Sink) -> None:
    """JSON ids, an empty JSON list, a query filter, and no body (= everything)."""
    delay = {"Upstash-Delay": "1h"}
    first, second = [
        (await hookstream.publish(sink.url(), "a", **delay))["messageId"] for _ in range(2)
    ]
    labelled = [
        (await hookstream.publish(sink.url(), "b", **delay, **{"Upstash-Label": "batch-b"}))[
            "messageId"
        ]
        for _ in range(3)
    ]
    assert await api(hookstream, "DELETE", "/v2/messages", json={"messageIds": []}) == (
        200,
        {"cancelled": 0},
    )
    assert await api(hookstream, "DELETE", "/v2/messages", json={"messageIds": [first]}) == (
        200,
        {"cancelled": 1},
    )
    _, body = await api(hookstream, "DELETE", "/v2/messages?label=batch-b&count=100")
    assert body == {"cancelled": 3}
    for message_id in labelled:
        assert (await api(hookstream, "GET", f"/v2/messages/{message_id}"))[0] == 404
    assert (await api(hookstream, "GET", f"/v2/messages/{second}"))[0] == 200
    assert await api(hookstream, "DELETE", "/v2/messages") == (200, {"cancelled": 1})
    assert (await api(hookstream, "GET", f"/v2/messages/{second}"))[0] == 404


@pytest.mark.cluster
async def test_events_filters_and_paging_with_the_sdk(hookstream: Hookstream, sink: Sink) -> None:
    """log.list filters by message id, state and label and pages with its cursor."""
    ids = [
        (await hookstream.publish(sink.url(), str(i), **{"Upstash-Label": "ev"}))["messageId"]
        for i in range(3)
    ]
    await sink.wait_for(3)

    async def delivered() -> bool:
        _, body = await api(hookstream, "GET", "/v2/events", params={"state": "DELIVERED"})
        return len(body["events"]) == 3

    await eventually(delivered)
    client = AsyncQStash(TEST_TOKEN, base_url=hookstream.url)
    try:
        page = await client.log.list(filter={"state": LogState.DELIVERED, "label": "ev"}, count=2)
        assert len(page.logs) == 2
        assert page.cursor
        rest = await client.log.list(
            filter={"state": LogState.DELIVERED, "label": "ev"}, cursor=page.cursor
        )
        seen = [log.message_id for log in page.logs + rest.logs]
        assert sorted(seen) == sorted(ids)
        times = [log.time for log in page.logs + rest.logs]
        assert times == sorted(times, reverse=True)  # newest first
        one = await client.log.list(filter={"message_id": ids[0]})
        assert {log.state.value for log in one.logs} == {"CREATED", "ACTIVE", "DELIVERED"}
        assert all(log.url == sink.url() for log in one.logs)
    finally:
        await client.http._client.aclose()
    _, in_progress = await api(hookstream, "GET", "/v2/logs", params={"state": "IN_PROGRESS"})
    assert {e["state"] for e in in_progress["logs"]} == {"ACTIVE"}


async def test_events_cursor_rejects_garbage(hookstream: Hookstream) -> None:
    """An invalid cursor is a 400, not an empty page."""
    code, body = await api(hookstream, "GET", "/v2/events", params={"cursor": "nonsense"})
    assert code == 400
    assert "cursor" in body["error"]
