"""`context.waitForEvent` and `notify` (docs/workflow.md): a run's waiter for an event, the
message that ends the wait at its timeout, and handing an event to the waiters.

The SDK does not publish a step for a wait: it calls `POST /v2/wait/{eventId}` with the step
and the headers its delivery needs. hookstream keeps a waiter in the run (`waits` hash, by
event id), indexes the run under the event (`workflow_event`), and stores a delayed timeout
message. `POST /v2/notify/[{runId}/]{eventId}` appends `{...step, out: base64(data)}` to each
waiting run and delivers it now, in the script that removes the waiter. The timeout message,
when due, joins the steps as `{...step, waitTimeout: true}` only if its waiter is still there
(workflow_render.lua); otherwise it has nothing to deliver. An event with no waiter is lost,
as QStash documents for this "unsafe" notify.
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass
from typing import Any

import msgspec

from broker.durations import parse_duration_ms
from broker.errors import BadRequest
from broker.queue import scripts
from broker.queue.connection import Connection
from broker.queue.keys import new_message_id, workflow_event
from broker.queue.model import Envelope, PublishOptions
from broker.queue.producer import Draft, Routing, build_draft, messages_tail
from broker.queue.workflow_runs import RawStep, idle_ms, inherit, partition_of_run, run_config

MAX_EVENT_ID = 256


class WaitRequest(msgspec.Struct, frozen=True):
    """The body of `POST /v2/wait/{eventId}` as the SDK sends it."""

    url: str
    step: dict[str, Any]
    timeout: str | int = "7d"
    timeoutUrl: str | None = None  # noqa: N815 - the SDK's key


class Waiter(msgspec.Struct, frozen=True, kw_only=True):
    """A run's wait for one event: the step, and the message a notify delivers (its envelope
    without id and times) to the workflow URL."""

    step: dict[str, Any]
    template: Envelope
    timeout_message_id: str
    deadline_ms: int


_waiter_encoder = msgspec.msgpack.Encoder()
_waiter_decoder = msgspec.msgpack.Decoder(Waiter)
_json = msgspec.json.Encoder()


def check_event_id(event_id: str) -> str:
    if not event_id or len(event_id) > MAX_EVENT_ID or not event_id.isprintable():
        raise BadRequest(f"the event id must be 1 to {MAX_EVENT_ID} printable characters")
    return event_id


async def wait(
    conn: Connection, event_id: str, request: WaitRequest, options: PublishOptions
) -> None:
    """Register the waiter of the run named by the request's `Upstash-Workflow-RunId`."""
    if options.workflow is None:
        raise BadRequest("a wait needs the Upstash-Workflow-RunId of its run")
    run_id = options.workflow.run_id
    timeout_ms = _timeout(request.timeout, conn.settings.max_delay_ms)
    found = await run_config(conn, run_id)
    if found is None:
        raise BadRequest(f"workflow run {run_id} does not exist")
    home, config, created = found
    url = request.timeoutUrl or request.url
    base = build_draft(url, options, b"", new_message_id(home), Routing())
    template = msgspec.structs.replace(
        inherit(base.envelope, config),
        workflow_run_id=run_id,
        workflow_call_type="step",
        workflow_created_at=created,
        failure_callback=None,
    )
    timeout_step = _json.encode(request.step | {"waitTimeout": True})
    timeout = Draft(
        msgspec.structs.replace(template, not_before=template.created_at + timeout_ms),
        timeout_step,
        delay_ms=timeout_ms,
    )
    waiter = Waiter(
        step=request.step,
        template=template,
        timeout_message_id=template.id,
        deadline_ms=template.created_at + timeout_ms,
    )
    index = workflow_event(event_id)
    await conn.redis.sadd(index, run_id)
    await conn.redis.pexpire(index, idle_ms(conn))
    keys = {
        "run": home.workflow_run(run_id)["run"],
        "members": home.workflow_run(run_id)["members"],
        "waits": home.workflow_waits(run_id),
    }
    args: dict[str, scripts.Arg] = {
        "event_id": event_id,
        "waiter": _waiter_encoder.encode(waiter),
        "timeout_step": _raw(timeout.envelope.id, timeout_step),
        "idle_ms": idle_ms(conn),
    }
    reply = await conn.scripts.call(
        scripts.WORKFLOW_WAIT, home, keys, args, *messages_tail([timeout])
    )
    if reply != b"ok":
        raise BadRequest(f"workflow run {run_id} is not running")


def _timeout(raw: str | int, most_ms: int) -> int:
    try:
        timeout_ms = parse_duration_ms(str(raw) if isinstance(raw, str) else f"{raw}s")
    except ValueError as exc:
        raise BadRequest(f"timeout: {exc}") from None
    if timeout_ms > most_ms:
        raise BadRequest(
            f"timeout is above the maximum of {most_ms // 1000}s (HOOKSTREAM_MAX_DELAY)"
        )
    return timeout_ms


def _raw(message_id: str, step: bytes) -> bytes:
    return _json.encode(RawStep(message_id, base64.b64encode(step).decode(), "step"))


@dataclass(frozen=True, slots=True)
class Notified:
    """One waiter an event reached: its run and the message that delivers the event."""

    run_id: str
    message_id: str
    waiter: Waiter


async def notify(
    conn: Connection, event_id: str, data: bytes, run_id: str | None = None
) -> list[Notified]:
    """Hand the event to every run waiting for it (or to run `run_id` only)."""
    index = workflow_event(event_id)
    members: Any = await conn.redis.smembers(index)
    runs = [run_id] if run_id else sorted(member.decode() for member in members)
    notified = []
    for waiting in runs:
        found = await _notify_run(conn, waiting, event_id, data)
        if found is None:
            await conn.redis.srem(index, waiting)
        else:
            notified.append(found)
    return notified


async def _notify_run(conn: Connection, run_id: str, event_id: str, data: bytes) -> Notified | None:
    home = await partition_of_run(conn, run_id)
    waits = home.workflow_waits(run_id)
    raw_waiter: Any = await conn.redis.hget(waits, event_id)
    if raw_waiter is None:
        return None
    waiter = _waiter_decoder.decode(raw_waiter)
    step = _json.encode(waiter.step | {"out": base64.b64encode(data).decode()})
    now = int(time.time() * 1000)
    envelope = msgspec.structs.replace(
        waiter.template, id=new_message_id(home), created_at=now, not_before=now
    )
    draft = Draft(envelope, step)
    keys = home.workflow_run(run_id) | {"waits": waits}
    args: dict[str, scripts.Arg] = {
        "event_id": event_id,
        "waiter": raw_waiter,
        "step": _raw(envelope.id, step),
    }
    done = await conn.scripts.call(
        scripts.WORKFLOW_NOTIFY, home, keys, args, *messages_tail([draft])
    )
    return Notified(run_id, envelope.id, waiter) if done else None


def notify_answer(notified: Notified) -> dict[str, Any]:
    """A `NotifyResponse` of the SDKs."""
    waiter = notified.waiter
    return {
        "waiter": {
            "url": waiter.template.url,
            "deadline": waiter.deadline_ms // 1000,
            "headers": waiter.template.headers,
            "timeoutUrl": waiter.template.url,
            "timeoutHeaders": waiter.template.headers,
        },
        "messageId": notified.message_id,
        "error": "",
        "workflowRunId": notified.run_id,
        "workflowCreatedAt": waiter.template.workflow_created_at or 0,
    }
