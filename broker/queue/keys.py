"""Every Redis key name hookstream uses, and nothing else builds key names.

All keys of one partition share the hash tag `{hs:<p>}`, so each Lua script touches one hash
slot and the same code runs on a single Redis and on Redis Cluster. A message id carries its
partition (`msg_<p>_<ulid>`), so any role derives every key of a message from the id alone.
"""

from __future__ import annotations

import os
import random
import time
from dataclasses import dataclass

GROUP = "workers"
SIGNING_KEYS = "{hs:global}:signing-keys"

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


@dataclass(frozen=True, slots=True)
class PartitionKeys:
    """The keys of one partition."""

    partition: int

    @property
    def tag(self) -> str:
        return f"{{hs:{self.partition}}}"

    @property
    def ready(self) -> str:
        """Stream of message ids due now; consumer group GROUP."""
        return f"{self.tag}:ready"

    @property
    def delayed(self) -> str:
        """Sorted set: member = message id, score = due time in ms (delays and backoff)."""
        return f"{self.tag}:delayed"

    @property
    def dlq(self) -> str:
        """Stream of dead-lettered message ids; its entry id is the public dlqId."""
        return f"{self.tag}:dlq"

    @property
    def events(self) -> str:
        """Capped stream of state changes of this partition's messages."""
        return f"{self.tag}:events"

    def message(self, message_id: str) -> str:
        """Hash holding one message: envelope `m` plus mutable fields."""
        return f"{self.tag}:msg:{message_id}"

    @property
    def message_pattern(self) -> str:
        """SCAN pattern of every message hash of this partition."""
        return f"{self.tag}:msg:*"


def ulid() -> str:
    """A 26-character, time-ordered, random id (ULID layout, Crockford base32)."""
    value = (int(time.time() * 1000) << 80) | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(26):
        value, index = divmod(value, 32)
        chars.append(_CROCKFORD[index])
    return "".join(reversed(chars))


def new_message_id(partitions: int, partition: int | None = None) -> str:
    """A fresh message id in the given (or a random) partition."""
    if partition is None:
        partition = random.randrange(partitions)
    return f"msg_{partition}_{ulid()}"


def partition_of(message_id: str) -> int:
    """The partition a message id belongs to; ValueError for ids we never issued."""
    prefix, partition, rest = [*message_id.split("_", 2), "", ""][:3]
    if prefix != "msg" or not partition.isdigit() or not rest:
        raise ValueError(f"not a message id: {message_id!r}")
    return int(partition)


def keys_for(message_id: str) -> PartitionKeys:
    """The partition keys of a message."""
    return PartitionKeys(partition_of(message_id))


def dlq_id(stream_id: str, partition: int) -> str:
    """The public dlqId: the DLQ stream entry id plus its partition (`1725323658779-0-2`).

    Stream ids alone collide across partitions, so the partition is part of the id.
    """
    return f"{stream_id}-{partition}"


def parse_dlq_id(public_id: str) -> tuple[int, str]:
    """(partition, stream id) of a dlqId; ValueError for ids we never issued."""
    ms, seq, partition = [*public_id.split("-"), "", "", ""][:3]
    if not (ms.isdigit() and seq.isdigit() and partition.isdigit()) or public_id.count("-") != 2:
        raise ValueError(f"not a dlq id: {public_id!r}")
    return int(partition), f"{ms}-{seq}"
