"""Retries, backoff hints, non-retryable answers and the dead-letter queue."""

from __future__ import annotations

import asyncio
import itertools

import pytest
from aiohttp import web
from qstash import AsyncQStash
from qstash.errors import QStashError

from broker.queue.model import Response
from tests.support.api import api, by_path, events_of, eventually, status
from tests.support.barriers import events, nothing_due
from tests.support.hookstream import TEST_TOKEN, Hookstream
from tests.support.sink import Sink

pytestmark = pytest.mark.integration


@pytest.mark.cluster
async def test_retries_until_success(hookstream: Hookstream, sink: Sink) -> None:
    """Two 500s then a 200: three attempts, Upstash-Retried counts up, events tell the story."""
    answers = itertools.chain([500, 500], itertools.repeat(200))

    async def respond(_: web.Request, __: bytes) -> web.StreamResponse:
        return web.Response(status=next(answers))

    sink.respond = respond
    message_id = (await hookstream.publish(sink.url(), "x"))["messageId"]
    received = await sink.wait_for(3)
    assert [r.headers["Upstash-Retried"] for r in received] == ["0", "1", "2"]
    assert {r.headers["Upstash-Message-Id"] for r in received} == {message_id}

    async def delivered() -> bool:
        return (await events_of(hookstream, message_id))[-1:] == ["DELIVERED"]

    await eventually(delivered)
    assert await events_of(hookstream, message_id) == [
        "CREATED", "ACTIVE", "ERROR", "RETRY", "ACTIVE", "ERROR", "RETRY", "ACTIVE", "DELIVERED",
    ]  # fmt: skip


@pytest.mark.cluster
async def test_exhausted_retries_land_in_the_dlq(hookstream: Hookstream, sink: Sink) -> None:
    """Retries=1 against a 404: two attempts, then a DLQ entry the SDK reads and deletes."""
    sink.respond = status(404, "404 Not Found")
    message_id = (await hookstream.publish(sink.url(), "payload", **{"Upstash-Retries": "1"}))[
        "messageId"
    ]
    await sink.wait_for(2)
    client = AsyncQStash(TEST_TOKEN, base_url=hookstream.url)
    try:

        async def listed() -> bool:
            return bool((await client.dlq.list()).messages)

        await eventually(listed)
        (entry,) = (await client.dlq.list()).messages
        assert entry.message_id == message_id
        assert entry.response_status == 404
        assert entry.response_body == "404 Not Found"
        assert entry.body == "payload"
        assert entry.max_retries == 1
        same = await client.dlq.get(entry.dlq_id)
        assert same.message_id == message_id
        await client.dlq.delete(entry.dlq_id)
        with pytest.raises(QStashError):
            await client.dlq.delete(entry.dlq_id)
        assert (await client.dlq.list()).messages == []
    finally:
        await client.http._client.aclose()
    assert await events_of(hookstream, message_id) == [
        "CREATED", "ACTIVE", "ERROR", "RETRY", "ACTIVE", "ERROR", "FAILED",
    ]  # fmt: skip
    assert await nothing_due(hookstream, message_id)
    assert len(sink.received) == 2


async def test_non_retryable_489_goes_straight_to_the_dlq(
    hookstream: Hookstream, sink: Sink
) -> None:
    """489 with Upstash-NonRetryable-Error: true ends after one attempt despite retries left."""
    sink.respond = status(489, "no", {"Upstash-NonRetryable-Error": "true"})
    message_id = (await hookstream.publish(sink.url(), "x", **{"Upstash-Retries": "5"}))[
        "messageId"
    ]
    await sink.wait_for(1)

    async def failed() -> bool:
        return (await events_of(hookstream, message_id))[-1:] == ["FAILED"]

    await eventually(failed)
    _, body = await api(hookstream, "GET", "/v2/dlq")
    assert [m["responseStatus"] for m in body["messages"]] == [489]
    assert await events_of(hookstream, message_id) == ["CREATED", "ACTIVE", "ERROR", "FAILED"]
    assert await nothing_due(hookstream, message_id)
    assert len(sink.received) == 1


async def test_retry_after_is_honoured(redis_url: str, sink: Sink) -> None:
    """A 429 with Retry-After: 1 is retried no sooner than a second later (real time scale),
    by the times Redis recorded: due >= first start + 1 s, second start >= due."""
    server = await Hookstream(redis_url, retry_time_scale=1.0).start()
    try:
        answers = iter([web.Response(status=429, headers={"Retry-After": "1"})])

        async def respond(_: web.Request, __: bytes) -> web.StreamResponse:
            return next(answers, web.Response(text="ok"))

        sink.respond = respond
        message_id = (await server.publish(sink.url(), "x"))["messageId"]
        _, second = await sink.wait_for(2, timeout=15)
        assert second.headers["Upstash-Retried"] == "1"

        async def delivered() -> bool:
            return (await events_of(server, message_id))[-1:] == ["DELIVERED"]

        await eventually(delivered)
        logged = await events(server, messageId=message_id)
        first_start, second_start = [e["time"] for e in logged if e["state"] == "ACTIVE"]
        (retry,) = [e for e in logged if e["state"] == "RETRY"]
        assert retry["nextDeliveryTime"] >= first_start + 1000
        assert second_start >= retry["nextDeliveryTime"]
    finally:
        await server.stop()


async def test_redirects_are_failures(hookstream: Hookstream, sink: Sink) -> None:
    """A 302 is not followed: it counts as a failed attempt."""
    sink.respond = by_path({"/moved": status(302, headers={"Location": sink.url("/target")})})
    message_id = (await hookstream.publish(sink.url("/moved"), "x", **{"Upstash-Retries": "0"}))[
        "messageId"
    ]

    async def failed() -> bool:
        return (await events_of(hookstream, message_id))[-1:] == ["FAILED"]

    await eventually(failed)
    assert [r.path for r in sink.received] == ["/moved"]


@pytest.mark.cluster
async def test_dlq_bulk_forms_and_retry(hookstream: Hookstream, sink: Sink) -> None:
    """Query-form bulk delete and retry (TypeScript ≥ 2.10), JSON-form delete (Python)."""
    sink.respond = by_path({"/fail": status(500)})
    ids = [
        (await hookstream.publish(sink.url("/fail"), f"m{i}", **{"Upstash-Retries": "0"}))[
            "messageId"
        ]
        for i in range(4)
    ]

    async def all_failed() -> bool:
        _, body = await api(hookstream, "GET", "/v2/dlq")
        return len(body["messages"]) == 4

    await eventually(all_failed)
    _, body = await api(
        hookstream, "GET", "/v2/dlq", params={"order": "earliestFirst", "count": "2"}
    )
    assert len(body["messages"]) == 2
    _, rest = await api(hookstream, "GET", "/v2/dlq", params={"cursor": body["cursor"]})
    listed = body["messages"] + rest["messages"]
    assert sorted(m["messageId"] for m in listed) == sorted(ids)
    dlq_ids = [m["dlqId"] for m in listed]
    assert dlq_ids == sorted(dlq_ids, key=lambda d: [int(part) for part in d.split("-")])
    bodies = {m["dlqId"]: m["body"] for m in listed}

    code, deleted = await api(hookstream, "DELETE", "/v2/dlq", json={"dlqIds": [dlq_ids[0]]})
    assert (code, deleted) == (200, {"deleted": 1})
    code, deleted = await api(hookstream, "DELETE", f"/v2/dlq?dlqIds={dlq_ids[1]}&dlqIds=nope-0")
    assert deleted == {"deleted": 1}

    sink.respond = by_path({})  # the destination recovered
    query = f"/v2/dlq/retry?dlqIds={dlq_ids[2]}&dlqIds={dlq_ids[3]}"
    code, retried = await api(hookstream, "POST", query, headers={"Upstash-Retries": "2"})
    assert code == 201
    new_ids = [r["messageId"] for r in retried["responses"]]
    assert len(new_ids) == 2
    assert not set(new_ids) & set(ids)
    arrivals = await sink.wait_for(6)
    assert {r.headers["Upstash-Message-Id"] for r in arrivals[4:]} == set(new_ids)
    assert {r.body.decode() for r in arrivals[4:]} == {bodies[dlq_ids[2]], bodies[dlq_ids[3]]}
    _, left = await api(hookstream, "GET", "/v2/dlq")
    assert left["messages"] == []


async def test_an_attempt_that_raises_still_ends_in_an_outcome(
    hookstream: Hookstream, sink: Sink, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An attempt whose sending raises outside the HTTP client's own errors (here a bug,
    injected) is settled at once as a failed attempt, not left pending until a reclaim
    dead-letters it as a crash."""

    async def broken_send(*_: object) -> Response:
        raise RuntimeError("a bug in the delivery path")

    monkeypatch.setattr("workers.worker.send", broken_send)
    published = await hookstream.publish(sink.url("/never"), "x", **{"Upstash-Retries": "0"})
    message_id = published["messageId"]

    async def dead_lettered() -> bool:
        return "FAILED" in await events_of(hookstream, message_id)

    await eventually(dead_lettered, timeout=10)
    assert await events_of(hookstream, message_id) == ["CREATED", "ACTIVE", "ERROR", "FAILED"]
    _, dlq = await api(hookstream, "GET", "/v2/dlq")
    (entry,) = [m for m in dlq["messages"] if m["messageId"] == message_id]
    assert entry["error"] == "internal error: RuntimeError('a bug in the delivery path')"
    assert sink.received == []


async def test_the_stored_answer_is_read_up_to_the_cap(hookstream: Hookstream, sink: Sink) -> None:
    """An answer that arrives in pieces is stored whole (up to the cap), not as whatever the
    first read happened to return."""

    async def slow_500(request: web.Request, _: bytes) -> web.StreamResponse:
        answer = web.StreamResponse(status=500)
        await answer.prepare(request)
        for part in (b"a" * 10_000, b"b" * 10_000):
            await answer.write(part)
            await asyncio.sleep(0.05)
        await answer.write_eof()
        return answer

    sink.respond = slow_500
    message_id = (await hookstream.publish(sink.url(), "x", **{"Upstash-Retries": "0"}))[
        "messageId"
    ]

    async def dead_lettered() -> bool:
        return "FAILED" in await events_of(hookstream, message_id)

    await eventually(dead_lettered, timeout=10)
    _, dlq = await api(hookstream, "GET", "/v2/dlq")
    (entry,) = [m for m in dlq["messages"] if m["messageId"] == message_id]
    assert entry["responseBody"] == "a" * 10_000 + "b" * 10_000
