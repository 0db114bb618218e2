"""`GET /v2/events` (what the SDKs call) and `GET /v2/logs` (its newer name)."""

from __future__ import annotations

from contextlib import aclosing

from aiohttp import web

from broker.api import Event
from broker.http.context import connection
from broker.http.filters import count_parameter, list_filter
from broker.http.views import as_json, event_view, respond
from broker.queue.events import read_event
from broker.queue.paging import Entry, merged, page

MAX_COUNT = 1000


async def list_events(request: web.Request) -> web.Response:
    """Newest first by default (`order=earliestFirst` reverses), filtered, paged by cursor."""
    conn = connection(request)
    query = request.query
    wanted = list_filter(query, "messageIds")
    count = count_parameter(query, default=100, maximum=MAX_COUNT)
    newest_first = query.get("order", "latestFirst") != "earliestFirst"

    async def render(entry: Entry) -> Event | None:
        event = event_view(read_event(entry.fields, entry.position.ms))
        return event if wanted.matches(as_json(event), entry.position.ms) else None

    keys = [p.events for p in conn.partitions]
    async with aclosing(merged(conn.redis, keys, query.get("cursor"), newest_first)) as entries:
        events, cursor = await page(entries, count, render)
    body: dict[str, object] = {"events": events}
    if cursor:
        body["cursor"] = cursor
    if request.path.endswith("/logs"):
        body["logs"] = events
    return respond(body)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/v2/events", list_events)
    app.router.add_get("/v2/logs", list_events)
