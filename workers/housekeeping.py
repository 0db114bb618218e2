"""Retention: drop DLQ entries and events older than their configured age.

The ready streams are never trimmed (that would delete pending work); DLQ message hashes
expire by themselves (PEXPIRE set when they were dead-lettered). Several workers running this
at once is harmless: trimming by MINID is idempotent.
"""

from __future__ import annotations

from broker.queue.connection import Connection


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
