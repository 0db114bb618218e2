"""Workflow webhooks at the HTTP level: a sink plays the workflow endpoint, the test publishes
the CreateWebhook step the SDK would, and calls the hook URL as a third party, without a
token (the SDK itself runs in tests/workflow/test_workflow_webhooks.py)."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.support.api import api
from tests.support.hookstream import TEST_TOKEN, Hookstream
from tests.support.sink import Received, Sink
from tests.support.state import redis_snapshot

pytestmark = pytest.mark.integration

RUN = "wfr_hook-run-1"
EVENT = "evt_abcdefghijklmno"
USER_ID = "hook-user"
HOOK_TOKEN = base64.b64encode(json.dumps({"UserID": USER_ID, "Password": "p"}).encode()).decode()
MAX_BODY = 4096


@pytest.fixture(name="hookstream")
async def _small_bodies(redis_url: str) -> AsyncIterator[Hookstream]:
    """A token carrying USER_ID, and 4 KiB request bodies."""
    server = Hookstream(redis_url, tokens=(TEST_TOKEN, HOOK_TOKEN), max_body_bytes=MAX_BODY)
    yield await server.start()
    await server.stop()


def _workflow(init: bool) -> dict[str, str]:
    return {
        "Upstash-Workflow-RunId": RUN,
        "Upstash-Workflow-Init": "true" if init else "false",
        "Upstash-Feature-Set": "LazyFetch,InitialBody,WF_TriggerOnConfig",
        "Upstash-Forward-Upstash-Workflow-Sdk-Version": "1",
    }


def _create_webhook(out: bool = True) -> str:
    """The CreateWebhook step the SDK publishes (a plan step has no `out`)."""
    step: dict[str, Any] = {"stepId": 1, "stepName": "hook", "stepType": "CreateWebhook"}
    if out:
        step["out"] = json.dumps({"webhookUrl": "ignored", "eventId": EVENT})
    return json.dumps(step | {"concurrent": 1})


async def _run_with_webhook(hookstream: Hookstream, sink: Sink) -> str:
    """Run RUN, whose second step created webhook EVENT; the hook URL."""
    url = sink.url("/wf")
    for init, body in ((True, "start"), (False, _create_webhook())):
        code, answer = await api(
            hookstream, "POST", f"/v2/publish/{url}", data=body.encode(), headers=_workflow(init)
        )
        assert code == 201, answer
    await sink.wait_for(2, path="/wf")
    return f"{hookstream.url}/v2/workflows/hooks/{USER_ID}/{RUN}/{EVENT}"


async def _call(method: str, url: str, body: bytes = b"", **headers: str) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, url, data=body, headers=headers) as answer,
    ):
        return answer.status, await answer.text()


def _out(delivery: Received) -> Any:
    """The event data of the last step a delivery carries: the call, as the SDK decodes it."""
    last = json.loads(base64.b64decode(json.loads(delivery.body)[-1]["body"]))
    return json.loads(base64.b64decode(last["out"]))


async def test_a_call_before_the_wait_is_held_and_taken_by_it(
    hookstream: Hookstream, sink: Sink
) -> None:
    """A call with no wait yet is held (empty messageId); the run's wait for the webhook then
    gets it at once: method, scheme, host, path and query, the headers without hop-by-hop
    ones, Host and Content-Length, and the body in base64."""
    url = await _run_with_webhook(hookstream, sink)
    code, text = await _call("PATCH", url + "?a=1&b=2", b"\x00binary\xff", **{"X-Hook": "v1"})
    assert code == 200, text
    assert json.loads(text) == {"workflowRunId": RUN, "messageId": ""}
    step = {"stepId": 2, "stepName": "for-call", "stepType": "Wait", "concurrent": 1}
    wait = {"url": sink.url("/wf"), "timeout": "60s", "step": step}
    code, _ = await api(
        hookstream, "POST", f"/v2/wait/{EVENT}", data=json.dumps(wait), headers=_workflow(False)
    )
    assert code == 200
    call = _out((await sink.wait_for(3, path="/wf"))[2])
    host = hookstream.url.removeprefix("http://")
    assert (call["method"], call["proto"], call["host"]) == ("PATCH", "http", host)
    assert call["url"] == f"/v2/workflows/hooks/{USER_ID}/{RUN}/{EVENT}?a=1&b=2"
    assert call["header"]["X-Hook"] == ["v1"]
    assert not {"Host", "Content-Length"} & set(call["header"])
    assert base64.b64decode(call["body"]) == b"\x00binary\xff"


async def test_calls_that_name_no_webhook_or_break_a_bound_write_nothing(
    hookstream: Hookstream, sink: Sink
) -> None:
    """Another user id, event id or run, a CreateWebhook plan step's (no out yet), OPTIONS,
    a bad run id or Host, too many headers, a body too large as sent or once encoded: each
    is refused with its 4xx, and Redis is as it was."""
    url = await _run_with_webhook(hookstream, sink)
    await hookstream.stop_worker()  # nothing else writes while the snapshots are compared
    base = f"{hookstream.url}/v2/workflows/hooks"
    before = await redis_snapshot(hookstream.conn.redis)
    many = {f"X-H{i}": "v" for i in range(101)}
    refused: list[tuple[int, str, str, bytes, dict[str, str]]] = [
        (404, "POST", f"{base}/someone-else/{RUN}/{EVENT}", b"", {}),
        (404, "POST", f"{base}/{USER_ID}/{RUN}/evt_other", b"", {}),
        (404, "POST", f"{base}/{USER_ID}/wfr_other/{EVENT}", b"", {}),
        (400, "POST", f"{base}/{USER_ID}/bad%20run/{EVENT}", b"", {}),
        (401, "OPTIONS", url, b"", {}),  # no public route: a token is asked for
        (400, "POST", url, b"", {"Host": "evil/path"}),
        (400, "POST", url, b"", many),
        (413, "POST", url, b"x" * (MAX_BODY + 1), {}),
        (400, "POST", url, b"x" * (MAX_BODY - 500), {}),  # over the bound once base64
    ]
    for code, method, target, body, headers in refused:
        got, text = await _call(method, target, body, **headers)
        assert got == code, (method, target, headers.keys(), got, text)
    assert await redis_snapshot(hookstream.conn.redis) == before


async def test_a_plan_step_creates_no_webhook(hookstream: Hookstream, sink: Sink) -> None:
    """A CreateWebhook step without `out` (the SDK's plan step in parallel) makes no event id
    valid, and nor does a hook URL of a run that never existed."""
    url = sink.url("/wf")
    for init, body in ((True, "start"), (False, _create_webhook(out=False))):
        code, _ = await api(
            hookstream, "POST", f"/v2/publish/{url}", data=body.encode(), headers=_workflow(init)
        )
        assert code == 201
    hook = f"{hookstream.url}/v2/workflows/hooks/{USER_ID}/{RUN}/{EVENT}"
    code, text = await _call("POST", hook, b"x")
    assert code == 404, text
