"""What is waiting, per partition, read from Redis for the backlog gauges; and retention.

Retention drops DLQ entries and events older than their configured age. The ready streams are
not trimmed here: what is read and acked there goes by ready_trim.lua (Consumer.trim_acked), which
never drops pending or unread work; DLQ message hashes expire by themselves
(PEXPIRE set when they were dead-lettered). Several workers trimming at once is harmless:
trimming by MINID is idempotent.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from broker.queue.connection import Connection
from broker.queue.keys import GROUP, PartitionKeys


@dataclass(frozen=True, slots=True)
class Backlog:
    """One partition's backlog."""

    partition: int
    lag: int  # entries in the ready stream no consumer has read yet
    pending: int  # read but not acked (in flight, or left by a dead worker)
    oldest_pending_s: float
    delayed: int
    dead_lettered: int


async def read_backlog(conn: Connection) -> list[Backlog]:
    """Every partition's backlog, one pipeline per partition, all partitions at once."""
    return list(await asyncio.gather(*(_backlog(conn, p) for p in conn.partitions)))


async def _backlog(conn: Connection, partition: PartitionKeys) -> Backlog:
    async with conn.redis.pipeline(transaction=False) as pipe:
        pipe.xinfo_groups(partition.ready)
        pipe.xpending_range(partition.ready, GROUP, min="-", max="+", count=1)
        pipe.zcard(partition.delayed)
        pipe.xlen(partition.dlq)
        groups, oldest, delayed, dead = await pipe.execute()
    group = next((g for g in groups if g["name"] == GROUP.encode()), None) or {}
    age = oldest[0]["time_since_delivered"] / 1000 if oldest else 0.0
    lag, pending = group.get("lag") or 0, group.get("pending") or 0
    return Backlog(partition.partition, lag, pending, age, delayed, dead)


async def trim_retention(conn: Connection) -> None:
    """XTRIM MINID on every partition's DLQ and events streams, by Redis time."""
    now_ms = await conn.now_ms()
    dlq_floor = now_ms - conn.settings.dlq_retention_ms
    events_floor = now_ms - conn.settings.events_retention_ms
    async with conn.redis.pipeline(transaction=False) as pipe:
        for partition in conn.partitions:
            pipe.xtrim(partition.dlq, minid=dlq_floor)
            pipe.xtrim(partition.events, minid=events_floor, approximate=True)
        await pipe.execute()
