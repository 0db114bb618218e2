"""What Redis holds, for tests that prove a refused request wrote nothing."""

from __future__ import annotations

from redis.asyncio import Redis

from broker.queue.keys import PROMOTE_SWEEP
from tests.support.api import api
from tests.support.hookstream import Hookstream

# Written by a worker's background loop whenever its lease runs out, not by any request.
BACKGROUND_KEYS = {PROMOTE_SWEEP.encode()}


async def redis_snapshot(redis: Redis) -> dict[bytes, object]:
    """Every key with its type and size: enough to see that nothing was written."""
    snapshot: dict[bytes, object] = {}
    async for key in redis.scan_iter():
        if key in BACKGROUND_KEYS:
            continue
        kind = await redis.type(key)
        size = await redis.xlen(key) if kind == b"stream" else await redis.memory_usage(key)
        snapshot[key] = (kind, size)
    return snapshot


async def refused_unchanged(server: Hookstream, method: str, path: str, **kwargs: object) -> str:
    """Make one call that must be a 400 and leave Redis as it was; return its error."""
    before = await redis_snapshot(server.conn.redis)
    status, body = await api(server, method, path, **kwargs)
    assert status == 400, body
    assert await redis_snapshot(server.conn.redis) == before
    return str(body["error"])
