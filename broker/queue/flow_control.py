"""Flow control: messages sharing `Upstash-Flow-Control-Key` share its limits.

A key is a gate like an ordered queue's (lib.lua `pump`/`release`) living in the partition
its name hashes to, with its messages: `parallelism` bounds the admitted messages (0 = no
limit) and `rate` per `period` bounds admissions in any sliding window. Each published
message brings its settings, which win unless the key is pinned through the API.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from redis.typing import EncodableT, FieldT

from broker.queue.connection import Connection, members
from broker.queue.keys import FLOW_CONTROL_INDEX, queue_partition
from broker.queue.model import Envelope
from broker.queue.producer import flow_limits
from broker.queue.queues import GateSettings, read_gate, set_gate


def _keys(conn: Connection, key: str) -> tuple[Any, list[str]]:
    partition = queue_partition(key, conn.settings.partitions)
    return partition, partition.flow_keys(key)


async def _set(conn: Connection, key: str, settings: GateSettings) -> None:
    partition, keys = _keys(conn, key)
    await set_gate(conn, partition, keys, settings, (FLOW_CONTROL_INDEX, key))


async def apply_message_settings(
    conn: Connection, envelope: Envelope, create_only: bool = False
) -> None:
    """Create the key on first use and take the settings the message carries (with
    `create_only`, only create a missing key: a delayed message entering its gate).

    The gate first, then its index entry (set_gate, only for a new gate):
    housekeeping.expire_idle_flow_keys deletes an idle gate, then its entry, then looks
    again, so whichever way the two interleave, a gate that exists keeps its entry.
    """
    if not envelope.flow_control_key:
        return
    parallelism, rate, period_ms = flow_limits(envelope)
    settings = GateSettings(
        parallelism=parallelism,
        rate=rate,
        period_ms=period_ms,
        create_only=create_only,
        from_message=True,
    )
    await _set(conn, envelope.flow_control_key, settings)


@dataclass(frozen=True, slots=True)
class FlowControlInfo:
    """A key's limits and how much of them is in use (times in ms)."""

    key: str
    waiting: int
    parallelism_max: int
    parallelism_count: int
    rate_max: int
    rate_count: int
    period_ms: int
    period_start_ms: int
    paused: bool
    pinned_parallelism: bool
    pinned_rate: bool


async def info(conn: Connection, key: str) -> FlowControlInfo | None:
    """The key's state, or None for an unknown key."""
    _, gate_keys = _keys(conn, key)
    fields, waiting = await read_gate(conn, gate_keys)
    if not fields:
        return None
    get = {k.decode(): v.decode() for k, v in fields.items()}
    period_ms = int(get.get("period", 1000))
    now = int(time.time() * 1000)
    times = [int(t) for t in get.get("times", "").split(",") if t]
    in_window = [t for t in times if now - period_ms < t <= now]
    return FlowControlInfo(
        key=key,
        waiting=waiting,
        parallelism_max=int(get.get("parallelism", 0)),
        parallelism_count=int(get.get("active", 0)),
        rate_max=int(get.get("rate", 0)),
        rate_count=len(in_window),
        period_ms=period_ms,
        period_start_ms=min(in_window) if in_window else now,
        paused=get.get("paused") == "1",
        pinned_parallelism=get.get("pinnedParallelism") == "1",
        pinned_rate=get.get("pinnedRate") == "1",
    )


async def list_keys(conn: Connection, search: str = "") -> list[FlowControlInfo]:
    names = sorted(n.decode() for n in members(await conn.redis.smembers(FLOW_CONTROL_INDEX)))
    found = await asyncio.gather(*(info(conn, name) for name in names if search in name))
    return [item for item in found if item is not None]


async def set_paused(conn: Connection, key: str, paused: bool) -> None:
    """While paused, messages wait; resuming admits what the limits allow."""
    await _set(conn, key, GateSettings(paused="1" if paused else "0"))


async def pin(
    conn: Connection, key: str, parallelism: int | None, rate: int | None, period: int | None
) -> None:
    """Fix the limits: messages' own settings are ignored until unpinned. Resets the rate."""
    _, (gate, _wait) = _keys(conn, key)
    pins: dict[FieldT, EncodableT] = {}
    if parallelism is not None:
        pins["pinnedParallelism"] = "1"
    if rate is not None or period is not None:
        pins["pinnedRate"] = "1"
    if pins:
        await conn.redis.hset(gate, mapping=pins | {"times": ""})
    settings = GateSettings(
        parallelism="" if parallelism is None else str(parallelism),
        rate="" if rate is None else str(rate),
        period_ms="" if period is None else str(period * 1000),
    )
    await _set(conn, key, settings)


async def unpin(conn: Connection, key: str, parallelism: bool, rate: bool) -> None:
    _, (gate, _wait) = _keys(conn, key)
    fields = [f for f, on in (("pinnedParallelism", parallelism), ("pinnedRate", rate)) if on]
    if fields:
        await conn.redis.hdel(gate, *fields)


async def reset_rate(conn: Connection, key: str) -> None:
    """Forget past admissions: a new rate period starts now."""
    _, (gate, _wait) = _keys(conn, key)
    await conn.redis.hset(gate, "times", "")
    await _set(conn, key, GateSettings())


async def global_parallelism(conn: Connection) -> int:
    """Messages admitted across every flow-control key (no global cap is configured)."""
    return sum(key.parallelism_count for key in await list_keys(conn))
