"""The events log: what each state change records, and reading it back.

Each partition has a capped stream. An entry holds the message id `m`, the state `s`, the
message's event header `h` (JSON fields common to all its events, written once at publish)
and `x`, the JSON fields of this one event. The stream entry id gives the event time.
"""

from __future__ import annotations

from typing import Any

import msgspec

from broker.queue.model import Envelope

_json = msgspec.json.Encoder()


def event_header(envelope: Envelope) -> bytes:
    """The event fields that every event of this message repeats (API spelling)."""
    fields: dict[str, Any] = {
        "url": envelope.url,
        "method": envelope.method,
        "maxRetries": envelope.retries,
        "callerIp": envelope.caller_ip,
    }
    optional = {
        "topicName": envelope.topic_name,
        "endpointName": envelope.endpoint_name,
        "queueName": envelope.queue_name,
        "scheduleId": envelope.schedule_id,
        "callback": envelope.callback.url if envelope.callback else None,
        "failureCallback": envelope.failure_callback.url if envelope.failure_callback else None,
        "retryDelayExpr": envelope.retry_delay,
        "retryDelayExpression": envelope.retry_delay,
    }
    fields.update({k: v for k, v in optional.items() if v is not None})
    if envelope.labels:
        fields["label"] = envelope.labels[0]
        fields["labels"] = list(envelope.labels)
    if envelope.flow_control_key:
        fields["flowControlKey"] = envelope.flow_control_key
    return _json.encode(fields)


def event_extra(**fields: Any) -> bytes:
    """The fields of one event (error, responseStatus, ...), leaving out empty ones."""
    return _json.encode({k: v for k, v in fields.items() if v not in (None, "", {})})


_decode = msgspec.json.Decoder(dict[str, Any])


def event_json(
    message_id: bytes, state: bytes, header: bytes, extra: bytes, time_ms: int
) -> dict[str, Any]:
    """An Event object (qstash-api.md 8.4) from a stored entry."""
    event = _decode.decode(header) | _decode.decode(extra)
    if "responseHeader" in event:
        event["responseHeaders"] = event["responseHeader"]
    event.update(time=time_ms, messageId=message_id.decode(), state=state.decode())
    return event
