"""Upstash Workflow apps on the Python SDK: tests/workflow/app_py.py serves workflows with the
pinned `upstash-workflow` (2.0.0) FastAPI adapter under uvicorn; a test starts a run the way
a Python app does, by publishing to the endpoint with the `qstash` client, and a sink plays
the third-party API of `context.call`."""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.support.api import api, eventually
from tests.support.hookstream import Hookstream
from tests.support.sink import Sink
from tests.workflow.conftest import RUN_TIMEOUT, run_in
from tests.workflow.python_app import PyApp, python_app

pytestmark = pytest.mark.integration


@pytest.fixture(name="py_app")
async def _py_app(hookstream: Hookstream, mock_api: Sink) -> AsyncIterator[PyApp]:
    async with python_app(hookstream, mock_api) as app:
        yield app


def _outs(run: dict[str, Any]) -> dict[str, Any]:
    """Each finished step's name and output, from the logs API."""
    return {s["stepName"]: s.get("out") for group in run["steps"] for s in group["steps"]}


async def test_plain_steps(hookstream: Hookstream, py_app: PyApp) -> None:
    """Three steps see the unicode payload and the trigger's header; each body runs once,
    the run ends RUN_SUCCESS, and the logs show the steps with their outputs."""
    run_id = await py_app.trigger("/path", {"text": "héllo wörld ✓"}, **{"X-Custom": "hdr-1"})
    run = await run_in(hookstream, run_id, "RUN_SUCCESS")
    stats = await py_app.stats(run_id)
    assert stats["bodies"] == {"first": 1, "second": 1, "third": 1}
    assert list(_outs(run)) == ["init", "first", "second", "third"]
    assert json.loads(_outs(run)["third"]) == {"result": "héllo wörld ✓|first|hdr-1|third"}
    # one delivery per step and one that finishes; the plain publish that started the run
    # carries no run id yet and is not counted
    assert stats["calls"] == 4


async def test_sleep_calls_nothing_while_it_sleeps(hookstream: Hookstream, py_app: PyApp) -> None:
    """After the step before a 2 s sleep, the next call comes at least 2 s later."""
    run_id = await py_app.trigger("/sleep")
    await run_in(hookstream, run_id, "RUN_SUCCESS")
    stats = await py_app.stats(run_id)
    assert stats["bodies"] == {"before": 1, "after": 1}
    # calls: run `before`; publish the sleep; (2 s later) run `after`; finish
    assert len(stats["times"]) == 4
    gaps = [later - earlier for earlier, later in itertools.pairwise(stats["times"])]
    assert gaps[1] >= 2, gaps


async def test_context_call_returns_status_header_and_body_after_retries(
    hookstream: Hookstream, py_app: PyApp, mock_api: Sink
) -> None:
    """context.call gets the mock's 200 JSON with its header, and the mock got the call's
    body and header; a call with retries=2 to an endpoint that always fails is tried 3 times
    and returns its 500."""
    run_id = await py_app.trigger("/call")
    run = await run_in(hookstream, run_id, "RUN_SUCCESS")
    recorded = json.loads(_outs(run)["record"])
    assert recorded["ok"] == {"status": 200, "body": {"answer": "fine"}, "header": ["m1"]}
    assert recorded["failed"] == {"status": 500, "body": "nope"}
    [ok] = [r for r in mock_api.received if r.path == "/ok"]
    assert json.loads(ok.body) == {"hello": "wörld"}
    assert ok.headers["X-From"] == "workflow"
    assert len([r for r in mock_api.received if r.path == "/fails"]) == 3
    stats = await py_app.stats(run_id)
    assert stats["bodies"] == {"record": 1}
    # ok: its step, its callback; failed: its step, three callbacks (the SDK ignores the
    # two that will be retried); record; the finish
    assert stats["calls"] == 8


async def test_a_failing_step_fails_the_run_and_calls_the_failure_function(
    hookstream: Hookstream, py_app: PyApp
) -> None:
    """With retries=0, a raising step ends the run RUN_FAILED, leaves a DLQ entry naming the
    run, and the failure function gets status 500, the error's message and the payload."""
    run_id = await py_app.trigger("/fail", {"n": 7})
    await run_in(hookstream, run_id, "RUN_FAILED")

    async def failure_ran() -> bool:
        return bool((await py_app.stats(run_id))["failures"])

    await eventually(failure_ran, RUN_TIMEOUT)
    stats = await py_app.stats(run_id)
    [failure] = stats["failures"]
    assert failure["status"] == 500
    assert "boom happened" in failure["message"]
    assert failure["payload"] == {"n": 7}
    assert stats["bodies"] == {"fine": 1, "boom": 1}
    assert stats["calls"] == 3  # fine, boom (no retry), the failure callback
    _, dlq = await api(hookstream, "GET", "/v2/dlq")
    assert [m["workflowRunId"] for m in dlq["messages"]] == [run_id]
