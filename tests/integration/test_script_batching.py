"""Calls of one partition script on one partition in the same event-loop turn go to Redis as
one EVALSHA of the script's batched form (broker/queue/scripts.py): each call still gets its
own result, an error fails only its own call, and an emptied script cache is recovered."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from multidict import CIMultiDict
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from broker.options import parse_publish_headers
from broker.queue import scripts
from broker.queue.connection import Connection
from broker.queue.keys import PartitionKeys, new_message_id
from broker.queue.producer import Draft, Routing, build_draft, publish
from broker.settings import Settings

pytestmark = pytest.mark.integration

SETTINGS = Settings(partitions=4)


@pytest.fixture
async def conn(redis_url: str) -> AsyncIterator[Connection]:
    connection = await Connection.connect(SETTINGS, redis_url)
    yield connection
    await connection.redis.aclose()


async def evalsha_calls(conn: Connection) -> int:
    """EVALSHA commands run by every primary since their last CONFIG RESETSTAT."""
    total = 0
    for node in conn.primaries():
        stats = await node.execute_command("INFO", "commandstats")
        total += int(stats.get("cmdstat_evalsha", {}).get("calls", 0))
    return total


async def reset_stats(conn: Connection) -> None:
    for node in conn.primaries():
        await node.execute_command("CONFIG", "RESETSTAT")


def draft(partition: PartitionKeys, body: bytes) -> Draft:
    options = parse_publish_headers(CIMultiDict({"Content-Type": "text/plain"}), SETTINGS)
    return build_draft(
        "http://example.com/hook", options, body, new_message_id(partition), Routing()
    )


async def cancel(conn: Connection, partition: PartitionKeys, message_key: str) -> object:
    keys = partition.gate(None, None) | {"message": message_key}
    return await conn.scripts.call(scripts.CANCEL, partition, keys, {"message_id": "m"})


@pytest.mark.cluster
async def test_a_turns_publishes_on_one_partition_are_one_command(conn: Connection) -> None:
    """Twenty publishes in one turn: one EVALSHA, twenty stored messages, each caller
    answered; on another partition, a command of its own."""
    first, second = conn.partitions[0], conn.partitions[1]
    drafts = [draft(first, f"a{i}".encode()) for i in range(20)] + [draft(second, b"b")]
    await reset_stats(conn)
    answers = await asyncio.gather(*(publish(conn.scripts, [d]) for d in drafts))
    assert answers == [False] * 21
    assert await evalsha_calls(conn) == 2
    assert await conn.redis.xlen(first.ready) == 20
    assert await conn.redis.xlen(second.ready) == 1
    stored = [await conn.redis.hget(d.key, "b") for d in drafts]
    assert stored == [f"a{i}".encode() for i in range(20)] + [b"b"]


async def test_each_call_sees_only_its_own_tails(conn: Connection) -> None:
    """The batched form refills one KEYS and ARGV per call: a call with fewer messages than
    the one before it must not see that call's leftover tail (it would store them again)."""
    partition = conn.partitions[3]
    sizes = [3, 1, 2, 1]
    calls = [[draft(partition, f"t{n}.{i}".encode()) for i in range(n)] for n in sizes]
    await reset_stats(conn)
    await asyncio.gather(*(publish(conn.scripts, drafts) for drafts in calls))
    assert await evalsha_calls(conn) == 1
    assert await conn.redis.xlen(partition.ready) == sum(sizes)
    stored = [await conn.redis.hget(d.key, "b") for drafts in calls for d in drafts]
    assert stored == [d.body for drafts in calls for d in drafts]


@pytest.mark.cluster
async def test_an_error_fails_only_its_own_call(conn: Connection) -> None:
    """A call that fails in Lua (WRONGTYPE: its message key holds a string) raises for its
    caller alone; the calls batched with it, before and after, return their own results."""
    partition = conn.partitions[0]
    broken = partition.message("msg_broken")
    await conn.redis.set(broken, "not a hash")
    await reset_stats(conn)
    results = await asyncio.gather(
        cancel(conn, partition, partition.message("msg_absent_1")),
        cancel(conn, partition, broken),
        cancel(conn, partition, partition.message("msg_absent_2")),
        return_exceptions=True,
    )
    assert await evalsha_calls(conn) == 1
    assert results[0] == 0
    assert results[2] == 0
    assert isinstance(results[1], ResponseError)
    assert "WRONGTYPE" in str(results[1])


async def test_a_role_loads_every_script_over_one_connection(redis_url: str) -> None:
    """Connecting loads both forms of every script before any call, in one pipeline: the
    start opens one or two connections, not one per script (~60, which turned a busy host's
    slow accept into a connect timeout at start)."""
    probe = Redis.from_url(redis_url)
    try:
        await probe.script_flush()
        before = await probe.info("stats")
        connection = await Connection.connect(SETTINGS, redis_url)
        after = await probe.info("stats")
        await connection.close()
        cached = (await probe.info("memory"))["number_of_cached_scripts"]
    finally:
        await probe.aclose()
    forms = sum(2 if script.partition else 1 for script in scripts.ALL)
    assert cached == forms
    assert after["total_connections_received"] - before["total_connections_received"] <= 2


async def test_batched_form_is_reloaded_after_a_script_flush(conn: Connection) -> None:
    """After SCRIPT FLUSH (a restart, a failover), a batched command is loaded and resent:
    every call of it runs exactly once. (On a cluster: test_redis_modes.py, whose fixture
    expects the NOSCRIPT replies.)"""
    partition = conn.partitions[2]
    for node in conn.primaries():
        await node.execute_command("SCRIPT", "FLUSH")
    drafts = [draft(partition, f"c{i}".encode()) for i in range(5)]
    await asyncio.gather(*(publish(conn.scripts, [d]) for d in drafts))
    assert await conn.redis.xlen(partition.ready) == 5
