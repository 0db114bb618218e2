"""Upstash Workflow apps on hookstream: tests/workflow/app.mjs serves workflows with the
pinned @upstash/workflow (1.3.3) `serve`, trigger.mjs drives them with its `Client`, and a
sink plays the third-party API of `context.call`."""

from __future__ import annotations

import itertools
import json
import time

import aiohttp
import pytest

from broker.queue import workflow_runs
from tests.support.api import api, eventually
from tests.support.hookstream import Hookstream
from tests.support.sink import Sink
from tests.workflow.conftest import RUN_TIMEOUT, App, run_in

pytestmark = pytest.mark.integration


async def test_plain_steps_with_a_unicode_payload_and_a_custom_header(
    hookstream: Hookstream, app: App
) -> None:
    """Three steps see the unicode payload and the trigger's header; the run ends
    RUN_SUCCESS with the result, each body ran once, and the route was called 4 times: one
    delivery per step and one that finishes (the SDK's CI counts 5 with its direct first
    call, which Client.trigger does not make)."""
    run_id = await app.trigger(
        "/path", body={"text": "héllo wörld ✓"}, headers={"X-Custom": "hdr-1"}
    )
    run = await run_in(hookstream, run_id, "RUN_SUCCESS")
    assert json.loads(run["workflowRunResponse"]) == {"result": "héllo wörld ✓|first|hdr-1|third"}
    stats = await app.stats(run_id)
    assert stats["bodies"] == {"first": 1, "second": 1, "third": 1}
    assert stats["calls"] == 4
    names = [s["stepName"] for group in run["steps"] for s in group["steps"]]
    assert names == ["init", "first", "second", "third"]
    answer = await app.node({"op": "logs", "params": {"filter": {"workflowRunId": run_id}}})
    assert [r["workflowState"] for r in answer["runs"]] == ["RUN_SUCCESS"]


async def test_a_direct_call_starts_a_run(hookstream: Hookstream, app: App) -> None:
    """POSTing to a workflow endpoint without signature checks starts a run: the SDK
    publishes the trigger with every header of that request forwarded (Host and
    Content-Length among them, which a workflow trigger drops instead of refusing)."""
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{app.url}/open/path", json={"text": "direct"}, headers={"X-Custom": "d1"}
        ) as answer,
    ):
        started = json.loads(await answer.text())
        assert answer.status == 200, started
    run = await run_in(hookstream, started["workflowRunId"], "RUN_SUCCESS")
    assert json.loads(run["workflowRunResponse"]) == {"result": "direct|first|d1|third"}


async def test_sleep_calls_nothing_while_it_sleeps(hookstream: Hookstream, app: App) -> None:
    """After the step before a 2 s sleep, the next call comes at least 2 s later; after a
    sleepUntil 1 to 2 s ahead, at least 1 s later."""
    run_id = await app.trigger("/sleep")
    await run_in(hookstream, run_id, "RUN_SUCCESS")
    stats = await app.stats(run_id)
    assert stats["bodies"] == {"before": 1, "after": 1, "last": 1}
    times = stats["times"]
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    # calls: run `before`; publish the sleep; (2 s later) run `after`; publish the
    # sleepUntil; (then) run `last`; finish
    assert len(times) == 6
    assert gaps[1] >= 2000, gaps
    assert gaps[3] >= 1000, gaps


async def test_parallel_steps_run_each_branch_once(hookstream: Hookstream, app: App) -> None:
    """Promise.all of two steps and a sleep: each branch body runs once, then the join."""
    run_id = await app.trigger("/parallel")
    run = await run_in(hookstream, run_id, "RUN_SUCCESS")
    assert json.loads(run["workflowRunResponse"]) == "AB"
    assert (await app.stats(run_id))["bodies"] == {"a": 1, "b": 1, "join": 1}


async def test_context_call_returns_status_header_and_body_after_retries(
    hookstream: Hookstream, app: App, mock_api: Sink
) -> None:
    """context.call gets the mock's 200 JSON with its header; a call with retries: 2 to an
    endpoint that always fails is tried 3 times and returns its 500."""
    run_id = await app.trigger("/call")
    run = await run_in(hookstream, run_id, "RUN_SUCCESS")
    result = json.loads(run["workflowRunResponse"])
    assert result["ok"] == {"status": 200, "body": {"answer": "fine"}, "header": ["m1"]}
    assert result["failed"] == {"status": 500, "body": "nope"}
    [ok] = [r for r in mock_api.received if r.path == "/ok"]
    assert json.loads(ok.body) == {"hello": "wörld"}
    assert ok.headers["X-From"] == "workflow"
    assert len([r for r in mock_api.received if r.path == "/fails"]) == 3


async def test_a_failing_step_fails_the_run_and_calls_the_failure_function(
    hookstream: Hookstream, app: App
) -> None:
    """With retries: 0, a throwing step ends the run RUN_FAILED, leaves a DLQ entry naming
    the run, and the failure function gets status 500, the message and the payload."""
    run_id = await app.trigger("/fail", body={"n": 7}, retries=0)
    await run_in(hookstream, run_id, "RUN_FAILED")

    async def failure_ran() -> bool:
        return bool((await app.stats(run_id))["failures"])

    await eventually(failure_ran, RUN_TIMEOUT)
    stats = await app.stats(run_id)
    [failure] = stats["failures"]
    assert failure["failStatus"] == 500
    assert "boom happened" in failure["failResponse"]
    assert failure["payload"] == {"n": 7}
    assert stats["bodies"] == {"fine": 1, "boom": 1}
    _, dlq = await api(hookstream, "GET", "/v2/dlq")
    assert [m["workflowRunId"] for m in dlq["messages"]] == [run_id]
    listed = await app.node({"op": "dlq", "params": {}})  # the Workflow client's DLQ list
    assert [m["workflowRunId"] for m in listed["messages"]] == [run_id]


async def test_a_non_retryable_error_is_tried_once(hookstream: Hookstream, app: App) -> None:
    """WorkflowNonRetryableError (489) fails the run at once despite the default 3 retries,
    and the failure function runs once."""
    run_id = await app.trigger("/nonretryable")
    await run_in(hookstream, run_id, "RUN_FAILED")

    async def failure_ran() -> bool:
        return bool((await app.stats(run_id))["failures"])

    await eventually(failure_ran, RUN_TIMEOUT)
    stats = await app.stats(run_id)
    assert stats["bodies"] == {"stop": 1}
    assert len(stats["failures"]) == 1


async def test_cancel_during_a_long_sleep(hookstream: Hookstream, app: App) -> None:
    """client.cancel during a 30 s sleep: {cancelled: 1}, RUN_CANCELED, and the sleeping
    step's message is cancelled, so the step after the sleep never runs."""
    run_id = await app.trigger("/long")

    async def sleeping() -> bool:
        stats = await app.stats(run_id)
        return bool(stats) and stats["calls"] >= 2  # the call that published the sleep

    await eventually(sleeping, RUN_TIMEOUT)
    assert await app.node({"op": "cancel", "ids": run_id}) == {"cancelled": 1}
    await run_in(hookstream, run_id, "RUN_CANCELED")
    _, events = await api(hookstream, "GET", "/v2/events", params={"state": "CANCELED"})
    assert len(events["events"]) == 1
    assert (await app.stats(run_id))["bodies"] == {"start": 1}


async def test_flow_control_holds_every_step_of_its_runs(hookstream: Hookstream, app: App) -> None:
    """Four runs triggered at once with flowControl {parallelism: 1}: every one succeeds,
    and never were two of their deliveries in the app at the same time."""
    flow = {"key": "wf-flow", "parallelism": 1}
    answers = await app.node(
        {"op": "trigger", "options": [{"url": f"{app.url}/flow", "flowControl": flow}] * 4}
    )
    for answer in answers:
        await run_in(hookstream, answer["workflowRunId"], "RUN_SUCCESS")
        assert (await app.stats(answer["workflowRunId"]))["bodies"] == {"hold": 1, "again": 1}
    assert (await app._get("/flowstats"))["peak"] == 1
    _, gate = await api(hookstream, "GET", "/v2/flowControl/wf-flow")
    assert gate["parallelismMax"] == 1


async def test_later_steps_inherit_the_triggers_retries(hookstream: Hookstream, app: App) -> None:
    """A trigger's retries: 1 applies to a later step: the always-failing step runs twice
    (not the default four times), then the run fails."""
    run_id = await app.trigger("/retries", retries=1)
    await run_in(hookstream, run_id, "RUN_FAILED")
    assert (await app.stats(run_id))["bodies"] == {"fine": 1, "flaky": 2}


async def test_a_trigger_to_a_non_workflow_url_fails_the_run(
    hookstream: Hookstream, app: App, mock_api: Sink
) -> None:
    """Client.trigger to a URL that is no workflow app (the mock API answers 200 without the
    SDK's version header): the run fails with the error the SDK defines for it."""
    answer = await app.node({"op": "trigger", "options": {"url": mock_api.url("/ok")}})
    run = await run_in(hookstream, answer["workflowRunId"], "RUN_FAILED")
    assert "non-workflow destination" in run["workflowRunError"]


@pytest.mark.parametrize("hookstream", [{"max_body_bytes": 4096}], indirect=True)
async def test_step_lists_over_the_body_limit_are_fetched(hookstream: Hookstream, app: App) -> None:
    """With a 4 KiB body limit, a run whose steps outgrow it is delivered empty bodies and
    the SDK fetches the steps (LazyFetch): the run still ends with every result."""
    run_id = await app.trigger("/big", body="x" * 2000)
    run = await run_in(hookstream, run_id, "RUN_SUCCESS")
    assert json.loads(run["workflowRunResponse"]) == {"payload": 2000, "one": 1500, "two": 1500}
    stats = await app.stats(run_id)
    assert stats["bodies"] == {"one": 1, "two": 1}
    assert stats["empty"] == 2  # the deliveries after each step; the first one fits


async def _waiting(hookstream: Hookstream, run_id: str, event_id: str) -> bool:
    home = await workflow_runs.partition_of_run(hookstream.conn, run_id)
    return bool(await hookstream.conn.redis.hexists(home.workflow_waits(run_id), event_id))


async def test_wait_for_event_gets_the_notified_data(hookstream: Hookstream, app: App) -> None:
    """waitForEvent, then client.notify: client.getWaiters lists the run's waiter, the run
    gets the event's data (timeout false), notify answers the waiter's run, and a second
    notify finds no waiter."""
    run_id = await app.trigger("/wait", body={"event": "order-paid", "timeout": 60})
    await eventually(lambda: _waiting(hookstream, run_id, "order-paid"), RUN_TIMEOUT)
    [waiter] = await app.node({"op": "waiters", "params": {"eventId": "order-paid"}})
    assert (waiter["url"], waiter["timeoutUrl"]) == (app.url + "/wait", app.url + "/wait")
    assert waiter["deadline"] > time.time() + 30
    data = {"amount": 42, "note": "naïve"}
    answers = await app.node(
        {"op": "notify", "params": {"eventId": "order-paid", "eventData": data}}
    )
    assert [a["workflowRunId"] for a in answers] == [run_id]
    run = await run_in(hookstream, run_id, "RUN_SUCCESS")
    assert json.loads(run["workflowRunResponse"]) == {"eventData": data, "timeout": False}
    assert (await app.stats(run_id))["bodies"] == {"after": 1}
    again = {"op": "notify", "params": {"eventId": "order-paid", "eventData": "late"}}
    assert await app.node(again) == []


async def test_wait_for_event_times_out(hookstream: Hookstream, app: App) -> None:
    """A 1 s waitForEvent with no notify ends with timeout true; a notify after it finds no
    waiter."""
    run_id = await app.trigger("/wait", body={"event": "never", "timeout": 1})
    run = await run_in(hookstream, run_id, "RUN_SUCCESS")
    assert json.loads(run["workflowRunResponse"]) == {"timeout": True}
    late = {"op": "notify", "params": {"eventId": "never", "eventData": "x"}}
    assert await app.node(late) == []


async def test_a_missing_run_answers_like_qstash(hookstream: Hookstream) -> None:
    """A negative control for the waits above: an unknown run is in no state, and the
    steps of an unknown run are a 404."""
    with pytest.raises(AssertionError, match="never reached RUN_SUCCESS"):
        await run_in(hookstream, "wfr_unknown", "RUN_SUCCESS", timeout=0.3)
    code, _ = await api(hookstream, "GET", "/v2/workflows/runs/wfr_unknown")
    assert code == 404
