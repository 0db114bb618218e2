"""What happened lately: a bounded sample of each partition's newest events.

The console's overview shows publish and delivery rates and the latest failures. No counter
of those exists in Redis, and the events log is too long to count on every refresh, so each
partition gives at most `limit` of its newest events within a window. Rates are the counts
divided by the time the sample covers: the whole window when it holds fewer than `limit`
events, else the span from its oldest event to now. The cost of one reading is therefore
bounded whatever the traffic, and a busy partition is measured over a shorter, recent span.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from broker.queue.connection import Connection, StreamEntries, stream_entries
from broker.queue.events import StoredEvent, read_event
from broker.queue.model import State

FAILURE_STATES = frozenset({State.ERROR, State.FAILED})
"""A failed attempt (ERROR) and a message given up on (FAILED, now in the DLQ)."""


@dataclass(frozen=True, slots=True)
class Sample:
    """One partition's recent events."""

    partition: int
    covered_ms: int  # the time the sample spans, up to now
    counts: Counter[str]  # events per state
    failures: list[StoredEvent]  # ERROR and FAILED events, newest first


async def recent_activity(conn: Connection, window_ms: int, limit: int) -> list[Sample]:
    """Each partition's sample of at most `limit` events of the last `window_ms`."""
    now_ms = await conn.now_ms()
    samples = []
    for partition in conn.partitions:
        reply = await conn.redis.xrevrange(
            partition.events, max="+", min=str(now_ms - window_ms), count=limit
        )
        entries = stream_entries(reply)
        samples.append(_sample(partition.partition, entries, now_ms, window_ms, limit))
    return samples


def _sample(
    partition: int, entries: StreamEntries, now_ms: int, window_ms: int, limit: int
) -> Sample:
    """Count newest-first `entries` by state and keep their failures."""
    counts: Counter[str] = Counter()
    failures = []
    oldest_ms = now_ms - window_ms
    for stream_id, fields in entries:
        state = fields[b"s"].decode()
        counts[state] += 1
        oldest_ms = int(stream_id.split(b"-")[0])
        if state in FAILURE_STATES:
            failures.append(read_event(fields, oldest_ms))
    covered_ms = max(1, now_ms - oldest_ms) if len(entries) >= limit else window_ms
    return Sample(partition, covered_ms, counts, failures)
