"""Firing due ticks: claim each one (exclusive), then publish its messages (idempotent).

A tick is claimed with the exact drafts it will publish, so whichever replica finishes a claim
left behind publishes the same messages, with the same ids (keys.tick_message_id).
"""

from __future__ import annotations

import asyncio
import time
from functools import partial

import redis.exceptions
import structlog

from broker.cron import next_fire_ms, parse_cron
from broker.errors import BadRequest, NotFound
from broker.metrics import SCHEDULE_FIRE_DELAY, SCHEDULE_FIRES
from broker.queue.keys import PartitionKeys, tick_message_id
from broker.queue.producer import Routing
from broker.queue.publishing import check_size, plan, resolve
from broker.queue.schedules import Claim, Schedules, StoredSchedule

log = structlog.get_logger()
# Ticks fired at once. Each takes a few Redis round trips, so many schedules due in the same
# second are not served one after the other; the bound keeps within the connection pool.
FIRE_CONCURRENCY = 16
# A tick that fails for a reason of its own is skipped: the schedule moves to its next fire
# time (or this far ahead, when even that cannot be computed), with the error recorded.
FAILED_FIRE_BACKOFF_MS = 60_000
# A claim whose publish keeps failing is dropped after this many replays.
MAX_CLAIM_REPLAYS = 5
# Faults of Redis or the network: they end the round and the work stays due. Anything else
# (a Lua error, undecodable data, a bug) belongs to one schedule and must not stop the others.
TRANSIENT = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)


class Ticker:
    """Turns due ticks into messages on one connection."""

    def __init__(self, schedules: Schedules) -> None:
        self.schedules = schedules

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
            except TRANSIENT:
                raise
            except Exception as exc:
                log.exception("schedule.fire_failed", schedule_id=schedule_id, tick=tick_ms)
                await self._skip(schedule_id, tick_ms, now_ms, f"tick failed: {exc!r}"[:500])

    async def _skip(self, schedule_id: str, tick_ms: int, now_ms: int, error: str) -> None:
        """Record `error` on the schedule and move it past this tick, so a schedule that
        fails every time neither blocks the others nor is re-fired in a tight loop."""
        try:
            stored = await self.schedules.load(schedule_id)
            cron = parse_cron(stored.spec.cron, allow_seconds=True) if stored else None
            next_ms = next_fire_ms(cron, now_ms) if cron else now_ms + FAILED_FIRE_BACKOFF_MS
        except TRANSIENT:
            raise
        except Exception:  # the stored definition itself is unreadable
            next_ms = now_ms + FAILED_FIRE_BACKOFF_MS
        await self.schedules.claim(schedule_id, tick_ms, next_ms, error)

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
        SCHEDULE_FIRE_DELAY.observe(delay)
        log.info(
            "schedule.fired",
            schedule_id=schedule_id,
            tick=tick_ms,
            delay_ms=round(delay * 1000),
            messages=created,
        )

    async def outcome(self, stored: StoredSchedule, tick_ms: int) -> Claim | str:
        """The claim of this tick (the publish pipeline's plan, with ids derived from the
        schedule and the tick), or the error that stops it: a URL group that does not exist
        (or is empty, or too large to publish) at tick time is recorded on the schedule."""
        spec, conn = stored.spec, self.schedules.conn
        try:
            targets = await resolve(conn, spec.destination)
            check_size(conn.settings, [(targets, stored.body)])
        except (NotFound, BadRequest) as exc:  # no such group, the policy refuses it now,
            return str(exc)  # or the group has grown past what one publish may store
        routing = Routing(caller_ip=spec.caller_ip, queue_name=spec.queue_name, schedule_id=spec.id)
        ids = partial(_tick_id, spec.id, tick_ms)
        planned = plan(conn, spec.destination, targets, spec.options, stored.body, routing, ids)
        return Claim(
            schedule_id=spec.id, tick_ms=tick_ms, drafts=planned.drafts, fan_out=planned.fan_out
        )

    async def complete_claims(self) -> int:
        """Publish the claims a crashed or failing replica left behind; replaying a tick that
        was already published writes nothing. Returns how many claims were completed."""
        claims = await self.schedules.pending_claims()
        for claim in claims:
            try:
                created = await self.schedules.publish(claim)
            except TRANSIENT:
                raise
            except Exception as exc:  # this claim only: the others and the due ticks go on
                await self._claim_failed(claim, exc)
                continue
            log.info(
                "schedule.claim_completed",
                schedule_id=claim.schedule_id,
                tick=claim.tick_ms,
                already_published=created == 0,
            )
        return len(claims)

    async def _claim_failed(self, claim: Claim, exc: Exception) -> None:
        error = f"tick {claim.tick_ms} could not be published: {exc!r}"[:500]
        dropped = await self.schedules.claim_failed(claim, error, MAX_CLAIM_REPLAYS)
        log.warning(
            "schedule.claim_failed",
            schedule_id=claim.schedule_id,
            tick=claim.tick_ms,
            error=error,
            dropped=dropped,
        )


def _tick_id(schedule_id: str, tick_ms: int, partition: PartitionKeys, index: int) -> str:
    return tick_message_id(partition, schedule_id, tick_ms, index)
