"""Backlog gauges sampled from Redis (every worker exports the same values: use max()).

They are read when /metrics is scraped (broker/metrics.py SCRAPE_HOOKS), at most once per
MIN_AGE_SECONDS however many scrapers ask, rather than on a timer: reading them costs four
commands per partition, which on an idle, unscraped system was the larger part of its Redis
traffic at the default 48 partitions (docs/performance-log.md).
"""

from __future__ import annotations

import asyncio
import time

from broker.metrics import DELAYED, DLQ_SIZE, OLDEST_PENDING_AGE, STREAM_LAG, STREAM_PENDING
from broker.queue.backlog import read_backlog
from broker.queue.connection import Connection

MIN_AGE_SECONDS = 5.0


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


class BacklogSampler:
    """sample_backlog on demand: scrapes that come together share one reading, and a reading
    younger than `min_age` seconds is answered as it is."""

    def __init__(self, conn: Connection, min_age: float = MIN_AGE_SECONDS) -> None:
        self._conn = conn
        self._min_age = min_age
        self._sampled_at = -min_age
        self._lock = asyncio.Lock()

    async def __call__(self) -> None:
        async with self._lock:
            if time.monotonic() - self._sampled_at < self._min_age:
                return
            await sample_backlog(self._conn)
            self._sampled_at = time.monotonic()
