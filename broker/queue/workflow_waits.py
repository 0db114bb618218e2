"""`context.waitForEvent` and `notify` (docs/workflow.md): a run's waiter for an event, the
message that ends the wait at its timeout, and handing an event to the waiters.

The SDK does not publish a step for a wait: it calls `POST /v2/wait/{eventId}` with the step
and the headers its delivery needs. hookstream keeps a waiter in the run (`waits` hash, by
event id), indexes the run under the event (`workflow_event`), and stores a delayed timeout
message. `POST /v2/notify/[{runId}/]{eventId}` appends `{...step, out: base64(data)}` to each
waiting run and delivers it now, in the script that removes the waiter. The timeout message,
when due, joins the steps as `{...step, waitTimeout: true}` only if its waiter is still there
(workflow_render.lua); otherwise it has nothing to deliver. An event with no waiter is lost,
as QStash documents for this "unsafe" notify; but one notified to a run by its id is held in
the run (`held` hash, at most MAX_HELD_EVENTS, expiring like an idle run), and the run's next
wait for it takes it at once, as the notify would have (lookback, "safe" notify).
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
from broker.queue.keys import PartitionKeys, new_message_id, workflow_event
from broker.queue.model import Envelope, PublishOptions
from broker.queue.producer import Draft, Routing, build_draft, messages_tail
from broker.queue.workflow_runs import RawStep, idle_ms, inherit, partition_of_run, run_config

MAX_EVENT_ID = 256
MAX_HELD_EVENTS = 100
"""Most events one run holds that it does not wait for yet (each at most a request body)."""
MAX_LISTED_WAITERS = 1000
"""Most waiters `GET /v2/waiters/{eventId}` lists (runs in id order)."""
_RACES = 3  # a wait and a notify crossing each other more often than this is a 400


class WaitRequest(msgspec.Struct, frozen=True):
    """The body of `POST /v2/wait/{eventId}` as the SDK sends it."""

    url: str
    step: dict[str, Any]
    timeout: str | int = "7d"
    timeoutUrl: str | None = None  # noqa: N815 - the SDK's key
    timeoutBody: str | None = None  # noqa: N815 - the SDK's key; only shown to getWaiters


class Waiter(msgspec.Struct, frozen=True, kw_only=True):
    """A run's wait for one event: the step, and the message a notify delivers (its envelope
    without id and times) to the workflow URL."""

    step: dict[str, Any]
    template: Envelope
    timeout_message_id: str
    deadline_ms: int
    timeout_body: str | None = None


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
        timeout_body=request.timeoutBody,
    )
    index = workflow_event(event_id)
    await conn.redis.sadd(index, run_id)
    await conn.redis.pexpire(index, idle_ms(conn))
    await _register(conn, home, event_id, waiter, timeout_message=timeout)


async def _register(
    conn: Connection, home: PartitionKeys, event_id: str, waiter: Waiter, timeout_message: Draft
) -> None:
    """Store the waiter and its timeout message; but when the run holds the event already
    (notified by run id before it waited), hand that over instead: the run goes on now."""
    run_id = timeout_message.envelope.workflow_run_id
    assert run_id is not None
    keys = {
        "run": home.workflow_run(run_id)["run"],
        "members": home.workflow_run(run_id)["members"],
        "waits": home.workflow_waits(run_id),
        "held": home.workflow_held(run_id),
    }
    args: dict[str, scripts.Arg] = {
        "event_id": event_id,
        "waiter": _waiter_encoder.encode(waiter),
        "timeout_step": _raw(timeout_message.envelope.id, timeout_message.body),
        "idle_ms": idle_ms(conn),
    }
    for _ in range(_RACES):
        reply = await conn.scripts.call(
            scripts.WORKFLOW_WAIT, home, keys, args, *messages_tail([timeout_message])
        )
        if reply == b"ok":
            return
        if reply != b"held":
            raise BadRequest(f"workflow run {run_id} is not running")
        data: Any = await conn.redis.hget(keys["held"], event_id)
        taken = (keys["held"], data)
        if data is not None and await _hand_over(conn, home, run_id, event_id, waiter, data, taken):
            return
    raise BadRequest(f"the wait for {event_id} kept crossing a notify; try again")


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
    """One run an event reached: the message that delivers the event to its waiter, or no
    message and no waiter when the run holds the event for a later wait."""

    run_id: str
    message_id: str
    waiter: Waiter | None
    created_at: int


async def notify(conn: Connection, event_id: str, data: bytes) -> list[Notified]:
    """Hand the event to every run waiting for it; an event nobody waits for is lost."""
    index = workflow_event(event_id)
    members: Any = await conn.redis.smembers(index)
    notified = []
    for waiting in sorted(member.decode() for member in members):
        found = await _notify_run(conn, waiting, event_id, data)
        if found is None:
            await conn.redis.srem(index, waiting)
        else:
            notified.append(found)
    return notified


async def notify_run(conn: Connection, run_id: str, event_id: str, data: bytes) -> Notified | None:
    """Hand the event to run `run_id`'s waiter, or hold it in the run until the run waits
    for it; None when the run is unknown or has ended."""
    home = await partition_of_run(conn, run_id)
    keys = {
        "run": home.workflow_run(run_id)["run"],
        "waits": home.workflow_waits(run_id),
        "held": home.workflow_held(run_id),
    }
    args: dict[str, scripts.Arg] = {
        "event_id": event_id,
        "data": data,
        "max_held": MAX_HELD_EVENTS,
        "idle_ms": idle_ms(conn),
    }
    for _ in range(_RACES):
        found = await _notify_run(conn, run_id, event_id, data)
        if found is not None:
            return found
        reply = await conn.scripts.call(scripts.WORKFLOW_HOLD, home, keys, args)
        if reply == b"held":
            created: Any = await conn.redis.hget(keys["run"], "created")
            return Notified(run_id, "", None, int(created or 0))
        if reply == b"full":
            raise BadRequest(
                f"workflow run {run_id} holds {MAX_HELD_EVENTS} events it does not wait for"
            )
        if reply != b"waiting":  # 'waiting': a wait came in meanwhile, notify it
            return None
    raise BadRequest(f"the notify of {event_id} kept crossing a wait; try again")


async def _notify_run(conn: Connection, run_id: str, event_id: str, data: bytes) -> Notified | None:
    home = await partition_of_run(conn, run_id)
    waits = home.workflow_waits(run_id)
    raw_waiter: Any = await conn.redis.hget(waits, event_id)
    if raw_waiter is None:
        return None
    waiter = _waiter_decoder.decode(raw_waiter)
    message_id = await _hand_over(conn, home, run_id, event_id, waiter, data, (waits, raw_waiter))
    if message_id is None:
        return None
    return Notified(run_id, message_id, waiter, waiter.template.workflow_created_at or 0)


async def _hand_over(
    conn: Connection,
    home: PartitionKeys,
    run_id: str,
    event_id: str,
    waiter: Waiter,
    data: bytes,
    taken: tuple[str, bytes],
) -> str | None:
    """Deliver the event to the run's wait now: `{...step, out: base64(data)}` joins the
    steps, and `taken` (a hash and the value this takes from it for the event: the run's
    waiter, or the event it held) goes. The new message's id, or None when something else
    took that entry first."""
    step = _json.encode(waiter.step | {"out": base64.b64encode(data).decode()})
    now = int(time.time() * 1000)
    envelope = msgspec.structs.replace(
        waiter.template, id=new_message_id(home), created_at=now, not_before=now
    )
    pending, expected = taken
    keys = home.workflow_run(run_id) | {"pending": pending}
    args: dict[str, scripts.Arg] = {
        "event_id": event_id,
        "expected": expected,
        "step": _raw(envelope.id, step),
    }
    done = await conn.scripts.call(
        scripts.WORKFLOW_NOTIFY, home, keys, args, *messages_tail([Draft(envelope, step)])
    )
    return envelope.id if done else None


def waiter_view(waiter: Waiter) -> dict[str, Any]:
    """A `Waiter` of the SDKs (getWaiters, and in a NotifyResponse); `deadline` in seconds."""
    template = waiter.template
    view: dict[str, Any] = {
        "url": template.url,
        "deadline": waiter.deadline_ms // 1000,
        "headers": template.headers,
        "timeoutUrl": template.url,
        "timeoutHeaders": template.headers,
    }
    if waiter.timeout_body is not None:
        view["timeoutBody"] = waiter.timeout_body
    return view


def notify_answer(notified: Notified) -> dict[str, Any]:
    """A `NotifyResponse` of the SDKs; an event held for a later wait has no waiter and no
    message yet."""
    answer: dict[str, Any] = {
        "messageId": notified.message_id,
        "error": "",
        "workflowRunId": notified.run_id,
        "workflowCreatedAt": notified.created_at,
    }
    if notified.waiter is not None:
        answer["waiter"] = waiter_view(notified.waiter)
    return answer


async def waiters(conn: Connection, event_id: str) -> list[Waiter]:
    """The runs' waiters for an event, at most MAX_LISTED_WAITERS, by run id."""
    members: Any = await conn.redis.smembers(workflow_event(event_id))
    found = []
    for run_id in sorted(member.decode() for member in members)[:MAX_LISTED_WAITERS]:
        home = await partition_of_run(conn, run_id)
        raw: Any = await conn.redis.hget(home.workflow_waits(run_id), event_id)
        if raw is not None:
            found.append(_waiter_decoder.decode(raw))
    return found
