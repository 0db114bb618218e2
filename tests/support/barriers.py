"""Barriers read from Redis, where the guarantees are made, so that no test waits on the clock.

An absence ("nothing more arrives") is asserted once Redis shows that nothing can arrive; a time
bound is asserted on times Redis recorded (event stream entry ids are Redis TIME in ms).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

from redis.exceptions import ResponseError

from broker.queue.connection import Client, StreamEntries
from broker.queue.keys import GROUP, SIGNING_KEYS_CHANNEL, PartitionKeys
from tests.support.api import api, eventually
from tests.support.hookstream import Hookstream

PENDING_SCAN = 100_000  # more pending entries than any test makes


async def events(hookstream: Hookstream, **filters: str) -> list[dict[str, Any]]:
    """Every event matching the /v2/events filters, oldest first (all pages)."""
    params = {"order": "earliestFirst", "count": "1000", **filters}
    found: list[dict[str, Any]] = []
    while True:
        _, body = await api(hookstream, "GET", "/v2/events", params=params)
        found += body["events"]
        if "cursor" not in body:
            return found
        params["cursor"] = body["cursor"]


async def live_entries(redis: Client, partition: PartitionKeys) -> StreamEntries:
    """The ready-stream entries that still hold work: unread (after the group's last-delivered
    id) or pending. Acked ones stay in the stream until ready_trim.lua drops them, so XLEN is
    no measure of what is left."""
    try:
        groups = await redis.xinfo_groups(partition.ready)
    except ResponseError:  # no stream yet
        groups = []
    last = next((g["last-delivered-id"] for g in groups if g["name"] == GROUP.encode()), None)
    if last is None:  # no group yet: nothing read, everything unread
        return cast(StreamEntries, await redis.xrange(partition.ready))
    pending = await redis.xpending_range(partition.ready, GROUP, "-", "+", PENDING_SCAN)
    held = {p["message_id"] for p in pending}
    read = await redis.xrange(partition.ready, max=last)
    unread = await redis.xrange(partition.ready, min=b"(" + last)
    return [entry for entry in read if entry[0] in held] + unread


async def nothing_due(hookstream: Hookstream, message_id: str) -> bool:
    """True when no delayed set and no ready stream holds the message: no worker can send it."""
    redis = hookstream.conn.redis
    for partition in hookstream.conn.partitions:
        if await redis.zscore(partition.delayed, message_id) is not None:
            return False
        entries = await live_entries(redis, partition)
        if any(fields.get(b"id") == message_id.encode() for _, fields in entries):
            return False
    return True


async def pending_entries(hookstream: Hookstream) -> int:
    """Ready-stream entries read by some worker and not settled yet, over all partitions."""
    redis = hookstream.conn.redis
    total = 0
    for partition in hookstream.conn.partitions:
        total += (await redis.xpending(partition.ready, GROUP))["pending"]
    return total


async def rotation_followers(hookstream: Hookstream) -> int:
    """How many connections listen for signing-key rotations (PUBSUB NUMSUB)."""
    ((_, count),) = await hookstream.conn.redis.pubsub_numsub(SIGNING_KEYS_CHANNEL)
    return int(count)


def log_lines(path: Path, event: str) -> list[dict[str, Any]]:
    """The JSON log lines of `event` a process wrote to `path` so far."""
    if not path.exists():
        return []
    found = []
    for line in path.read_text().splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            if record.get("event") == event:
                found.append(record)
    return found


async def wait_for_log(path: Path, event: str, timeout: float = 10.0, **fields: Any) -> dict:
    """The first `event` log line in `path` carrying `fields`, once the process has written it."""

    def matching() -> list[dict[str, Any]]:
        lines = log_lines(path, event)
        return [r for r in lines if all(r.get(k) == v for k, v in fields.items())]

    async def written() -> bool:
        return bool(matching())

    await eventually(written, timeout)
    return matching()[0]
