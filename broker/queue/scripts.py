"""The Lua scripts, loaded once with the shared prelude, behind one typed wrapper each.

Script files list their KEYS/ARGV at the top; lib.lua explains the common layout: the four
partition keys come first, then ARGV[1] = events MAXLEN and ARGV[2] = consumer group.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from typing import Any

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

from broker.queue.keys import GROUP, PartitionKeys

_NAMES = (
    "publish",
    "promote",
    "start",
    "settle_delivered",
    "settle_retry",
    "settle_failed",
    "extend",
    "cancel",
    "dlq_retry",
    "publish_once",
    "settle_cancelled",
    "queue_set",
    "schedule_publish",
)


def _source(name: str) -> str:
    folder = resources.files("broker.queue") / "scripts"
    return (folder / "lib.lua").read_text() + "\n" + (folder / f"{name}.lua").read_text()


class Scripts:
    """Registered scripts; `run` supplies the partition keys and common arguments."""

    def __init__(self, redis: Redis, events_max: int) -> None:
        self._events_max = events_max
        self._scripts: dict[str, AsyncScript] = {
            name: redis.register_script(_source(name)) for name in _NAMES
        }

    async def run(
        self,
        name: str,
        partition: PartitionKeys,
        keys: Sequence[str] = (),
        args: Sequence[Any] = (),
    ) -> Any:
        """Call script `name` on one partition (EVALSHA, falling back to EVAL once)."""
        base_keys = [partition.ready, partition.delayed, partition.events, partition.dlq]
        base_args = [self._events_max, GROUP]
        return await self._scripts[name](keys=[*base_keys, *keys], args=[*base_args, *args])
