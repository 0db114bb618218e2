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
from broker.queue.keys import tick_of
from broker.queue.model import Envelope, Response, State
from broker.queue.queues import QueueInfo
from broker.queue.schedules import StoredSchedule
from broker.queue.store import StoredMessage
from broker.queue.topics import UrlGroup
from broker.queue.workflow_link import Invoker
from broker.queue.workflow_progress import Pending, Progress
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
    sleep_for: Any = None
    sleep_until: int | None = None


_sdk_step = msgspec.json.Decoder(_SdkStep)


def workflow_run_view(run: Run, progress: Progress | None = None) -> api.WorkflowRun:
    """A run with its finished steps: the initial payload, then each result step (plan
    steps, stepId 0, only announce work), parallel results grouped; with its `progress`,
    the `next` group of its messages under way and its failure callback."""
    groups: list[api.StepLogGroup | api.NextStepLogGroup] = []
    for index, raw in enumerate(run.steps):
        if raw.call_type != "step":
            continue
        body = base64.b64decode(raw.body)
        timing = _step_timing(run, raw.message_id)
        log = (
            _step_log(raw.message_id, body, timing)
            if index
            else _initial_log(raw.message_id, body, timing)
        )
        if log is None:
            continue
        last = groups[-1] if groups else None
        if log.concurrent > 1 and isinstance(last, api.StepLogGroup) and last.type == "parallel":
            last.steps.append(log)
            continue
        kind = "parallel" if log.concurrent > 1 else "sequential"
        groups.append(api.StepLogGroup(type=kind, steps=[log]))
    if progress is not None and progress.pending:
        groups.append(api.NextStepLogGroup(type="next", steps=_next_steps(run, progress)))
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
        failure_function=_failure_function(run, progress) if progress else None,
        dlq_id=progress.dlq_id if progress else None,
    )


def _invoker(invoker: Invoker | None) -> api.WorkflowInvoker | None:
    if invoker is None:
        return None
    return api.WorkflowInvoker(
        workflow_run_id=invoker.run_id,
        workflow_url=invoker.url,
        workflow_run_created_at=invoker.created_at,
    )


def _step_timing(run: Run, message_id: str) -> dict[str, Any]:
    """A step's creation time (the time part of its message id, made when it was published)
    and the retries it inherits from the trigger."""
    try:
        created = tick_of(message_id)
    except (ValueError, IndexError):
        created = run.created_at
    return {"created_at": created, "retries": run.config.retries,
            "retry_delay": run.config.retry_delay}  # fmt: skip


def _initial_log(message_id: str, body: bytes, timing: dict[str, Any]) -> api.StepLog:
    out = body.decode(errors="replace")
    return api.StepLog(
        step_id=0, step_name="init", step_type="Initial", call_type="step",
        message_id=message_id, concurrent=1, state="STEP_SUCCESS", out=out, **timing,
    )  # fmt: skip


def _step_log(message_id: str, body: bytes, timing: dict[str, Any]) -> api.StepLog | None:
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
        sleep_for=step.sleep_for, sleep_until=step.sleep_until, **timing,
    )  # fmt: skip


# A run's message under way → its `next` state; a cancelled one's record is gone.
_NEXT_STATES = {
    State.CREATED: "STEP_PROGRESS", State.ACTIVE: "STEP_PROGRESS", State.RETRY: "STEP_RETRY",
    State.ERROR: "STEP_RETRY", State.FAILED: "STEP_FAILED", State.CANCEL_REQUESTED: "STEP_CANCELED",
}  # fmt: skip
_CALLBACK_STATES = {
    State.DELIVERED: "CALLBACK_SUCCESS", State.FAILED: "CALLBACK_FAIL",
    State.CANCEL_REQUESTED: "CALLBACK_CANCELED",
}  # fmt: skip


def _next_steps(run: Run, progress: Progress) -> list[api.NextStepLog]:
    return [_next_step(run, pending) for pending in progress.pending]


def _next_step(run: Run, pending: Pending) -> api.NextStepLog:
    """A message under way, or one the run's cancel removed (its record went with it: the
    run's retries are the ones it had)."""
    stored = pending.stored
    if stored is None:
        return api.NextStepLog(
            message_id=pending.message_id, state="STEP_CANCELED",
            retries=run.config.retries, retry_delay=run.config.retry_delay,
        )  # fmt: skip
    return api.NextStepLog(
        message_id=pending.message_id,
        state=_NEXT_STATES.get(State(stored.state), "STEP_PROGRESS"),
        retries=stored.envelope.retries, retry_delay=stored.envelope.retry_delay,
        errors=_errors(stored),
    )  # fmt: skip


def _errors(stored: StoredMessage | None) -> list[api.StepError] | None:
    """The last failed attempt's answer, when the message has had one."""
    response = stored.last_response if stored is not None else None
    if response is None or stored is None or stored.state not in (State.RETRY, State.FAILED):
        return None
    return [_step_error(response)]


def _step_error(response: Response) -> api.StepError:
    return api.StepError(
        error=response.error or f"HTTP {response.status}",
        body=response.body.decode(errors="replace"),
        headers=response.headers,
        status=response.status,
    )


def _failure_function(run: Run, progress: Progress) -> api.FailureFunctionLog | None:
    """The failure callback of a run that a dead-lettered step failed, if it has one; its
    state from its record (kept HOOKSTREAM_DELIVERED_RETENTION once delivered; a record
    gone after that counts as delivered)."""
    spec = run.config.failure_callback
    if progress.failure_id is None or spec is None:
        return None
    failure, failed = progress.failure, progress.failed_step
    answer = failed.last_response if failed is not None else None
    state = (
        _CALLBACK_STATES.get(State(failure.state), "CALLBACK_INPROGRESS")
        if failure
        else "CALLBACK_SUCCESS"
    )
    return api.FailureFunctionLog(
        message_id=progress.failure_id,
        url=spec.url,
        state=state,
        fail_headers=answer.headers if answer else {},
        fail_status=answer.status if answer else 0,
        fail_response=answer.body.decode(errors="replace") if answer else "",
        dlq_id=progress.dlq_id or "",
        errors=_errors(failure),
    )
