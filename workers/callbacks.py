"""Callback and failure-callback messages (qstash-api.md 6.2, 6.3).

A callback is an ordinary signed message to the callback URL, created inside the same script
that settles the attempt, so it cannot be lost between the two. It lives in the source
message's partition for that reason.
"""

from __future__ import annotations

import base64
import time

import msgspec

from broker.api import Callback, from_envelope
from broker.queue.keys import keys_for, new_message_id
from broker.queue.model import CallbackSpec, Envelope, Response
from broker.queue.producer import Draft

_json = msgspec.json.Encoder()
# Stands where the DLQ id goes; the settle script splits the body around it.
_DLQ_ID_SLOT = "\x00dlq-id\x00"


def callback_body(
    envelope: Envelope,
    body: bytes,
    attempts: int,
    response: Response,
    dlq_id: str | None = None,
) -> Callback:
    """What a callback URL receives about one attempt (a failure callback: with `dlq_id`)."""
    return from_envelope(
        Callback,
        envelope,
        status=response.status,
        header=response.headers,
        body=base64.b64encode(response.body).decode(),
        retried=attempts - 1,
        source_body=base64.b64encode(body).decode(),
        error=response.error or None,
        dlq_id=dlq_id,
    )


def _callback_draft(source: Envelope, spec: CallbackSpec, payload: bytes, suffix: bytes) -> Draft:
    now = int(time.time() * 1000)
    envelope = Envelope(
        id=new_message_id(keys_for(source.id)),
        url=spec.url,
        method=spec.method,
        headers={"Content-Type": ["application/json"], **spec.headers},
        retries=source.retries if spec.retries is None else spec.retries,
        retry_delay=spec.retry_delay,
        timeout_ms=spec.timeout_ms or source.timeout_ms,
        created_at=now,
        not_before=now + spec.delay_ms,
        caller_ip=source.caller_ip,
        source_message_id=source.id,
        workflow_run_id=spec.workflow_run_id,
        workflow_call_type=spec.workflow_call_type,
    )
    return Draft(envelope, payload, delay_ms=spec.delay_ms, body_suffix=suffix)


def workflow_failure_draft(
    source: Envelope, spec: CallbackSpec, initial: bytes, attempts: int, response: Response
) -> Draft:
    """A workflow run's failure callback once `source`, a step of the run, is dead-lettered:
    the payload it quotes is the run's initial one (workers/workflow.py)."""
    return _quoting_dlq_id(source, spec, callback_body(source, initial, attempts, response))


def attempt_callback(
    source: Envelope, body: bytes, attempts: int, response: Response
) -> list[Draft]:
    """The callback after an attempt, if the source asked for one (never for callbacks)."""
    if source.callback is None or source.source_message_id is not None:
        return []
    payload = _json.encode(callback_body(source, body, attempts, response))
    return [_callback_draft(source, source.callback, payload, b"")]


def failure_callback(
    source: Envelope, body: bytes, attempts: int, response: Response
) -> list[Draft]:
    """The failure callback once the source is dead-lettered; its body carries the DLQ id."""
    if source.failure_callback is None or source.source_message_id is not None:
        return []
    fields = callback_body(source, body, attempts, response)
    return [_quoting_dlq_id(source, source.failure_callback, fields)]


def _quoting_dlq_id(source: Envelope, spec: CallbackSpec, fields: Callback) -> Draft:
    """A failure callback whose body carries the DLQ id, which the settle script fills in."""
    fields = msgspec.structs.replace(fields, dlq_id=_DLQ_ID_SLOT)
    prefix, _, suffix = _json.encode(fields).partition(_json.encode(_DLQ_ID_SLOT)[1:-1])
    return _callback_draft(source, spec, prefix, suffix)
