"""Upstash Workflow runs (docs/workflow.md): the steps the SDK fetches, finishing and
cancelling runs, and the run logs.

- `GET /v2/workflows/runs/{id}`: a running run's raw steps (the SDK's LazyFetch); 404 once
  it ended, which the SDK reads as "workflow-already-ended".
- `DELETE /v2/workflows/runs/{id}?cancel=false|true`: the SDK ends a run with its result
  (RUN_SUCCESS), or `context.cancel()` cancels it.
- `DELETE /v2/workflows/runs?workflowRunIds=...`: `client.cancel`, answering `{"cancelled": n}`.
- `GET /v2/workflows/events?groupBy=workflowRunId` (`client.logs`) and `/v2/workflows/logs`
  (the OpenAPI's name): runs newest first, filtered by `workflowRunId`, `workflowUrl`,
  `state`, paged by `cursor`.
"""

from __future__ import annotations

import heapq

from aiohttp import web

from broker import api
from broker.errors import BadRequest, NotFound
from broker.http.context import connection
from broker.http.filters import count_parameter
from broker.http.views import respond, workflow_run_view
from broker.queue import workflow_runs
from broker.queue.names import check_name

_LOG_PARAMETERS = frozenset(
    {"groupBy", "workflowRunId", "workflowUrl", "state", "cursor", "count", "qstash_token"}
)
_STATES = frozenset(
    {workflow_runs.RUNNING, workflow_runs.SUCCESS, workflow_runs.FAILED, workflow_runs.CANCELED}
)
MAX_IDS = 100


def _run_id(raw: str) -> str:
    return check_name("workflow_run_id", raw, "workflow run id")


async def get_steps(request: web.Request) -> web.Response:
    run_id = _run_id(request.match_info["run_id"])
    steps = await workflow_runs.running_steps(connection(request), run_id)
    if steps is None:
        raise NotFound(f"workflow run {run_id} not found or already ended")
    return web.Response(body=steps, content_type="application/json")


async def end_run(request: web.Request) -> web.Response:
    """The SDK puts `?cancel=` inside the last path segment; aiohttp reads it as a query."""
    run_id = _run_id(request.match_info["run_id"])
    cancel = request.query.get("cancel", "false").lower()
    if cancel not in ("true", "false"):
        raise BadRequest("cancel must be true or false")
    conn = connection(request)
    if cancel == "true":
        ended = await workflow_runs.cancel(conn, run_id)
    else:
        ended = await workflow_runs.finish(conn, run_id, await request.read())
    if not ended:
        raise NotFound(f"workflow run {run_id} not found or already ended")
    return respond({})


async def cancel_runs(request: web.Request) -> web.Response:
    """Bulk cancel by run ids (repeated or comma-separated); other filters are not yet."""
    unknown = sorted(set(request.query) - {"workflowRunIds", "qstash_token"})
    if unknown:
        raise BadRequest(
            f"workflow runs can be cancelled by workflowRunIds only (for now), not {unknown[0]}"
        )
    ids = [
        part.strip()
        for value in request.query.getall("workflowRunIds", [])
        for part in value.split(",")
        if part.strip()
    ]
    if not ids:
        raise BadRequest("workflowRunIds is empty: give at least one workflow run id")
    if len(ids) > MAX_IDS:
        raise BadRequest(f"at most {MAX_IDS} workflowRunIds per call, got {len(ids)}")
    conn = connection(request)
    cancelled = 0
    for run_id in dict.fromkeys(_run_id(i) for i in ids):
        cancelled += await workflow_runs.cancel(conn, run_id)
    return respond({"cancelled": cancelled})


async def list_runs(request: web.Request) -> web.Response:
    """Runs newest first; the cursor is the creation time (ms) of the next page's first run."""
    query = request.query
    unknown = sorted(set(query) - _LOG_PARAMETERS)
    if unknown:
        raise BadRequest(f"unknown parameter {unknown[0]!r}: expected {sorted(_LOG_PARAMETERS)}")
    state = query.get("state")
    if state is not None and state not in _STATES:
        raise BadRequest(f"state must be one of {', '.join(sorted(_STATES))}")
    count = count_parameter(query, default=10, maximum=100)
    conn = connection(request)
    run_id = query.get("workflowRunId")
    more = False
    if run_id:
        candidates = [(_run_id(run_id), 0.0)]
    else:
        before = _cursor(query.get("cursor"))
        per_partition = [
            await workflow_runs.run_ids(conn, p, before, count + 1) for p in conn.partitions
        ]
        candidates = list(heapq.merge(*per_partition, key=lambda item: -item[1]))
        more = any(len(found) > count for found in per_partition)
    runs: list[api.WorkflowRun] = []
    cursor: str | None = None
    for candidate, created in candidates:
        if len(runs) == count:
            cursor = str(int(created))
            break
        run = await workflow_runs.load(conn, candidate)
        if run is None and not run_id:
            await workflow_runs.forget(conn, candidate)
        if run is None or (state and run.state != state):
            continue
        if query.get("workflowUrl") and run.config.url != query["workflowUrl"]:
            continue
        runs.append(workflow_run_view(run))
    if cursor is None and not run_id and more and candidates:
        cursor = str(int(candidates[-1][1]) - 1)  # all of this batch filtered out: go on
    return respond({"runs": runs, **({"cursor": cursor} if cursor else {})})


def _cursor(raw: str | None) -> float:
    if not raw:
        return float("inf")
    if not raw.isdigit() or len(raw) > 15:
        raise BadRequest("cursor must be the cursor of an earlier page")
    return float(raw)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/v2/workflows/runs/{run_id}", get_steps)
    app.router.add_delete("/v2/workflows/runs/{run_id}", end_run)
    app.router.add_delete("/v2/workflows/runs", cancel_runs)
    app.router.add_get("/v2/workflows/events", list_runs)
    app.router.add_get("/v2/workflows/logs", list_runs)
