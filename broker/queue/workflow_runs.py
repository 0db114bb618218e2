"""Upstash Workflow runs: the run record, its ordered raw steps, and its end (docs/workflow.md).

A run and all of its messages live in one partition, so storing a step message and
appending it to the run's raw-step list is one script call, and so is reading the list back
when a step is delivered. That partition is the run id's (`run_partition`), or, for a run with
a flow-control key, the key's, where its gate is; a pointer in the run id's partition
(`workflow_home`) then says so. The trigger (`Upstash-Workflow-Init: true`)
creates the run with its config (retries, retry delay, failure callback, forwarded headers,
labels), which every later step of the run inherits (the SDK's `WF_TriggerOnConfig`).

Keys (broker/queue/keys.py `workflow_run`): `run` hash (`state`, `c` = msgpack RunConfig,
`created`, `first`, `bytes`, `ended`, `result`), `steps` list (JSON `{messageId, body:
base64, callType}` each, in publish order), `members` set (the run's message ids), and the
partition's `wf:runs` index (run ids by creation time) for the logs API.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, replace
from typing import Any

import msgspec
import structlog

from broker.errors import BadRequest
from broker.metrics import WORKFLOW_RUNS_STARTED, count_run_finished
from broker.queue import scripts
from broker.queue.cancel import cancel_message
from broker.queue.connection import Connection
from broker.queue.flow_control import apply_message_settings
from broker.queue.keys import (
    PartitionKeys,
    keys_for,
    new_message_id,
    partition_keys,
    run_partition,
)
from broker.queue.model import CallbackSpec, Envelope, PublishOptions, WorkflowHeaders
from broker.queue.producer import Draft, Routing, messages_tail
from broker.queue.workflow_link import Invoker, report_draft

RUNNING = "RUN_STARTED"
SUCCESS = "RUN_SUCCESS"
FAILED = "RUN_FAILED"
CANCELED = "RUN_CANCELED"
ENDED_ERROR = "can not append to a cancelled workflow"
log = structlog.get_logger()
NOT_A_WORKFLOW = (
    "detected a non-workflow destination for trigger/invoke. make sure you are sending the "
    "request to the correct endpoint"
)


class RunConfig(msgspec.Struct, frozen=True, kw_only=True):
    """What the trigger set for the whole run; later steps inherit it."""

    url: str
    retries: int
    retry_delay: str | None = None
    timeout_ms: int
    failure_callback: CallbackSpec | None = None
    headers: dict[str, list[str]] = {}
    labels: tuple[str, ...] = ()
    flow_control_key: str | None = None
    parallelism: int | None = None
    rate: int | None = None
    period: int | None = None
    # The run that invoked this one (context.invoke), which gets this run's end.
    invoker: Invoker | None = None
    # The trigger's client address as the ingress saw it (aiohttp's `request.remote`: the
    # TCP peer, a proxy's address behind one); "" for runs recorded before it was kept.
    caller_ip: str = ""


class RawStep(msgspec.Struct, frozen=True, rename="camel"):
    """One item of a run's step list, as the SDK reads it (`getSteps`, `processRawSteps`)."""

    message_id: str
    body: str  # base64
    call_type: str


@dataclass(frozen=True, slots=True)
class Run:
    """A run as stored: its state, config, creation and end times, result, raw steps."""

    run_id: str
    state: str
    config: RunConfig
    created_at: int
    ended_at: int | None
    result: bytes | None
    error: str | None
    steps: list[RawStep]


_config_encoder = msgspec.msgpack.Encoder()
_config_decoder = msgspec.msgpack.Decoder(RunConfig)
_json = msgspec.json.Encoder()
_steps = msgspec.json.Decoder(RawStep)


async def partition_of_run(conn: Connection, run_id: str) -> PartitionKeys:
    """The partition a run lives in: its id's, unless a pointer there names another."""
    own = run_partition(run_id, conn.settings.partitions)
    pointer = await conn.redis.get(own.workflow_home(run_id))
    if pointer is None or not 0 <= int(pointer) < conn.settings.partitions:
        return own
    return partition_keys(int(pointer), conn.settings.partitions)


def check_message(fan_out: bool, options: PublishOptions, routing: Routing) -> None:
    """What a workflow message may not combine with (yet): a URL group, a queue or a
    schedule, and deduplication."""
    if fan_out:
        raise BadRequest("a workflow message goes to one URL, not a URL group")
    if routing.queue_name or routing.schedule_id:
        raise BadRequest("workflow messages cannot be enqueued or scheduled")
    if options.deduplication_id or options.content_based_deduplication:
        raise BadRequest("deduplication is not supported on workflow messages")


def _raw_step(draft: Draft, call_type: str) -> bytes:
    body = base64.b64encode(draft.body).decode()
    return _json.encode(RawStep(draft.envelope.id, body, call_type))


async def trigger(
    conn: Connection, draft: Draft, headers: WorkflowHeaders, invoker: Invoker | None = None
) -> str | None:
    """Start run `headers.run_id` with `draft` as its first step (`invoker`: the run whose
    context.invoke starts it); the id of the first message of an earlier run with that id
    instead (nothing is written then)."""
    env, run_id = draft.envelope, headers.run_id
    home = draft.partition  # the flow-control key's (publishing.plan), else the run id's
    current = await partition_of_run(conn, run_id)
    if current != home:
        earlier: Any = await conn.redis.hget(current.workflow_run(run_id)["run"], "first")
        if earlier is not None:
            return str(earlier.decode())
        await _point(conn, run_id, home)
    first = _as_step(draft, run_id, "step", env.created_at)
    detect = msgspec.structs.replace(first.envelope, workflow_detect_trigger=headers.detect_trigger)
    first = replace(first, envelope=detect)
    keys = _gate(home, env) | home.workflow_run(run_id) | {"runs": home.workflow_runs}
    args: dict[str, scripts.Arg] = {
        "gated": "1" if env.flow_control_key else "0",
        "run_id": run_id,
        "config": _config_encoder.encode(_config(env, invoker)),
        "created_ms": env.created_at,
        "step": _raw_step(first, "step"),
        "idle_ms": idle_ms(conn),
    }
    created_new, message_id = await conn.scripts.call(
        scripts.WORKFLOW_TRIGGER, home, keys, args, *messages_tail([first])
    )
    if not created_new:
        return str(message_id.decode())
    WORKFLOW_RUNS_STARTED.inc()
    log.info("workflow.run_started", workflow_run_id=run_id, message_id=env.id)
    return None


def _config(env: Envelope, invoker: Invoker | None) -> RunConfig:
    """What the trigger sets for the whole run."""
    return RunConfig(
        url=env.url,
        retries=env.retries,
        retry_delay=env.retry_delay,
        timeout_ms=env.timeout_ms,
        failure_callback=env.failure_callback,
        headers=env.headers,
        labels=env.labels,
        flow_control_key=env.flow_control_key,
        parallelism=env.parallelism,
        rate=env.rate,
        period=env.period,
        invoker=invoker,
        caller_ip=env.caller_ip,
    )


def _gate(partition: PartitionKeys, env: Envelope) -> dict[str, str]:
    return partition.gate(None, env.flow_control_key)


async def _point(conn: Connection, run_id: str, home: PartitionKeys) -> None:
    """Record where a run lives when that is not its id's partition (else drop a stale
    pointer); it lives as long as an idle run, and each step renews it."""
    own = run_partition(run_id, conn.settings.partitions)
    if home == own:
        await conn.redis.delete(own.workflow_home(run_id))
    else:
        await conn.redis.set(own.workflow_home(run_id), home.partition, px=idle_ms(conn))


def idle_ms(conn: Connection) -> int:
    """How long a running run lives without a new step: its longest possible sleep (the
    largest delay) plus the retention of an ended run. Each step restarts the count."""
    return conn.settings.max_delay_ms + conn.settings.workflow_retention_ms


def _as_step(draft: Draft, run_id: str, call_type: str, created: int) -> Draft:
    """The draft as a message of the run: its failure callback is the run's to send."""
    envelope = msgspec.structs.replace(
        draft.envelope,
        failure_callback=None,
        workflow_run_id=run_id,
        workflow_call_type=call_type,
        workflow_created_at=created,
    )
    return replace(draft, envelope=envelope)


_APPEND_ERRORS = {
    "ended": ENDED_ERROR,
    "steps": "the workflow run has HOOKSTREAM_MAX_WORKFLOW_STEPS ({steps}) steps already",
    "bytes": "the workflow run's steps would pass HOOKSTREAM_MAX_WORKFLOW_BYTES ({bytes})",
}


async def append(conn: Connection, draft: Draft, headers: WorkflowHeaders, once: str = "") -> str:
    """Store a later message of a running run and append it to the run's steps, atomically;
    the message's id (in the run's partition). A step to the workflow itself inherits the
    run's config; a context.call to a third party (`toCallback`) keeps its own. With `once`
    (a name), a second append of that name is dropped (an invoke's result: one per child)."""
    run_id = headers.run_id
    home = await partition_of_run(conn, run_id)
    keys = home.workflow_run(run_id)
    stored: list[Any] = await conn.redis.hmget(keys["run"], "c", "created")
    if stored[0] is None:
        raise BadRequest(f"workflow run {run_id} does not exist")
    config = _config_decoder.decode(stored[0])
    env = draft.envelope
    if headers.call_type == "step":
        env = inherit(env, config)
    elif env.flow_control_key and env.flow_control_key != config.flow_control_key:
        raise BadRequest(
            "a workflow message's own flow-control key (other than its run's) is not "
            "supported by hookstream yet"
        )
    if keys_for(env.id) != home:
        env = msgspec.structs.replace(env, id=new_message_id(home))
    draft = _as_step(replace(draft, envelope=env), run_id, headers.call_type, int(stored[1]))
    await apply_message_settings(conn, draft.envelope)  # an idle gate may have expired
    await _store_step(conn, home, draft, headers.call_type, once)
    if home != run_partition(run_id, conn.settings.partitions):
        await _point(conn, run_id, home)
    return draft.envelope.id


async def _store_step(
    conn: Connection, home: PartitionKeys, draft: Draft, call_type: str, once: str
) -> None:
    env, settings = draft.envelope, conn.settings
    assert env.workflow_run_id is not None
    keys = _gate(home, env) | home.workflow_run(env.workflow_run_id)
    args: dict[str, scripts.Arg] = {
        "gated": "1" if env.flow_control_key else "0",
        "step": _raw_step(draft, call_type),
        "max_steps": settings.max_workflow_steps,
        "max_bytes": settings.max_workflow_bytes,
        "idle_ms": idle_ms(conn),
        "once": once,
    }
    reply = await conn.scripts.call(
        scripts.WORKFLOW_APPEND, home, keys, args, *messages_tail([draft])
    )
    reason = reply.decode()
    if reason == "missing":
        raise BadRequest(f"workflow run {env.workflow_run_id} does not exist")
    if reason not in ("ok", "once"):
        limits = {"steps": settings.max_workflow_steps, "bytes": settings.max_workflow_bytes}
        raise BadRequest(_APPEND_ERRORS[reason].format(**limits))


def inherit(envelope: Envelope, config: RunConfig) -> Envelope:
    """WF_TriggerOnConfig: the trigger's retries, retry delay, labels, flow control and
    forwarded headers (the step's own headers win, the SDK version among them)."""
    return msgspec.structs.replace(
        envelope,
        retries=config.retries,
        retry_delay=config.retry_delay,
        headers=config.headers | envelope.headers,
        labels=config.labels,
        flow_control_key=config.flow_control_key,
        parallelism=config.parallelism,
        rate=config.rate,
        period=config.period,
    )


async def run_config(conn: Connection, run_id: str) -> tuple[PartitionKeys, RunConfig, int] | None:
    """A running or ended run's partition, config and creation time; None when unknown."""
    home = await partition_of_run(conn, run_id)
    stored: list[Any] = await conn.redis.hmget(home.workflow_run(run_id)["run"], "c", "created")
    if stored[0] is None:
        return None
    return home, _config_decoder.decode(stored[0]), int(stored[1])


async def failure_context(conn: Connection, step: Envelope) -> tuple[CallbackSpec | None, bytes]:
    """What a failing step's run sends: its failure callback (None when it has none or the
    run is unknown) and its initial payload, which that callback quotes."""
    keys = keys_for(step.id).workflow_run(step.workflow_run_id or "")  # with its messages
    async with conn.redis.pipeline(transaction=False) as pipe:
        pipe.hget(keys["run"], "c")
        pipe.lindex(keys["steps"], 0)
        replies: list[Any] = await pipe.execute()
    config, first = replies
    if config is None:
        return None, b""
    initial = base64.b64decode(_steps.decode(first).body) if first else b""
    return _config_decoder.decode(config).failure_callback, initial


async def render(conn: Connection, envelope: Envelope) -> bytes | None:
    """A step delivery's body: the run's raw steps up to and including this message, or
    empty (the SDK then fetches them) when the run has ended or the list is too large. None
    for a wait's timeout that a notify overtook: nothing to deliver."""
    run_id = envelope.workflow_run_id
    assert run_id is not None
    partition = keys_for(envelope.id)  # a run's messages live where the run does
    keys = partition.workflow_run(run_id)
    own = {
        "run": keys["run"],
        "steps": keys["steps"],
        "message": partition.message(envelope.id),
        "waits": partition.workflow_waits(run_id),
    }
    args: dict[str, scripts.Arg] = {"max_bytes": conn.settings.max_body_bytes}
    state, body = await conn.scripts.call(scripts.WORKFLOW_RENDER, partition, own, args)
    return None if state == b"SKIP" else bytes(body)


async def load(conn: Connection, run_id: str) -> Run | None:
    """The run with this id, or None when unknown or past its retention."""
    keys = (await partition_of_run(conn, run_id)).workflow_run(run_id)
    async with conn.redis.pipeline(transaction=False) as pipe:
        pipe.hmget(keys["run"], "state", "c", "created", "ended", "result", "error")
        pipe.lrange(keys["steps"], 0, -1)
        replies: list[Any] = await pipe.execute()
    fields, items = replies
    state, config, created, ended, result, error = fields
    if state is None or config is None:
        return None
    return Run(
        run_id=run_id,
        state=state.decode(),
        config=_config_decoder.decode(config),
        created_at=int(created),
        ended_at=int(ended) if ended else None,
        result=result,
        error=error.decode() if error else None,
        steps=[_steps.decode(item) for item in items],
    )


async def running_steps(conn: Connection, run_id: str) -> bytes | None:
    """`GET /v2/workflows/runs/{id}`: the JSON list of a running run's raw steps, else None."""
    keys = (await partition_of_run(conn, run_id)).workflow_run(run_id)
    async with conn.redis.pipeline(transaction=False) as pipe:
        pipe.hget(keys["run"], "state")
        pipe.lrange(keys["steps"], 0, -1)
        replies: list[Any] = await pipe.execute()
    state, items = replies
    if state != RUNNING.encode():
        return None
    return b"[" + b",".join(items) + b"]"


async def end(
    conn: Connection,
    run_id: str,
    state: str,
    result: bytes = b"",
    drafts: tuple[Draft, ...] = (),
    error: str = "",
) -> list[str] | None:
    """End a running run in `state`, storing `drafts` (its failure callback) with it; the ids
    of the run's messages, or None when it was unknown or had ended already."""
    partition = await partition_of_run(conn, run_id)
    keys = partition.workflow_run(run_id)
    drafts = (*drafts, *await invoke_reports(conn, partition, run_id, state, result or error))
    args: dict[str, scripts.Arg] = {
        "state": state,
        "result": result,
        "error": error,
        "retention_ms": conn.settings.workflow_retention_ms,
    }
    members = await conn.scripts.call(
        scripts.WORKFLOW_END, partition, keys, args, *messages_tail(drafts)
    )
    if members is None:
        return None
    ended(run_id, state, error)
    return [member.decode() for member in members]


async def invoke_reports(
    conn: Connection, partition: PartitionKeys, run_id: str, state: str, body: bytes | str
) -> tuple[Draft, ...]:
    """For an invoked run about to end in `state` (with its result, or why it failed): the
    report to its invoker (broker/queue/workflow_link.py), which the ending script creates
    only if it ends the run; nothing for a run nobody invoked."""
    stored: Any = await conn.redis.hget(partition.workflow_run(run_id)["run"], "c")
    invoker = _config_decoder.decode(stored).invoker if stored is not None else None
    if invoker is None:
        return ()
    raw = body.encode() if isinstance(body, str) else body
    return (report_draft(partition, run_id, invoker, state, raw[: conn.settings.max_body_bytes]),)


def ended(run_id: str, state: str, error: str = "") -> None:
    """Log and count a run that just ended (here, or in a step's dead-letter settle)."""
    count_run_finished(state)
    log.info("workflow.run_ended", workflow_run_id=run_id, state=state, error=error or None)


async def cancel(conn: Connection, run_id: str) -> bool:
    """RUN_CANCELED, and none of its waiting or delayed messages is delivered (in-flight ones
    end cancelled at settle, through the message cancel every bulk action uses)."""
    members = await end(conn, run_id, CANCELED)
    if members is None:
        return False
    cancelled = [m for m in members if await cancel_message(conn, m)]
    if cancelled:  # a cancelled message is deleted: the run keeps their ids for the logs
        run_key = (await partition_of_run(conn, run_id)).workflow_run(run_id)["run"]
        await conn.redis.hset(run_key, "cxl", _json.encode(cancelled))
    return True


async def finish(conn: Connection, run_id: str, result: bytes) -> bool:
    """RUN_SUCCESS with the workflow's result (the SDK's `DELETE ...?cancel=false`)."""
    return await end(conn, run_id, SUCCESS, result[: conn.settings.max_body_bytes]) is not None


async def run_ids(
    conn: Connection, partition: PartitionKeys, before: float, count: int
) -> list[tuple[str, float]]:
    """Up to `count` (run id, creation ms) of one partition created at or before `before`,
    newest first."""
    found: list[Any] = await conn.redis.zrevrangebyscore(
        partition.workflow_runs, before, "-inf", start=0, num=count, withscores=True
    )
    return [(member.decode(), score) for member, score in found]


async def forget(conn: Connection, run_id: str) -> None:
    """Drop a run past its retention from the index (of whichever partition holds it)."""
    async with conn.redis.pipeline(transaction=False) as pipe:
        for partition in conn.partitions:
            pipe.zrem(partition.workflow_runs, run_id)
        await pipe.execute()
