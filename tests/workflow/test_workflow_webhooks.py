"""`context.createWebhook` / `waitForWebhook` through the SDK: pytest calls the webhook URL as a
third party would (no API token), and `POST /v2/trigger/{url}` starts a run without an SDK."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from broker.queue.workflow_runs import partition_of_run
from tests.support.api import api, eventually
from tests.support.hookstream import TEST_TOKEN, Hookstream
from tests.support.state import redis_snapshot
from tests.workflow.conftest import App, run_in

USER_ID = "hookstream-tests"
HOOK_TOKEN = base64.b64encode(
    json.dumps({"UserID": USER_ID, "Password": "webhook-test-password"}).encode()
).decode()
"""A token the SDK can read a user id from (base64 JSON, like QStash's): createWebhook needs
one."""


@pytest.fixture(name="hookstream")
async def _with_hook_token(redis_url: str) -> AsyncIterator[Hookstream]:
    """hookstream that also knows HOOK_TOKEN (the suite's client keeps TEST_TOKEN)."""
    server = await Hookstream(redis_url, tokens=(TEST_TOKEN, HOOK_TOKEN)).start()
    yield server
    await server.stop()


@pytest.fixture(name="app_token")
def _hook_app_token() -> str:
    """The workflow app publishes with HOOK_TOKEN, so its webhook URLs carry USER_ID."""
    return HOOK_TOKEN


async def _webhook_url(app: App, run_id: str) -> str:
    """The URL the run's createWebhook step made, once its next step has shown it (bounded)."""
    found: dict[str, Any] = {}

    async def shown() -> bool:
        found.update(await app.stats(run_id) or {})
        return "webhook" in found

    await eventually(shown, 60)
    url: str = found["webhook"]
    return url


async def _call(
    method: str, url: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    """One call without any API token, as a third party makes it."""
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, url, data=body, headers=headers or {}) as answer,
    ):
        return answer.status, await answer.json()


async def _run_keys(hookstream: Hookstream, run_id: str) -> dict[str, Any]:
    """What a webhook call could write to a run: its steps, waiters and held events."""
    home = await partition_of_run(hookstream.conn, run_id)
    redis = hookstream.conn.redis
    return {
        "steps": await redis.lrange(home.workflow_run(run_id)["steps"], 0, -1),
        "waits": await redis.hgetall(home.workflow_waits(run_id)),
        "held": await redis.hgetall(home.workflow_held(run_id)),
    }


async def test_a_webhook_call_reaches_the_waiting_run(hookstream: Hookstream, app: App) -> None:
    """The run's webhook URL names hookstream, the token's user id and the run; a call with
    an unknown event id or user id is a 404 that writes nothing; the real call (no token, a
    body, a header, a query) comes back to the run as its Request; once the run ended, the
    same URL is a 404."""
    run_id = await app.trigger("/webhook", body={"timeout": "60s"})
    url = await _webhook_url(app, run_id)
    prefix = f"{hookstream.url}/v2/workflows/hooks/{USER_ID}/{run_id}/"
    assert url.startswith(prefix), url
    event_id = url.removeprefix(prefix)
    assert event_id.startswith("evt_")

    before = await _run_keys(hookstream, run_id)
    for wrong in (prefix + "evt_nobodymadethis", url.replace(USER_ID, "someone-else")):
        status, answer = await _call("POST", wrong, b"forged", {"X-Hook": "forged"})
        assert status == 404, answer
    assert await _run_keys(hookstream, run_id) == before

    body = "the third party's answer: ünïcode"
    status, answer = await _call("POST", url + "?source=pytest", body.encode(), {"X-Hook": "h1"})
    assert status == 200, answer
    assert answer["workflowRunId"] == run_id

    run = await run_in(hookstream, run_id, "RUN_SUCCESS")
    result = json.loads(run["workflowRunResponse"])
    assert result == {
        "timeout": False,
        "method": "POST",
        "url": url + "?source=pytest",
        "header": "h1",
        "body": body,
    }
    assert (await app.stats(run_id))["bodies"] == {"announce": 1}
    status, answer = await _call("POST", url, b"late")
    assert status == 404, answer


async def test_a_get_reaches_a_run_that_waits_already(hookstream: Hookstream, app: App) -> None:
    """Once the run's waitForWebhook is registered (getWaiters lists it), a GET with a query
    and no body ends that wait: the run sees a GET with an empty body, and the waiter is
    gone."""
    run_id = await app.trigger("/webhook", body={"timeout": "60s"})
    url = await _webhook_url(app, run_id)
    event_id = url.rsplit("/", 1)[1]

    async def waiting() -> bool:
        return len(await app.node({"op": "waiters", "params": {"eventId": event_id}})) == 1

    await eventually(waiting, 60)
    status, answer = await _call("GET", url + "?ok=1", headers={"X-Hook": "from-get"})
    assert status == 200, answer
    assert answer["messageId"].startswith("msg_")  # delivered now, not held for later
    run = await run_in(hookstream, run_id, "RUN_SUCCESS")
    result = json.loads(run["workflowRunResponse"])
    assert result == {
        "timeout": False, "method": "GET", "url": url + "?ok=1", "header": "from-get", "body": "",
    }  # fmt: skip
    assert await app.node({"op": "waiters", "params": {"eventId": event_id}}) == []


async def test_a_webhook_wait_times_out(hookstream: Hookstream, app: App) -> None:
    """Nobody calls the webhook: after its 1 s timeout the run goes on with `timeout: true`
    and no request, and a call after that is a 404 (the run has ended)."""
    run_id = await app.trigger("/webhook", body={"timeout": "1s"})
    url = await _webhook_url(app, run_id)
    run = await run_in(hookstream, run_id, "RUN_SUCCESS")
    assert json.loads(run["workflowRunResponse"]) == {"timeout": True, "request": None}
    status, answer = await _call("PUT", url, b"too late")
    assert status == 404, answer


async def test_a_rest_trigger_starts_a_run(hookstream: Hookstream, app: App) -> None:
    """`POST /v2/trigger/{url}` with a body, a forwarded header and a run id: the app's SDK
    starts run `wfr_<id>`, which sees both like a client.trigger's run; the same id again
    answers `deduplicated` and starts nothing."""
    headers = {
        "Upstash-Workflow-RunId": "rest-1",
        "Upstash-Forward-X-Custom": "via-rest",
        "Upstash-Method": "GET",  # ignored: the SDK takes a POST
    }
    url = f"/v2/trigger/{app.url}/path"
    body = json.dumps({"text": "réstful"})
    status, answer = await api(hookstream, "POST", url, data=body, headers=headers)
    assert status == 201, answer
    assert answer["workflowRunId"] == "wfr_rest-1"
    assert answer["messageId"].startswith("msg_")
    run = await run_in(hookstream, "wfr_rest-1", "RUN_SUCCESS")
    assert json.loads(run["workflowRunResponse"]) == {"result": "réstful|first|via-rest|third"}
    assert (await app.stats("wfr_rest-1"))["bodies"] == {"first": 1, "second": 1, "third": 1}
    status, again = await api(hookstream, "POST", url, data=body, headers=headers)
    assert (status, again) == (202, {"workflowRunId": "wfr_rest-1", "deduplicated": True})


@pytest.fixture(name="api_only")
async def _api_only(redis_url: str) -> AsyncIterator[Hookstream]:
    """No worker: nothing else writes to Redis while a test compares snapshots."""
    server = await Hookstream(redis_url, with_worker=False).start()
    yield server
    await server.stop()


async def test_a_rest_trigger_is_checked_like_a_publish(api_only: Hookstream) -> None:
    """No token is a 401, a destination that is no URL or a bad option a 400; none of them
    stores a message."""
    hookstream = api_only
    before = await redis_snapshot(hookstream.conn.redis)
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{hookstream.url}/v2/trigger/http://127.0.0.1:9/x") as answer,
    ):
        assert answer.status == 401
    for url, headers in [
        ("/v2/trigger/not-a-url", {}),
        ("/v2/trigger/http://127.0.0.1:9/x", {"Upstash-Retries": "many"}),
        ("/v2/trigger/http://127.0.0.1:9/x", {"Upstash-Workflow-RunId": "bad id"}),
    ]:
        status, answer = await api(hookstream, "POST", url, headers=headers)
        assert status == 400, (url, answer)
    assert await redis_snapshot(hookstream.conn.redis) == before
