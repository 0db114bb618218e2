"""The stored message envelope and the values that travel between roles.

The envelope is immutable once published and is stored msgpack-encoded in the message hash
(field `m`); the mutable parts of a message (state, attempts, last response) are separate hash
fields, so settling never re-encodes the body. New fields always get defaults, so old and new
workers can share a stream during a rolling deploy.
"""

from __future__ import annotations

from enum import StrEnum

import msgspec


class State(StrEnum):
    """Event states exactly as the SDKs parse them (note CANCELED with one L)."""

    CREATED = "CREATED"
    ACTIVE = "ACTIVE"
    RETRY = "RETRY"
    ERROR = "ERROR"
    DELIVERED = "DELIVERED"
    FAILED = "FAILED"
    CANCEL_REQUESTED = "CANCEL_REQUESTED"
    CANCELED = "CANCELED"


class CallbackSpec(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Where and how to send a callback or failure callback (itself a signed message)."""

    url: str
    method: str = "POST"
    headers: dict[str, list[str]] = {}
    retries: int | None = None
    timeout_ms: int | None = None
    retry_delay: str | None = None
    delay_ms: int = 0
    # A workflow's callbacks (context.call results, the failure function) are deliveries of
    # its run: `Upstash-(Failure-)Callback-Workflow-RunId` and `-CallType` (docs/workflow.md).
    workflow_run_id: str | None = None
    workflow_call_type: str | None = None


class WorkflowHeaders(msgspec.Struct, frozen=True, kw_only=True):
    """`Upstash-Workflow-RunId`, `-Init`, `-Url` and `-CallType` of a workflow publish."""

    run_id: str
    init: bool
    url: str | None = None
    call_type: str = "step"
    # `Upstash-Feature-Set` has WF_DetectTrigger: a trigger answered without the SDK's
    # version header reached no workflow app, and the run fails.
    detect_trigger: bool = False
    # `Upstash-Workflow-Invoke: true`: the trigger of a run that context.invoke starts; its
    # body is the SDK's invoke request (broker/queue/workflow_invoke.py).
    invoke: bool = False


class FlowControl(msgspec.Struct, frozen=True, kw_only=True):
    """`Upstash-Flow-Control-Key` with its `parallelism=N, rate=N, period=<duration>` value."""

    key: str
    parallelism: int | None = None
    rate: int | None = None
    period_s: int = 1


class PublishOptions(msgspec.Struct, frozen=True, kw_only=True):
    """What one publish asks for (parsed from its `Upstash-*` headers by broker/options.py).

    Stored as it is inside schedule definitions, so it follows the envelope's rule: new fields
    get defaults, and old records decode unchanged.
    """

    method: str = "POST"
    headers: dict[str, list[str]] = {}
    retries: int
    retry_delay: str | None = None
    timeout_ms: int
    delay_ms: int = 0
    not_before_ms: int | None = None
    callback: CallbackSpec | None = None
    failure_callback: CallbackSpec | None = None
    labels: tuple[str, ...] = ()
    deduplication_id: str | None = None
    content_based_deduplication: bool = False
    flow_control: FlowControl | None = None
    redact_body: bool = False
    # Header names whose values the API shows redacted; "*" means every header.
    redact_headers: tuple[str, ...] = ()
    workflow: WorkflowHeaders | None = None


class Envelope(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Everything needed to deliver one message to one URL, except its body (hash field `b`)."""

    id: str
    url: str
    method: str = "POST"
    headers: dict[str, list[str]] = {}
    retries: int = 3
    retry_delay: str | None = None
    timeout_ms: int = 30_000
    created_at: int
    not_before: int
    caller_ip: str = ""
    callback: CallbackSpec | None = None
    failure_callback: CallbackSpec | None = None
    topic_name: str | None = None
    endpoint_name: str | None = None
    queue_name: str | None = None
    schedule_id: str | None = None
    labels: tuple[str, ...] = ()
    # Flow control: messages sharing a key share its limits (rate per period, parallelism).
    flow_control_key: str | None = None
    parallelism: int | None = None
    rate: int | None = None
    period: int | None = None  # seconds
    # Upstash-Redact-Fields: what the API shows as `REDACTED:<sha256>` (deliveries use the
    # real values). Header names, or "*" for all of them.
    redact_body: bool = False
    redact_headers: tuple[str, ...] = ()
    # Set on callback messages: the id of the message whose outcome they report.
    source_message_id: str | None = None
    # A message of a workflow run (docs/workflow.md): its run, what it is (`step`,
    # `toCallback`, `fromCallback`, `failureCall`), and the run's creation time (ms).
    workflow_run_id: str | None = None
    workflow_call_type: str | None = None
    workflow_created_at: int | None = None
    # The trigger of a run whose SDK asked for WF_DetectTrigger (workers/workflow.py).
    workflow_detect_trigger: bool = False


# The workflow_call_type of a run's failure callback.
FAILURE_CALL = "failureCall"


class Response(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """What the destination answered to one attempt (status 0 = no HTTP response)."""

    status: int = 0
    headers: dict[str, list[str]] = {}
    body: bytes = b""
    error: str = ""


_envelope_encoder = msgspec.msgpack.Encoder()
_envelope_decoder = msgspec.msgpack.Decoder(Envelope)
_response_decoder = msgspec.msgpack.Decoder(Response)


def encode(value: Envelope | Response) -> bytes:
    """Serialise an envelope or response for storage."""
    return _envelope_encoder.encode(value)


def decode_envelope(data: bytes) -> Envelope:
    """Read back a stored envelope."""
    return _envelope_decoder.decode(data)


def decode_response(data: bytes) -> Response:
    """Read back a stored response."""
    return _response_decoder.decode(data)
