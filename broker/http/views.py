"""JSON shapes of the API objects, with the exact key spellings the SDKs read (qstash-api.md 8).

Keys that the Python SDK reads with `[...]` are always present; optional ones are left out
when empty, as the Go server does.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from broker.queue.model import Envelope
from broker.queue.store import StoredMessage


def body_fields(body: bytes, text_key: str = "body", b64_key: str = "bodyBase64") -> dict[str, str]:
    """`body` when the bytes are UTF-8 text, else `bodyBase64`."""
    try:
        return {text_key: body.decode("utf-8")}
    except UnicodeDecodeError:
        return {b64_key: base64.b64encode(body).decode()}


def redacted(value: bytes) -> str:
    """How a redacted value appears in the API: its SHA-256, never the value."""
    return "REDACTED:" + hashlib.sha256(value).hexdigest()


def _shown_headers(envelope: Envelope) -> dict[str, list[str]]:
    hidden = set(envelope.redact_headers)
    return {
        name: [redacted(v.encode()) for v in values] if "*" in hidden or name in hidden else values
        for name, values in envelope.headers.items()
    }


def envelope_fields(envelope: Envelope) -> dict[str, Any]:
    """The Message keys that come from the envelope."""
    fields: dict[str, Any] = {
        "messageId": envelope.id,
        "url": envelope.url,
        "method": envelope.method,
        "header": _shown_headers(envelope),
        "maxRetries": envelope.retries,
        "notBefore": envelope.not_before,
        "createdAt": envelope.created_at,
        "callerIP": envelope.caller_ip,
        "callerIp": envelope.caller_ip,
    }
    optional = {
        "topicName": envelope.topic_name,
        "endpointName": envelope.endpoint_name,
        "queueName": envelope.queue_name,
        "scheduleId": envelope.schedule_id,
        "retryDelayExpression": envelope.retry_delay,
        "callback": envelope.callback.url if envelope.callback else None,
        "callbackHeader": envelope.callback.headers if envelope.callback else None,
        "failureCallback": envelope.failure_callback.url if envelope.failure_callback else None,
        "failureCallbackHeader": (
            envelope.failure_callback.headers if envelope.failure_callback else None
        ),
    }
    fields.update({k: v for k, v in optional.items() if v is not None})
    if envelope.labels:
        fields["label"] = envelope.labels[0]
        fields["labels"] = list(envelope.labels)
    return fields | flow_control_fields(envelope)


def flow_control_fields(envelope: Envelope) -> dict[str, Any]:
    """Present only with a key (Python builds a flow-control object whenever it sees one);
    `period` then always, default 1; `parallelism` and `rate` only when set."""
    if not envelope.flow_control_key:
        return {}
    fields: dict[str, Any] = {
        "flowControlKey": envelope.flow_control_key,
        "period": envelope.period or 1,
    }
    if envelope.parallelism:
        fields["parallelism"] = envelope.parallelism
    if envelope.rate:
        fields["rate"] = envelope.rate
    return fields


def message_json(message: StoredMessage) -> dict[str, Any]:
    """`GET /v2/messages/{id}`."""
    if message.envelope.redact_body:
        return envelope_fields(message.envelope) | {"body": redacted(message.body)}
    return envelope_fields(message.envelope) | body_fields(message.body)


def dlq_json(message: StoredMessage, dlq_id: str) -> dict[str, Any]:
    """A DLQ message: the Message keys plus the last response (`responseStatus` always)."""
    response = message.last_response
    fields = message_json(message) | {"dlqId": dlq_id, "responseStatus": 0}
    if response is not None:
        fields["responseStatus"] = response.status
        fields["responseHeader"] = response.headers
        fields |= body_fields(response.body, "responseBody", "responseBodyBase64")
        if response.error:
            fields["error"] = response.error
    return fields
