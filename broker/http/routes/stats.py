"""`GET /v2/stats`: what the console's overview shows, in one authenticated read.

hookstream's own endpoint (QStash has none like it), so its shapes live here rather than in
broker/api.py. Backlog figures come from broker/queue/backlog.py, the gauges the workers
export; rates and recent failures from a bounded sample of the events log
(broker/queue/activity.py), so one call costs the same at 10 or 10,000 messages a second.
"""

from __future__ import annotations

import heapq
from itertools import islice

from aiohttp import web

from broker import api
from broker.http.context import connection
from broker.http.views import event_view, respond
from broker.queue.activity import Sample, recent_activity
from broker.queue.backlog import Backlog, read_backlog
from broker.queue.model import State

WINDOW_MS = 60_000
"""Rates cover the last minute, or less where the sample fills up first."""
SAMPLE_LIMIT = 500
"""Most events read per partition and call."""
RECENT_FAILURES = 10


class PartitionStats(api.Shape, frozen=True, kw_only=False):
    """One partition's backlog (`ready`: in the stream, not yet read by a worker)."""

    partition: int
    ready: int
    in_flight: int
    delayed: int
    dlq: int
    oldest_in_flight_seconds: float


class Rates(api.Shape, frozen=True, kw_only=True):
    """Events per second over the last `windowSeconds`."""

    window_seconds: float
    published: float  # CREATED
    delivered: float  # DELIVERED
    failed_attempts: float  # ERROR
    dead_lettered: float  # FAILED


class Stats(api.Shape, frozen=True, kw_only=True):
    """The whole overview; `time` is Redis time in ms."""

    time: int
    ready: int
    in_flight: int
    delayed: int
    dlq: int
    oldest_in_flight_seconds: float
    rates: Rates
    partitions: list[PartitionStats]
    recent_failures: list[api.Event]


async def get_stats(request: web.Request) -> web.Response:
    conn = connection(request)
    backlog = await read_backlog(conn)
    samples = await recent_activity(conn, WINDOW_MS, SAMPLE_LIMIT)
    return respond(stats_view(await conn.now_ms(), backlog, samples))


def stats_view(now_ms: int, backlog: list[Backlog], samples: list[Sample]) -> Stats:
    parts = [
        PartitionStats(
            b.partition, b.lag, b.pending, b.delayed, b.dead_lettered, b.oldest_pending_s
        )
        for b in backlog
    ]
    newest = heapq.merge(*(s.failures for s in samples), key=lambda e: -e.time_ms)
    return Stats(
        time=now_ms,
        ready=sum(p.ready for p in parts),
        in_flight=sum(p.in_flight for p in parts),
        delayed=sum(p.delayed for p in parts),
        dlq=sum(p.dlq for p in parts),
        oldest_in_flight_seconds=max((p.oldest_in_flight_seconds for p in parts), default=0),
        rates=rates_of(samples),
        partitions=parts,
        recent_failures=[event_view(e) for e in islice(newest, RECENT_FAILURES)],
    )


def rates_of(samples: list[Sample]) -> Rates:
    """Each partition's counts over the time its own sample covers, summed."""

    def rate(state: State) -> float:
        return round(sum(s.counts[state] * 1000 / s.covered_ms for s in samples), 3)

    covered = min((s.covered_ms for s in samples), default=WINDOW_MS)
    return Rates(
        window_seconds=covered / 1000,
        published=rate(State.CREATED),
        delivered=rate(State.DELIVERED),
        failed_attempts=rate(State.ERROR),
        dead_lettered=rate(State.FAILED),
    )


def add_routes(app: web.Application) -> None:
    app.router.add_get("/v2/stats", get_stats)
