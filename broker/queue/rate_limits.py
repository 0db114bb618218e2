"""Per-token rate limits, counted in Redis so that every ingress replica shares them.

A fixed window per token: the first request of a window creates the counter with the
window's TTL, each request increments it, and the window ends when the key expires. INCR,
PEXPIRE NX and PTTL run in one MULTI, so concurrent requests on any replica count exactly
once and a counter never lives without its TTL.
"""

from __future__ import annotations

from dataclasses import dataclass

from broker.queue.connection import Connection
from broker.settings import RateLimit


@dataclass(frozen=True, slots=True)
class Window:
    """One token's use of its current window."""

    limit: int
    used: int
    resets_in_ms: int

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)

    @property
    def exceeded(self) -> bool:
        return self.used > self.limit


class Limiter:
    """Counts requests against `limit` on `conn`."""

    def __init__(self, conn: Connection, limit: RateLimit) -> None:
        self.conn = conn
        self.limit = limit

    async def take(self, key: str) -> Window:
        """Count one request on the counter `key` (keys.rate_limit) and return its window."""
        async with self.conn.redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.pexpire(key, self.limit.window_ms, nx=True)
            pipe.pttl(key)
            used, _, ttl_ms = await pipe.execute()
        return Window(self.limit.requests, int(used), max(0, int(ttl_ms)))
