"""The scheduler lease: one active replica at a time, the others wait to take over.

The lease saves work, it does not make firing safe: two replicas that both believe they are
active still publish each tick once, because claims are exclusive (broker/queue/schedules.py).
"""

from __future__ import annotations

import structlog

from broker.lifecycle import process_name
from broker.queue.schedules import Schedules

log = structlog.get_logger()


class Lease:
    """This replica's claim to be the active scheduler."""

    def __init__(self, schedules: Schedules, ttl_ms: int) -> None:
        self._schedules = schedules
        self._ttl_ms = ttl_ms
        # Unique per process, and names the holder for operators reading the key.
        self.token = process_name()
        self.held = False

    async def hold(self) -> bool:
        """Take the lease if it is free, extend it if it is ours; True while we hold it."""
        held = await self._schedules.hold_lease(self.token, self._ttl_ms)
        if held != self.held:
            log.info(
                "scheduler.lease_acquired" if held else "scheduler.lease_lost", token=self.token
            )
        self.held = held
        return held

    async def release(self) -> None:
        """Hand over at once on a clean shutdown instead of waiting for the TTL."""
        if self.held:
            await self._schedules.release_lease(self.token)
            self.held = False
            log.info("scheduler.lease_released", token=self.token)
