"""One scheduler replica: hold the lease, fire due ticks, sleep until the next one.

Only the lease holder fires. It wakes at the earliest next fire time (from Redis, relative to
Redis TIME, so host clock skew does not matter) or after `poll_ms`, whichever is sooner.
Standby replicas try to take the lease every `poll_ms`; after a crash they take over within
`lease_ms + poll_ms`, after a clean shutdown within `poll_ms` (the lease is released).
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import structlog
from redis.exceptions import RedisError

from broker.lifecycle import pause
from broker.metrics import SCHEDULER_LAST_TICK
from broker.queue.connection import Connection
from broker.queue.schedules import Schedules
from scheduler.lease import Lease
from scheduler.settings import SchedulerSettings
from scheduler.tick import Ticker

log = structlog.get_logger()
BATCH = 100  # due schedules fired per round; a full round is followed by another at once
ERROR_BACKOFF_SECONDS = 1.0


class Scheduler:
    """One replica of the scheduler role."""

    def __init__(self, conn: Connection, settings: SchedulerSettings) -> None:
        self.schedules = Schedules(conn)
        self.settings = settings
        self.ticker = Ticker(self.schedules)
        self.lease = Lease(self.schedules, settings.lease_ms)
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        """Finish the current round, hand the lease over and return from run()."""
        self._stopping.set()

    async def run(self) -> None:
        log.info("scheduler.started", token=self.lease.token)
        while not self._stopping.is_set():
            # Set by standby replicas too: the alert wants "no replica is looping".
            SCHEDULER_LAST_TICK.set(time.time())
            await self._sleep(await self._round())
        with contextlib.suppress(RedisError, OSError):
            await self.lease.release()
        log.info("scheduler.stopped", token=self.lease.token)

    async def _round(self) -> float:
        """One round; returns the seconds to sleep before the next."""
        try:
            if not await self.lease.hold():
                return self.settings.poll_ms / 1000
            await self.ticker.complete_claims()
            now_ms = await self.schedules.now_ms()
            if await self.ticker.fire_due(now_ms, BATCH) == BATCH:
                return 0.0
            return await self._until_next_due()
        except (RedisError, OSError) as exc:
            log.warning("scheduler.redis_error", error=str(exc))
            return ERROR_BACKOFF_SECONDS
        except Exception:
            # A bug must not end the loop silently: the replica keeps trying, loudly.
            log.exception("scheduler.round_failed")
            return ERROR_BACKOFF_SECONDS

    async def _until_next_due(self) -> float:
        head = await self.schedules.next_due_ms()
        if head is None:
            return self.settings.poll_ms / 1000
        # +1 ms: waking a fraction early would only find the tick not yet due.
        wait_ms = head - await self.schedules.now_ms() + 1
        return min(max(wait_ms, 0), self.settings.poll_ms) / 1000

    async def _sleep(self, seconds: float) -> None:
        await pause(self._stopping, seconds)
