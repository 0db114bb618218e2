"""The workflow DLQ API (`client.dlq` of @upstash/workflow; broker/queue/workflow_dlq.py).

- `GET /v2/workflows/dlq`, and `GET /v2/dlq?source=workflow` (what SDK 1.3.3's `list`
  sends): the entries of failed steps, oldest first, each with `failureCallback` and
  `failureCallbackInfo`; filters `workflowRunId`, `workflowUrl` (or the older `url`),
  `workflowCreatedAt`, `failureFunctionState`, `label`, `flowControlKey`, `callerIp`,
  `responseStatus`, `fromDate`/`toDate` (when the entry was made); `count` and `cursor`.
- `POST /v2/workflows/dlq/resume` and `/restart`: by `dlqIds` (repeated or comma-separated),
  by the same filters, or every entry (`count` and `cursor` alone); `{workflowRuns, cursor}`.
  `Upstash-Retries` overrides the run's retries.
- `POST /v2/workflows/dlq/callback/{dlqId}`: send the run's failed failure callback again.
- `DELETE /v2/workflows/dlq` (`client.dlq.delete`): `{deleted, cursor}`.

Every call acts on at most MAX_COUNT entries. Named ids must all be entries of failed steps
(a 404 or 400 naming the first that is not) before any is acted on.
"""

from __future__ import annotations

from contextlib import aclosing
from typing import Any

from aiohttp import web
from multidict import MultiMapping

from broker.errors import BadRequest, NotFound
from broker.http.context import connection
from broker.http.filters import Filter, count_parameter
from broker.http.views import as_json, dlq_view, respond
from broker.metrics import count_published
from broker.options import parse_publish_headers
from broker.queue import workflow_dlq
from broker.queue.connection import Connection
from broker.queue.dlq import DlqEntry, delete_entry, find_entries, load_entry
from broker.queue.keys import parse_dlq_id
from broker.queue.paging import Entry, merged, page
from broker.queue.workflow_dlq import FailedStep, Overrides

MAX_COUNT = 100
# filter parameter → the key of the listed entry it compares against
_FIELDS = {
    "workflowRunId": "workflowRunId",
    "workflowUrl": "workflowUrl",
    "url": "workflowUrl",  # deprecated in the SDK, same meaning
    "workflowCreatedAt": "workflowCreatedAt",
    "failureFunctionState": "failureFunctionState",
    "label": "labels",
    "flowControlKey": "flowControlKey",
    "callerIp": "callerIp",
    "callerIP": "callerIp",
    "responseStatus": "responseStatus",
}
_DATES = ("fromDate", "toDate")
_PAGING = frozenset({"count", "cursor", "qstash_token"})
_LIST_ONLY = frozenset({"order", "trimBody", "source"})

Listed = tuple[FailedStep, dict[str, Any]]


def _values(query: MultiMapping[str], key: str) -> list[str]:
    return [part.strip() for raw in query.getall(key) for part in raw.split(",") if part.strip()]


def _filter(query: MultiMapping[str], extra: frozenset[str]) -> Filter:
    """The entries the filter parameters select; a 400 for an unknown or empty one."""
    values: dict[str, frozenset[str]] = {}
    dates: dict[str, int] = {}
    for key in dict.fromkeys(query):
        if key in _PAGING or key in extra:
            continue
        if key in _DATES:
            raw = query[key]
            if not raw.isdigit() or len(raw) > 15:
                raise BadRequest(f"{key} must be a unix time in milliseconds")
            dates[key] = int(raw)
            continue
        if key not in _FIELDS:
            known = ", ".join(sorted([*_FIELDS, *_DATES]))
            raise BadRequest(f"unknown parameter {key!r}: expected a filter field ({known})")
        found = _values(query, key)
        if not found:
            raise BadRequest(f"{key} is empty: give at least one value")
        if key == "failureFunctionState" and not set(found) <= set(workflow_dlq.CALLBACK_STATES):
            states = ", ".join(workflow_dlq.CALLBACK_STATES)
            raise BadRequest(f"failureFunctionState must be one of {states}")
        target = _FIELDS[key]
        values[target] = values.get(target, frozenset()) | frozenset(found)
    return Filter(values, dates.get("fromDate"), dates.get("toDate"))


async def _render(conn: Connection, entry: Entry) -> Listed | None:
    """A DLQ stream entry as a listed workflow entry; None unless it is a failed step."""
    located = DlqEntry(
        conn.partitions[entry.position.partition],
        entry.position.stream_id,
        entry.fields[b"id"].decode(),
    )
    step = workflow_dlq.failed_step(located, await load_entry(conn.redis, located))
    if step is None:
        return None
    item = as_json(dlq_view(step.message, located.dlq_id))
    info = await workflow_dlq.callback_info(conn, step)
    if info is not None:
        item |= {"failureCallback": info.url, "failureCallbackInfo": info.view()}
    return step, item


async def _listing(
    conn: Connection, wanted: Filter, count: int, cursor: str | None, newest_first: bool
) -> tuple[list[Listed], str | None]:
    async def render(entry: Entry) -> Listed | None:
        listed = await _render(conn, entry)
        if listed is None:
            return None
        state = listed[1].get("failureCallbackInfo", {}).get("state")
        probe = listed[1] | {"failureFunctionState": state}
        return listed if wanted.matches(probe, entry.position.ms) else None

    keys = [p.dlq for p in conn.partitions]
    async with aclosing(merged(conn.redis, keys, cursor, newest_first)) as entries:
        return await page(entries, count, render)


async def list_entries(request: web.Request) -> web.Response:
    query = request.query
    if query.get("source", "workflow") != "workflow":
        raise BadRequest("source must be workflow here")
    found, cursor = await _listing(
        connection(request),
        _filter(query, _LIST_ONLY),
        count_parameter(query, default=MAX_COUNT, maximum=MAX_COUNT),
        query.get("cursor"),
        newest_first=query.get("order") == "latestFirst",
    )
    return respond({"messages": [item for _, item in found], **_cursor(cursor)})


def _cursor(cursor: str | None) -> dict[str, str]:
    return {"cursor": cursor} if cursor else {}


async def _selection(request: web.Request) -> tuple[list[FailedStep], str | None]:
    """The failed steps a bulk call names: `dlqIds`, else a filtered page (every entry with
    no filter at all)."""
    conn, query = connection(request), request.query
    count = count_parameter(query, default=MAX_COUNT, maximum=MAX_COUNT)
    if "dlqIds" not in query:
        wanted = _filter(query, frozenset())
        found, cursor = await _listing(conn, wanted, count, query.get("cursor"), False)
        return [step for step, _ in found], cursor
    unexpected = sorted(set(query) - {"dlqIds", "qstash_token", "cursor"})
    if unexpected:
        raise BadRequest(f"dlqIds selects alone: {unexpected[0]!r} cannot be combined with it")
    ids = list(dict.fromkeys(_values(query, "dlqIds")))
    if not ids:
        raise BadRequest("dlqIds is empty: give at least one dlq id")
    if len(ids) > MAX_COUNT:
        raise BadRequest(f"at most {MAX_COUNT} dlqIds per call, got {len(ids)}")
    return [await _named(conn, dlq_id) for dlq_id in ids], None


async def _named(conn: Connection, dlq_id: str) -> FailedStep:
    try:
        parse_dlq_id(dlq_id)
    except ValueError:
        raise BadRequest(f"{dlq_id[:64]!r} is not a dlq id") from None
    found = await find_entries(conn.redis, conn.partitions, [dlq_id])
    if not found:
        raise NotFound(f"dlq entry {dlq_id} not found")
    return await workflow_dlq.load_failed_step(conn, found[0])


def _overrides(request: web.Request, conn: Connection) -> Overrides:
    headers = request.headers
    if "Upstash-Flow-Control-Key" in headers or "Upstash-Flow-Control-Value" in headers:
        raise BadRequest("flowControl on resume or restart is not supported by hookstream yet")
    if "Upstash-Retries" not in headers:
        return Overrides()
    return Overrides(retries=parse_publish_headers(headers, conn.settings).retries)


async def _act(request: web.Request, restart: bool) -> web.Response:
    conn = connection(request)
    overrides = _overrides(request, conn)
    steps, cursor = await _selection(request)
    action = workflow_dlq.restart if restart else workflow_dlq.resume
    runs = []
    for step in steps:
        try:
            runs.append((await action(conn, step, overrides)).view())
        except (BadRequest, NotFound):
            if "dlqIds" in request.query:
                raise  # a named entry says why; a filter's page skips what moved on
    count_published("retry", len(runs))  # one message each: the step again, or a trigger
    return respond({"workflowRuns": runs, **_cursor(cursor)})


async def resume(request: web.Request) -> web.Response:
    return await _act(request, restart=False)


async def restart(request: web.Request) -> web.Response:
    return await _act(request, restart=True)


async def retry_callback(request: web.Request) -> web.Response:
    conn = connection(request)
    step = await _named(conn, request.match_info["dlq_id"])
    started = await workflow_dlq.retry_failure_callback(conn, step)
    count_published("retry")
    return respond(started.view())


async def delete_entries(request: web.Request) -> web.Response:
    steps, cursor = await _selection(request)
    redis = connection(request).redis
    deleted = sum([await delete_entry(redis, step.entry) for step in steps])
    return respond({"deleted": deleted, **_cursor(cursor)})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/v2/workflows/dlq", list_entries)
    app.router.add_delete("/v2/workflows/dlq", delete_entries)
    app.router.add_post("/v2/workflows/dlq/resume", resume)
    app.router.add_post("/v2/workflows/dlq/restart", restart)
    app.router.add_post("/v2/workflows/dlq/callback/{dlq_id}", retry_callback)
