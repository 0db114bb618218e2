"""Notify before wait through the SDK: `client.notify({eventId, workflowRunId})` reaches a run
that has not waited yet, and its `waitForEvent` takes the event at once (lookback)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from tests.support.hookstream import Hookstream
from tests.support.procs import RoleProcess, role_env
from tests.workflow.conftest import App, run_in


@pytest.fixture(name="hookstream")
async def _api_only(redis_url: str) -> AsyncIterator[Hookstream]:
    """No worker until the test starts one, so the notify surely comes before the wait."""
    server = await Hookstream(redis_url, with_worker=False).start()
    yield server
    await server.stop()


async def test_a_notify_by_run_id_before_the_wait_reaches_the_run(
    hookstream: Hookstream, app: App, redis_url: str
) -> None:
    """The run is triggered but not yet delivered; the notify naming it is held (no waiter,
    no message), getWaiters lists nobody, and once a worker runs, the run's waitForEvent gets
    the data at once (timeout false: its 60 s timeout never came)."""
    run_id = await app.trigger("/wait", body={"event": "early-bird", "timeout": 60})
    data = {"seat": "12A", "note": "früh"}
    notify = {"eventId": "early-bird", "eventData": data, "workflowRunId": run_id}
    held = await app.node({"op": "notify", "params": notify})
    assert (held["workflowRunId"], held["messageId"], held["error"]) == (run_id, "", "")
    assert await app.node({"op": "waiters", "params": {"eventId": "early-bird"}}) == []
    worker = RoleProcess("workers", role_env(redis_url))
    try:
        worker.wait_ready()
        run = await run_in(hookstream, run_id, "RUN_SUCCESS")
    finally:
        worker.stop()
    assert json.loads(run["workflowRunResponse"]) == {"eventData": data, "timeout": False}
    assert (await app.stats(run_id))["bodies"] == {"after": 1}
