"""`context.invoke` on hookstream: tests/workflow/app.mjs serves a parent and two children with
the pinned SDK's `serveMany` (under /invoke/<workflowId>); the parent invokes one and returns
what the invoke answered."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.api import api, eventually
from tests.support.hookstream import Hookstream
from tests.workflow.conftest import RUN_TIMEOUT, App, run_in

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
