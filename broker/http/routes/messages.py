"""`GET /v2/messages/{id}`, `DELETE /v2/messages/{id}` and bulk cancel `DELETE /v2/messages`."""

from __future__ import annotations

from aiohttp import web

from broker.errors import NotFound
from broker.http.body import json_object
from broker.http.context import connection
from broker.http.filters import bulk_selection
from broker.http.views import as_json, message_view, respond
from broker.queue.cancel import cancel_message
from broker.queue.model import State
from broker.queue.store import load_message, scan_messages


async def get_message(request: web.Request) -> web.Response:
    """A message that is waiting, in flight or failed; delivered ones are gone (404)."""
    message_id = request.match_info["message_id"]
    message = await load_message(connection(request).redis, message_id)
    if message is None:
        raise NotFound(f"message {message_id} not found")
    return respond(message_view(message))


async def cancel_one(request: web.Request) -> web.Response:
    message_id = request.match_info["message_id"]
    if not await cancel_message(connection(request), message_id):
        raise NotFound(f"message {message_id} not found")
    return web.json_response({"cancelled": 1})


async def cancel_messages(request: web.Request) -> web.Response:
    """Bulk cancel: ids, a filter, or everything (no body and no selecting parameter).
    `count` is ignored: one call cancels every match, as in QStash."""
    conn = connection(request)
    body = await json_object(request) if request.can_read_body else None
    selection = bulk_selection(request.query, body, "messageIds")
    ids = selection.ids
    if ids is None:
        wanted = selection.wanted
        ids = tuple(
            [
                m.envelope.id
                async for m in scan_messages(conn.redis, conn.partitions)
                if m.state != State.FAILED
                and wanted.matches(as_json(message_view(m)), m.envelope.created_at)
            ]
        )
    cancelled = sum([await cancel_message(conn, message_id) for message_id in dict.fromkeys(ids)])
    return web.json_response({"cancelled": cancelled})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/v2/messages/{message_id}", get_message)
    app.router.add_delete("/v2/messages/{message_id}", cancel_one)
    app.router.add_delete("/v2/messages", cancel_messages)
