"""Storing new messages: drafts, and the scripts that write them (publish, publish_once, and
publish_batch for the requests of one batch in one partition).

The one write path for the ingress, schedules, callbacks and DLQ retries; broker/queue/
publishing.py decides what to write, this module how."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from broker.queue import scripts
from broker.queue.events import event_header
from broker.queue.keys import PartitionKeys, keys_for
from broker.queue.model import Envelope, PublishOptions, encode
from broker.queue.scripts import Arg, Scripts


@dataclass(frozen=True, slots=True)
class Draft:
    """A message ready to be stored.

    Its due time is `not_before_ms` when set, else Redis TIME + `delay_ms` (decided inside
    the script). A failure callback's body is `body` + DLQ id + `body_suffix`: its DLQ id only
    exists inside the script that dead-letters the source message.
    """

    envelope: Envelope
    body: bytes
    delay_ms: int = 0
    not_before_ms: int = 0
    body_suffix: bytes = b""
    # Read several times per publish (grouping, gates, the script's keys): parsed from the
    # message id once.
    partition: PartitionKeys = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "partition", keys_for(self.envelope.id))

    def script_args(self) -> list[bytes | str | int]:
        """The seven ARGV values create_message in lib.lua expects."""
        env = self.envelope
        return [
            env.id,
            encode(env),
            self.body,
            self.body_suffix,
            self.not_before_ms,
            self.delay_ms,
            event_header(env),
        ]

    @property
    def key(self) -> str:
        return self.partition.message(self.envelope.id)


@dataclass(frozen=True, slots=True, kw_only=True)
class Routing:
    """Where a draft came from: URL group, queue, schedule, caller."""

    caller_ip: str = ""
    topic_name: str | None = None
    endpoint_name: str | None = None
    queue_name: str | None = None
    schedule_id: str | None = None


def build_draft(
    url: str, options: PublishOptions, body: bytes, message_id: str, routing: Routing
) -> Draft:
    """The draft for one destination URL."""
    now = int(time.time() * 1000)
    not_before = options.not_before_ms or 0
    envelope = Envelope(
        id=message_id,
        url=url,
        method=options.method,
        headers=options.headers,
        retries=options.retries,
        retry_delay=options.retry_delay,
        timeout_ms=options.timeout_ms,
        created_at=now,
        not_before=not_before or now + options.delay_ms,
        caller_ip=routing.caller_ip,
        callback=options.callback,
        failure_callback=options.failure_callback,
        topic_name=routing.topic_name,
        endpoint_name=routing.endpoint_name,
        queue_name=routing.queue_name,
        schedule_id=routing.schedule_id,
        labels=options.labels,
        redact_body=options.redact_body,
        redact_headers=options.redact_headers,
        **_flow_control_fields(options),
    )
    return Draft(envelope, body, delay_ms=options.delay_ms, not_before_ms=not_before)


def _flow_control_fields(options: PublishOptions) -> dict[str, Any]:
    flow = options.flow_control
    if flow is None:
        return {}
    return {
        "flow_control_key": flow.key,
        "parallelism": flow.parallelism,
        "rate": flow.rate,
        "period": flow.period_s,
    }


async def publish(runner: Scripts, drafts: Sequence[Draft]) -> bool:
    """Store drafts; those sharing a partition are written in one atomic script call.

    Drafts of an ordered queue or a flow-control key (all in its partition) join its gate,
    which the same call creates on first use (and, for a flow-control key, gives the limits
    the drafts carry). Returns whether the gate still needs its index entry (queues.index_gate).
    """
    by_partition: dict[PartitionKeys, list[Draft]] = defaultdict(list)
    for draft in drafts:
        by_partition[draft.partition].append(draft)
    unindexed = False
    for partition, group in by_partition.items():
        keys, args = _gate(partition, group[0].envelope)
        unindexed |= bool(
            await runner.call(scripts.PUBLISH, partition, keys, args, *messages_tail(group))
        )
    return unindexed


def flow_limits(envelope: Envelope) -> tuple[str, str, str]:
    """The parallelism, rate and period (ms) a flow-controlled message asks of its key, as
    gate_set and the publish scripts take them (0: no limit)."""
    period_ms = (envelope.period or 1) * 1000
    return str(envelope.parallelism or 0), str(envelope.rate or 0), str(period_ms)


def _gate_kind(envelope: Envelope) -> str:
    """Which gate the publish scripts open for a message: 'queue', 'flow' or '' (none); a
    queue wins over a flow-control key (PartitionKeys.gate_keys)."""
    if envelope.queue_name:
        return "queue"
    return "flow" if envelope.flow_control_key else ""


def _gate(partition: PartitionKeys, envelope: Envelope) -> tuple[dict[str, str], dict[str, Arg]]:
    """The gate keys of a request's messages and the publish scripts' gate arguments."""
    kind = _gate_kind(envelope)
    parallelism, rate, period_ms = flow_limits(envelope) if kind == "flow" else ("", "", "")
    args: dict[str, Arg] = {
        "gate_kind": kind,
        "parallelism": parallelism,
        "rate": rate,
        "period_ms": period_ms,
    }
    return partition.gate(envelope.queue_name, envelope.flow_control_key), args


def messages_tail(drafts: Sequence[Draft]) -> tuple[list[str], list[bytes | str | int]]:
    """The drafts as a script's `messages...` tail: their keys, seven values each."""
    return [d.key for d in drafts], [value for d in drafts for value in d.script_args()]


async def publish_once(
    runner: Scripts,
    drafts: Sequence[Draft],
    dedup_key: str,
    answer: bytes,
    window_ms: int,
) -> tuple[bytes | None, bool]:
    """Store drafts unless `dedup_key` holds an earlier answer, which is returned instead,
    with whether the gate (opened as `publish` opens it, duplicate or not) needs indexing.

    Check and write happen in one script, so identical concurrent publishes store once.
    The drafts must share the dedup key's partition.
    """
    partition = drafts[0].partition
    keys, gate_args = _gate(partition, drafts[0].envelope)
    args: dict[str, Arg] = gate_args | {"window_ms": window_ms, "answer": answer}
    existing, unindexed = await runner.call(
        scripts.PUBLISH_ONCE, partition, keys | {"dedup": dedup_key}, args, *messages_tail(drafts)
    )
    return existing, bool(unindexed)


@dataclass(frozen=True, slots=True)
class Request:
    """One request's drafts for `publish_requests`; with `dedup_key`, stored at most once
    while that key lives (`window_ms`), a duplicate getting the earlier answer."""

    drafts: Sequence[Draft]
    dedup_key: str | None = None
    answer: bytes = b""
    window_ms: int = 0


async def publish_requests(
    runner: Scripts, partition: PartitionKeys, requests: Sequence[Request]
) -> tuple[list[bytes | None], list[bool]]:
    """Store the requests of one partition in one script call: all of them, or none when
    Redis refuses the call. Returns per request the earlier answer of a duplicate, or None,
    and per request whether its gate (opened as `publish` opens it) needs indexing."""
    keys: list[str] = []
    args: list[Arg] = []
    for request in requests:
        assert all(d.partition == partition and not d.body_suffix for d in request.drafts)
        gate, gate_args = _gate(partition, request.drafts[0].envelope)
        dedup = request.dedup_key or partition.dedup("-")  # never set: the window is 0
        message_keys, values = messages_tail(request.drafts)
        keys += [gate["gate"], gate["wait"], dedup, *message_keys]
        window = request.window_ms if request.dedup_key else 0
        args += [*gate_args.values(), window, request.answer, len(request.drafts), *values]
    replies, unindexed = await runner.call(scripts.PUBLISH_BATCH, partition, {}, {}, keys, args)
    return replies, [bool(flag) for flag in unindexed]
