"""The API objects as msgspec Structs, with the exact keys the SDKs read (qstash-api.md 8).

Keys that the Python SDK reads with `[...]` are required fields, so they are always sent;
optional ones default to None (or empty) and are left out when unset, as the QStash server
does. The ingress renders them (broker/http/views.py), the workers build callback bodies
with them, and the events log stores the envelope part of an Event. This module depends
on the domain model only, never on broker/http, workers or scheduler.
"""

from __future__ import annotations

import functools
from typing import Any, TypeVar

import msgspec

from broker.queue.model import CallbackSpec, Envelope

# Keys the SDKs read under two spellings: Python reads `callerIP` where the TypeScript types
# and OpenAPI say `callerIp`; for events, Python reads `retryDelayExpr` and `responseHeader`
# where the docs say `retryDelayExpression` and `responseHeaders`. A shape that sends both
# declares the second spelling with `also()`; Shape.__post_init__ copies the value into it,
# so the spellings cannot disagree. Which shapes send which spelling today:
#   callerIp + callerIP: Message, DLQ message, Schedule;  callerIp: Event;  callerIP: Callback.
QUIRKS = {
    # second spelling → the key whose value it repeats
    "callerIP": "callerIp",
    "retryDelayExpr": "retryDelayExpression",
    "responseHeaders": "responseHeader",
}
Headers = dict[str, list[str]]
S = TypeVar("S", bound="Shape")


def also(key: str) -> Any:
    """A field sent as `key`, holding the same value as the field QUIRKS names for it."""
    assert key in QUIRKS, key
    return msgspec.field(default=None, name=key)


@functools.cache
def _copies(shape: type[Shape]) -> tuple[tuple[str, str], ...]:
    """(field, field it repeats) for each second spelling `shape` declares."""
    by_key = {f.encode_name: f.name for f in msgspec.structs.fields(shape)}
    pairs = [(by_key.get(key), by_key.get(source)) for key, source in QUIRKS.items()]
    return tuple((alias, source) for alias, source in pairs if alias and source)


class Shape(msgspec.Struct, frozen=True, kw_only=True, rename="camel", omit_defaults=True):
    """Base of the API objects: camelCase keys, unset optional keys left out."""

    def __post_init__(self) -> None:
        for alias, source in _copies(type(self)):
            msgspec.structs.force_setattr(self, alias, getattr(self, source))


class _Origin(Shape, frozen=True, kw_only=True):
    """What every message-derived object (Message, Event, callback) says of the message."""

    url: str
    method: str
    max_retries: int
    topic_name: str | None = None
    endpoint_name: str | None = None
    schedule_id: str | None = None


class _Routed(_Origin, frozen=True, kw_only=True):
    """The envelope keys a Message and an Event share."""

    caller_ip: str
    queue_name: str | None = None
    callback: str | None = None
    failure_callback: str | None = None
    retry_delay_expression: str | None = None
    label: str | None = None
    labels: list[str] = []
    flow_control_key: str | None = None
    period: int | None = None
    parallelism: int | None = None
    rate: int | None = None


class Message(_Routed, frozen=True, kw_only=True):
    """`GET /v2/messages/{id}` (qstash-api.md 8.2); `body` is text, else `bodyBase64`."""

    message_id: str
    header: Headers
    not_before: int
    created_at: int
    caller_ip_py: str | None = also("callerIP")
    callback_header: Headers | None = None
    failure_callback_header: Headers | None = None
    body: str | None = None
    body_base64: str | None = None


class DlqMessage(Message, frozen=True, kw_only=True):
    """A DLQ entry (8.3): the Message plus the last response (`responseStatus` always)."""

    dlq_id: str
    response_status: int
    response_header: Headers | None = None
    response_body: str | None = None
    response_body_base64: str | None = None
    error: str | None = None
    # A failed workflow step's entry (what `client.dlq.list` of @upstash/workflow reads).
    source: str | None = None  # "workflow"
    workflow_run_id: str | None = None
    workflow_url: str | None = None
    workflow_created_at: int | None = None


class EventFields(_Routed, frozen=True, kw_only=True):
    """What one event records: its message's keys (written once at publish, the stored
    event header) and the event's own keys. Every key an event may record is listed here."""

    retry_delay_expr: str | None = also("retryDelayExpr")
    error: str | None = None
    response_status: int | None = None
    response_header: Headers | None = None
    response_headers: Headers | None = also("responseHeaders")
    response_body: str | None = None
    next_delivery_time: int | None = None


class Event(EventFields, frozen=True, kw_only=True):
    """An item of `GET /v2/events` and `/v2/logs` (8.4)."""

    time: int
    message_id: str
    state: str


class Callback(_Origin, frozen=True, kw_only=True):
    """What a callback URL receives about one attempt (6.2); bodies are base64. A failure
    callback (6.3) also carries the `dlqId` of the dead-lettered message."""

    status: int
    header: Headers
    body: str
    retried: int
    source_message_id: str
    source_header: Headers
    source_body: str
    not_before: int
    created_at: int
    caller_ip: str = msgspec.field(name="callerIP")  # only this spelling (QUIRKS)
    error: str | None = None
    dlq_id: str | None = None
    # Of a workflow run's message; the SDK's failure function reads both.
    workflow_run_id: str | None = None
    workflow_created_at: int | None = None


class Schedule(Shape, frozen=True, kw_only=True):
    """The Schedule object (8.5); `timeout` and `delay` in seconds. Each optional key is sent
    only when the schedule sets it, as QStash does: no `body` without a body, no `header`
    without headers, no `timeout` unless Upstash-Timeout was given."""

    schedule_id: str
    cron: str
    destination: str
    method: str
    header: Headers | None = None
    retries: int
    timeout: int | None = None
    created_at: int
    caller_ip: str
    caller_ip_py: str | None = also("callerIP")
    is_paused: bool
    callback: str | None = None
    callback_header: Headers | None = None
    failure_callback: str | None = None
    failure_callback_header: Headers | None = None
    delay: int | None = None
    queue_name: str | None = None
    retry_delay_expression: str | None = None
    last_schedule_time: int | None = None
    next_schedule_time: int | None = None
    last_schedule_states: dict[str, str] | None = None
    error: str | None = None
    label: str | None = None
    labels: list[str] = []
    flow_control_key: str | None = None
    parallelism: int | None = None
    rate: int | None = None
    period: int | None = None
    body: str | None = None
    body_base64: str | None = None


class Queue(Shape, frozen=True, kw_only=True):
    """An ordered queue (8.6); `lag` counts its undelivered messages."""

    name: str
    parallelism: int
    created_at: int
    updated_at: int
    lag: int
    paused: bool


class Endpoint(Shape, frozen=True, kw_only=True):
    """One destination of a URL group."""

    url: str
    name: str | None = None


class UrlGroup(Shape, frozen=True, kw_only=True):
    """A URL group ("topic", 8.7)."""

    name: str
    created_at: int
    updated_at: int
    endpoints: list[Endpoint]


class FlowControl(Shape, frozen=True, kw_only=True):
    """Flow-control info (8.8): every key sent, periods in seconds, start in unix seconds."""

    flow_control_key: str
    wait_list_size: int
    parallelism_max: int
    parallelism_count: int
    rate_max: int
    rate_count: int
    rate_period: int
    rate_period_start: int
    is_paused: bool
    is_pinned_parallelism: bool
    is_pinned_rate: bool


class GlobalParallelism(Shape, frozen=True, kw_only=True):
    """`GET /v2/globalParallelism`."""

    parallelism_max: int
    parallelism_count: int


class StepLog(Shape, frozen=True, kw_only=True):
    """One finished step of a workflow run, as `client.logs` shows it."""

    step_id: int
    step_name: str
    step_type: str
    call_type: str
    message_id: str
    concurrent: int
    state: str
    out: str | None = None
    # When its message was published (ms), and the retries its delivery has.
    created_at: int
    retries: int
    retry_delay: str | None = None
    sleep_for: Any = None  # seconds, or a duration string, as the SDK sent it
    sleep_until: int | None = None


class StepLogGroup(Shape, frozen=True, kw_only=True):
    """Steps run one after another (`sequential`, one each) or together (`parallel`)."""

    type: str
    steps: list[StepLog]


class WorkflowInvoker(Shape, frozen=True, kw_only=True):
    """The run whose context.invoke started a run (`invoker` of `WorkflowRunLog`)."""

    workflow_run_id: str
    workflow_url: str
    workflow_run_created_at: int


class StepError(Shape, frozen=True, kw_only=True):
    """The last failed attempt of a run's message (hookstream keeps no time of it)."""

    error: str
    body: str
    headers: dict[str, list[str]]
    status: int


class NextStepLog(Shape, frozen=True, kw_only=True):
    """A run's message under way: waiting, in flight, retrying, dead-lettered, cancelled."""

    message_id: str
    state: str  # STEP_PROGRESS | STEP_RETRY | STEP_FAILED | STEP_CANCELED
    retries: int
    retry_delay: str | None = None
    errors: list[StepError] | None = None


class NextStepLogGroup(Shape, frozen=True, kw_only=True):
    """The `next` group of the logs: the run's messages not delivered yet."""

    type: str  # "next"
    steps: list[NextStepLog]


class FailureFunctionLog(Shape, frozen=True, kw_only=True):
    """The failure callback a failed step created (`failureFunction` of the SDK's logs)."""

    message_id: str
    url: str
    state: str  # CALLBACK_INPROGRESS | CALLBACK_SUCCESS | CALLBACK_FAIL | CALLBACK_CANCELED
    fail_headers: dict[str, list[str]]
    fail_status: int
    fail_response: str
    dlq_id: str
    errors: list[StepError] | None = None


class WorkflowRun(Shape, frozen=True, kw_only=True):
    """A workflow run (`WorkflowRunLog` of @upstash/workflow, `WorkflowRun` in the OpenAPI)."""

    workflow_run_id: str
    workflow_url: str
    workflow_state: str
    workflow_run_created_at: int
    workflow_run_completed_at: int | None = None
    workflow_run_response: str | None = None
    # Why hookstream failed the run itself (a trigger that reached no workflow app).
    workflow_run_error: str | None = None
    label: str | None = None
    steps: list[StepLogGroup | NextStepLogGroup] = []
    invoker: WorkflowInvoker | None = None
    failure_function: FailureFunctionLog | None = None
    dlq_id: str | None = None


def callback_fields(callback: CallbackSpec | None, failure: CallbackSpec | None) -> dict[str, Any]:
    """`callback`/`failureCallback` for those configured, with their headers when they
    forward any."""
    fields: dict[str, Any] = {}
    if callback is not None:
        fields |= {"callback": callback.url, "callback_header": callback.headers or None}
    if failure is not None:
        fields |= {
            "failure_callback": failure.url,
            "failure_callback_header": failure.headers or None,
        }
    return fields


def flow_control_fields(
    key: str | None, parallelism: int | None, rate: int | None, period_s: int | None
) -> dict[str, Any]:
    """`flowControlKey` with the limits that are set, and `period` always (default 1 s), or
    nothing without a key: the Python SDK builds its flow-control object whenever the key is
    there."""
    if not key:
        return {}
    return {
        "flow_control_key": key,
        "period": period_s or 1,
        "parallelism": parallelism or None,
        "rate": rate or None,
    }


def label_fields(labels: tuple[str, ...]) -> dict[str, Any]:
    """`label` (the first) and `labels` (all), when there are any."""
    return {"label": labels[0], "labels": list(labels)} if labels else {}


def _envelope_fields(envelope: Envelope) -> dict[str, Any]:
    """Every value the envelope gives an API object, by field name (the one map of it)."""
    fields: dict[str, Any] = {
        "message_id": envelope.id,
        "source_message_id": envelope.id,
        "url": envelope.url,
        "method": envelope.method,
        "source_header": envelope.headers,
        "max_retries": envelope.retries,
        "not_before": envelope.not_before,
        "created_at": envelope.created_at,
        "caller_ip": envelope.caller_ip,
        "topic_name": envelope.topic_name,
        "endpoint_name": envelope.endpoint_name,
        "queue_name": envelope.queue_name,
        "schedule_id": envelope.schedule_id,
        "retry_delay_expression": envelope.retry_delay,
        "workflow_run_id": envelope.workflow_run_id,
        "source": "workflow" if envelope.workflow_run_id else None,
        "workflow_url": envelope.url if envelope.workflow_run_id else None,
        "workflow_created_at": envelope.workflow_created_at,
    }
    fields |= callback_fields(envelope.callback, envelope.failure_callback)
    fields |= label_fields(envelope.labels)
    fields |= flow_control_fields(
        envelope.flow_control_key, envelope.parallelism, envelope.rate, envelope.period
    )
    return fields


@functools.cache
def _declared(shape: type[Shape]) -> frozenset[str]:
    return frozenset(shape.__struct_fields__)


def from_envelope(shape: type[S], envelope: Envelope, **fields: Any) -> S:
    """A `shape` holding each envelope value it declares a field for, plus `fields`."""
    declared = _declared(shape)
    given = {name: value for name, value in _envelope_fields(envelope).items() if name in declared}
    given.update(fields)
    return shape(**given)
