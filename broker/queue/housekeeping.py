"""Housekeeping: what would otherwise grow forever.

- Flow-control keys are created by the first message that names one, and nothing deleted
  them: a key per tenant or per user left a gate hash and an index entry each, for good.
  A gate that has been idle for HOOKSTREAM_FLOW_CONTROL_IDLE and holds nothing is deleted by
  one script (flow_control_expire.lua), which checks and deletes in one atomic step.
- Every worker process reads under a consumer name of its own (host-pid-random), and a
  consumer group keeps every name it ever saw: each restart or crash left one behind. A
  name with no pending entry, idle for HOOKSTREAM_CONSUMER_IDLE, is removed by one script
  (consumers_prune.lua); a name that still holds entries is never touched (they are
  reclaimed first, by XAUTOCLAIM).

Every worker runs it; several at once is harmless, since each step is atomic and repeating
it changes nothing.
"""

from __future__ import annotations

import asyncio
from typing import cast

from broker.queue.connection import Connection
from broker.queue.keys import FLOW_CONTROL_INDEX, queue_partition
from broker.queue.scripts import CONSUMERS_PRUNE, FLOW_CONTROL_EXPIRE, Arg

_BATCH = 100  # index entries per SSCAN step, whose scripts go to Redis in one pipeline


async def expire_idle_flow_keys(conn: Connection) -> list[str]:
    """Delete the idle, empty flow-control keys; return their names."""
    expired: list[str] = []
    cursor = 0
    while True:
        cursor, found = await conn.redis.sscan(FLOW_CONTROL_INDEX, cursor, count=_BATCH)
        names = [name.decode() for name in cast(list[bytes], found)]
        gone = await asyncio.gather(*(_expire(conn, name) for name in names))
        expired += [name for name, deleted in zip(names, gone, strict=True) if deleted]
        if cursor == 0:
            return expired


async def _expire(conn: Connection, name: str) -> bool:
    """Delete the key's gate if idle and empty, then its index entry. A publish recreates the
    gate before it adds the entry (flow_control.apply_message_settings), so a gate found
    again after the SREM gets its entry back: the index never loses a live key."""
    partition = queue_partition(name, conn.settings.partitions)
    gate, wait = partition.flow_keys(name)
    idle_ms = conn.settings.flow_control_idle_ms
    keys, args = {"gate": gate, "wait": wait}, {"idle_ms": idle_ms}
    if await conn.scripts.call(FLOW_CONTROL_EXPIRE, partition, keys, args) == 0:
        return False
    await conn.redis.srem(FLOW_CONTROL_INDEX, name)
    if await conn.redis.exists(gate):
        await conn.redis.sadd(FLOW_CONTROL_INDEX, name)
        return False
    return True


async def remove_dead_consumers(conn: Connection, keep: str) -> list[str]:
    """Remove, from every partition's group, the consumers with no pending entry that have
    been idle for HOOKSTREAM_CONSUMER_IDLE, except `keep` (the caller); return their names."""
    args: dict[str, Arg] = {"idle_ms": conn.settings.consumer_idle_ms, "keep": keep}
    replies = await asyncio.gather(
        *(conn.scripts.call(CONSUMERS_PRUNE, p, {}, args) for p in conn.partitions)
    )
    return sorted({name.decode() for reply in replies for name in reply})
