"""Redis → worker: the consumer half of the data model.

A worker reads entries from a partition's ready stream (or reclaims those a dead worker left
pending), starts them (one script counts the attempts and loads the messages), delivers, and
settles each attempt with one script that acks the entry and writes the next state. Promote
moves due messages from the delayed set to the ready stream; extend keeps long deliveries
from being reclaimed. Every step is a method here, so the worker never sees a key, a stream
command or a script argument.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from types import TracebackType
from typing import Any, cast

from redis.asyncio import Redis
from redis.asyncio.client import PubSub

from broker.queue import scripts
from broker.queue.connection import Client, Connection, StreamEntries
from broker.queue.events import event_extra
from broker.queue.flow_control import apply_message_settings
from broker.queue.keys import DELAYED_HEAD_CHANNEL, GROUP, PROMOTE_SWEEP, PartitionKeys, dlq_id
from broker.queue.model import FAILURE_CALL, Envelope, Response, decode_envelope, encode
from broker.queue.producer import Draft, messages_tail

Entry = tuple[str, str]
"""A ready-stream entry: (entry id, message id)."""

TRIM_SPAN_MS = 10_000
"""ready_trim.lua: how far (in entry-id time) the last read entry may run ahead of the oldest
pending one before the acked entries between them are deleted one by one."""
TRIM_SCAN = 1_000
"""ready_trim.lua: at most this many of those entries looked at per call."""


@dataclass(frozen=True, slots=True)
class Attempt:
    """One message taken from a ready stream for one delivery attempt (already counted)."""

    partition: PartitionKeys
    entry_id: str
    envelope: Envelope
    body: bytes
    attempts: int
    reclaims: int = 0


@dataclass(frozen=True, slots=True)
class GateEntry:
    """A gated message read from a ready stream that is no delivery attempt."""

    partition: PartitionKeys
    entry_id: str
    envelope: Envelope


@dataclass(frozen=True, slots=True)
class CancelledInGate(GateEntry):
    """Found cancelled when read: settle_cancelled frees its gate slot."""


@dataclass(frozen=True, slots=True)
class DueForGate(GateEntry):
    """A delayed message of a gate that just came due: enter_gate queues it in its gate."""


Started = Attempt | CancelledInGate | DueForGate


class SettleResult(StrEnum):
    """What a settle script did. Only the first three mean the outcome was applied."""

    DELIVERED = "delivered"
    RETRYING = "retrying"
    DEAD_LETTERED = "dead_lettered"
    GONE = "gone"  # the message or its entry no longer exists (acked elsewhere, deleted)
    STOLEN = "stolen"  # another worker reclaimed the entry: its outcome counts, not ours
    CANCELLED = "cancelled"  # cancelled while in flight: it ends here instead


@dataclass(frozen=True, slots=True)
class Settled:
    """A settle's result, with the public DLQ id when the message was dead-lettered, and
    whether that dead letter ended its workflow run (RUN_FAILED)."""

    result: SettleResult
    dlq_id: str | None = None
    run_failed: bool = False


@functools.lru_cache(maxsize=128)
def _delivered_extra(status: int) -> bytes:
    """A DELIVERED event's own keys: the status, one of the hundred 2xx."""
    return event_extra(responseStatus=status)


def _error_extra(response: Response) -> bytes:
    """An ERROR event's own keys: the error, and what the destination answered."""
    return event_extra(
        error=response.error or f"HTTP {response.status}",
        responseStatus=response.status,
        responseHeader=response.headers,
        responseBody=response.body.decode("utf-8", "replace")[:1024],
    )


class Consumer:
    """One worker process's consumer in the group of every partition."""

    def __init__(self, conn: Connection, name: str) -> None:
        self.conn = conn
        self.name = name
        self._acked: set[PartitionKeys] = set()  # acked in since the last trim_acked

    async def trim_acked(self) -> int:
        """Drop the read and acked entries of the ready streams this consumer acked in since
        the last call (ready_trim.lua: never one unread or pending); how many went. A worker
        calls it about once a second; nothing acked, nothing sent."""
        partitions, self._acked = self._acked, set()
        args: dict[str, scripts.Arg] = {"span_ms": TRIM_SPAN_MS, "scan": TRIM_SCAN}
        try:
            dropped = await asyncio.gather(
                *(self.conn.scripts.call(scripts.READY_TRIM, p, {}, args) for p in partitions)
            )
        except Exception:
            self._acked |= partitions  # tried again next time
            raise
        return sum(dropped)

    def reader(self, partition: PartitionKeys) -> Reader:
        """A blocking reader of `partition` on a connection of its own (see Reader)."""
        return Reader(lambda: self.conn.dedicated(partition.ready), self.name, partition)

    async def unblock(self, readers: Sequence[Reader]) -> int:
        """End the blocked reads of `readers` now, as if their block had timed out; how
        many were blocked."""
        unblocked = 0
        for reader in readers:
            if reader.client_id is not None:
                node = self.conn.node_of(reader.stream)
                unblocked += bool(await node.execute_command("CLIENT UNBLOCK", reader.client_id))
        return unblocked

    async def reclaim(self, partition: PartitionKeys, count: int, idle_ms: int) -> list[Entry]:
        """Take over entries idle longer than `idle_ms` (their worker died)."""
        _, claimed, _ = await self.conn.redis.xautoclaim(
            partition.ready, GROUP, self.name, idle_ms, "0-0", count=count
        )
        # Entries whose payload was deleted come back empty; XAUTOCLAIM already dropped them.
        return [(eid.decode(), fields[b"id"].decode()) for eid, fields in claimed if fields]

    async def start(
        self, partition: PartitionKeys, entries: Sequence[Entry], reclaimed: bool
    ) -> list[Started | None]:
        """Count the attempts and load the messages in one script call. None for entries
        whose message is gone, final or cancelled (the script acked those)."""
        if not entries:
            return []
        self._acked.add(partition)  # the entries it skips
        records = await self.conn.scripts.call(
            scripts.START,
            partition,
            keys={},
            args={"reclaimed": "1" if reclaimed else "0"},
            tail_keys=[partition.message(message_id) for _, message_id in entries],
            tail_args=[value for entry in entries for value in entry],
        )
        return [
            _started(partition, entry_id, record)
            for (entry_id, _), record in zip(entries, records, strict=True)
        ]

    async def extend(self, partition: PartitionKeys, entry_ids: Sequence[str]) -> int:
        """Reset the idle time of entries this consumer still owns; how many it owned."""
        extended = await self.conn.scripts.call(
            scripts.EXTEND, partition, keys={}, args={"consumer": self.name}, tail_args=entry_ids
        )
        return int(extended)

    async def promote(self, partition: PartitionKeys, limit: int) -> tuple[int, int]:
        """Move up to `limit` due delayed messages to the ready stream: (moved, ms until the
        next one is due, or -1 when none is left)."""
        moved, next_due = await self.conn.scripts.call(
            scripts.PROMOTE, partition, keys={}, args={"limit": limit}
        )
        return int(moved), int(next_due)

    async def promote_all(self, partitions: Sequence[PartitionKeys], limit: int) -> int:
        """Promote every partition at once (one round trip: the script runner pipelines the
        calls of one turn); ms until the next promote is needed: 0 when a partition had more
        than `limit` due, -1 when no delayed message is left anywhere."""
        replies = await asyncio.gather(*(self.promote(p, limit) for p in partitions))
        if any(moved >= limit for moved, _ in replies):
            return 0
        return min((due for _, due in replies if due >= 0), default=-1)

    async def lease_sweep(self, ttl_ms: int) -> bool:
        """Whether this consumer runs the next safety sweep of the delayed sets (the first
        to ask within `ttl_ms` does)."""
        return bool(await self.conn.redis.set(PROMOTE_SWEEP, self.name, nx=True, px=ttl_ms))

    async def settle_delivered(
        self, attempt: Attempt, response: Response, callbacks: Sequence[Draft]
    ) -> Settled:
        """A 2xx: ack, DELIVERED, free the gate slot, store `callbacks`; the message stays
        readable (without its body) for the delivered retention, or is dropped when it is 0."""
        args: dict[str, scripts.Arg] = {
            "extra": _delivered_extra(response.status),
            "retention_ms": self.conn.settings.delivered_retention_ms,
        }
        return await self._settle(scripts.SETTLE_DELIVERED, attempt, args, callbacks)

    async def settle_retry(
        self, attempt: Attempt, due_ms: int, response: Response, callbacks: Sequence[Draft]
    ) -> Settled:
        """A failure with retries left: back to the delayed set, due at `due_ms`."""
        args: dict[str, scripts.Arg] = {
            "due": due_ms,
            "last_response": encode(response),
            "extra": _error_extra(response),
        }
        return await self._settle(scripts.SETTLE_RETRY, attempt, args, callbacks)

    async def settle_failed(
        self,
        attempt: Attempt,
        response: Response,
        callbacks: Sequence[Draft],
        run_failure: Sequence[Draft] | None = None,
    ) -> Settled:
        """No attempts left: into the DLQ (kept for the retention time) with its last
        response; `callbacks` may quote the DLQ id (Draft.body_suffix). A workflow step
        (`run_failure` given) fails its run in the same script, and `run_failure` (the
        run's failure callback) is created only if that ended the run (docs/workflow.md)."""
        settings = self.conn.settings
        args: dict[str, scripts.Arg] = {
            "last_response": encode(response),
            "extra": _error_extra(response),
            "retention_ms": settings.dlq_retention_ms,
            "dlq_suffix": dlq_id("", attempt.partition.partition),
            "own_callbacks": len(callbacks),
            "fails_run": "0" if run_failure is None else "1",
            # The run's tail may hold only invoke reports (no failure function).
            "failure_callback": int(_starts_with_failure_callback(run_failure)),
            "run_retention_ms": settings.workflow_retention_ms,
        }
        # Other messages name the keys of the empty run id, which are never created.
        run_id = attempt.envelope.workflow_run_id if run_failure is not None else None
        run = attempt.partition.workflow_run(run_id or "")
        tail = [*callbacks, *(run_failure or ())]
        return await self._settle(scripts.SETTLE_FAILED, attempt, args, tail, run)

    async def settle_cancelled(self, cancelled: CancelledInGate) -> None:
        """Ack a gated message found cancelled on read, and free its gate slot."""
        env = cancelled.envelope
        keys = _message_keys(cancelled.partition, env)
        args = {"consumer": self.name, "entry_id": cancelled.entry_id, "message_id": env.id}
        self._acked.add(cancelled.partition)
        await self.conn.scripts.call(scripts.SETTLE_CANCELLED, cancelled.partition, keys, args)

    async def enter_gate(self, due: DueForGate) -> None:
        """Ack a delayed gated message that came due and put it into its gate's wait list.

        Its flow-control key may have been deleted as idle during a long delay
        (housekeeping): it is created again from the message's settings, as a publish does,
        but never changed when it exists (a newer publish's settings stay).
        """
        env = due.envelope
        await apply_message_settings(self.conn, env, create_only=True)
        args = {"entry_id": due.entry_id, "message_id": env.id}
        keys = _message_keys(due.partition, env)
        self._acked.add(due.partition)
        await self.conn.scripts.call(scripts.GATE_ENTER, due.partition, keys, args)

    async def _settle(
        self,
        script: scripts.Script,
        attempt: Attempt,
        outcome_args: dict[str, scripts.Arg],
        callbacks: Sequence[Draft],
        more_keys: Mapping[str, str] | None = None,
    ) -> Settled:
        env = attempt.envelope
        keys = _message_keys(attempt.partition, env) | dict(more_keys or {})
        args: dict[str, scripts.Arg] = {
            "consumer": self.name,
            "entry_id": attempt.entry_id,
            "message_id": env.id,
        }
        self._acked.add(attempt.partition)
        reply = await self.conn.scripts.call(
            script,
            attempt.partition,
            keys,
            args | outcome_args,
            *messages_tail(callbacks),
        )
        if isinstance(reply, list):  # settle_failed.lua: {dlq id, 'RUN_FAILED'}
            return Settled(SettleResult.DEAD_LETTERED, dlq_id=reply[0].decode(), run_failed=True)
        return _settled(reply.decode() if isinstance(reply, bytes) else str(reply))


def _message_keys(partition: PartitionKeys, envelope: Envelope) -> dict[str, str]:
    """The keys a script of one gated message takes: its gate, wait list and hash."""
    keys = partition.gate(envelope.queue_name, envelope.flow_control_key)
    keys["message"] = partition.message(envelope.id)
    return keys


def _started(partition: PartitionKeys, entry_id: str, record: Any) -> Started | None:
    """One item of start.lua's reply: false, {envelope}, {envelope, 'gate'}, or {envelope,
    body, attempts, reclaims}."""
    if not record:
        return None
    envelope = decode_envelope(record[0])
    if len(record) == 1:
        return CancelledInGate(partition, entry_id, envelope)
    if len(record) == 2:
        return DueForGate(partition, entry_id, envelope)
    _, body, attempts, reclaims = record
    return Attempt(partition, entry_id, envelope, body or b"", int(attempts), int(reclaims))


_SETTLED = {result.value: Settled(result) for result in SettleResult}
"""The settle results without a DLQ id, one shared (frozen) value each: a busy worker
settles thousands a second."""


def _settled(reply: str) -> Settled:
    """A settle script's reply: a result name, or the public DLQ id of a dead letter."""
    return _SETTLED.get(reply) or Settled(SettleResult.DEAD_LETTERED, dlq_id=reply)


class Reader:
    """Reads of one partition's ready stream on a connection of its own.

    An idle partition's read blocks for seconds (one command per block is its whole idle
    cost); a stopping worker ends the block at once with CLIENT UNBLOCK on that connection's
    id (Consumer.unblock), instead of waiting it out or cancelling a command mid-flight.
    """

    def __init__(
        self, connect: Callable[[], Redis], consumer: str, partition: PartitionKeys
    ) -> None:
        self._connect = connect
        self._client: Redis | None = None
        self._consumer = consumer
        self.stream = partition.ready
        self.client_id: int | None = None

    async def read(self, count: int, block_ms: int) -> list[Entry]:
        """Entries newly delivered to this consumer (none when the block times out)."""
        if self._client is None:
            self._client = self._connect()
        try:
            if self.client_id is None:
                self.client_id = int(await self._client.client_id())
            reply = cast(
                list[tuple[bytes, StreamEntries]],
                await self._client.xreadgroup(
                    GROUP, self._consumer, {self.stream: ">"}, count=count, block=block_ms
                ),
            )
        except Exception:
            # A new connection (maybe to another node, once the slot moved) next time.
            self.client_id = None
            await self.close()
            raise
        # One stream asked: one [stream name, entries] pair, or none when the block times out.
        if not reply:
            return []
        return [(eid.decode(), fields[b"id"].decode()) for eid, fields in reply[0][1]]

    async def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()


class DelayedHeads:
    """Announcements of a new head of some delayed set (partition.lua `delay_until`), so an
    idle promoter can sleep until the earliest due time it knows of and still promote a
    message published meanwhile on time. One subscription per worker, whatever the
    partition count."""

    def __init__(self, redis: Client) -> None:
        self._pubsub: PubSub = redis.pubsub()

    async def __aenter__(self) -> DelayedHeads:
        await self._pubsub.subscribe(DELAYED_HEAD_CHANNEL)
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._pubsub.aclose()

    async def wait(self, seconds: float) -> int | None:
        """ms until the announced member is due, or None when nothing came within `seconds`."""
        message = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=seconds)
        if message is None:
            return None
        try:
            return max(0, int(message["data"]))
        except (TypeError, ValueError):  # not ours: wake at once, the sweep decides
            return 0


def _starts_with_failure_callback(run_failure: Sequence[Draft] | None) -> bool:
    first = run_failure[0] if run_failure else None
    return first is not None and first.envelope.workflow_call_type == FAILURE_CALL
