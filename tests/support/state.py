"""What Redis holds, for tests that prove a refused request wrote nothing."""

from __future__ import annotations

from redis.asyncio import Redis


async def redis_snapshot(redis: Redis) -> dict[bytes, object]:
    """Every key with its type and size: enough to see that nothing was written."""
    snapshot: dict[bytes, object] = {}
    async for key in redis.scan_iter():
        kind = await redis.type(key)
        size = await redis.xlen(key) if kind == b"stream" else await redis.memory_usage(key)
        snapshot[key] = (kind, size)
    return snapshot
