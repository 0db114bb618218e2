"""One publish → messages: resolve → plan → commit.

The one pipeline behind publish, enqueue, batch items and schedule ticks:

- `resolve` turns the destination into targets: a URL, or the endpoints of a URL group;
- `plan` builds every message of the request, all in one partition (its gate's when it is
  queued or flow-controlled, its dedup digest's when deduplicated, its schedule's for a tick),
  so that one script stores them; nothing is written yet;
- `commit` creates the gate on first use, applies the flow-control settings the messages
  carry, and stores the messages once per dedup window.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

import msgspec

from broker.errors import BadRequest, NotFound
from broker.metrics import PUBLISHED
from broker.queue.connection import Connection
from broker.queue.destinations import is_url, url_destination
from broker.queue.flow_control import apply_message_settings
from broker.queue.keys import (
    PartitionKeys,
    new_message_id,
    partition_keys,
    queue_partition,
    random_partition,
)
from broker.queue.model import PublishOptions
from broker.queue.names import check_name
from broker.queue.producer import Draft, Routing, build_draft, publish, publish_once
from broker.queue.queues import set_queue
from broker.queue.topics import get_group
from broker.settings import Settings

_json = msgspec.json.Encoder()
_answers = msgspec.json.Decoder(list[dict[str, Any]])

IdMaker = Callable[[PartitionKeys, int], str]
"""The id of the `index`-th message of a request in its partition."""


def random_ids(partition: PartitionKeys, index: int) -> str:
    return new_message_id(partition)


@dataclass(frozen=True, slots=True)
class Targets:
    """Where one request's messages go: (url, endpoint name) pairs, and the group if any."""

    endpoints: list[tuple[str, str | None]]
    topic_name: str | None = None


@dataclass(frozen=True, slots=True)
class Dedup:
    """Store a plan at most once while `key` lives (`window_ms`), answering `answer` then."""

    key: str
    window_ms: int


@dataclass(frozen=True, slots=True)
class Plan:
    """One request's validated messages, not yet written."""

    drafts: tuple[Draft, ...]
    dedup: Dedup | None
    fan_out: bool


@dataclass(frozen=True, slots=True)
class Published:
    """The answer items, whether the destination was a group, whether it was a duplicate."""

    answers: list[dict[str, Any]]
    fan_out: bool
    deduplicated: bool

    def body(self) -> Any:
        items = (
            [a | {"deduplicated": True} for a in self.answers]
            if self.deduplicated
            else self.answers
        )
        return items if self.fan_out else items[0]

    @property
    def status(self) -> int:
        return 202 if self.deduplicated else 201


async def resolve(conn: Connection, destination: str) -> Targets:
    """A URL, or the endpoints of an existing, non-empty URL group."""
    if destination == "api/llm":
        raise BadRequest("the api/llm destination is not supported by hookstream")
    policy = conn.settings.destination_policy
    if is_url(destination) or "/" in destination:
        return Targets([(url_destination(destination, policy), None)])
    group = await get_group(conn.redis, check_name("url_group", destination, "destination"))
    if group is None or not group.endpoints:
        raise NotFound(f"URL group {destination} not found")
    for endpoint in group.endpoints:  # added under this policy, or under an older one
        policy.check_url(endpoint.url)
    return Targets([(e.url, e.name) for e in group.endpoints], topic_name=group.name)


def check_size(settings: Settings, requests: Iterable[tuple[Targets, bytes]]) -> None:
    """What one API request may store, before any draft is built: at most
    HOOKSTREAM_MAX_PUBLISH_MESSAGES messages and HOOKSTREAM_MAX_PUBLISH_BYTES of bodies, each
    body counted once per message (a URL group's endpoints, a batch's items)."""
    messages = stored = 0
    for targets, body in requests:
        messages += len(targets.endpoints)
        stored += len(body) * len(targets.endpoints)
    if messages > settings.max_publish_messages:
        raise BadRequest(
            f"the request would create {messages} messages, more than "
            f"HOOKSTREAM_MAX_PUBLISH_MESSAGES ({settings.max_publish_messages})"
        )
    if stored > settings.max_publish_bytes:
        raise BadRequest(
            f"the request would store {stored} body bytes (body x messages), more than "
            f"HOOKSTREAM_MAX_PUBLISH_BYTES ({settings.max_publish_bytes})"
        )


def check_enqueue(options: PublishOptions) -> None:
    """What an ordered queue refuses, for enqueue and batch items with a queue alike."""
    if options.delay_ms or options.not_before_ms is not None:
        raise BadRequest("Upstash-Delay and Upstash-Not-Before are not allowed on enqueue")
    if options.flow_control:
        raise BadRequest("flow control is not supported on enqueue: the queue already orders")


def _dedup_digest(destination: str, options: PublishOptions, body: bytes) -> str | None:
    """The deduplication key's digest: of the given id, or of the content when asked."""
    if options.deduplication_id:
        return hashlib.sha256(b"id\0" + options.deduplication_id.encode()).hexdigest()
    if options.content_based_deduplication:
        headers = _json.encode(sorted(options.headers.items()))
        content = b"\0".join([destination.encode(), body, headers])
        return hashlib.sha256(b"content\0" + content).hexdigest()
    return None


def _partition(
    partitions: int, options: PublishOptions, routing: Routing, digest: str | None
) -> PartitionKeys:
    """Where a request's messages live: with their gate (queue or flow-control key), with
    their dedup key, with their schedule (so a tick's ids are the same on every replica), or
    anywhere."""
    gate = routing.queue_name or (options.flow_control.key if options.flow_control else None)
    if gate:
        return queue_partition(gate, partitions)
    if digest:
        return partition_keys(int(digest[:8], 16) % partitions, partitions)
    if routing.schedule_id:
        return queue_partition(routing.schedule_id, partitions)
    return random_partition(partitions)


def plan(
    conn: Connection,
    destination: str,
    targets: Targets,
    options: PublishOptions,
    body: bytes,
    routing: Routing,
    ids: IdMaker = random_ids,
) -> Plan:
    """Every message of one request (one partition); nothing is written yet."""
    if routing.queue_name and not routing.schedule_id:
        # The schedules API accepts a delay with a queue (the queue's order wins over it).
        check_enqueue(options)
    digest = _dedup_digest(destination, options, body)
    partition = _partition(conn.settings.partitions, options, routing, digest)
    routing = replace(routing, topic_name=targets.topic_name)
    drafts = tuple(
        build_draft(url, options, body, ids(partition, index), replace(routing, endpoint_name=name))
        for index, (url, name) in enumerate(targets.endpoints)
    )
    dedup = Dedup(partition.dedup(digest), conn.settings.dedup_window_ms) if digest else None
    return Plan(drafts, dedup, fan_out=targets.topic_name is not None)


async def commit(conn: Connection, planned: Plan, source: str = "api") -> Published:
    """Write a plan: its queue or flow-control key first (created on first use), then the
    messages, once per dedup window. `source` labels the published-messages metric."""
    envelope = planned.drafts[0].envelope
    if envelope.queue_name:
        await set_queue(conn, envelope.queue_name, create_only=True)
    await apply_message_settings(conn, envelope)
    published = await _store(conn, planned)
    if not published.deduplicated:
        PUBLISHED.labels(source).inc(len(planned.drafts))
    return published


async def _store(conn: Connection, planned: Plan) -> Published:
    answers = [{"messageId": d.envelope.id, "url": d.envelope.url} for d in planned.drafts]
    if planned.dedup is None:
        await publish(conn.scripts, planned.drafts)
        return Published(answers, planned.fan_out, deduplicated=False)
    dedup = planned.dedup
    earlier = await publish_once(
        conn.scripts, planned.drafts, dedup.key, _json.encode(answers), dedup.window_ms
    )
    if earlier is None:
        return Published(answers, planned.fan_out, deduplicated=False)
    return Published(_answers.decode(earlier), planned.fan_out, deduplicated=True)


async def publish_request(
    conn: Connection, destination: str, options: PublishOptions, body: bytes, routing: Routing
) -> Published:
    """Publish (or, with routing.queue_name, enqueue) one request."""
    targets = await resolve(conn, destination)
    check_size(conn.settings, [(targets, body)])
    return await commit(conn, plan(conn, destination, targets, options, body, routing))
