"""One publish → messages: resolve → plan → commit.

The one pipeline behind publish, enqueue, batch items and schedule ticks:

- `resolve` turns the destination into targets: a URL, or the endpoints of a URL group;
- `plan` builds every message of the request, all in one partition (its gate's when it is
  queued or flow-controlled, its dedup digest's when deduplicated, its schedule's for a tick),
  so that one script stores them; nothing is written yet;
- `commit` stores the messages once per dedup window, in one script call that also creates
  their gate on first use and applies the flow-control settings they carry; `commit_batch`
  does the same for a batch's plans with one script call per partition (routes/batch.py
  says what it answers).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import msgspec

from broker.errors import BadRequest, NotFound
from broker.metrics import count_published
from broker.queue import workflow_hooks
from broker.queue.connection import Connection
from broker.queue.destinations import is_url, url_destination
from broker.queue.flow_control import apply_message_settings
from broker.queue.keys import (
    FLOW_CONTROL_INDEX,
    QUEUES_INDEX,
    PartitionKeys,
    new_message_id,
    partition_keys,
    queue_partition,
    random_partition,
    run_partition,
)
from broker.queue.model import PublishOptions, WorkflowHeaders
from broker.queue.names import check_name
from broker.queue.producer import (
    Draft,
    Request,
    Routing,
    build_draft,
    publish,
    publish_once,
    publish_requests,
)
from broker.queue.queues import index_gate, set_queue
from broker.queue.topics import get_group
from broker.queue.workflow_invoke import start as start_invoked
from broker.queue.workflow_runs import append, check_message, trigger
from broker.settings import Settings

_json = msgspec.json.Encoder()
_answers_decoder = msgspec.json.Decoder(list[dict[str, Any]])

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
    workflow: WorkflowHeaders | None = None


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
    partitions: int,
    options: PublishOptions,
    routing: Routing,
    digest: str | None,
    anywhere: PartitionKeys | None,
) -> PartitionKeys:
    """Where a request's messages live: with their workflow run, with their gate (queue or
    flow-control key), with their dedup key, with their schedule (so a tick's ids are the
    same on every replica), or anywhere (`anywhere` when given, so a batch's free items share
    one partition)."""
    if options.workflow is not None and options.flow_control is None:
        return run_partition(options.workflow.run_id, partitions)
    gate = routing.queue_name or (options.flow_control.key if options.flow_control else None)
    if gate:
        return queue_partition(gate, partitions)
    if digest:
        return partition_keys(int(digest[:8], 16) % partitions, partitions)
    if routing.schedule_id:
        return queue_partition(routing.schedule_id, partitions)
    return anywhere if anywhere is not None else random_partition(partitions)


def any_partition(settings: Settings) -> PartitionKeys:
    """A partition at random: where messages bound to none (no gate, no dedup) may go."""
    return random_partition(settings.partitions)


def plan(
    conn: Connection,
    destination: str,
    targets: Targets,
    options: PublishOptions,
    body: bytes,
    routing: Routing,
    ids: IdMaker = random_ids,
    anywhere: PartitionKeys | None = None,
) -> Plan:
    """Every message of one request (one partition); nothing is written yet. Messages bound
    to no partition go to `anywhere`, else to a random one."""
    if routing.queue_name and not routing.schedule_id:
        # The schedules API accepts a delay with a queue (the queue's order wins over it).
        check_enqueue(options)
    if options.workflow is not None:
        check_message(targets.topic_name is not None, options, routing)
    digest = _dedup_digest(destination, options, body)
    partition = _partition(conn.settings.partitions, options, routing, digest, anywhere)
    if targets.topic_name is not None:
        routing = replace(routing, topic_name=targets.topic_name)
    drafts = tuple(
        build_draft(url, options, body, ids(partition, index), _endpoint(routing, name))
        for index, (url, name) in enumerate(targets.endpoints)
    )
    dedup = Dedup(partition.dedup(digest), conn.settings.dedup_window_ms) if digest else None
    return Plan(drafts, dedup, fan_out=targets.topic_name is not None, workflow=options.workflow)


def _endpoint(routing: Routing, name: str | None) -> Routing:
    """The routing of one URL group endpoint (a plain URL has no name: no copy to make)."""
    return routing if name is None else replace(routing, endpoint_name=name)


async def commit(conn: Connection, planned: Plan, source: str = "api") -> Published:
    """Write a plan: its messages, once per dedup window, in one script call that also
    creates their queue or flow-control key on first use (and indexes it then). `source`
    labels the published-messages metric."""
    await _open_gates_apart(conn, planned)
    published, unindexed = await _store(conn, planned)
    if unindexed:
        await _index_gate(conn, planned)
    _count(planned, published, source)
    return published


async def commit_batch(conn: Connection, plans: Sequence[Plan]) -> list[Published | Exception]:
    """Write the plans of one batch: each partition's messages in one script call (which
    opens their gates), so that a partition's items are stored all together or not at all.
    Returns per plan its answer, or the error that kept its partition from being stored."""
    for planned in plans:
        await _open_gates_apart(conn, planned)
    groups: dict[int | PartitionKeys, list[int]] = defaultdict(list)
    for index, planned in enumerate(plans):
        # A workflow message joins its run by a script of its own (trigger or append), so it
        # is stored alone; the others share their partition's one script call.
        groups[index if planned.workflow else planned.drafts[0].partition].append(index)
    calls = [_store_group(conn, [plans[i] for i in indexes]) for indexes in groups.values()]
    # gathered: one pipeline, each group's script still atomic on its own
    results = await asyncio.gather(*calls, return_exceptions=True)
    outcomes: dict[int, Published | Exception] = {}
    for indexes, result in zip(groups.values(), results, strict=True):
        if not isinstance(result, list | Exception):
            raise result  # cancelled
        for position, index in enumerate(indexes):
            outcomes[index] = result[position] if isinstance(result, list) else result
    return [outcomes[index] for index in range(len(plans))]


async def _open_gates_apart(conn: Connection, planned: Plan) -> None:
    """The gates no store script opens: a workflow message's (its run's scripts only pass
    one), and a flow-control key beside a queue (a schedule may carry both; the queue is
    the gate its messages pass). Nothing to do, no round trip, for any other plan."""
    envelope = planned.drafts[0].envelope
    workflow = planned.workflow is not None
    if workflow and envelope.queue_name:
        await set_queue(conn, envelope.queue_name, create_only=True)
    if workflow or envelope.queue_name:
        await apply_message_settings(conn, envelope)  # returns at once without a key


async def _index_gate(conn: Connection, planned: Plan) -> None:
    """Add the gate a store script created (or found unindexed) to its index."""
    envelope, partition = planned.drafts[0].envelope, planned.drafts[0].partition
    gate = partition.gate(envelope.queue_name, envelope.flow_control_key)["gate"]
    if envelope.queue_name:
        await index_gate(conn, gate, (QUEUES_INDEX, envelope.queue_name))
    elif envelope.flow_control_key:
        await index_gate(conn, gate, (FLOW_CONTROL_INDEX, envelope.flow_control_key))


def _count(planned: Plan, published: Published, source: str) -> None:
    if not published.deduplicated:
        count_published(source, len(planned.drafts))


def _answers(planned: Plan) -> list[dict[str, Any]]:
    return [{"messageId": d.envelope.id, "url": d.envelope.url} for d in planned.drafts]


def _published(planned: Plan, earlier: bytes | None) -> Published:
    """The answer to a stored plan, or to a duplicate (the `earlier` answer)."""
    if earlier is None:
        return Published(_answers(planned), planned.fan_out, deduplicated=False)
    return Published(_answers_decoder.decode(earlier), planned.fan_out, deduplicated=True)


async def _store(conn: Connection, planned: Plan) -> tuple[Published, bool]:
    """The plan's answer, and whether the gate its script opened needs indexing."""
    if planned.workflow is not None:
        workflow = planned.workflow
        published = await _store_workflow(conn, planned.drafts[0], workflow, _answers(planned))
        return published, False
    if planned.dedup is None:
        unindexed = await publish(conn.scripts, planned.drafts)
        return _published(planned, None), unindexed
    dedup = planned.dedup
    answer = _json.encode(_answers(planned))
    earlier, unindexed = await publish_once(
        conn.scripts, planned.drafts, dedup.key, answer, dedup.window_ms
    )
    return _published(planned, earlier), unindexed


async def _store_group(conn: Connection, plans: list[Plan]) -> list[Published]:
    """One workflow message, or the plans of one partition, stored together."""
    if plans[0].workflow is not None:
        published, _ = await _store(conn, plans[0])
        _count(plans[0], published, "api")
        return [published]
    return await _store_partition(conn, plans[0].drafts[0].partition, plans)


async def _store_partition(
    conn: Connection, partition: PartitionKeys, plans: list[Plan]
) -> list[Published]:
    requests = [
        Request(p.drafts, p.dedup.key, _json.encode(_answers(p)), p.dedup.window_ms)
        if p.dedup
        else Request(p.drafts)
        for p in plans
    ]
    earlier, unindexed = await publish_requests(conn.scripts, partition, requests)
    published = [_published(p, e) for p, e in zip(plans, earlier, strict=True)]
    for planned, answer, needs_index in zip(plans, published, unindexed, strict=True):
        if needs_index:
            await _index_gate(conn, planned)
        _count(planned, answer, "api")
    return published


async def _store_workflow(
    conn: Connection, draft: Draft, workflow: WorkflowHeaders, answers: list[dict[str, Any]]
) -> Published:
    """A trigger starts its run once (a repeat answers the first message, deduplicated); a
    later message joins its run, in the run's partition (broker/queue/workflow_runs.py)."""
    if not workflow.init:
        if workflow.call_type == "step":
            await workflow_hooks.remember(conn, workflow.run_id, draft.body)
        message_id = await append(conn, draft, workflow)
        return Published(
            [answers[0] | {"messageId": message_id}], fan_out=False, deduplicated=False
        )
    earlier = await (start_invoked if workflow.invoke else trigger)(conn, draft, workflow)
    if earlier is None:
        return Published(answers, fan_out=False, deduplicated=False)
    return Published([answers[0] | {"messageId": earlier}], fan_out=False, deduplicated=True)


async def publish_request(
    conn: Connection, destination: str, options: PublishOptions, body: bytes, routing: Routing
) -> Published:
    """Publish (or, with routing.queue_name, enqueue) one request."""
    targets = await resolve(conn, destination)
    check_size(conn.settings, [(targets, body)])
    return await commit(conn, plan(conn, destination, targets, options, body, routing))
