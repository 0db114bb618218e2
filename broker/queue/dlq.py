"""The dead-letter queue: one stream per partition whose entry id is the public dlqId, and
the message hash kept (with a TTL) for as long as the entry may be listed."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import msgspec

from broker.queue import scripts
from broker.queue.connection import Client
from broker.queue.keys import PartitionKeys, dlq_id, new_message_id, parse_dlq_id
from broker.queue.model import Envelope
from broker.queue.producer import Draft, messages_tail
from broker.queue.scripts import Scripts
from broker.queue.store import StoredMessage, load_message


@dataclass(frozen=True, slots=True)
class DlqEntry:
    """Where a dead-lettered message is."""

    partition: PartitionKeys
    stream_id: str
    message_id: str

    @property
    def dlq_id(self) -> str:
        """The public id (stream id plus partition)."""
        return dlq_id(self.stream_id, self.partition.partition)


async def find_entries(
    redis: Client, partitions: Sequence[PartitionKeys], dlq_ids: Sequence[str]
) -> list[DlqEntry]:
    """The entries that exist among `dlq_ids`, in the order asked; unknown ids are skipped."""
    located: list[tuple[PartitionKeys, str]] = []
    for public_id in dict.fromkeys(dlq_ids):
        try:
            index, stream_id = parse_dlq_id(public_id)
        except ValueError:
            continue
        if index < len(partitions):
            located.append((partitions[index], stream_id))
    async with redis.pipeline(transaction=False) as pipe:
        for partition, stream_id in located:
            pipe.xrange(partition.dlq, min=stream_id, max=stream_id)
        replies = await pipe.execute()
    return [
        DlqEntry(partition, stream_id, reply[0][1][b"id"].decode())
        for (partition, stream_id), reply in zip(located, replies, strict=True)
        if reply
    ]


async def load_entry(redis: Client, entry: DlqEntry) -> StoredMessage | None:
    """The dead-lettered message, or None if it expired."""
    return await load_message(redis, entry.message_id)


async def delete_entry(redis: Client, entry: DlqEntry) -> bool:
    """Remove the entry and its message; False when it was already gone."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.xdel(entry.partition.dlq, entry.stream_id)
        pipe.delete(entry.partition.message(entry.message_id))
        removed, _ = await pipe.execute()
    return bool(removed)


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryOverrides:
    """Publish settings given on a retry request; None keeps the original one."""

    retries: int | None = None
    timeout_ms: int | None = None
    method: str | None = None
    retry_delay: str | None = None
    delay_ms: int = 0

    def apply(self, envelope: Envelope, new_id: str, now_ms: int) -> Envelope:
        """The retried message's envelope: a new id and times, the overrides applied."""
        changed = {
            name: value
            for name in ("retries", "timeout_ms", "method", "retry_delay")
            if (value := getattr(self, name)) is not None
        }
        return msgspec.structs.replace(
            envelope, id=new_id, created_at=now_ms, not_before=now_ms + self.delay_ms, **changed
        )


async def retry_entry(
    runner: Scripts, entry: DlqEntry, message: StoredMessage, overrides: RetryOverrides
) -> str | None:
    """Publish the message again under a new id and drop the entry; None when already gone."""
    new_id = new_message_id(entry.partition)
    envelope = overrides.apply(message.envelope, new_id, int(time.time() * 1000))
    draft = Draft(envelope, message.body or b"", delay_ms=overrides.delay_ms)
    keys = entry.partition.gate(envelope.queue_name, envelope.flow_control_key)
    keys["old_message"] = entry.partition.message(entry.message_id)
    args = {"stream_id": entry.stream_id}
    done = await runner.call(
        scripts.DLQ_RETRY, entry.partition, keys, args, *messages_tail([draft])
    )
    return new_id if done else None
