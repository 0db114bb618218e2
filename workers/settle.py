"""Outcome → one settle script call: ack plus the next state, atomically."""

from __future__ import annotations

from dataclasses import dataclass

from broker.metrics import DEAD_LETTERED, PUBLISHED, RETRIES
from broker.queue.connection import Connection
from broker.queue.events import event_extra
from broker.queue.keys import PartitionKeys, dlq_id
from broker.queue.model import Envelope, Response, encode
from workers.callbacks import attempt_callback, failure_callback
from workers.outcome import DeadLetter, Delivered, Outcome, RetryAt


@dataclass(frozen=True, slots=True)
class Attempt:
    """One message taken from a ready stream for one delivery attempt."""

    partition: PartitionKeys
    entry_id: str
    envelope: Envelope
    body: bytes
    attempts: int
    reclaims: int = 0


def _error_extra(response: Response) -> bytes:
    return event_extra(
        error=response.error or f"HTTP {response.status}",
        responseStatus=response.status,
        responseBody=response.body.decode("utf-8", "replace")[:1024],
    )


async def settle(conn: Connection, consumer: str, attempt: Attempt, outcome: Outcome) -> str:
    """Apply the outcome; returns what the script said ('ok', 'gone', 'stolen', a DLQ id...)."""
    env = attempt.envelope
    children = attempt_callback(env, attempt.body, attempt.attempts, outcome.response)
    args: list[bytes | str | int] = [consumer, attempt.entry_id, env.id]
    match outcome:
        case Delivered(response=response):
            script = "settle_delivered"
            args += [event_extra(responseStatus=response.status)]
        case RetryAt(response=response, due_ms=due, reason=reason):
            RETRIES.labels(reason).inc()
            script = "settle_retry"
            args += [due, encode(response), _error_extra(response)]
        case DeadLetter(response=response):
            DEAD_LETTERED.inc()
            children += failure_callback(env, attempt.body, attempt.attempts, response)
            script = "settle_failed"
            retention = conn.settings.dlq_retention_ms
            suffix = dlq_id("", attempt.partition.partition)
            args += [encode(response), _error_extra(response), retention, suffix]
    keys = [
        *attempt.partition.gate_keys(env.queue_name, env.flow_control_key),
        attempt.partition.message(env.id),
    ]
    keys += [d.key for d in children]
    args += [value for d in children for value in d.script_args()]
    result = await conn.scripts.run(script, attempt.partition, keys, args)
    if children:
        PUBLISHED.labels("callback").inc(len(children))
    return result.decode() if isinstance(result, bytes) else str(result)


async def settle_cancelled(conn: Connection, consumer: str, attempt: Attempt) -> None:
    """A queued message found cancelled on read: ack it and free its queue slot."""
    env = attempt.envelope
    keys = [
        *attempt.partition.gate_keys(env.queue_name, env.flow_control_key),
        attempt.partition.message(env.id),
    ]
    args = [consumer, attempt.entry_id, env.id]
    await conn.scripts.run("settle_cancelled", attempt.partition, keys, args)
