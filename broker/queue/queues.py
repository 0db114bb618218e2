"""Ordered queues: FIFO delivery with at most `parallelism` messages admitted at once.

A queue lives in one partition (its name's hash) with all of its messages: a hash with the
settings and the admitted count, and a wait list. Admission happens inside the scripts that
store, settle and cancel messages (lib.lua `pump`/`release`), so the bound holds across all
workers and survives any of them dying.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import cast

from broker.errors import BadRequest
from broker.queue import scripts
from broker.queue.cancel import cancel_message
from broker.queue.connection import Connection, members
from broker.queue.keys import QUEUES_INDEX, PartitionKeys, queue_partition
from broker.queue.model import State
from broker.queue.scripts import Arg
from broker.queue.store import scan_messages

_DELETE_BATCH = 100  # waiting messages cancelled per script call


def check_parallelism(value: object, most: int) -> int:
    """A queue's parallelism: an integer from 1 to `most` (HOOKSTREAM_MAX_PARALLELISM)."""
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= most:
        raise BadRequest(
            f"parallelism must be an integer from 1 to {most} (HOOKSTREAM_MAX_PARALLELISM)"
        )
    return value


async def set_queue(
    conn: Connection,
    name: str,
    parallelism: int | None = None,
    paused: bool | None = None,
    create_only: bool = False,
) -> None:
    """Create or update a queue; with `create_only`, leave an existing one untouched."""
    partition = queue_partition(name, conn.settings.partitions)
    settings = GateSettings(
        parallelism="" if parallelism is None else str(parallelism),
        paused="" if paused is None else ("1" if paused else "0"),
        create_only=create_only,
    )
    await set_gate(conn, partition, partition.queue_keys(name), settings, (QUEUES_INDEX, name))


@dataclass(frozen=True, slots=True, kw_only=True)
class GateSettings:
    """What gate_set changes; an empty value keeps the current one."""

    parallelism: str = ""
    paused: str = ""
    rate: str = ""
    period_ms: str = ""
    create_only: bool = False
    from_message: bool = False


async def set_gate(
    conn: Connection,
    partition: PartitionKeys,
    gate_keys: list[str],
    settings: GateSettings,
    index: tuple[str, str],
) -> None:
    """Create or change a gate (queue or flow-control key) and admit what it now allows.

    `index` is (index set, name): the name is added there when the gate is new, the gate
    first. Only then: an enqueue or flow-controlled publish to an existing gate writes
    nothing to the index's slot, which on a cluster is one master for every queue."""
    gate, wait = gate_keys
    args: dict[str, Arg] = {
        "parallelism": settings.parallelism,
        "paused": settings.paused,
        "create_only": "1" if settings.create_only else "0",
        "rate": settings.rate,
        "period_ms": settings.period_ms,
        "from_message": "1" if settings.from_message else "0",
    }
    if await conn.scripts.call(scripts.GATE_SET, partition, {"gate": gate, "wait": wait}, args):
        await index_gate(conn, gate, index)


async def index_gate(conn: Connection, gate: str, index: tuple[str, str]) -> None:
    """Add a gate that a script reported unindexed to its index (another slot), then mark
    it indexed; one after the other, so a cut-short indexing is redone by the next caller."""
    await conn.redis.sadd(*index)
    await conn.redis.hset(gate, "indexed", "1")


async def read_gate(conn: Connection, gate_keys: list[str]) -> tuple[dict[bytes, bytes], int]:
    """A gate's (queue's or flow-control key's) hash and the length of its wait list."""
    gate, wait = gate_keys
    async with conn.redis.pipeline(transaction=False) as pipe:
        pipe.hgetall(gate)
        pipe.llen(wait)
        fields, waiting = await pipe.execute()
    return fields, waiting


@dataclass(frozen=True, slots=True)
class QueueInfo:
    """An ordered queue's settings, and its messages that wait or have been admitted."""

    name: str
    parallelism: int
    paused: bool
    created_at: int
    updated_at: int
    waiting: int
    admitted: int


async def get_queue(conn: Connection, name: str) -> QueueInfo | None:
    """The queue, or None."""
    partition = queue_partition(name, conn.settings.partitions)
    fields, waiting = await read_gate(conn, partition.queue_keys(name))
    if not fields:
        return None
    return QueueInfo(
        name=name,
        parallelism=int(fields[b"parallelism"]),
        paused=fields[b"paused"] == b"1",
        created_at=int(fields[b"createdAt"]),
        updated_at=int(fields[b"updatedAt"]),
        waiting=waiting,
        admitted=int(fields.get(b"active", 0)),
    )


async def list_queues(conn: Connection) -> list[QueueInfo]:
    names = sorted(n.decode() for n in members(await conn.redis.smembers(QUEUES_INDEX)))
    found = await asyncio.gather(*(get_queue(conn, name) for name in names))
    return [queue for queue in found if queue is not None]


async def delete_queue(conn: Connection, name: str) -> None:
    """Cancel the queue's undelivered messages, then remove it.

    Admitted messages (in the ready stream, in flight, retrying) are cancelled one by one
    (scan_messages skips delivered ones; the dead-lettered stay in the DLQ); the waiting ones
    are cancelled by gate_delete, which deletes the queue only once its wait list is empty, so
    a message enqueued during the deletion is never left in a deleted list.
    """
    partition = queue_partition(name, conn.settings.partitions)
    # First: the loop below deletes the gate, and an enqueue after that creates it anew,
    # which indexes it again.
    await conn.redis.srem(QUEUES_INDEX, name)
    async for message in scan_messages(conn.redis, [partition]):
        if message.envelope.queue_name == name and message.state != State.FAILED:
            await cancel_message(conn, message.envelope.id)
    gate, wait = partition.queue_keys(name)
    while True:
        waiting = cast(list[bytes], await conn.redis.lrange(wait, 0, _DELETE_BATCH - 1))
        ids = [i.decode() for i in waiting]
        keys = {"gate": gate, "wait": wait}
        tail_keys = [partition.message(i) for i in ids]
        if await conn.scripts.call(scripts.GATE_DELETE, partition, keys, {}, tail_keys, ids):
            return
