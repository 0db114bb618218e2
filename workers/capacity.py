"""A worker's delivery slots (HOOKSTREAM_WORKER_CONCURRENCY), shared by its partitions'
readers with a fair cap, and taken several at a time (asyncio.Semaphore cannot), so one
XREADGROUP asks for exactly as many entries as fit.

The cap follows demand: each busy partition (holding slots, or waiting for one) may hold
ceil(size / busy) slots. A hot partition alone gets all of them; when others get busy too,
it takes no new slot until it is under their common share, and the freed slots go to them.
So 64 slots over 48 partitions allow 64 deliveries in flight, not 48 x ceil(64/48) = 96.

A reader may ask to wait for several free slots (`least`, never more than its share) before
it takes any: a busy worker then reads a batch per round trip instead of the one or two
slots that the last answers freed.
"""

from __future__ import annotations

import asyncio


class Capacity:
    """`free` slots out of `size`, held per partition."""

    def __init__(self, size: int, partitions: int) -> None:
        self.size = size
        self.free = size
        self.held = [0] * partitions
        self._busy: set[int] = set()
        # Kept as partitions turn busy or idle, not worked out on every call: a delivery
        # asked for it ~5 times (docs/performance-log.md, 2026-12-04).
        self._share = size
        self._waiting: dict[int, tuple[asyncio.Event, int]] = {}  # event, least

    def share(self) -> int:
        """The most slots one busy partition may hold now."""
        return self._share

    def _set_busy(self, partition: int, busy: bool) -> None:
        if busy:
            self._busy.add(partition)
        else:
            self._busy.discard(partition)
        self._share = max(1, -(-self.size // max(1, len(self._busy))))

    def _room(self, partition: int) -> int:
        return min(self.free, self._share - self.held[partition])

    def _ready(self, partition: int, least: int) -> bool:
        """Room for `least` slots, or for the whole share when that is smaller."""
        return self._room(partition) >= max(1, min(least, self._share))

    async def take(self, partition: int, limit: int, least: int = 1) -> int:
        """Wait until `partition` may take `least` slots (at most its share), then take as
        many as it may, up to `limit`."""
        if partition not in self._busy:
            self._set_busy(partition, True)
        while not self._ready(partition, least):
            waiting = self._waiting[partition] = (asyncio.Event(), least)
            try:
                await waiting[0].wait()
            finally:
                self._waiting.pop(partition, None)
        taken = min(self._room(partition), limit)
        self.held[partition] += taken
        self.free -= taken
        return taken

    def give_back(self, partition: int, count: int = 1) -> None:
        self.held[partition] -= count
        self.free += count
        if self.held[partition] == 0 and partition not in self._waiting:
            self._set_busy(partition, False)
        for other, (waiting, least) in self._waiting.items():
            if self._ready(other, least):
                waiting.set()
