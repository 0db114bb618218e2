"""Settles only ack; ready_trim.lua drops the read and acked entries of a ready stream later,
never one that is unread or pending, and a slow delivery at the head does not make the
stream keep everything read after it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from broker.queue import scripts
from broker.queue.connection import Connection
from broker.queue.consumer import Consumer
from broker.queue.keys import GROUP, PartitionKeys
from broker.settings import Settings
from tests.support.api import eventually
from tests.support.hookstream import Hookstream
from tests.support.sink import Sink

pytestmark = pytest.mark.integration

SETTINGS = Settings(partitions=2)


@pytest.fixture
async def conn(redis_url: str) -> AsyncIterator[Connection]:
    connection = await Connection.connect(SETTINGS, redis_url)
    await connection.ensure_groups()
    yield connection
    await connection.redis.aclose()


@pytest.fixture
def partition(conn: Connection) -> PartitionKeys:
    return conn.partitions[0]


async def add(conn: Connection, partition: PartitionKeys, *ids: str) -> None:
    for entry_id in ids:
        await conn.redis.xadd(partition.ready, {"id": f"m-{entry_id}"}, id=entry_id)


async def read(conn: Connection, partition: PartitionKeys, count: int) -> list[str]:
    reply = await conn.redis.xreadgroup(GROUP, "c", {partition.ready: ">"}, count=count)
    return [entry_id.decode() for entry_id, _ in reply[0][1]]


async def ack(conn: Connection, partition: PartitionKeys, *ids: str) -> None:
    await conn.redis.xack(partition.ready, GROUP, *ids)


async def left(conn: Connection, partition: PartitionKeys) -> list[str]:
    return [entry_id.decode() for entry_id, _ in await conn.redis.xrange(partition.ready)]


async def trim(conn: Connection, partition: PartitionKeys, span_ms: int, scan: int = 100) -> int:
    args: dict[str, scripts.Arg] = {"span_ms": span_ms, "scan": scan}
    return int(await conn.scripts.call(scripts.READY_TRIM, partition, {}, args))


async def test_only_entries_read_and_acked_before_the_oldest_pending_go(
    conn: Connection, partition: PartitionKeys
) -> None:
    """1-0..10-0 added, 1..6 read, 1 2 4 5 acked: 1 and 2 go; 3 (pending) and all after it
    stay, and the pending one is still reclaimed whole."""
    await add(conn, partition, *(f"{ms}-0" for ms in range(1, 11)))
    await read(conn, partition, 6)
    await ack(conn, partition, "1-0", "2-0", "4-0", "5-0")
    assert await trim(conn, partition, span_ms=10_000) == 2
    assert await left(conn, partition) == [f"{ms}-0" for ms in range(3, 11)]
    _, claimed, deleted = await conn.redis.xautoclaim(partition.ready, GROUP, "d", 0, "0-0")
    assert [(eid, fields) for eid, fields in claimed][:1] == [(b"3-0", {b"id": b"m-3-0"})]
    assert deleted == []


async def test_with_nothing_pending_every_read_entry_goes_and_no_unread_one(
    conn: Connection, partition: PartitionKeys
) -> None:
    await add(conn, partition, "1-0", "2-0", "3-0", "4-0")
    await ack(conn, partition, *await read(conn, partition, 2))
    await trim(conn, partition, span_ms=10_000)
    # 2-0, the last read, may stay (acked, harmless); 3-0 and 4-0 were never read.
    assert await left(conn, partition) == ["2-0", "3-0", "4-0"]
    await ack(conn, partition, *await read(conn, partition, 2))
    assert await trim(conn, partition, span_ms=10_000) == 3
    assert await conn.redis.xlen(partition.ready) == 0


async def test_a_slow_delivery_at_the_head_does_not_keep_what_was_read_after_it(
    conn: Connection, partition: PartitionKeys
) -> None:
    """1-0 pending far behind the last read entry (20 s in entry time, span 10 s): the acked
    entries after it are deleted, the pending ones and the unread one stay; `scan` bounds
    how many one call looks at."""
    later = [f"{20_000 + i}-0" for i in range(8)]
    await add(conn, partition, "1-0", *later, "30000-0")  # 30000-0 stays unread until the end
    await read(conn, partition, 9)
    await ack(conn, partition, *(entry for entry in later if entry != "20004-0"))
    assert await trim(conn, partition, span_ms=10_000, scan=4) == 4  # 20000..20003
    assert await left(conn, partition) == ["1-0", *later[4:], "30000-0"]
    assert await trim(conn, partition, span_ms=10_000, scan=4) == 3  # 20004 is pending
    assert await left(conn, partition) == ["1-0", "20004-0", "30000-0"]
    await ack(conn, partition, *await read(conn, partition, 1))
    assert await trim(conn, partition, span_ms=40_000) == 0  # within the span: left as it is
    assert await left(conn, partition) == ["1-0", "20004-0", "30000-0"]


async def test_a_consumer_trims_only_where_it_acked(
    conn: Connection, partition: PartitionKeys
) -> None:
    other = conn.partitions[1]
    for keys in (partition, other):
        await add(conn, keys, "1-0", "2-0")
        await ack(conn, keys, *await read(conn, keys, 2))
    consumer = Consumer(conn, "c")
    assert await consumer.trim_acked() == 0  # acked nothing itself: sends nothing
    await consumer.start(partition, [("3-0", "gone")], reclaimed=False)  # acks a gone message
    assert await consumer.trim_acked() == 2
    assert await conn.redis.xlen(partition.ready) == 0
    assert await conn.redis.xlen(other.ready) == 2


async def test_a_worker_leaves_its_streams_empty_after_delivering(
    hookstream: Hookstream, sink: Sink
) -> None:
    for i in range(20):
        await hookstream.publish(sink.url(f"/t{i}"), "x")
    await sink.wait_for(20)
    redis = hookstream.conn.redis

    async def emptied() -> bool:
        return all([await redis.xlen(p.ready) == 0 for p in hookstream.conn.partitions])

    await eventually(emptied)
