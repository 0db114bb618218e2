"""Backlog gauges sampled from Redis (every worker exports the same values: use max())."""

from __future__ import annotations

from broker.metrics import DELAYED, DLQ_SIZE, OLDEST_PENDING_AGE, STREAM_LAG, STREAM_PENDING
from broker.queue.backlog import read_backlog
from broker.queue.connection import Connection


async def sample_backlog(conn: Connection) -> None:
    """Lag, pending, oldest pending age per stream; delayed and DLQ totals."""
    backlog = await read_backlog(conn)
    for part in backlog:
        stream = str(part.partition)
        STREAM_LAG.labels(stream).set(part.lag)
        STREAM_PENDING.labels(stream).set(part.pending)
        OLDEST_PENDING_AGE.labels(stream).set(part.oldest_pending_s)
    DELAYED.set(sum(part.delayed for part in backlog))
    DLQ_SIZE.set(sum(part.dead_lettered for part in backlog))
