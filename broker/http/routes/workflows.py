"""Upstash Workflow runs (docs/workflow.md): the steps the SDK fetches, finishing and
cancelling runs, and the run logs.

- `GET /v2/workflows/runs/{id}`: a running run's raw steps (the SDK's LazyFetch); 404 once
  it ended, which the SDK reads as "workflow-already-ended".
- `DELETE /v2/workflows/runs/{id}?cancel=false|true`: the SDK ends a run with its result
  (RUN_SUCCESS), or `context.cancel()` cancels it.
- `DELETE /v2/workflows/runs?workflowRunIds=...` (or filters, or all): `client.cancel`,
  answering `{"cancelled": n}`.
- `GET /v2/workflows/events?groupBy=workflowRunId` (`client.logs`) and `/v2/workflows/logs`
  (the OpenAPI's name): runs newest first, filtered by `workflowRunId`, `workflowUrl`,
  `state`, `label`, `fromDate`/`toDate`, paged by `cursor`.
- `POST /v2/wait/{eventId}`, `POST /v2/notify/[{runId}/]{eventId}` and
  `GET /v2/waiters/{eventId}`: waitForEvent, notify (with lookback by run id) and getWaiters
  (broker/queue/workflow_waits.py).
"""

from __future__ import annotations

import heapq
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass

import msgspec
from aiohttp import web
from multidict import MultiMapping

from broker.errors import BadRequest, NotFound
from broker.http.context import connection
from broker.http.filters import count_parameter
from broker.http.views import respond, workflow_run_view
from broker.options import parse_publish_headers
from broker.queue import workflow_progress, workflow_runs, workflow_waits
from broker.queue.connection import Connection
from broker.queue.destinations import validate_url
from broker.queue.names import check_name

_LOG_PARAMETERS = frozenset(
    {"groupBy", "workflowRunId", "workflowUrl", "state", "label", "fromDate", "toDate", "cursor",
     "count", "callerIp"}
)  # fmt: skip
_STATES = frozenset(
    {workflow_runs.RUNNING, workflow_runs.SUCCESS, workflow_runs.FAILED, workflow_runs.CANCELED}
)
MAX_IDS = 100
_MAX_IP_LENGTH = 64  # an IPv6 address with a zone index fits


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


_BULK_FILTERS = frozenset(
    {"workflowUrl", "workflowUrlExactMatch", "label", "fromDate", "toDate", "flowControlKey",
     "callerIp"}
)  # fmt: skip
SCAN_MAX = 2000
"""Runs one list or bulk call examines at most; past it, it answers with a cursor."""


async def cancel_runs(request: web.Request) -> web.Response:
    """`client.cancel`: by run ids (repeated or comma-separated), by filters (`workflowUrl`, a
    prefix unless `workflowUrlExactMatch=true`, `label`, `fromDate`/`toDate` in ms,
    `flowControlKey`, `callerIp`), or every running run (`count` and `cursor` alone); `count`
    runs a call."""
    query = request.query
    conn = connection(request)
    if "workflowRunIds" in query:
        return respond({"cancelled": await _cancel_ids(conn, query)})
    _known(query, _BULK_FILTERS | {"count", "cursor"})
    wanted = _filter(query, exact=query.get("workflowUrlExactMatch", "false") == "true")
    count = count_parameter(query, default=100, maximum=100)
    page = await _scan(conn, _cursor(query.get("cursor")), count, _running(wanted))
    cancelled = 0
    for run in page.runs:
        cancelled += await workflow_runs.cancel(conn, run.run_id)
    return respond({"cancelled": cancelled, **({"cursor": page.cursor} if page.cursor else {})})


async def _cancel_ids(conn: Connection, query: MultiMapping[str]) -> int:
    _known(query, frozenset({"workflowRunIds"}))
    ids = [
        part.strip()
        for value in query.getall("workflowRunIds", [])
        for part in value.split(",")
        if part.strip()
    ]
    if not ids:
        raise BadRequest("workflowRunIds is empty: give at least one workflow run id")
    if len(ids) > MAX_IDS:
        raise BadRequest(f"at most {MAX_IDS} workflowRunIds per call, got {len(ids)}")
    cancelled = 0
    for run_id in dict.fromkeys(_run_id(i) for i in ids):
        cancelled += await workflow_runs.cancel(conn, run_id)
    return cancelled


def _known(query: MultiMapping[str], allowed: frozenset[str]) -> None:
    unknown = sorted(set(query) - allowed - {"qstash_token"})
    if unknown:
        raise BadRequest(f"unknown parameter {unknown[0]!r}: expected one of {sorted(allowed)}")


Wanted = Callable[[workflow_runs.Run], bool]


def _filter(query: MultiMapping[str], exact: bool) -> Wanted:
    """The runs the filter parameters select (all of them without any)."""
    url, label, key = query.get("workflowUrl"), query.get("label"), query.get("flowControlKey")
    since, until = _ms(query, "fromDate", 0), _ms(query, "toDate", 2**63)
    state = query.get("state")
    if state is not None and state not in _STATES:
        raise BadRequest(f"state must be one of {', '.join(sorted(_STATES))}")
    callers = _caller_ips(query)

    def wanted(run: workflow_runs.Run) -> bool:
        config = run.config
        return (
            (not url or (config.url == url if exact else config.url.startswith(url)))
            and (not label or label in config.labels)
            and (not key or config.flow_control_key == key)
            and (not state or run.state == state)
            and (not callers or _normal_ip(config.caller_ip) in callers)
            and since <= run.created_at <= until
        )

    return wanted


def _caller_ips(query: MultiMapping[str]) -> frozenset[str]:
    """`callerIp` values (repeated, as the SDK sends a list, or comma-separated), each an IP
    address, at most MAX_IDS; normalised, so `::0001` finds a run from `::1`."""
    raw = [
        part.strip()
        for value in query.getall("callerIp", [])
        for part in value.split(",")
        if part.strip()
    ]
    if len(raw) > MAX_IDS:
        raise BadRequest(f"at most {MAX_IDS} callerIp values per call, got {len(raw)}")
    found = {_normal_ip(value) for value in raw}
    if "" in found:
        raise BadRequest("callerIp must be an IPv4 or IPv6 address")
    return frozenset(found)


def _normal_ip(value: str) -> str:
    """The address in its canonical spelling, or "" when `value` is none."""
    if len(value) > _MAX_IP_LENGTH:
        return ""
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return ""


def _running(wanted: Wanted) -> Wanted:
    return lambda run: run.state == workflow_runs.RUNNING and wanted(run)


def _ms(query: MultiMapping[str], name: str, default: int) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or len(raw) > 15:
        raise BadRequest(f"{name} must be a unix time in milliseconds")
    return int(raw)


async def list_runs(request: web.Request) -> web.Response:
    """Runs newest first, filtered; the cursor is the creation time (ms) to go on from."""
    query = request.query
    _known(query, _LOG_PARAMETERS)
    wanted = _filter(query, exact=True)
    count = count_parameter(query, default=10, maximum=100)
    conn = connection(request)
    run_id = query.get("workflowRunId")
    if run_id:
        run = await workflow_runs.load(conn, _run_id(run_id))
        page = _Page([run] if run is not None and wanted(run) else [], None)
    else:
        page = await _scan(conn, _cursor(query.get("cursor")), count, wanted)
    progress = await workflow_progress.progress_of_page(conn, page.runs)
    runs = [workflow_run_view(run, shown) for run, shown in zip(page.runs, progress, strict=True)]
    return respond({"runs": runs, **({"cursor": page.cursor} if page.cursor else {})})


@dataclass(frozen=True, slots=True)
class _Page:
    runs: list[workflow_runs.Run]
    cursor: str | None


async def _scan(conn: Connection, before: float, limit: int, wanted: Wanted) -> _Page:
    """Up to `limit` runs that `wanted` keeps, newest first from `before` (inclusive), over
    every partition's index; a cursor when more may follow. Each round reads the newest
    `limit + 1` of each partition and takes only the runs no partition can still precede."""
    found: list[workflow_runs.Run] = []
    seen: set[str] = set()
    for _ in range(SCAN_MAX // (limit + 1) + 1):
        rounds = [await workflow_runs.run_ids(conn, p, before, limit + 1) for p in conn.partitions]
        full = [found_ids[-1][1] for found_ids in rounds if len(found_ids) > limit]
        floor = max(full, default=float("-inf"))
        fresh = [
            item
            for item in heapq.merge(*rounds, key=lambda item: -item[1])
            if item[1] >= floor and item[0] not in seen
        ]
        for run_id, created in fresh:
            if len(found) == limit:
                return _Page(found, str(int(created)))
            seen.add(run_id)
            run = await workflow_runs.load(conn, run_id)
            if run is None:
                await workflow_runs.forget(conn, run_id)
            elif wanted(run):
                found.append(run)
        if not full:
            return _Page(found, None)
        before = floor if fresh else floor - 1  # more than a round of runs in one ms
    return _Page(found, str(int(before)))


def _cursor(raw: str | None) -> float:
    if not raw:
        return float("inf")
    if not raw.isdigit() or len(raw) > 15:
        raise BadRequest("cursor must be the cursor of an earlier page")
    return float(raw)


async def wait_for_event(request: web.Request) -> web.Response:
    """`POST /v2/wait/{eventId}`: the SDK's waitForEvent, for the run its headers name."""
    conn = connection(request)
    event_id = workflow_waits.check_event_id(request.match_info["event_id"])
    try:
        body = _wait_request.decode(await request.read())
    except msgspec.DecodeError as exc:  # ValidationError included
        raise BadRequest(f"invalid wait: {exc}") from None
    options = parse_publish_headers(request.headers, conn.settings)
    validate_url(body.url, "url", conn.settings.destination_policy)
    if body.timeoutUrl:
        validate_url(body.timeoutUrl, "timeoutUrl", conn.settings.destination_policy)
    await workflow_waits.wait(conn, event_id, body, options)
    return respond({})


async def notify_event(request: web.Request) -> web.Response:
    """`POST /v2/notify/{eventId}`: every waiting run, a list (an event nobody waits for is
    lost)."""
    event_id = workflow_waits.check_event_id(request.match_info["event_id"])
    notified = await workflow_waits.notify(connection(request), event_id, await request.read())
    return respond([workflow_waits.notify_answer(n) for n in notified])


async def notify_run(request: web.Request) -> web.Response:
    """`POST /v2/notify/{runId}/{eventId}`: that run only, one answer; the run holds an event
    it does not wait for yet until it does (lookback); 404 for a run that is not running."""
    run_id = _run_id(request.match_info["run_id"])
    event_id = workflow_waits.check_event_id(request.match_info["event_id"])
    data = await request.read()
    notified = await workflow_waits.notify_run(connection(request), run_id, event_id, data)
    if notified is None:
        raise NotFound(f"workflow run {run_id} not found or already ended")
    return respond(workflow_waits.notify_answer(notified))


async def list_waiters(request: web.Request) -> web.Response:
    """`GET /v2/waiters/{eventId}`: the runs' waiters for the event (`client.getWaiters`)."""
    event_id = workflow_waits.check_event_id(request.match_info["event_id"])
    found = await workflow_waits.waiters(connection(request), event_id)
    return respond([workflow_waits.waiter_view(waiter) for waiter in found])


_wait_request = msgspec.json.Decoder(workflow_waits.WaitRequest)


def add_routes(app: web.Application) -> None:
    app.router.add_post("/v2/wait/{event_id}", wait_for_event)
    app.router.add_post("/v2/notify/{event_id}", notify_event)
    app.router.add_post("/v2/notify/{run_id}/{event_id}", notify_run)
    app.router.add_get("/v2/waiters/{event_id}", list_waiters)
    app.router.add_get("/v2/workflows/runs/{run_id}", get_steps)
    app.router.add_delete("/v2/workflows/runs/{run_id}", end_run)
    app.router.add_delete("/v2/workflows/runs", cancel_runs)
    app.router.add_get("/v2/workflows/events", list_runs)
    app.router.add_get("/v2/workflows/logs", list_runs)
