"""Rendering: domain objects → the API Structs of broker/api.py → JSON answers.

This is the one place the ingress builds API objects; the queue layer hands over domain
objects (stored messages, gates, groups, schedules, events) and the routes answer with
`respond(view(...))`.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import msgspec
from aiohttp import web

from broker import api
from broker.api import callback_fields, flow_control_fields, from_envelope, label_fields
from broker.queue.events import StoredEvent
from broker.queue.flow_control import FlowControlInfo
from broker.queue.model import Envelope, Response
from broker.queue.queues import QueueInfo
from broker.queue.schedules import StoredSchedule
from broker.queue.store import StoredMessage
from broker.queue.topics import UrlGroup
from broker.queue.workflow_link import Invoker
from broker.queue.workflow_runs import Run

_json = msgspec.json.Encoder()


def respond(value: object, status: int = 200) -> web.Response:
    """An API answer: `value` (a shape, or lists and dicts of them) as JSON."""
    body = _json.encode(value)
    return web.Response(body=body, status=status, content_type="application/json", charset="utf-8")


def as_json(shape: api.Shape) -> dict[str, Any]:
    """The object as the client sees it, keyed by API spelling (what list filters match)."""
    shown: dict[str, Any] = msgspec.to_builtins(shape)
    return shown


def body_fields(body: bytes, field: str = "body") -> dict[str, Any]:
    """`<field>` when the bytes are UTF-8 text, else `<field>_base64`."""
    try:
        return {field: body.decode("utf-8")}
    except UnicodeDecodeError:
        return {f"{field}_base64": base64.b64encode(body).decode()}


def redacted(value: bytes) -> str:
    """How a redacted value appears in the API: its SHA-256, never the value."""
    return "REDACTED:" + hashlib.sha256(value).hexdigest()


def _shown_headers(envelope: Envelope) -> dict[str, list[str]]:
    hidden = set(envelope.redact_headers)
    return {
        name: [redacted(v.encode()) for v in values] if "*" in hidden or name in hidden else values
        for name, values in envelope.headers.items()
    }


def _message_fields(message: StoredMessage) -> dict[str, Any]:
    """The Message keys that are not the envelope's own: headers and body, redacted. A
    delivered message kept for reading has no body left to show."""
    env, body = message.envelope, message.body
    shown: dict[str, Any] = {}
    if body is not None:
        shown = {"body": redacted(body)} if env.redact_body else body_fields(body)
    return {"header": _shown_headers(env), **shown}


def message_view(message: StoredMessage) -> api.Message:
    """`GET /v2/messages/{id}`."""
    return from_envelope(api.Message, message.envelope, **_message_fields(message))


def _response_fields(response: Response | None) -> dict[str, Any]:
    if response is None:
        return {"response_status": 0}  # no attempt got an HTTP answer
    return {
        "response_status": response.status,
        "response_header": response.headers,
        "error": response.error or None,
        **body_fields(response.body, "response_body"),
    }


def dlq_view(message: StoredMessage, dlq_id: str) -> api.DlqMessage:
    """A DLQ message: the Message keys plus the last response."""
    fields = _message_fields(message) | _response_fields(message.last_response)
    return from_envelope(api.DlqMessage, message.envelope, dlq_id=dlq_id, **fields)


def event_view(event: StoredEvent) -> api.Event:
    """An Event from an events-log entry."""
    recorded = msgspec.structs.asdict(event.fields)
    return api.Event(time=event.time_ms, message_id=event.message_id, state=event.state, **recorded)


def schedule_view(stored: StoredSchedule, states: dict[str, str]) -> api.Schedule:
    """The Schedule object, with the states of the messages its last tick produced; the
    optional keys only for what the schedule sets."""
    spec, options = stored.spec, stored.spec.options
    return api.Schedule(
        schedule_id=spec.id,
        cron=spec.cron,
        destination=spec.destination,
        method=options.method,
        header=options.headers or None,
        retries=options.retries,
        timeout=options.timeout_ms // 1000 if spec.timeout_given else None,
        created_at=stored.created_at,
        caller_ip=spec.caller_ip,
        is_paused=stored.paused,
        delay=options.delay_ms // 1000 or None,
        queue_name=spec.queue_name,
        retry_delay_expression=options.retry_delay,
        last_schedule_time=stored.last_ms,
        next_schedule_time=stored.next_ms,
        last_schedule_states=states or None,
        error=stored.error,
        **_schedule_extras(stored),
    )


def _schedule_extras(stored: StoredSchedule) -> dict[str, Any]:
    """The Schedule keys that only a set option brings: callbacks, labels, flow control, body."""
    options = stored.spec.options
    fields = callback_fields(options.callback, options.failure_callback)
    fields |= label_fields(options.labels)
    if (flow := options.flow_control) is not None:
        fields |= flow_control_fields(flow.key, flow.parallelism, flow.rate, flow.period_s)
    if stored.body:
        fields |= body_fields(stored.body)
    return fields


def queue_view(queue: QueueInfo) -> api.Queue:
    """A queue; its lag counts every undelivered message, waiting or admitted."""
    return api.Queue(
        name=queue.name,
        parallelism=queue.parallelism,
        created_at=queue.created_at,
        updated_at=queue.updated_at,
        lag=queue.waiting + queue.admitted,
        paused=queue.paused,
    )


def group_view(group: UrlGroup) -> api.UrlGroup:
    endpoints = [api.Endpoint(url=e.url, name=e.name) for e in group.endpoints]
    return api.UrlGroup(
        name=group.name,
        created_at=group.created_at,
        updated_at=group.updated_at,
        endpoints=endpoints,
    )


def flow_control_view(info: FlowControlInfo) -> api.FlowControl:
    """Flow-control info, with the API's units (seconds) for the rate window."""
    return api.FlowControl(
        flow_control_key=info.key,
        wait_list_size=info.waiting,
        parallelism_max=info.parallelism_max,
        parallelism_count=info.parallelism_count,
        rate_max=info.rate_max,
        rate_count=info.rate_count,
        rate_period=info.period_ms // 1000,
        rate_period_start=info.period_start_ms // 1000,
        is_paused=info.paused,
        is_pinned_parallelism=info.pinned_parallelism,
        is_pinned_rate=info.pinned_rate,
    )


def global_parallelism_view(admitted: int) -> api.GlobalParallelism:
    """Messages admitted across every flow-control key; no global cap exists (max 0)."""
    return api.GlobalParallelism(parallelism_max=0, parallelism_count=admitted)


class _SdkStep(msgspec.Struct, frozen=True, rename="camel"):
    """What the SDK publishes as a step's body (the keys the logs show)."""

    step_id: int = 0
    step_name: str = ""
    step_type: str = ""
    out: Any = None
    concurrent: int = 1


_sdk_step = msgspec.json.Decoder(_SdkStep)


def workflow_run_view(run: Run) -> api.WorkflowRun:
    """A run with its finished steps: the initial payload, then each result step (plan
    steps, stepId 0, only announce work), parallel results grouped."""
    groups: list[api.StepLogGroup] = []
    for index, raw in enumerate(run.steps):
        if raw.call_type != "step":
            continue
        body = base64.b64decode(raw.body)
        log = _step_log(raw.message_id, body) if index else _initial_log(raw.message_id, body)
        if log is None:
            continue
        if log.concurrent > 1 and groups and groups[-1].type == "parallel":
            groups[-1].steps.append(log)
            continue
        kind = "parallel" if log.concurrent > 1 else "sequential"
        groups.append(api.StepLogGroup(type=kind, steps=[log]))
    return api.WorkflowRun(
        workflow_run_id=run.run_id,
        workflow_url=run.config.url,
        workflow_state=run.state,
        workflow_run_created_at=run.created_at,
        workflow_run_completed_at=run.ended_at,
        workflow_run_response=run.result.decode(errors="replace") if run.result else None,
        workflow_run_error=run.error,
        label=run.config.labels[0] if run.config.labels else None,
        steps=groups,
        invoker=_invoker(run.config.invoker),
    )


def _invoker(invoker: Invoker | None) -> api.WorkflowInvoker | None:
    if invoker is None:
        return None
    return api.WorkflowInvoker(
        workflow_run_id=invoker.run_id,
        workflow_url=invoker.url,
        workflow_run_created_at=invoker.created_at,
    )


def _initial_log(message_id: str, body: bytes) -> api.StepLog:
    out = body.decode(errors="replace")
    return api.StepLog(
        step_id=0, step_name="init", step_type="Initial", call_type="step",
        message_id=message_id, concurrent=1, state="STEP_SUCCESS", out=out,
    )  # fmt: skip


def _step_log(message_id: str, body: bytes) -> api.StepLog | None:
    try:
        step = _sdk_step.decode(body)
    except msgspec.DecodeError:
        return None
    if step.step_id == 0:
        return None
    out = step.out if isinstance(step.out, str) or step.out is None else _json.encode(step.out)
    return api.StepLog(
        step_id=step.step_id, step_name=step.step_name, step_type=step.step_type,
        call_type="step", message_id=message_id, concurrent=step.concurrent,
        state="STEP_SUCCESS", out=out if not isinstance(out, bytes) else out.decode(),
    )  # fmt: skip
