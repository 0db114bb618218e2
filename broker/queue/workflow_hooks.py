"""`context.createWebhook` / `waitForWebhook` (docs/workflow.md): which webhooks a run created,
and a call to one becoming the event its `waitForWebhook` gets.

The SDK makes a webhook without asking the server: its CreateWebhook step is an ordinary
step whose result (`out`) is `{webhookUrl, eventId}`, the URL
`<QStash URL>/v2/workflows/hooks/<userId>/<runId>/<eventId>` and a random event id. Outside
callers reach that URL without an API token, so the event id is the credential: when the
step is appended to its run (workflow_runs.append), its event id joins the run's `hooks`
set first, and a call naming an event id not in it writes nothing. A call then is a notify
of that run by id (workflow_waits.notify_run): it reaches the run's `waitForWebhook` (the
SDK's wait for the event id), or the run holds it until that wait comes (lookback).
"""

from __future__ import annotations

import msgspec

from broker.queue.connection import Connection
from broker.queue.workflow_runs import idle_ms, partition_of_run
from broker.queue.workflow_waits import MAX_EVENT_ID

_CREATE_WEBHOOK = b'"CreateWebhook"'


class _Step(msgspec.Struct, frozen=True):
    """The fields of a step body (the SDK's `{stepId, stepName, stepType, out, ...}`) that say
    whether it created a webhook."""

    stepType: str = ""  # noqa: N815 - the SDK's key
    out: str | None = None


class _Webhook(msgspec.Struct, frozen=True):
    """A CreateWebhook step's `out`: `{webhookUrl, eventId}`."""

    eventId: str  # noqa: N815 - the SDK's key


_step = msgspec.json.Decoder(_Step)
_webhook = msgspec.json.Decoder(_Webhook)


class WebhookCall(msgspec.Struct, frozen=True, kw_only=True):
    """A call to a webhook as the SDK's `waitForWebhook` reads it back (`safeParseOut`):
    `{proto}://{host}{url}` is the URL it was called on, `header` is name -> values, `body`
    is base64."""

    method: str
    proto: str
    host: str
    url: str
    header: dict[str, list[str]]
    body: str


_call = msgspec.json.Encoder()


def created_webhook(step_body: bytes) -> str | None:
    """The event id of the webhook a step body creates (a CreateWebhook result step), else
    None; a plan step (no `out` yet) creates none."""
    if _CREATE_WEBHOOK not in step_body:  # most steps: no JSON decoding
        return None
    try:
        step = _step.decode(step_body)
        if step.stepType != "CreateWebhook" or step.out is None:
            return None
        event_id = _webhook.decode(step.out).eventId
    except msgspec.DecodeError:
        return None  # not a step the SDK wrote: it creates no webhook
    if not event_id or len(event_id) > MAX_EVENT_ID or not event_id.isprintable():
        return None
    return event_id


async def remember(conn: Connection, run_id: str, step_body: bytes) -> None:
    """Record the webhook a step of run `run_id` creates, before the step is appended: the
    webhook is valid from the moment any delivery can show its URL. It lives like an idle
    run; a step that is then refused leaves an event id that nobody was ever shown."""
    event_id = created_webhook(step_body)
    if event_id is None:
        return
    hooks = (await partition_of_run(conn, run_id)).workflow_hooks(run_id)
    async with conn.redis.pipeline(transaction=True) as pipe:
        pipe.sadd(hooks, event_id)
        pipe.pexpire(hooks, idle_ms(conn))
        await pipe.execute()


async def created(conn: Connection, run_id: str, event_id: str) -> bool:
    """Whether run `run_id` created the webhook `event_id` (the run may have ended since)."""
    hooks = (await partition_of_run(conn, run_id)).workflow_hooks(run_id)
    return bool(await conn.redis.sismember(hooks, event_id))


def encode_call(call: WebhookCall) -> bytes:
    """The event data of a call: JSON, which the notify then base64-encodes as the step's
    `out` (the SDK decodes both)."""
    return _call.encode(call)
