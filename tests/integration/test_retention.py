"""A delivered message stays readable for HOOKSTREAM_DELIVERED_RETENTION, without its body, and
nothing that reads message hashes mistakes it for work left to do."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from broker.queue.consumer import Attempt, Consumer, SettleResult
from broker.queue.keys import keys_for, queue_partition
from broker.queue.model import Response
from tests.support.api import api, events_of, eventually
from tests.support.barriers import nothing_due, pending_entries
from tests.support.hookstream import Hookstream
from tests.support.sink import Sink

pytestmark = pytest.mark.integration
DEFAULT_RETENTION_MS = 5 * 60_000


async def _delivered(hookstream: Hookstream, message_id: str) -> None:
    """Wait until the DELIVERED event is logged: the settle script has run."""

    async def settled() -> bool:
        return (await events_of(hookstream, message_id))[-1:] == ["DELIVERED"]

    await eventually(settled)


async def _publish_and_deliver(hookstream: Hookstream, sink: Sink, body: str = "x") -> str:
    message_id: str = (await hookstream.publish(sink.url("/kept"), body))["messageId"]
    await sink.wait_for(1)
    await _delivered(hookstream, message_id)
    return message_id


@pytest.fixture
async def short_retention(redis_url: str) -> AsyncIterator[Hookstream]:
    server = await Hookstream(redis_url, delivered_retention_ms=1500).start()
    yield server
    await server.stop()


@pytest.fixture
async def no_retention(redis_url: str) -> AsyncIterator[Hookstream]:
    server = await Hookstream(redis_url, delivered_retention_ms=0).start()
    yield server
    await server.stop()


async def test_delivered_message_is_kept_without_its_body(
    hookstream: Hookstream, sink: Sink
) -> None:
    """GET after delivery is 200 with the envelope's keys and no body; Redis keeps only the
    envelope and the state, with a TTL of the retention."""
    message_id = await _publish_and_deliver(hookstream, sink, "b" * 1024)
    code, message = await api(hookstream, "GET", f"/v2/messages/{message_id}")
    assert code == 200
    assert (message["messageId"], message["url"], message["method"]) == (
        message_id,
        sink.url("/kept"),
        "POST",
    )
    assert "body" not in message
    assert "bodyBase64" not in message
    key = keys_for(message_id).message(message_id)
    redis = hookstream.conn.redis
    assert sorted(await redis.hkeys(key)) == [b"m", b"state"]
    assert await redis.hget(key, "state") == b"DELIVERED"
    assert 0 < await redis.pttl(key) <= DEFAULT_RETENTION_MS


async def test_kept_message_expires_after_the_window(
    short_retention: Hookstream, sink: Sink
) -> None:
    """With a 1.5 s retention the record carries that TTL, then GET is 404."""
    message_id = await _publish_and_deliver(short_retention, sink)
    key = keys_for(message_id).message(message_id)
    assert 0 < await short_retention.conn.redis.pttl(key) <= 1500

    async def expired() -> bool:
        return (await api(short_retention, "GET", f"/v2/messages/{message_id}"))[0] == 404

    await eventually(expired)


async def test_retention_zero_deletes_at_delivery(no_retention: Hookstream, sink: Sink) -> None:
    """HOOKSTREAM_DELIVERED_RETENTION=0 keeps the old behaviour: gone once DELIVERED."""
    message_id = await _publish_and_deliver(no_retention, sink)
    assert (await api(no_retention, "GET", f"/v2/messages/{message_id}"))[0] == 404
    assert not await no_retention.conn.redis.exists(keys_for(message_id).message(message_id))


async def test_a_delivered_message_cannot_be_cancelled(hookstream: Hookstream, sink: Sink) -> None:
    """Cancel is 404 and logs nothing; a bulk cancel of everything finds nothing to cancel."""
    message_id = await _publish_and_deliver(hookstream, sink)
    assert (await api(hookstream, "DELETE", f"/v2/messages/{message_id}"))[0] == 404
    assert await api(hookstream, "DELETE", "/v2/messages") == (200, {"cancelled": 0})
    assert await events_of(hookstream, message_id) == ["CREATED", "ACTIVE", "DELIVERED"]
    assert (await api(hookstream, "GET", f"/v2/messages/{message_id}"))[0] == 200


async def test_a_stray_entry_of_a_delivered_message_is_skipped(
    hookstream: Hookstream, sink: Sink
) -> None:
    """An entry for a message already delivered (a duplicate after a reclaim) is acked
    without a second delivery or a second ACTIVE event."""
    message_id = await _publish_and_deliver(hookstream, sink)
    partition = keys_for(message_id)
    await hookstream.conn.redis.xadd(partition.ready, {"id": message_id})

    async def acked() -> bool:
        return await nothing_due(hookstream, message_id) and await pending_entries(hookstream) == 0

    await eventually(acked)
    assert len(sink.received) == 1
    assert await events_of(hookstream, message_id) == ["CREATED", "ACTIVE", "DELIVERED"]


async def test_a_second_settle_frees_the_gate_slot_once(hookstream: Hookstream, sink: Sink) -> None:
    """Two successes settled for one attempt of a parallelism-1 queue: the second finds the
    message final ('gone'), so one slot is freed and exactly one waiting message admitted."""
    await hookstream.stop_worker()
    body = {"queueName": "once", "parallelism": 1, "paused": False}
    assert (await api(hookstream, "POST", "/v2/queues", json=body))[0] == 200
    for index in range(3):
        code, _ = await api(hookstream, "POST", f"/v2/enqueue/once/{sink.url()}", data=str(index))
        assert code == 201
    partition = queue_partition("once", hookstream.conn.settings.partitions)
    consumer = Consumer(hookstream.conn, "test-consumer")
    reader = consumer.reader(partition)
    entries = await reader.read(10, 100)
    await reader.close()
    (started,) = await consumer.start(partition, entries, False)
    assert isinstance(started, Attempt)
    ok = Response(status=200)
    first = await consumer.settle_delivered(started, ok, [])
    second = await consumer.settle_delivered(started, ok, [])
    assert (first.result, second.result) == (SettleResult.DELIVERED, SettleResult.GONE)
    _, queue = await api(hookstream, "GET", "/v2/queues/once")
    assert queue["lag"] == 2  # one admitted, one still waiting
    gate, wait = partition.queue_keys("once")
    assert await hookstream.conn.redis.hget(gate, "active") == b"1"
    assert await hookstream.conn.redis.llen(wait) == 1
