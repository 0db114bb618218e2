"""What counts as a webhook a run created, and which user ids the tokens carry: both read
hostile input (step bodies from the API, tokens from the environment)."""

from __future__ import annotations

import base64
import json

import pytest

from broker.http.routes.workflow_hooks import user_ids
from broker.queue.workflow_hooks import created_webhook


def _step(**fields: object) -> bytes:
    return json.dumps({"stepId": 1, "stepName": "hook", "concurrent": 1} | fields).encode()


def test_a_create_webhook_result_step_names_its_event_id() -> None:
    """The SDK's result step: `out` is the JSON `{webhookUrl, eventId}`."""
    out = json.dumps({"webhookUrl": "http://h/v2/workflows/hooks/u/r/evt_1", "eventId": "evt_1"})
    assert created_webhook(_step(stepType="CreateWebhook", out=out)) == "evt_1"


@pytest.mark.parametrize(
    "body",
    [
        _step(stepType="CreateWebhook"),  # a plan step: no out yet
        _step(stepType="Run", out=json.dumps({"eventId": "evt_1", "x": "CreateWebhook"})),
        _step(stepType="CreateWebhook", out="not json"),
        _step(stepType="CreateWebhook", out=json.dumps({"eventId": ""})),
        _step(stepType="CreateWebhook", out=json.dumps({"eventId": "e" * 257})),
        _step(stepType="CreateWebhook", out=json.dumps({"eventId": "a\nb"})),
        _step(stepType="CreateWebhook", out=json.dumps({"eventId": 7})),
        b'"CreateWebhook"',
        b"\xff CreateWebhook",
    ],
)
def test_anything_else_creates_no_webhook(body: bytes) -> None:
    """Other steps, plan steps, and malformed or out-of-bounds event ids create none."""
    assert created_webhook(body) is None


def _token(payload: object) -> str:
    return base64.b64encode(json.dumps(payload).encode()).decode()


def test_user_ids_come_from_base64_json_tokens_only() -> None:
    """A QStash-style token carries its UserID; opaque, non-object or id-less ones none."""
    tokens = (
        _token({"UserID": "alice", "Password": "p"}),
        "test-token-0123456789",
        _token(["UserID"]),
        _token({"UserID": ""}),
        _token({"UserID": 3}),
        "%%%",
    )
    assert user_ids(tokens) == frozenset({"alice"})
