"""Backlog gauges sampled from Redis (every worker exports the same values: use max())."""

from __future__ import annotations

from broker.metrics import DELAYED, DLQ_SIZE, OLDEST_PENDING_AGE, STREAM_LAG, STREAM_PENDING
from broker.queue.connection import Connection
from broker.queue.keys import GROUP


async def sample_backlog(conn: Connection) -> None:
    """Lag, pending, oldest pending age per stream; delayed and DLQ totals."""
    delayed = dlq = 0
    for partition in conn.partitions:
        async with conn.redis.pipeline(transaction=False) as pipe:
            pipe.xinfo_groups(partition.ready)
            pipe.xpending_range(partition.ready, GROUP, min="-", max="+", count=1)
            pipe.zcard(partition.delayed)
            pipe.xlen(partition.dlq)
            groups, oldest, delayed_count, dlq_count = await pipe.execute()
        group = next((g for g in groups if g["name"] == GROUP.encode()), None)
        stream = str(partition.partition)
        STREAM_LAG.labels(stream).set((group or {}).get("lag") or 0)
        STREAM_PENDING.labels(stream).set((group or {}).get("pending") or 0)
        age = oldest[0]["time_since_delivered"] / 1000 if oldest else 0
        OLDEST_PENDING_AGE.labels(stream).set(age)
        delayed += delayed_count
        dlq += dlq_count
    DELAYED.set(delayed)
    DLQ_SIZE.set(dlq)
