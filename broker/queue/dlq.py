"""The dead-letter queue: one stream per partition whose entry id is the public dlqId, and
the message hash kept (with a TTL) for as long as the entry may be listed."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import msgspec
from redis.asyncio import Redis

from broker.queue.keys import PartitionKeys, new_message_id
from broker.queue.model import Envelope
from broker.queue.producer import Draft
from broker.queue.scripts import Scripts
from broker.queue.store import StoredMessage, load_message


@dataclass(frozen=True, slots=True)
class DlqEntry:
    """Where a dead-lettered message is."""

    partition: PartitionKeys
    dlq_id: str
    message_id: str


def is_dlq_id(value: str) -> bool:
    ms, _, seq = value.partition("-")
    return ms.isdigit() and seq.isdigit()


async def find_entries(
    redis: Redis, partitions: Sequence[PartitionKeys], dlq_ids: Sequence[str]
) -> list[DlqEntry]:
    """The entries that exist among `dlq_ids` (any partition), in the order asked."""
    wanted = [d for d in dict.fromkeys(dlq_ids) if is_dlq_id(d)]
    async with redis.pipeline(transaction=False) as pipe:
        for dlq_id in wanted:
            for partition in partitions:
                pipe.xrange(partition.dlq, min=dlq_id, max=dlq_id)
        replies = await pipe.execute()
    found = []
    for index, dlq_id in enumerate(wanted):
        for offset, partition in enumerate(partitions):
            reply = replies[index * len(partitions) + offset]
            if reply:
                found.append(DlqEntry(partition, dlq_id, reply[0][1][b"id"].decode()))
    return found


async def load_entry(redis: Redis, entry: DlqEntry) -> StoredMessage | None:
    """The dead-lettered message, or None if it expired."""
    return await load_message(redis, entry.message_id)


async def delete_entry(redis: Redis, entry: DlqEntry) -> bool:
    """Remove the entry and its message; False when it was already gone."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.xdel(entry.partition.dlq, entry.dlq_id)
        pipe.delete(entry.partition.message(entry.message_id))
        removed, _ = await pipe.execute()
    return bool(removed)


async def retry_entry(
    scripts: Scripts, entry: DlqEntry, message: StoredMessage, overrides: dict[str, object]
) -> str | None:
    """Publish the message again under a new id and drop the entry; None when already gone."""
    now = int(time.time() * 1000)
    new_id = new_message_id(0, entry.partition.partition)
    delay = int(overrides.pop("delay_ms", 0))  # type: ignore[call-overload]
    envelope: Envelope = msgspec.structs.replace(
        message.envelope, id=new_id, created_at=now, not_before=now + delay, **overrides
    )
    draft = Draft(envelope, message.body, delay_ms=delay)
    keys = [entry.partition.message(entry.message_id), draft.key]
    done = await scripts.run(
        "dlq_retry", entry.partition, keys, [entry.dlq_id, *draft.script_args()]
    )
    return new_id if done else None
