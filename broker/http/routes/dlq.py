"""The DLQ API: list, get, delete (one or many) and retry (one or many).

Bulk calls come in two wire forms: a JSON body `{"dlqIds": [...]}` (Python SDK, TypeScript
≤ 2.9) or query parameters (`dlqIds=a&dlqIds=b`, or filters + `count` + `cursor`, TypeScript
≥ 2.10). Both are accepted everywhere.
"""

from __future__ import annotations

from contextlib import aclosing
from typing import Any

from aiohttp import web
from multidict import CIMultiDictProxy

from broker.api import DlqMessage
from broker.errors import NotFound
from broker.http.body import json_object
from broker.http.context import connection
from broker.http.filters import Filter, bulk_selection, count_parameter, list_filter
from broker.http.routes import workflow_dlq
from broker.http.views import as_json, dlq_view, respond
from broker.metrics import PUBLISHED
from broker.options import parse_publish_headers
from broker.queue.connection import Connection
from broker.queue.dlq import (
    DlqEntry,
    RetryOverrides,
    delete_entry,
    find_entries,
    load_entry,
    retry_entry,
)
from broker.queue.paging import Entry, merged, page

MAX_COUNT = 100


async def _listing(
    conn: Connection, wanted: Filter, count: int, cursor: str | None, newest_first: bool
) -> tuple[list[tuple[DlqEntry, DlqMessage]], str | None]:
    """A page of DLQ entries that pass `wanted`, with their API objects."""
    partitions = conn.partitions

    async def render(entry: Entry) -> tuple[DlqEntry, DlqMessage] | None:
        located = DlqEntry(
            partitions[entry.position.partition],
            entry.position.stream_id,
            entry.fields[b"id"].decode(),
        )
        message = await load_entry(conn.redis, located)
        if message is None:
            return None
        item = dlq_view(message, located.dlq_id)
        return (located, item) if wanted.matches(as_json(item), entry.position.ms) else None

    keys = [p.dlq for p in partitions]
    async with aclosing(merged(conn.redis, keys, cursor, newest_first)) as entries:
        return await page(entries, count, render)


async def list_dlq(request: web.Request) -> web.Response:
    query = request.query
    if query.get("source") == "workflow":  # @upstash/workflow's client.dlq.list
        return await workflow_dlq.list_entries(request)
    found, cursor = await _listing(
        connection(request),
        list_filter(query, "dlqIds"),
        count_parameter(query, default=MAX_COUNT, maximum=MAX_COUNT),
        query.get("cursor"),
        newest_first=query.get("order") == "latestFirst",
    )
    body: dict[str, Any] = {"messages": [item for _, item in found]}
    if cursor:
        body["cursor"] = cursor
    return respond(body)


async def _one(request: web.Request) -> DlqEntry:
    conn = connection(request)
    dlq_id = request.match_info["dlq_id"]
    found = await find_entries(conn.redis, conn.partitions, [dlq_id])
    if not found:
        raise NotFound(f"dlq entry {dlq_id} not found")
    return found[0]


async def get_dlq(request: web.Request) -> web.Response:
    entry = await _one(request)
    message = await load_entry(connection(request).redis, entry)
    if message is None:
        raise NotFound(f"dlq entry {entry.dlq_id} not found")
    return respond(dlq_view(message, entry.dlq_id))


async def delete_dlq(request: web.Request) -> web.Response:
    entry = await _one(request)
    if not await delete_entry(connection(request).redis, entry):
        raise NotFound(f"dlq entry {entry.dlq_id} not found")
    return web.json_response({"deleted": 1})


async def _selection(request: web.Request) -> tuple[list[DlqEntry], str | None]:
    """The entries a bulk call names: ids (body or query), else a filtered page."""
    conn = connection(request)
    body = await json_object(request) if request.can_read_body else None
    query = request.query
    selection = bulk_selection(query, body, "dlqIds")
    count = count_parameter(query, default=MAX_COUNT, maximum=MAX_COUNT)
    if selection.ids is not None:  # an explicit empty list selects nothing
        return await find_entries(conn.redis, conn.partitions, selection.ids), None
    entries, cursor = await _listing(conn, selection.wanted, count, query.get("cursor"), False)
    return [entry for entry, _ in entries], cursor


async def delete_many(request: web.Request) -> web.Response:
    entries, cursor = await _selection(request)
    redis = connection(request).redis
    deleted = sum([await delete_entry(redis, entry) for entry in entries])
    answer: dict[str, Any] = {"deleted": deleted}
    if cursor:
        answer["cursor"] = cursor
    return web.json_response(answer)


def _overrides(headers: CIMultiDictProxy[str], conn: Connection) -> RetryOverrides:
    """Publish settings given on a retry request replace the original ones."""
    options = parse_publish_headers(headers, conn.settings)

    def given(header: str) -> bool:
        return header in headers  # case-insensitive

    return RetryOverrides(
        retries=options.retries if given("Upstash-Retries") else None,
        timeout_ms=options.timeout_ms if given("Upstash-Timeout") else None,
        method=options.method if given("Upstash-Method") else None,
        retry_delay=options.retry_delay if given("Upstash-Retry-Delay") else None,
        delay_ms=options.delay_ms,
    )


async def _retry(request: web.Request, entries: list[DlqEntry]) -> list[dict[str, str]]:
    conn = connection(request)
    overrides = _overrides(request.headers, conn)
    loaded = [(entry, await load_entry(conn.redis, entry)) for entry in entries]
    found = [(entry, message) for entry, message in loaded if message is not None]
    for _, message in found:  # all checked before any is retried
        conn.settings.destination_policy.check_url(message.envelope.url)
    responses = []
    for entry, message in found:
        new_id = await retry_entry(conn.scripts, entry, message, overrides)
        if new_id:
            PUBLISHED.labels("retry").inc()
            responses.append({"messageId": new_id})
    return responses


async def retry_many(request: web.Request) -> web.Response:
    entries, cursor = await _selection(request)
    answer: dict[str, Any] = {"responses": await _retry(request, entries)}
    if cursor:
        answer["cursor"] = cursor
    return web.json_response(answer, status=201)


async def retry_one(request: web.Request) -> web.Response:
    responses = await _retry(request, [await _one(request)])
    if not responses:
        raise NotFound(f"dlq entry {request.match_info['dlq_id']} not found")
    return web.json_response(responses[0], status=201)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/v2/dlq", list_dlq)
    app.router.add_delete("/v2/dlq", delete_many)
    app.router.add_post("/v2/dlq/retry", retry_many)
    app.router.add_post("/v2/dlq/retry/{dlq_id}", retry_one)
    app.router.add_get("/v2/dlq/{dlq_id}", get_dlq)
    app.router.add_delete("/v2/dlq/{dlq_id}", delete_dlq)
