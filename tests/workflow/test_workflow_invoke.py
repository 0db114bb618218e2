"""`context.invoke` on hookstream: tests/workflow/app.mjs serves a parent and two children with
the pinned SDK's `serveMany` (under /invoke/<workflowId>); the parent invokes one and returns
what the invoke answered."""

from __future__ import annotations

import base64
import json
from typing import Any

import msgspec
import pytest

from broker.queue import workflow_invoke, workflow_link
from broker.queue.keys import run_partition
from tests.support.api import api, by_path, eventually, status
from tests.support.hookstream import Hookstream
from tests.support.sink import Received, Sink
from tests.workflow.conftest import RUN_TIMEOUT, App, run_in
from workers import workflow as worker_workflow

pytestmark = pytest.mark.integration


async def _child_of(hookstream: Hookstream, app: App, path: str, parent: str) -> dict[str, Any]:
    """The run of `path` that `parent` invoked, from the logs (bounded wait)."""
    found: dict[str, Any] = {}

    async def listed() -> bool:
        _, logs = await api(
            hookstream, "GET", "/v2/workflows/events",
            params={"groupBy": "workflowRunId", "workflowUrl": app.url + path},
        )  # fmt: skip
        mine = [r for r in logs["runs"] if r.get("invoker", {}).get("workflowRunId") == parent]
        found.update(mine[0] if mine else {})
        return bool(mine)

    await eventually(listed, RUN_TIMEOUT)
    return found


def _step(run: dict[str, Any], name: str) -> dict[str, Any]:
    steps = [s for group in run["steps"] for s in group["steps"] if s["stepName"] == name]
    assert len(steps) == 1, run["steps"]
    return steps[0]


@pytest.mark.cluster  # parent and child in different slots
async def test_invoke_of_a_child_that_succeeds(hookstream: Hookstream, app: App) -> None:
    """The child gets the invoke's body and header, runs its step once and ends RUN_SUCCESS
    naming its invoker; the parent gets the child's result as the invoke's body (not failed,
    not cancelled), runs each of its steps once and ends RUN_SUCCESS."""
    parent_id = await app.trigger("/invoke/parent", body={"child": "child"})
    parent = await run_in(hookstream, parent_id, "RUN_SUCCESS")
    answer = json.loads(parent["workflowRunResponse"])
    assert answer == {"body": {"got": "from the parent ✓|inv-1"}}
    assert (await app.stats(parent_id))["bodies"] == {"before": 1, "after": 1}
    invoke = _step(parent, "call-child")
    assert invoke["stepType"] == "Invoke"
    assert json.loads(invoke["out"]) == {"body": '{"got":"from the parent ✓|inv-1"}'}

    child = await _child_of(hookstream, app, "/invoke/child", parent_id)
    assert child["workflowState"] == "RUN_SUCCESS"
    assert json.loads(child["workflowRunResponse"]) == {"got": "from the parent ✓|inv-1"}
    assert child["invoker"] == {
        "workflowRunId": parent_id,
        "workflowUrl": app.url + "/invoke/parent",
        "workflowRunCreatedAt": parent["workflowRunCreatedAt"],
    }
    assert "invoker" not in parent
    assert (await app.stats(child["workflowRunId"]))["bodies"] == {"child-step": 1}


async def test_invoke_of_a_child_that_fails(hookstream: Hookstream, app: App) -> None:
    """A child whose step throws (retries 0) ends RUN_FAILED after one attempt, and its
    failure function runs once; the parent's invoke answers `isFailed: true` with the
    child's error as the body, and the parent goes on to RUN_SUCCESS."""
    parent_id = await app.trigger("/invoke/parent", body={"child": "failing"})
    parent = await run_in(hookstream, parent_id, "RUN_SUCCESS")
    answer = json.loads(parent["workflowRunResponse"])
    assert answer["isFailed"] is True
    assert "child failed" in json.dumps(answer["body"])
    assert "isCanceled" not in answer
    assert (await app.stats(parent_id))["bodies"] == {"before": 1, "after": 1}

    child = await _child_of(hookstream, app, "/invoke/failing", parent_id)
    child_id = child["workflowRunId"]
    await run_in(hookstream, child_id, "RUN_FAILED")
    stats = await app.stats(child_id)
    assert stats["bodies"] == {"child-boom": 1}

    async def failure_function_ran() -> bool:
        return len((await app.stats(child_id))["failures"]) == 1

    await eventually(failure_function_ran, RUN_TIMEOUT)


# -- at the HTTP level: a sink plays both workflow endpoints, the test sends what the SDK would

PARENT = "wfr_invoke-parent"


def _headers(run_id: str, init: bool, invoke: bool = False) -> dict[str, str]:
    """The SDK's headers (without WF_DetectTrigger: the sink is no workflow app)."""
    return {
        "Upstash-Workflow-RunId": run_id,
        "Upstash-Workflow-Init": "true" if init else "false",
        "Upstash-Feature-Set": "LazyFetch,InitialBody,WF_TriggerOnConfig",
        "Upstash-Forward-Upstash-Workflow-Sdk-Version": "1",
        **({"Upstash-Workflow-Invoke": "true"} if invoke else {}),
    }


def _request(parent_url: str, parent: str = PARENT, **step: Any) -> bytes:
    """An `InvokeWorkflowRequest` as LazyInvokeStep.getBody builds it."""
    result_step = {"stepId": 2, "stepName": "call", "stepType": "Invoke", "concurrent": 1} | step
    return json.dumps({
        "body": '{"text":"hi"}',
        "headers": {"Upstash-Workflow-Runid": [parent]},
        "workflowRunId": parent,
        "workflowRunCreatedAt": 1,
        "workflowUrl": parent_url,
        "step": result_step,
    }).encode()  # fmt: skip


async def _invoke(hs: Hookstream, url: str, child: str, body: bytes) -> tuple[int, Any]:
    headers = _headers(child, init=True, invoke=True)
    return await api(hs, "POST", f"/v2/publish/{url}", data=body, headers=headers)


async def _start_parent(hs: Hookstream, sink: Sink, run_id: str = PARENT) -> str:
    url = sink.url("/parent")
    code, _ = await api(
        hs, "POST", f"/v2/publish/{url}", data=b"{}", headers=_headers(run_id, True)
    )
    assert code == 201
    return url


def _partition(hs: Hookstream, run_id: str) -> int:
    """Where a run lives: the tests put parent and child in different ones (slots)."""
    return run_partition(run_id, hs.conn.settings.partitions).partition


def _last_step(delivery: Received) -> dict[str, Any]:
    last: dict[str, Any] = json.loads(base64.b64decode(json.loads(delivery.body)[-1]["body"]))
    return last


@pytest.mark.cluster  # parent and child in different slots
async def test_a_child_run_reports_its_end_to_the_parent_once(
    hookstream: Hookstream, sink: Sink
) -> None:
    """The child starts with the invoke's `body` as its payload; its finish appends the
    invoke step with `out` = {body: result} to the parent and delivers it; the same report
    again (its worker died before settling it) and a second child of the same step append
    nothing more."""
    assert _partition(hookstream, PARENT) != _partition(hookstream, "wfr_child-1")
    parent_url = await _start_parent(hookstream, sink)
    code, _ = await _invoke(hookstream, sink.url("/child"), "wfr_child-1", _request(parent_url))
    assert code == 201
    [child] = await sink.wait_for(1, path="/child")
    assert [base64.b64decode(s["body"]) for s in json.loads(child.body)] == [b'{"text":"hi"}']
    assert child.headers["Upstash-Workflow-RunId"] == "wfr_child-1"
    await api(hookstream, "DELETE", "/v2/workflows/runs/wfr_child-1?cancel=false", data=b'"ok"')
    deliveries = await sink.wait_for(2, path="/parent")
    expected = {"stepId": 2, "stepName": "call", "stepType": "Invoke", "concurrent": 1}
    assert _last_step(deliveries[1]) == expected | {"out": '{"body":"\\"ok\\""}'}
    assert deliveries[1].headers["Upstash-Workflow-Sdk-Version"] == "1"

    step = workflow_link.InvokeStep(step_id=2, step_name="call", step_type="Invoke", concurrent=1)
    report = workflow_link.Report(
        child_run_id="wfr_child-1", parent_run_id=PARENT, url=parent_url, step=step
    )
    await workflow_invoke.deliver_report(hookstream.conn, msgspec.json.encode(report))
    code, _ = await _invoke(hookstream, sink.url("/child"), "wfr_child-2", _request(parent_url))
    assert code == 201
    await sink.wait_for(2, path="/child")
    await api(hookstream, "DELETE", "/v2/workflows/runs/wfr_child-2?cancel=false", data=b'"2"')
    await run_in(hookstream, "wfr_child-2", "RUN_SUCCESS")

    async def reported_child_2() -> bool:
        """Both children's reports are settled (they are the messages with its retries)."""
        code, events = await api(hookstream, "GET", "/v2/events", params={"state": "DELIVERED"})
        reports = [e for e in events["events"] if e["maxRetries"] == workflow_link.REPORT_RETRIES]
        return code == 200 and len(reports) == 2

    await eventually(reported_child_2, RUN_TIMEOUT)
    code, steps = await api(hookstream, "GET", f"/v2/workflows/runs/{PARENT}")
    assert code == 200
    assert len(steps) == 2, steps
    assert len(await sink.wait_for(2, path="/parent")) == 2


async def test_a_cancelled_child_reports_is_canceled(hookstream: Hookstream, sink: Sink) -> None:
    """client.cancel of the child: the parent's invoke step gets {isCanceled: true}."""
    parent_url = await _start_parent(hookstream, sink)
    await _invoke(hookstream, sink.url("/child"), "wfr_child-c", _request(parent_url))
    await sink.wait_for(1, path="/child")
    code, answer = await api(
        hookstream, "DELETE", "/v2/workflows/runs", params={"workflowRunIds": "wfr_child-c"}
    )
    assert (code, answer) == (200, {"cancelled": 1})
    deliveries = await sink.wait_for(2, path="/parent")
    assert _last_step(deliveries[1])["out"] == '{"isCanceled":true}'


async def test_invoke_requests_are_bounded(hookstream: Hookstream, sink: Sink) -> None:
    """A body that is no invoke request, a step that is no Invoke result step, a parent
    that is unknown or has ended, and a chain of invokes deeper than MAX_INVOKE_DEPTH are
    clear 400s that start no child."""
    parent_url = await _start_parent(hookstream, sink)
    child = sink.url("/child")
    bad = {
        b"not json": "invalid invoke request",
        _request(parent_url, stepType="Run"): "must be an Invoke result step",
        _request(parent_url, out="forged"): "must be an Invoke result step",
        _request(parent_url, stepName="x" * 1001): "step name is 1 to 1000",
        _request(parent_url, parent="wfr_nobody"): "is not running",
    }
    for body, reason in bad.items():
        code, answer = await _invoke(hookstream, child, "wfr_refused", body)
        assert code == 400, (body[:60], answer)
        assert reason in answer["error"], (body[:60], answer)
    code, _ = await api(hookstream, "GET", "/v2/workflows/runs/wfr_refused")
    assert code == 404

    parent = PARENT
    for depth in range(1, workflow_link.MAX_INVOKE_DEPTH + 1):
        code, answer = await _invoke(hookstream, child, f"wfr_d{depth}", _request(child, parent))
        assert code == 201, (depth, answer)
        parent = f"wfr_d{depth}"
    code, answer = await _invoke(hookstream, child, "wfr_too-deep", _request(child, parent))
    assert (code, answer["error"]) == (400, "invokes nest at most 32 runs deep")

    await api(hookstream, "DELETE", f"/v2/workflows/runs/{PARENT}?cancel=true")
    code, answer = await _invoke(hookstream, child, "wfr_late", _request(parent_url))
    assert code == 400
    assert "is not running" in answer["error"]


@pytest.mark.cluster  # parent and child in different slots
async def test_a_failed_child_reports_even_when_its_worker_dies_after_the_append(
    hookstream: Hookstream, sink: Sink, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Crash injection: a child's step is dead-lettered (retries 0) and the report's first
    delivery dies right after appending to the parent, before its settle. The retried report
    appends nothing more: the parent gets the invoke step once, with `isFailed` and the
    child's error as the body, and the child is RUN_FAILED."""
    assert _partition(hookstream, PARENT) != _partition(hookstream, "wfr_child-failed")
    real, calls = worker_workflow.deliver_report, []

    async def dies_after_the_append(conn: Any, body: bytes) -> None:
        await real(conn, body)
        calls.append(body)
        if len(calls) == 1:
            raise RuntimeError("worker killed after the append")

    monkeypatch.setattr(worker_workflow, "deliver_report", dies_after_the_append)
    sink.respond = by_path({"/child": status(500, '{"message":"child boom"}')})
    parent_url = await _start_parent(hookstream, sink)
    headers = _headers("wfr_child-failed", init=True, invoke=True) | {"Upstash-Retries": "0"}
    url = sink.url("/child")
    body = _request(parent_url)
    code, _ = await api(hookstream, "POST", f"/v2/publish/{url}", data=body, headers=headers)
    assert code == 201
    deliveries = await sink.wait_for(2, path="/parent")
    out = json.loads(_last_step(deliveries[1])["out"])
    assert out == {"body": '{"message":"child boom"}', "isFailed": True}
    await run_in(hookstream, "wfr_child-failed", "RUN_FAILED")

    async def retried() -> bool:
        return len(calls) == 2

    await eventually(retried, RUN_TIMEOUT)
    code, steps = await api(hookstream, "GET", f"/v2/workflows/runs/{PARENT}")
    assert (code, len(steps)) == (200, 2)
    assert len([r for r in sink.received if r.path == "/parent"]) == 2
    # The child had no failure function: its dead letter names no failure callback (the
    # report, created by the same settle, is not one).
    params = {"workflowRunId": "wfr_child-failed"}
    code, listed = await api(hookstream, "GET", "/v2/workflows/dlq", params=params)
    assert code == 200
    [entry] = listed["messages"]
    assert "failureCallbackInfo" not in entry, entry
