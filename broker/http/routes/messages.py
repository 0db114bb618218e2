"""`GET /v2/messages/{id}` and `DELETE /v2/messages/{id}`."""

from __future__ import annotations

from aiohttp import web

from broker.errors import NotFound
from broker.http.context import connection
from broker.http.views import message_json
from broker.queue.keys import keys_for
from broker.queue.store import load_message


async def get_message(request: web.Request) -> web.Response:
    """A message that is waiting, in flight or failed; delivered ones are gone (404)."""
    message_id = request.match_info["message_id"]
    message = await load_message(connection(request).redis, message_id)
    if message is None:
        raise NotFound(f"message {message_id} not found")
    return web.json_response(message_json(message))


async def cancel_message(request: web.Request) -> web.Response:
    """Cancel one message: it is never delivered (again), retried or dead-lettered."""
    message_id = request.match_info["message_id"]
    try:
        partition = keys_for(message_id)
    except ValueError:
        raise NotFound(f"message {message_id} not found") from None
    conn = connection(request)
    key = partition.message(message_id)
    cancelled = await conn.scripts.run("cancel", partition, [key], [message_id])
    if not cancelled:
        raise NotFound(f"message {message_id} not found")
    return web.json_response({"cancelled": 1})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/v2/messages/{message_id}", get_message)
    app.router.add_delete("/v2/messages/{message_id}", cancel_message)
