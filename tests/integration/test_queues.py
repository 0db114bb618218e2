"""Ordered queues: FIFO, the parallelism bound, pause/resume, enqueue rules, the SDK API."""

from __future__ import annotations

import asyncio

import pytest
from qstash import AsyncQStash

from broker.queue.keys import QUEUES_INDEX, queue_partition
from tests.support.api import PeakConcurrency, api, events_of, eventually
from tests.support.barriers import nothing_due
from tests.support.hookstream import TEST_TOKEN, Hookstream
from tests.support.sink import Sink

pytestmark = pytest.mark.integration


async def _upsert_queue(hookstream: Hookstream, name: str, parallelism: int, paused: bool) -> None:
    """POST /v2/queues, as both SDKs send it (all three keys)."""
    body = {"queueName": name, "parallelism": parallelism, "paused": paused}
    code, _ = await api(hookstream, "POST", "/v2/queues", json=body)
    assert code == 200


async def _enqueue(
    hookstream: Hookstream, queue: str, url: str, body: str, **headers: str
) -> tuple[int, dict]:
    return await api(hookstream, "POST", f"/v2/enqueue/{queue}/{url}", data=body, headers=headers)


@pytest.mark.cluster
async def test_fifo_with_parallelism_one_holds_through_retries(
    hookstream: Hookstream, sink: Sink
) -> None:
    """20 messages arrive one at a time, in order; a failing one holds the rest back."""
    responder = PeakConcurrency(hold=0.005, fail_first={"3"})
    sink.respond = responder
    for index in range(20):
        code, _ = await _enqueue(hookstream, "fifo", sink.url(), str(index))
        assert code == 201
    received = await sink.wait_for(21, timeout=20)
    assert [r.body.decode() for r in received] == ["0", "1", "2", "3", "3", *map(str, range(4, 20))]
    assert responder.peak == 1
    _, queue = await api(hookstream, "GET", "/v2/queues/fifo")
    assert (queue["name"], queue["parallelism"], queue["paused"]) == ("fifo", 1, False)

    async def drained() -> bool:
        return (await api(hookstream, "GET", "/v2/queues/fifo"))[1]["lag"] == 0

    await eventually(drained)


async def test_parallelism_bound(hookstream: Hookstream, sink: Sink) -> None:
    """With parallelism 3, the sink never sees more than 3 of the queue's requests at once."""
    responder = PeakConcurrency(hold=0.05)
    sink.respond = responder
    await _upsert_queue(hookstream, "par", parallelism=3, paused=False)
    for index in range(24):
        await _enqueue(hookstream, "par", sink.url(), str(index))
    await sink.wait_for(24, timeout=20)
    assert responder.peak == 3


async def test_pause_and_resume(hookstream: Hookstream, sink: Sink) -> None:
    """A paused queue accepts but admits nothing (its messages stay in its wait list, none in
    a ready stream); lag counts the waiting; resume delivers them."""
    await _upsert_queue(hookstream, "held", parallelism=2, paused=True)
    ids = [
        (await _enqueue(hookstream, "held", sink.url(), str(i)))[1]["messageId"] for i in range(3)
    ]
    _, wait = queue_partition("held", hookstream.conn.settings.partitions).queue_keys("held")
    assert [m.decode() for m in await hookstream.conn.redis.lrange(wait, 0, -1)] == ids
    assert [await nothing_due(hookstream, message_id) for message_id in ids] == [True] * 3
    assert sink.received == []
    _, queue = await api(hookstream, "GET", "/v2/queues/held")
    assert (queue["paused"], queue["lag"]) == (True, 3)
    assert (await api(hookstream, "POST", "/v2/queues/held/resume"))[0] == 200
    await sink.wait_for(3)


async def test_enqueue_rules(hookstream: Hookstream, sink: Sink) -> None:
    """Delay and Not-Before are refused on enqueue, bad names too; a cancelled one is skipped."""
    assert (await _enqueue(hookstream, "q1", sink.url(), "x", **{"Upstash-Delay": "10s"}))[0] == 400
    assert (await _enqueue(hookstream, "q1", sink.url(), "x", **{"Upstash-Not-Before": "1"}))[
        0
    ] == 400
    assert (await api(hookstream, "GET", "/v2/queues/q1"))[0] == 404
    assert (await _enqueue(hookstream, "bad name!", sink.url(), "x"))[0] == 400
    await _upsert_queue(hookstream, "q1", parallelism=1, paused=True)
    _, first = await _enqueue(hookstream, "q1", sink.url(), "first")
    await _enqueue(hookstream, "q1", sink.url(), "second")
    assert (await api(hookstream, "DELETE", f"/v2/messages/{first['messageId']}")) == (
        200,
        {"cancelled": 1},
    )
    await api(hookstream, "POST", "/v2/queues/q1/resume")
    (received,) = await sink.wait_for(1)
    assert received.body == b"second"


@pytest.mark.cluster
async def test_queue_api_with_the_python_sdk(hookstream: Hookstream, sink: Sink) -> None:
    """upsert, get, list, pause, resume, enqueue_json and delete through qstash.AsyncQStash."""
    client = AsyncQStash(TEST_TOKEN, base_url=hookstream.url)
    try:
        await client.queue.upsert("sdk-q", parallelism=2)
        queue = await client.queue.get("sdk-q")
        assert (queue.name, queue.parallelism, queue.paused, queue.lag) == ("sdk-q", 2, False, 0)
        await client.queue.pause("sdk-q")
        assert (await client.queue.get("sdk-q")).paused is True
        result = await client.message.enqueue_json(queue="sdk-q", url=sink.url(), body={"a": 1})
        assert (await client.queue.get("sdk-q")).lag == 1
        await client.queue.resume("sdk-q")
        (received,) = await sink.wait_for(1)
        assert received.headers["Upstash-Message-Id"] == result.message_id
        assert [q.name for q in await client.queue.list()] == ["sdk-q"]
        await client.queue.delete("sdk-q")
        assert await client.queue.list() == []
    finally:
        await client.http._client.aclose()


@pytest.mark.cluster
async def test_delete_queue_cancels_waiting_messages(hookstream: Hookstream, sink: Sink) -> None:
    """Deleting a paused queue cancels what it held: a sentinel enqueued afterwards under the
    same name (parallelism 1, FIFO) is the first and only delivery."""
    await _upsert_queue(hookstream, "gone", parallelism=1, paused=True)
    _, answer = await _enqueue(hookstream, "gone", sink.url(), "x")
    assert (await api(hookstream, "DELETE", "/v2/queues/gone"))[0] == 200
    assert (await api(hookstream, "GET", f"/v2/messages/{answer['messageId']}"))[0] == 404
    assert (await api(hookstream, "GET", "/v2/queues/gone"))[0] == 404
    assert (await _enqueue(hookstream, "gone", sink.url(), "sentinel"))[0] == 201
    await sink.wait_for(1)
    assert [r.body for r in sink.received] == [b"sentinel"]


async def test_deleting_a_queue_during_enqueues_strands_nothing(
    hookstream: Hookstream, sink: Sink
) -> None:
    """Enqueues racing a queue's deletion: every message answered 201 is either delivered or
    cancelled (a CANCELED event), and nothing is left in a deleted wait list."""
    await _upsert_queue(hookstream, "racing", parallelism=1, paused=True)

    async def enqueue(i: int) -> str:
        status, answer = await _enqueue(hookstream, "racing", sink.url(), f"m{i}")
        assert status == 201, answer
        return str(answer["messageId"])

    first = [await enqueue(i) for i in range(50)]
    racing = [asyncio.create_task(enqueue(i)) for i in range(50, 200)]
    assert (await api(hookstream, "DELETE", "/v2/queues/racing"))[0] == 200
    acknowledged = first + list(await asyncio.gather(*racing))
    await _upsert_queue(hookstream, "racing", parallelism=10, paused=False)  # release the rest

    async def all_ended() -> bool:
        ended = [await _ended(hookstream, message_id) for message_id in acknowledged]
        return all(ended)

    await eventually(all_ended, timeout=30)
    delivered = {r.headers["Upstash-Message-Id"] for r in sink.received}
    cancelled = {m for m in acknowledged if await _ended(hookstream, m) == "CANCELED"}
    assert delivered | cancelled == set(acknowledged)
    assert set(first) <= cancelled  # waiting when the delete began


async def _ended(hookstream: Hookstream, message_id: str) -> str | None:
    """DELIVERED or CANCELED once the message reached its end, else None."""
    states = set(await events_of(hookstream, message_id))
    return next((s for s in ("DELIVERED", "CANCELED") if s in states), None)


@pytest.mark.parametrize("name", [None, 5, ["q"], True])
async def test_a_queue_name_that_is_no_string_is_refused(
    hookstream: Hookstream, name: object
) -> None:
    """Found by probing: `{"queueName": null}` created a queue named "None" (and 5 one named
    "5"); anything but a string is a 400 and creates nothing."""
    status, body = await api(hookstream, "POST", "/v2/queues", json={"queueName": name})
    assert (status, body) == (400, {"error": "queueName must be a string"})
    assert await api(hookstream, "GET", "/v2/queues") == (200, [])


async def _index_writes(hookstream: Hookstream) -> int:
    """SADD calls the server counted since the last CONFIG RESETSTAT."""
    stats = await hookstream.conn.redis.info("commandstats")
    return int(stats.get("cmdstat_sadd", {}).get("calls", 0))


async def test_only_a_new_queue_writes_the_queue_index(hookstream: Hookstream, sink: Sink) -> None:
    """Five enqueues to one new queue add it to the index once (the index is one slot for
    every queue); its listing shows it. Deleting and enqueueing again indexes it again."""
    await hookstream.conn.redis.config_resetstat()
    for n in range(5):
        assert (await _enqueue(hookstream, "once", sink.url(), str(n)))[0] == 201
    assert await _index_writes(hookstream) == 1
    _, listed = await api(hookstream, "GET", "/v2/queues")
    assert [q["name"] for q in listed] == ["once"]
    await sink.wait_for(5)
    assert (await api(hookstream, "DELETE", "/v2/queues/once"))[0] == 200
    assert (await _enqueue(hookstream, "once", sink.url(), "again"))[0] == 201
    _, listed = await api(hookstream, "GET", "/v2/queues")
    assert [q["name"] for q in listed] == ["once"]


async def test_an_indexing_cut_short_is_redone(hookstream: Hookstream, sink: Sink) -> None:
    """A gate created by a caller that failed before indexing it (no `indexed` mark, no index
    entry) is indexed by the next enqueue."""
    assert (await _enqueue(hookstream, "cut", sink.url(), "1"))[0] == 201
    gate, _ = queue_partition("cut", hookstream.conn.settings.partitions).queue_keys("cut")
    await hookstream.conn.redis.hdel(gate, "indexed")
    await hookstream.conn.redis.srem(QUEUES_INDEX, "cut")
    assert (await api(hookstream, "GET", "/v2/queues"))[1] == []
    assert (await _enqueue(hookstream, "cut", sink.url(), "2"))[0] == 201
    _, listed = await api(hookstream, "GET", "/v2/queues")
    assert [q["name"] for q in listed] == ["cut"]
