"""`POST /v2/batch`: many publishes and enqueues in one request.

Every item is validated (headers, destination, queue name, URL group existence) before
anything is written, so an invalid item rejects the whole batch with a 400 naming it. Item
headers are JSON strings, so unlike header lines they can hold CR, LF or NUL: refused here.
"""

from __future__ import annotations

import msgspec
from aiohttp import web
from multidict import CIMultiDict

from broker.errors import BadRequest, QueueError
from broker.header_policy import check_line_safe
from broker.http.context import connection
from broker.options import parse_publish_headers
from broker.queue.connection import Connection
from broker.queue.names import check_name
from broker.queue.producer import Routing
from broker.queue.publishing import Plan, commit, plan, resolve


class Item(msgspec.Struct, frozen=True):
    """One batch element, as both SDKs send it."""

    destination: str
    headers: dict[str, str] = {}
    body: str | None = None
    queue: str | None = None


_items = msgspec.json.Decoder(list[Item])


async def publish_batch(request: web.Request) -> web.Response:
    conn = connection(request)
    try:
        items = _items.decode(await request.read())
    except msgspec.ValidationError as exc:
        raise BadRequest(f"invalid batch: {exc}") from None
    except msgspec.DecodeError:
        raise BadRequest("the batch must be a JSON array of items") from None
    caller = request.remote or ""
    plans = [await _plan(conn, index, item, caller) for index, item in enumerate(items)]
    answers = [(await commit(conn, planned)).body() for planned in plans]
    return web.json_response(answers, status=201)


async def _plan(conn: Connection, index: int, item: Item, caller: str) -> Plan:
    """Validate one item into its drafts; errors name the item."""
    try:
        for name, value in item.headers.items():  # JSON strings, unlike HTTP header lines
            check_line_safe(name, value)
        options = parse_publish_headers(CIMultiDict(item.headers), conn.settings)
        queue = check_name("queue", item.queue) if item.queue else None
        routing = Routing(caller_ip=caller, queue_name=queue)
        body = (item.body or "").encode()
        targets = await resolve(conn, item.destination)
        return plan(conn, item.destination, targets, options, body, routing)
    except QueueError as exc:
        raise type(exc)(f"batch item {index}: {exc}") from None


def add_routes(app: web.Application) -> None:
    app.router.add_post("/v2/batch", publish_batch)
