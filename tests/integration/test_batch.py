"""`POST /v2/batch`: mixed items in request order; one bad item writes nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from qstash import AsyncQStash
from redis.asyncio import Redis

from broker.queue.keys import partition_of
from broker.redis_server import EmbeddedServer
from tests.support.api import api
from tests.support.hookstream import TEST_TOKEN, Hookstream
from tests.support.sink import Sink

pytestmark = pytest.mark.integration


@pytest.mark.cluster
async def test_mixed_batch_with_the_python_sdk(hookstream: Hookstream, sink: Sink) -> None:
    """A URL, a URL group and a queue item: answers in order, the group's as a nested list."""
    await api(hookstream, "POST", "/v2/topics/pair/endpoints",
              json={"endpoints": [{"url": sink.url("/g1")}, {"url": sink.url("/g2")}]})  # fmt: skip
    client = AsyncQStash(TEST_TOKEN, base_url=hookstream.url)
    try:
        answers = await client.message.batch_json(
            [
                {"url": sink.url("/u"), "body": {"n": 1}, "headers": {"X-A": "1"}},
                {"url_group": "pair", "body": {"n": 2}},
                {"queue": "bq", "url": sink.url("/q"), "body": {"n": 3}},
            ]
        )
    finally:
        await client.http._client.aclose()
    assert len(answers) == 3
    assert not isinstance(answers[0], list)
    assert isinstance(answers[1], list)
    assert [a.url for a in answers[1]] == [sink.url("/g1"), sink.url("/g2")]
    received = await sink.wait_for(4)
    assert sorted(r.path for r in received) == ["/g1", "/g2", "/q", "/u"]
    by_path = {r.path: r for r in received}
    assert by_path["/u"].headers["X-A"] == "1"
    assert by_path["/u"].headers["Upstash-Message-Id"] == answers[0].message_id
    _, queue = await api(hookstream, "GET", "/v2/queues/bq")
    assert queue["parallelism"] == 1


@pytest.mark.parametrize(
    ("item", "error"),
    [
        ({"destination": "ftp://x"}, "batch item 1"),
        ({"destination": "missing-group"}, "batch item 1"),
        ({"destination": "http://h.io", "headers": {"Upstash-Retries": "x"}}, "Upstash-Retries"),
        (
            {"destination": "http://h.io", "queue": "q", "headers": {"Upstash-Delay": "1s"}},
            "enqueue",
        ),
        ({"nodestination": 1}, "invalid batch"),
    ],
)
async def test_one_bad_item_rejects_the_batch(
    hookstream: Hookstream, sink: Sink, item: dict, error: str
) -> None:
    """The good first item is not written when the second is invalid."""
    batch = [{"destination": sink.url("/ok"), "body": "x"}, item]
    code, body = await api(hookstream, "POST", "/v2/batch", json=batch)
    assert code in (400, 404)
    assert error in body["error"]
    _, events = await api(hookstream, "GET", "/v2/events")
    assert events["events"] == []


async def test_batch_must_be_an_array(hookstream: Hookstream) -> None:
    """A JSON object is not a batch."""
    code, body = await api(hookstream, "POST", "/v2/batch", json={"destination": "http://h.io"})
    assert code == 400
    assert "array" in body["error"] or "invalid batch" in body["error"]


@pytest.fixture(name="half_writable")
async def _half_writable(tmp_path: Path) -> AsyncIterator[tuple[Hookstream, Redis]]:
    """An ingress whose Redis user may write partition 0 only (partition 1 answers NOPERM,
    a real Redis error), and an admin client that sees everything."""
    server = EmbeddedServer(tmp_path / "redis", appendonly=False).start()
    hookstream = await Hookstream(server.url, with_worker=False).start()
    admin = Redis(port=server.port, username="admin", password="admin")
    try:
        await hookstream.conn.redis.acl_setuser(
            "admin", enabled=True, passwords=["+admin"], keys=["~*"], channels=["*"],
            commands=["+@all"],
        )  # fmt: skip
        await admin.acl_setuser(
            "default", enabled=True, nopass=True, reset_keys=True,
            keys=[f"~{hookstream.conn.partitions[0].tag}*", "%R~*"], commands=["+@all"],
        )  # fmt: skip
        yield hookstream, admin
    finally:
        await admin.aclose()
        await hookstream.stop()
        server.stop()


async def stored_messages(admin: Redis) -> set[str]:
    """The ids of every message hash in Redis."""
    keys = [key.decode() async for key in admin.scan_iter(match="{hs:*}:msg:*")]
    return {key.rsplit(":", 1)[1] for key in keys}


def answered_ids(items: list[Any]) -> set[str]:
    return {item["messageId"] for item in items if item is not None}


async def test_a_failing_partition_is_answered_per_item(
    half_writable: tuple[Hookstream, Redis],
) -> None:
    """Items in two partitions, partition 1 refused: 500 with `items` naming per item what was
    stored (partition 0's items) and null for the rest; Redis holds exactly the former."""
    hookstream, admin = half_writable
    items = [{"destination": "https://example.com/x", "body": str(n),
              "headers": {"Upstash-Deduplication-Id": f"d{n}"}} for n in range(8)]  # fmt: skip
    status, body = await api(hookstream, "POST", "/v2/batch", json=items)
    assert status == 500
    answers = body["items"]
    assert len(answers) == len(items)
    stored = answered_ids(answers)
    assert stored, "no item landed in partition 0: choose other dedup ids"
    assert None in answers, "no item landed in partition 1: choose other dedup ids"
    assert {partition_of(message_id) for message_id in stored} == {0}
    assert await stored_messages(admin) == stored
    assert "send only those again" in body["error"]


async def test_free_items_are_stored_whole_or_not_at_all(
    half_writable: tuple[Hookstream, Redis],
) -> None:
    """Items bound to no partition share one, so each batch is stored whole (201, all its
    ids) or not at all (500, nothing), never in part; over several batches, both happen."""
    hookstream, admin = half_writable
    items = [{"destination": "https://example.com/x", "body": str(n)} for n in range(6)]
    outcomes = set()
    for _ in range(12):
        before = await stored_messages(admin)
        status, body = await api(hookstream, "POST", "/v2/batch", json=items)
        added = await stored_messages(admin) - before
        if status == 201:
            assert added == answered_ids(body)
            assert len(added) == len(items)
        else:
            assert (status, added) == (500, set()), body
        outcomes.add(status)
    assert outcomes == {201, 500}, "12 batches all went to one partition (p = 2 * 2^-12)"


async def test_duplicates_within_a_batch_are_stored_once(hookstream: Hookstream) -> None:
    """Two items with one dedup id in one batch: the second is answered as a duplicate of
    the first, in the same script call."""
    item = {"destination": "https://example.com/x", "headers": {"Upstash-Deduplication-Id": "same"}}
    status, answers = await api(hookstream, "POST", "/v2/batch", json=[item, item])
    assert status == 201
    assert answers[1] == answers[0] | {"deduplicated": True}
    assert await stored_messages(hookstream.conn.redis) == {answers[0]["messageId"]}
