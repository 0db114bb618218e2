"""Reading message records back (for the API and for callbacks)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from broker.queue.connection import Client, scan_keys
from broker.queue.keys import PartitionKeys, keys_for
from broker.queue.model import Envelope, Response, State, decode_envelope, decode_response


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """A message as Redis holds it right now. A delivered one is kept for a while without
    its body (`body` None, settle_delivered.lua)."""

    envelope: Envelope
    body: bytes | None
    state: str
    attempts: int
    last_response: Response | None
    dlq_id: str | None


_FIELDS = ("m", "b", "state", "attempts", "last", "dlq")


async def load_message(redis: Client, message_id: str) -> StoredMessage | None:
    """The message with this id, or None when unknown or expired (a delivered one is kept
    for HOOKSTREAM_DELIVERED_RETENTION)."""
    try:
        key = keys_for(message_id).message(message_id)
    except ValueError:
        return None
    return _stored(await redis.hmget(key, *_FIELDS))


async def load_messages(redis: Client, message_ids: Sequence[str]) -> list[StoredMessage | None]:
    """The messages with these ids (ids we issued), None for each unknown or expired one,
    in one round trip."""
    async with redis.pipeline(transaction=False) as pipe:
        for message_id in message_ids:
            pipe.hmget(keys_for(message_id).message(message_id), *_FIELDS)
        replies: list[Any] = await pipe.execute()
    return [_stored(fields) for fields in replies]


async def scan_messages(
    redis: Client, partitions: Sequence[PartitionKeys]
) -> AsyncIterator[StoredMessage]:
    """Every stored message not yet delivered (waiting, in flight or dead-lettered), in no
    particular order: the delivered ones kept for reading are no work for a bulk action."""
    for partition in partitions:
        async for key in scan_keys(redis, partition.message_pattern, near=partition.tag):
            message = _stored(await redis.hmget(key, *_FIELDS))
            if message is not None and message.state != State.DELIVERED:
                yield message


def _stored(fields: list[Any]) -> StoredMessage | None:
    if fields[0] is None:
        return None
    return StoredMessage(
        envelope=decode_envelope(fields[0]),
        body=fields[1],
        state=fields[2].decode(),
        attempts=int(fields[3] or 0),
        last_response=decode_response(fields[4]) if fields[4] else None,
        dlq_id=fields[5].decode() if fields[5] else None,
    )
