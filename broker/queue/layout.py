"""The partition layout a Redis holds, recorded on first start and checked by every role.

A message lives in one of P partitions, and a queue or flow-control key in the partition its
name hashes to, modulo P. A role started with another P would read other streams and look for
gates in other partitions: messages would be stranded, silently. So the first role to start
records P and the tag scheme in `{hs:global}:layout`, and every role compares its own settings
with the record before touching anything else (docs/scaling.md: how to change P).

Data written before this record existed (the `{hs:<p>}` tags) is refused with instructions
rather than migrated: its tags differ, and its P was never written down.
"""

from __future__ import annotations

import asyncio
from typing import cast

from broker.errors import ConfigError
from broker.queue.connection import Connection
from broker.queue.keys import LAYOUT, PartitionKeys

TAG_SCHEME = "slot-range-1"
"""`{hs:<p>.<salt>}`, the salt putting partition p in slot range p of P (keys.py)."""
_LEGACY_PROBE = 64
"""How many partitions of the first layout to look for: its default was 4."""


async def ensure_layout(conn: Connection) -> None:
    """Record this role's layout if none is, else refuse to run on a different one."""
    recorded = await _read(conn)
    if not recorded and await _has_legacy_data(conn):
        raise ConfigError(
            "this Redis holds hookstream data from before partition layouts were recorded "
            "({hs:N} keys). Drain it with the previous release (stop ingress and scheduler, "
            "let the workers empty every {hs:N}:ready, :delayed and queue), then start this "
            "one; or start on an empty Redis (docs/scaling.md)"
        )
    wanted = {"partitions": str(conn.settings.partitions), "tags": TAG_SCHEME}
    missing = {field: value for field, value in wanted.items() if field not in recorded}
    if missing:
        # HSETNX per field: of two roles starting at once with different settings, one wins
        # each field and the other finds the record below and refuses. A record another role
        # is still writing (one field so far) is completed, not mistaken for a mismatch.
        for field, value in missing.items():
            await conn.redis.hsetnx(LAYOUT, field, value)
        recorded = await _read(conn)
    if recorded != wanted:
        raise ConfigError(
            f"this Redis holds {recorded.get('partitions')} partitions (tags "
            f"{recorded.get('tags')}), but HOOKSTREAM_PARTITIONS is "
            f"{conn.settings.partitions}: start every role with the recorded value. Changing "
            "the partition count takes a drain-and-switch (docs/scaling.md)"
        )


async def _read(conn: Connection) -> dict[str, str]:
    reply = cast(dict[bytes, bytes], await conn.redis.hgetall(LAYOUT))
    return {k.decode(): v.decode() for k, v in reply.items()}


async def _has_legacy_data(conn: Connection) -> bool:
    streams = [PartitionKeys(p).ready for p in range(_LEGACY_PROBE)]
    found = await asyncio.gather(*(conn.redis.exists(key) for key in streams))
    return any(found)
