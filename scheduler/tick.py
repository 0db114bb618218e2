"""Firing due ticks: claim each one (exclusive), then publish its messages (idempotent).

A tick is claimed with the exact drafts it will publish, so whichever replica finishes a claim
left behind publishes the same messages, with the same ids (keys.tick_message_id).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import structlog
from redis.exceptions import RedisError

from broker.cron import next_fire_ms, parse_cron
from broker.http.destination import is_url
from broker.metrics import PUBLISHED, SCHEDULE_FIRE_DELAY, SCHEDULE_FIRES
from broker.queue.keys import queue_partition, tick_message_id
from broker.queue.producer import Routing, build_draft
from broker.queue.schedules import Claim, Schedules, StoredSchedule
from broker.queue.topics import get_group

log = structlog.get_logger()
# Ticks fired at once. Each takes a few Redis round trips, so many schedules due in the same
# second are not served one after the other; the bound keeps within the connection pool.
FIRE_CONCURRENCY = 16


class Ticker:
    """Turns due ticks into messages on one connection."""

    def __init__(self, schedules: Schedules, partitions: int) -> None:
        self.schedules = schedules
        self.partitions = partitions

    async def fire_due(self, now_ms: int, limit: int) -> int:
        """Fire up to `limit` ticks due at `now_ms` (Redis TIME); returns how many were due."""
        due = await self.schedules.due(now_ms, limit)
        gate = asyncio.Semaphore(FIRE_CONCURRENCY)
        results = await asyncio.gather(
            *(self._fire_guarded(gate, schedule_id, tick, now_ms) for schedule_id, tick in due),
            return_exceptions=True,
        )
        # Redis errors end the round (the ticks stay due); they surface once all have settled.
        errors = [result for result in results if isinstance(result, BaseException)]
        if errors:
            raise errors[0]
        return len(due)

    async def _fire_guarded(
        self, gate: asyncio.Semaphore, schedule_id: str, tick_ms: int, now_ms: int
    ) -> None:
        async with gate:
            try:
                await self.fire(schedule_id, tick_ms, now_ms)
            except (RedisError, OSError):
                raise
            except Exception:
                # One broken schedule must not stop the others; it stays due and is retried.
                log.exception("schedule.fire_failed", schedule_id=schedule_id, tick=tick_ms)

    async def fire(self, schedule_id: str, tick_ms: int, now_ms: int) -> None:
        """Claim one due tick and publish it. After downtime the first missed tick is fired
        once and the schedule moves on to its next time after now: no burst of missed ticks."""
        stored = await self.schedules.load(schedule_id)
        if stored is None:
            return  # deleted since the due read
        next_ms = next_fire_ms(parse_cron(stored.spec.cron, allow_seconds=True), now_ms)
        outcome = await self.outcome(stored, tick_ms)
        claimed_at = await self.schedules.claim(schedule_id, tick_ms, next_ms, outcome)
        if not claimed_at:
            return  # another replica fired it, or the schedule changed meanwhile
        if isinstance(outcome, str):
            log.warning(
                "schedule.tick_failed", schedule_id=schedule_id, tick=tick_ms, error=outcome
            )
            return
        started = time.perf_counter()
        created = await self.schedules.publish(outcome)
        delay = (claimed_at - tick_ms) / 1000 + time.perf_counter() - started
        SCHEDULE_FIRES.inc()
        PUBLISHED.labels("schedule").inc(created)
        SCHEDULE_FIRE_DELAY.observe(delay)
        log.info(
            "schedule.fired", schedule_id=schedule_id, tick=tick_ms, delay_ms=round(delay * 1000)
        )

    async def outcome(self, stored: StoredSchedule, tick_ms: int) -> Claim | str:
        """The claim of this tick (one draft per target), or the error that stops it."""
        spec = stored.spec
        targets = await self._targets(spec.destination)
        if isinstance(targets, str):
            return targets
        # Queued messages must live in their queue's partition; the others follow the id.
        partition = queue_partition(spec.queue_name or spec.id, self.partitions)
        routing = Routing(
            caller_ip=spec.caller_ip,
            queue_name=spec.queue_name,
            schedule_id=spec.id,
            topic_name=None if is_url(spec.destination) else spec.destination,
        )
        drafts = tuple(
            build_draft(
                url,
                spec.options,
                stored.body,
                tick_message_id(partition, spec.id, tick_ms, index),
                replace(routing, endpoint_name=name),
            )
            for index, (url, name) in enumerate(targets)
        )
        return Claim(schedule_id=spec.id, tick_ms=tick_ms, drafts=drafts)

    async def _targets(self, destination: str) -> list[tuple[str, str | None]] | str:
        """(url, endpoint name) of a URL or of each endpoint of a URL group; for a group that
        does not exist (or is empty) at tick time, the error recorded on the schedule."""
        if is_url(destination):
            return [(destination, None)]
        group = await get_group(self.schedules.redis, destination)
        if group is None or not group.endpoints:
            return f"URL group {destination} not found"
        return [(endpoint.url, endpoint.name) for endpoint in group.endpoints]

    async def complete_claims(self) -> int:
        """Publish the claims a crashed or failing replica left behind; replaying a tick that
        was already published writes nothing. Returns how many claims were completed."""
        claims = await self.schedules.pending_claims()
        for claim in claims:
            created = await self.schedules.publish(claim)
            log.info(
                "schedule.claim_completed",
                schedule_id=claim.schedule_id,
                tick=claim.tick_ms,
                already_published=created == 0,
            )
        return len(claims)
