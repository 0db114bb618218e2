"""One publish request → messages: resolve the destination (URL or URL group), build every
draft, deduplicate, store atomically. Shared by publish, enqueue and batch."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from typing import Any

import msgspec
from aiohttp import web

from broker.errors import BadRequest, NotFound
from broker.http.destination import is_url, url_destination
from broker.metrics import PUBLISHED
from broker.options import PublishOptions
from broker.queue.connection import Connection
from broker.queue.flow_control import apply_message_settings
from broker.queue.keys import queue_partition
from broker.queue.producer import Draft, Routing, build_draft, new_ids, publish, publish_once
from broker.queue.queues import set_queue
from broker.queue.topics import check_name, get_group

_json = msgspec.json.Encoder()
_answers = msgspec.json.Decoder(list[dict[str, Any]])


@dataclass(frozen=True, slots=True)
class Targets:
    """Where one request's messages go: (url, endpoint name) pairs, and the group if any."""

    endpoints: list[tuple[str, str | None]]
    topic_name: str | None = None


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
    if is_url(destination) or "/" in destination:
        return Targets([(url_destination(destination), None)])
    group = await get_group(conn.redis, check_name(destination))
    if group is None or not group.endpoints:
        raise NotFound(f"URL group {destination!r} not found")
    return Targets([(e.url, e.name) for e in group.endpoints], topic_name=group.name)


def _dedup_digest(destination: str, options: PublishOptions, body: bytes) -> str | None:
    """The deduplication key's digest: of the given id, or of the content when asked."""
    if options.deduplication_id:
        return hashlib.sha256(b"id\0" + options.deduplication_id.encode()).hexdigest()
    if options.content_based_deduplication:
        headers = _json.encode(sorted(options.headers.items()))
        content = b"\0".join([destination.encode(), body, headers])
        return hashlib.sha256(b"content\0" + content).hexdigest()
    return None


def prepare(
    conn: Connection,
    destination: str,
    targets: Targets,
    options: PublishOptions,
    body: bytes,
    routing: Routing,
) -> tuple[list[Draft], str | None]:
    """Every draft of one request (one partition), and its dedup digest if any.

    Queued (or flow-controlled) messages live in their gate's partition; deduplicated ones
    in their digest's, so that the dedup key and the messages are written by one script.
    """
    digest = _dedup_digest(destination, options, body)
    partitions = conn.settings.partitions
    partition = None
    gate = routing.queue_name or (options.flow_control.key if options.flow_control else None)
    if gate:
        partition = queue_partition(gate, partitions).partition
    elif digest:
        partition = int(digest[:8], 16) % partitions
    ids = new_ids(partitions, len(targets.endpoints), partition)
    routing = replace(routing, topic_name=targets.topic_name)
    drafts = [
        build_draft(url, options, body, message_id, replace(routing, endpoint_name=name))
        for (url, name), message_id in zip(targets.endpoints, ids, strict=True)
    ]
    return drafts, digest


async def store(
    conn: Connection, drafts: list[Draft], digest: str | None, fan_out: bool
) -> Published:
    """Write the drafts (once per dedup window when a digest is given)."""
    answers = [{"messageId": d.envelope.id, "url": d.envelope.url} for d in drafts]
    if digest is None:
        await publish(conn.scripts, drafts)
        return Published(answers, fan_out, deduplicated=False)
    key = drafts[0].partition.dedup(digest)
    window = conn.settings.dedup_window_ms
    earlier = await publish_once(conn.scripts, drafts, key, _json.encode(answers), window)
    if earlier is None:
        return Published(answers, fan_out, deduplicated=False)
    return Published(_answers.decode(earlier), fan_out, deduplicated=True)


@dataclass(frozen=True, slots=True)
class Plan:
    """One request's validated messages, not yet written."""

    drafts: list[Draft]
    digest: str | None
    fan_out: bool


def check_enqueue(options: PublishOptions) -> None:
    """What an ordered queue refuses, for enqueue and batch items with a queue alike."""
    if options.delay_ms or options.not_before_ms is not None:
        raise BadRequest("Upstash-Delay and Upstash-Not-Before are not allowed on enqueue")
    if options.flow_control:
        raise BadRequest("flow control is not supported on enqueue: the queue already orders")


async def plan(
    conn: Connection, destination: str, options: PublishOptions, body: bytes, routing: Routing
) -> Plan:
    """Resolve the destination and build every draft; nothing is written yet."""
    if routing.queue_name:
        check_enqueue(options)
    targets = await resolve(conn, destination)
    drafts, digest = prepare(conn, destination, targets, options, body, routing)
    return Plan(drafts, digest, fan_out=targets.topic_name is not None)


async def commit(conn: Connection, planned: Plan) -> Published:
    """Write a plan: its queue or flow-control key first (created on first use), then the
    messages, once per dedup window."""
    envelope = planned.drafts[0].envelope
    if envelope.queue_name:
        await set_queue(conn, envelope.queue_name, create_only=True)
    await apply_message_settings(conn, envelope)
    published = await store(conn, planned.drafts, planned.digest, planned.fan_out)
    if not published.deduplicated:
        PUBLISHED.labels("api").inc(len(planned.drafts))
    return published


async def publish_request(
    conn: Connection, destination: str, options: PublishOptions, body: bytes, routing: Routing
) -> web.Response:
    """Publish (or, with routing.queue_name, enqueue) one request and build its answer."""
    published = await commit(conn, await plan(conn, destination, options, body, routing))
    return web.json_response(published.body(), status=published.status)
