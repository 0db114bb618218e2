"""A counting limit on in-flight deliveries that a reader can take several slots from at once
(asyncio.Semaphore cannot), so one XREADGROUP asks for exactly as many entries as fit."""

from __future__ import annotations

import asyncio


class Capacity:
    """`free` slots out of `size`."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.free = size
        self._released = asyncio.Event()

    async def take_up_to(self, limit: int) -> int:
        """Wait until a slot is free, then take as many as are free, up to `limit`."""
        while self.free == 0:
            self._released.clear()
            await self._released.wait()
        taken = min(self.free, limit)
        self.free -= taken
        return taken

    def give_back(self, count: int = 1) -> None:
        self.free += count
        self._released.set()
