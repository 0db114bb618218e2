"""The Redis connection every role shares, with the scripts registered on it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import hiredis
import redis.asyncio
from redis.asyncio import BlockingConnectionPool, Redis
from redis.exceptions import ResponseError
from redis.typing import EncodableT, StreamRangeResponse

from broker.queue.keys import GROUP, PartitionKeys
from broker.queue.scripts import Scripts
from broker.settings import Settings

# redis-py types replies loosely (`bytes | str`, optional entries) to cover every client
# option; ours never set decode_responses, so replies are bytes. These casts say so once.
StreamEntries = list[tuple[bytes, dict[bytes, bytes]]]


def stream_entries(reply: StreamRangeResponse | None) -> StreamEntries:
    """An XRANGE / XREVRANGE reply: (entry id, fields) pairs."""
    return cast(StreamEntries, reply)


def members(reply: set[bytes | str]) -> set[bytes]:
    """An SMEMBERS reply."""
    return cast(set[bytes], reply)


class _HiredisPackingConnection(redis.asyncio.Connection):
    """Packs commands with hiredis' C encoder instead of redis-py's pure-Python one, which
    cost ~10% of worker and ingress CPU (docs/performance-log.md, the hiredis packing entry).
    Same bytes."""

    def pack_command(self, *args: EncodableT) -> list[bytes]:
        head = args[0]
        # Like redis-py: a command name with a space ("SCRIPT LOAD") is several arguments.
        if isinstance(head, str):
            args = (*head.encode().split(), *args[1:])
        elif isinstance(head, bytes) and b" " in head:
            args = (*head.split(), *args[1:])
        encoded = tuple(bytes(a) if isinstance(a, bytearray | memoryview) else a for a in args)
        # hiredis' stub types the argument as a 1-tuple; any length is accepted at run time.
        return [hiredis.pack_command(cast(Any, encoded))]


def _pool(url: str, max_connections: int) -> BlockingConnectionPool:
    """One bounded pool shared by all tasks. A blocking pool makes a burst of requests wait
    for a free connection instead of failing with "Too many connections"."""
    pool = BlockingConnectionPool.from_url(url, max_connections=max_connections, timeout=30)
    if pool.connection_class is redis.asyncio.Connection:  # plain TCP (not TLS or a socket)
        pool.connection_class = _HiredisPackingConnection
    return pool


@dataclass(frozen=True)
class Connection:
    """A Redis client plus the loaded scripts and the partitions they serve."""

    redis: Redis
    scripts: Scripts
    settings: Settings

    @classmethod
    def open(cls, settings: Settings, url: str) -> Connection:
        pool = _pool(url, settings.worker_concurrency + 64)
        redis = Redis.from_pool(pool)  # the client owns the pool: aclose() disconnects it
        return cls(redis, Scripts(redis, settings.events_max), settings)

    @property
    def partitions(self) -> list[PartitionKeys]:
        return [PartitionKeys(p) for p in range(self.settings.partitions)]

    async def now_ms(self) -> int:
        """Redis TIME in ms: the one clock every role agrees on."""
        seconds, micros = await self.redis.time()
        return int(seconds) * 1000 + int(micros) // 1000

    async def ensure_groups(self) -> None:
        """Create each ready stream's consumer group; an existing group is fine.

        Looked up first: Redis refuses XGROUP CREATE while it is out of memory, even for a
        group that exists, and a role must start then (the ingress to answer 503, a worker
        to drain once memory frees) instead of exiting.
        """
        for partition in self.partitions:
            if await self._has_group(partition.ready):
                continue
            try:
                await self.redis.xgroup_create(partition.ready, GROUP, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    async def _has_group(self, stream: str) -> bool:
        try:
            groups = await self.redis.xinfo_groups(stream)
        except ResponseError:  # no such stream yet
            return False
        return any(group["name"] == GROUP.encode() for group in groups)

    async def close(self) -> None:
        await self.redis.aclose()
