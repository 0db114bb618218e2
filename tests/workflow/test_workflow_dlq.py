"""The workflow DLQ through @upstash/workflow's `client.dlq`: a run whose step fails while the
mock API's /flaky refuses is listed with its failure callback's state, then resumed (the steps
before the failed one do not run again), restarted (a new run from the initial body), or its
failed failure callback is sent again. The refusals (ids gone, bad, too many) over HTTP."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp import web

from tests.support.api import api, by_path, eventually, status
from tests.support.hookstream import Hookstream
from tests.support.sink import Sink
from tests.workflow.conftest import RUN_TIMEOUT, App, run_in

# On a local cluster too: every script of a run must stay in its one slot (tests/conftest.py).
pytestmark = [pytest.mark.integration, pytest.mark.cluster]

RESUME = "/v2/workflows/dlq/resume"


class Flaky:
    """The mock API's /flaky (what the step fetches) and /failure (a failure URL): each
    answers 500 until the test lets it answer 200; /flaky then still fails `fail_next`
    more times."""

    def __init__(self, mock_api: Sink) -> None:
        self.flaky_ok = False
        self.fail_next = 0
        self.failure_ok = False
        mock_api.respond = by_path({"/flaky": self._flaky, "/failure": self._failure})

    async def _flaky(self, request: web.Request, body: bytes) -> web.StreamResponse:
        ok = self.flaky_ok and self.fail_next == 0
        self.fail_next = max(0, self.fail_next - 1) if self.flaky_ok else self.fail_next
        return await status(200 if ok else 500, "fine" if ok else "no")(request, body)

    async def _failure(self, request: web.Request, body: bytes) -> web.StreamResponse:
        answer = status(200, "thanks") if self.failure_ok else status(500, "callback refused")
        return await answer(request, body)


async def _listed(app: App, run_id: str, **filters: Any) -> list[dict[str, Any]]:
    answer = await app.node(
        {"op": "dlq", "params": {"filter": {"workflowRunId": run_id, **filters}}}
    )
    entries: list[dict[str, Any]] = answer["messages"]
    return entries


async def _failed_entry(hookstream: Hookstream, app: App, run_id: str) -> dict[str, Any]:
    """The run's one DLQ entry once the run failed and its failure callback ran its course."""
    await run_in(hookstream, run_id, "RUN_FAILED")
    found: list[dict[str, Any]] = []

    async def settled() -> bool:
        found[:] = await _listed(app, run_id)
        info = found[0].get("failureCallbackInfo", {}) if len(found) == 1 else {}
        return info.get("state") in ("CALLBACK_SUCCESS", "CALLBACK_FAIL")

    try:
        await eventually(settled, RUN_TIMEOUT)
    except AssertionError:
        raise AssertionError(f"no settled DLQ entry for {run_id}: {found}") from None
    return found[0]


async def test_resume_runs_on_from_the_failed_step(
    hookstream: Hookstream, app: App, mock_api: Sink
) -> None:
    """The failed step's entry names the run, its URL and the failure function's delivery;
    after the resume the run ends RUN_SUCCESS under the same id, the step before the failed
    one ran once, and the entry is gone: a second resume is a 404, not a second run."""
    flaky = Flaky(mock_api)
    body = {"text": "résumé"}
    run_id = await app.trigger("/dlq-flaky", body=body, headers={"X-Custom": "c1"}, retries=0)
    entry = await _failed_entry(hookstream, app, run_id)
    assert entry["workflowUrl"] == f"{app.url}/dlq-flaky"
    assert entry["responseStatus"] == 500
    assert entry["failureCallback"] == f"{app.url}/dlq-flaky"
    assert entry["failureCallbackInfo"]["state"] == "CALLBACK_SUCCESS"
    assert (await app.stats(run_id))["bodies"] == {"before": 1, "flaky": 1}

    flaky.flaky_ok = True
    answer = await app.node({"op": "resume", "ids": entry["dlqId"]})
    [resumed] = answer["workflowRuns"]
    assert resumed["workflowRunId"] == run_id
    run = await run_in(hookstream, run_id, "RUN_SUCCESS")
    assert run["workflowRunResponse"] == '"résumé|c1|fine|after"'
    assert (await app.stats(run_id))["bodies"] == {"before": 1, "flaky": 2, "after": 1}
    assert await _listed(app, run_id) == []
    again, error = await api(hookstream, "POST", RESUME, params={"dlqIds": entry["dlqId"]})
    assert (again, error["error"]) == (404, f"dlq entry {entry['dlqId']} not found")


async def test_a_flow_controlled_run_resumes_with_more_retries(
    hookstream: Hookstream, app: App, mock_api: Sink
) -> None:
    """A run with a flow-control key (it lives in the key's partition, its steps pass the
    key's gate) resumes there; `retries: 1` on the resume lets the step fail once more and
    still succeed (the run's own retries were 0); the gate is left with no slot taken."""
    flaky = Flaky(mock_api)
    flow = {"key": "wf-dlq-flow", "parallelism": 1}
    run_id = await app.trigger("/dlq-flaky", body={"text": "f"}, retries=0, flowControl=flow)
    entry = await _failed_entry(hookstream, app, run_id)
    flaky.flaky_ok, flaky.fail_next = True, 1
    answer = await app.node({"op": "resume", "ids": entry["dlqId"], "options": {"retries": 1}})
    assert answer["workflowRuns"][0]["workflowRunId"] == run_id
    await run_in(hookstream, run_id, "RUN_SUCCESS")
    assert (await app.stats(run_id))["bodies"] == {"before": 1, "flaky": 3, "after": 1}

    async def gate_idle() -> bool:
        _, gate = await api(hookstream, "GET", "/v2/flowControl/wf-dlq-flow")
        return bool(gate["parallelismMax"] == 1 and gate["parallelismCount"] == 0)

    await eventually(gate_idle, RUN_TIMEOUT)


async def test_restart_starts_a_new_run_from_the_initial_body(
    hookstream: Hookstream, app: App, mock_api: Sink
) -> None:
    """Restart: a new run id whose run starts over (each step body once more, the initial
    body and forwarded header again) and succeeds; the failed run stays RUN_FAILED; a second
    restart of the entry is a 404 and starts nothing."""
    flaky = Flaky(mock_api)
    run_id = await app.trigger(
        "/dlq-flaky", body={"text": "again"}, headers={"X-Custom": "c2"}, retries=0
    )
    entry = await _failed_entry(hookstream, app, run_id)
    flaky.flaky_ok = True
    answer = await app.node({"op": "restart", "ids": [entry["dlqId"]]})
    [restarted] = answer["workflowRuns"]
    new_id = restarted["workflowRunId"]
    assert new_id != run_id
    assert new_id.startswith("wfr_")
    run = await run_in(hookstream, new_id, "RUN_SUCCESS")
    assert run["workflowRunResponse"] == '"again|c2|fine|after"'
    assert (await app.stats(new_id))["bodies"] == {"before": 1, "flaky": 1, "after": 1}
    await run_in(hookstream, run_id, "RUN_FAILED")
    again, _ = await api(
        hookstream, "POST", "/v2/workflows/dlq/restart", params={"dlqIds": entry["dlqId"]}
    )
    assert again == 404
    _, logs = await api(hookstream, "GET", "/v2/workflows/events", params={"count": "10"})
    assert sorted(r["workflowRunId"] for r in logs["runs"]) == sorted([run_id, new_id])


async def test_a_failed_failure_callback_is_sent_again(
    hookstream: Hookstream, app: App, mock_api: Sink
) -> None:
    """A failure URL that answers 500 leaves CALLBACK_FAIL with its answer on the entry (and
    the failureFunctionState filter finds it, CALLBACK_SUCCESS does not); retryFailureFunction
    sends it again, it is delivered, and the entry says CALLBACK_SUCCESS. A second retry
    finds nothing failed: a 400, and no third delivery."""
    flaky = Flaky(mock_api)
    run_id = await app.trigger(
        "/dlq-flaky", body={"text": "x"}, retries=0, failureUrl=mock_api.url("/failure")
    )
    entry = await _failed_entry(hookstream, app, run_id)
    info = entry["failureCallbackInfo"]
    assert info["state"] == "CALLBACK_FAIL"
    assert (info["responseStatus"], info["responseBody"]) == (500, "callback refused")
    assert entry["failureCallback"] == mock_api.url("/failure")
    assert len(await _listed(app, run_id, failureFunctionState="CALLBACK_FAIL")) == 1
    assert await _listed(app, run_id, failureFunctionState="CALLBACK_SUCCESS") == []

    flaky.failure_ok = True
    answer = await app.node({"op": "retryFailure", "id": entry["dlqId"]})
    assert answer["workflowRunId"] == run_id

    async def delivered() -> bool:
        [listed] = await _listed(app, run_id)
        return bool(listed["failureCallbackInfo"]["state"] == "CALLBACK_SUCCESS")

    await eventually(delivered, RUN_TIMEOUT)
    callbacks = [r for r in mock_api.received if r.path == "/failure"]
    assert len(callbacks) == 2
    assert callbacks[0].body == callbacks[1].body
    again, error = await api(hookstream, "POST", f"/v2/workflows/dlq/callback/{entry['dlqId']}")
    assert again == 400
    assert "has not failed" in error["error"]
    assert len([r for r in mock_api.received if r.path == "/failure"]) == 2
    await run_in(hookstream, run_id, "RUN_FAILED")  # the run itself is still failed


@pytest.mark.parametrize("action", ["resume", "restart"])
async def test_two_calls_at_once_start_one_run(
    hookstream: Hookstream, app: App, mock_api: Sink, action: str
) -> None:
    """Two resumes (or restarts) of one entry sent together: one answers the run, the other
    a 404, and the failed step runs once more, not twice."""
    flaky = Flaky(mock_api)
    run_id = await app.trigger("/dlq-flaky", body={"text": "twice"}, retries=0)
    entry = await _failed_entry(hookstream, app, run_id)
    flaky.flaky_ok = True
    path, params = f"/v2/workflows/dlq/{action}", {"dlqIds": entry["dlqId"]}
    answers = await asyncio.gather(
        api(hookstream, "POST", path, params=params), api(hookstream, "POST", path, params=params)
    )
    assert sorted(code for code, _ in answers) == [200, 404], answers
    [started] = [body["workflowRuns"][0] for code, body in answers if code == 200]
    new_id = started["workflowRunId"]
    await run_in(hookstream, new_id, "RUN_SUCCESS")
    _, logs = await api(hookstream, "GET", "/v2/workflows/events", params={"count": "10"})
    assert len(logs["runs"]) == (1 if action == "resume" else 2)
    flaky_runs = (await app.stats(run_id))["bodies"]["flaky"]
    if action == "restart":
        flaky_runs += (await app.stats(new_id))["bodies"]["flaky"]
    assert flaky_runs == 2


async def test_the_listing_pages_and_filters(
    hookstream: Hookstream, app: App, mock_api: Sink
) -> None:
    """Three failed runs: `count: 2` gives two entries and a cursor, the cursor the third
    and no cursor; `label` and `workflowUrl` select by the run's label and URL."""
    Flaky(mock_api)
    labels = ["lbl-a", "lbl-b", "lbl-b"]
    run_ids = [
        await app.trigger("/dlq-flaky", body={"text": "p"}, retries=0, label=label)
        for label in labels
    ]
    for run_id in run_ids:
        await _failed_entry(hookstream, app, run_id)
    first = await app.node({"op": "dlq", "params": {"count": 2}})
    assert len(first["messages"]) == 2
    rest = await app.node({"op": "dlq", "params": {"count": 2, "cursor": first["cursor"]}})
    assert "cursor" not in rest or rest["cursor"] is None
    paged = [m["workflowRunId"] for m in first["messages"] + rest["messages"]]
    assert sorted(paged) == sorted(run_ids)
    labelled = await app.node({"op": "dlq", "params": {"filter": {"label": "lbl-a"}}})
    assert [m["workflowRunId"] for m in labelled["messages"]] == [run_ids[0]]
    assert labelled["messages"][0]["labels"] == ["lbl-a"]
    url = f"{app.url}/dlq-flaky"
    by_url = await app.node({"op": "dlq", "params": {"filter": {"workflowUrl": url}}})
    assert len(by_url["messages"]) == 3
    other = await app.node({"op": "dlq", "params": {"filter": {"workflowUrl": url + "-no"}}})
    assert other["messages"] == []


async def test_bad_ids_and_bounds_are_refused(hookstream: Hookstream) -> None:
    """Malformed ids are a 400, unknown ones a 404, more than 100 ids or a count past 100 a
    400, an unknown filter a 400; the listing of an empty DLQ is empty."""
    cases = [
        ("POST", RESUME, {"dlqIds": "not-an-id"}, 400),
        ("POST", RESUME, {"dlqIds": "1700000000000-0-0"}, 404),
        ("POST", "/v2/workflows/dlq/restart", {"dlqIds": "1700000000000-0-0"}, 404),
        ("POST", RESUME, {"dlqIds": ",".join(f"{n}-0-0" for n in range(101))}, 400),
        ("POST", RESUME, {"count": "101"}, 400),
        ("POST", RESUME, {"nonsense": "1"}, 400),
        ("POST", "/v2/workflows/dlq/callback/1700000000000-0-0", {}, 404),
        ("GET", "/v2/dlq", {"source": "workflow", "failureFunctionState": "MAYBE"}, 400),
    ]
    for method, path, params, expected in cases:
        code, body = await api(hookstream, method, path, params=params)
        assert (code, path, params) == (expected, path, params), body
    code, listed = await api(hookstream, "GET", "/v2/workflows/dlq")
    assert (code, listed) == (200, {"messages": []})
    flow = {"Upstash-Flow-Control-Key": "k", "Upstash-Flow-Control-Value": "parallelism=1"}
    code, error = await api(hookstream, "POST", RESUME, params={"count": "1"}, headers=flow)
    assert code == 400
    assert "flowControl" in error["error"]


async def test_delete_removes_the_entry(hookstream: Hookstream, app: App, mock_api: Sink) -> None:
    """`DELETE /v2/workflows/dlq` (client.dlq.delete) removes the entry: `{deleted: 1}`, the
    listing is empty, a second delete of it is a 404."""
    Flaky(mock_api)
    run_id = await app.trigger("/dlq-flaky", body={"text": "d"}, retries=0)
    entry = await _failed_entry(hookstream, app, run_id)
    params = {"dlqIds": entry["dlqId"]}
    code, answer = await api(hookstream, "DELETE", "/v2/workflows/dlq", params=params)
    assert (code, answer) == (200, {"deleted": 1})
    assert await _listed(app, run_id) == []
    code, _ = await api(hookstream, "DELETE", "/v2/workflows/dlq", params=params)
    assert code == 404


async def test_a_plain_dead_letter_is_no_workflow_entry(
    hookstream: Hookstream, mock_api: Sink
) -> None:
    """A dead-lettered message of no run stays in GET /v2/dlq but not in the workflow
    listing, and resuming, restarting or retrying its failure callback is a 400 naming it."""
    code, _ = await api(
        hookstream, "POST", f"/v2/publish/{mock_api.url('/fails')}",
        headers={"Upstash-Retries": "0"}, data=b"plain",
    )  # fmt: skip
    assert code == 201
    found: dict[str, Any] = {}

    async def dead_lettered() -> bool:
        _, dlq = await api(hookstream, "GET", "/v2/dlq")
        found.update(dlq)
        return len(dlq["messages"]) == 1

    await eventually(dead_lettered, RUN_TIMEOUT)
    dlq_id = found["messages"][0]["dlqId"]
    _, listed = await api(hookstream, "GET", "/v2/dlq", params={"source": "workflow"})
    assert listed == {"messages": []}
    for path in (RESUME, "/v2/workflows/dlq/restart"):
        code, error = await api(hookstream, "POST", path, params={"dlqIds": dlq_id})
        assert (code, error["error"]) == (400, f"dlq entry {dlq_id} is not a failed workflow step")
    code, _ = await api(hookstream, "POST", f"/v2/workflows/dlq/callback/{dlq_id}")
    assert code == 400
