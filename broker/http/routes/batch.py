"""`POST /v2/batch`: many publishes and enqueues in one request.

Every item is validated (headers, destination, queue name, URL group existence) and the
request's size checked (items, messages, body bytes) before any draft is built or anything
written, so an invalid item rejects the whole batch with a 400 naming it. Item headers are JSON
strings, so unlike header lines they can hold CR, LF or NUL: refused here.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import msgspec
from aiohttp import web
from multidict import CIMultiDict

from broker.errors import BadRequest, QueueError
from broker.header_policy import check_line_safe
from broker.http.context import connection
from broker.options import parse_publish_headers
from broker.queue.connection import Connection
from broker.queue.model import PublishOptions
from broker.queue.names import check_name
from broker.queue.producer import Routing
from broker.queue.publishing import Plan, Targets, check_size, commit, plan, resolve


class Item(msgspec.Struct, frozen=True):
    """One batch element, as both SDKs send it."""

    destination: str
    headers: dict[str, str] = {}
    # A string as it is; any other JSON value is its JSON text (the workflow SDK's
    # context.call puts its JSON body here as an object).
    body: Any = None
    queue: str | None = None


@dataclass(frozen=True, slots=True)
class Resolved:
    """One item, validated and resolved to its targets; no draft built yet."""

    item: Item
    options: PublishOptions
    routing: Routing
    body: bytes
    targets: Targets


_items = msgspec.json.Decoder(list[Item])


async def publish_batch(request: web.Request) -> web.Response:
    conn = connection(request)
    items = _decode(await request.read(), conn.settings.max_batch_items)
    caller = request.remote or ""
    resolved = [await _resolve(conn, index, item, caller) for index, item in enumerate(items)]
    check_size(conn.settings, [(r.targets, r.body) for r in resolved])
    plans = [_plan(conn, index, r) for index, r in enumerate(resolved)]
    answers = [(await commit(conn, planned)).body() for planned in plans]
    return web.json_response(answers, status=201)


def _decode(raw: bytes, most: int) -> list[Item]:
    try:
        items = _items.decode(raw)
    except msgspec.ValidationError as exc:
        raise BadRequest(f"invalid batch: {exc}") from None
    except msgspec.DecodeError:
        raise BadRequest("the batch must be a JSON array of items") from None
    if len(items) > most:
        raise BadRequest(
            f"the batch has {len(items)} items, more than HOOKSTREAM_MAX_BATCH_ITEMS ({most})"
        )
    return items


@contextmanager
def _naming(index: int) -> Iterator[None]:
    """Errors of one item name it."""
    try:
        yield
    except QueueError as exc:
        raise type(exc)(f"batch item {index}: {exc}") from None


async def _resolve(conn: Connection, index: int, item: Item, caller: str) -> Resolved:
    with _naming(index):
        for name, value in item.headers.items():  # JSON strings, unlike HTTP header lines
            check_line_safe(name, value)
        options = parse_publish_headers(CIMultiDict(item.headers), conn.settings)
        queue = check_name("queue", item.queue) if item.queue else None
        routing = Routing(caller_ip=caller, queue_name=queue)
        body = _body(item.body)
        return Resolved(item, options, routing, body, await resolve(conn, item.destination))


def _body(value: Any) -> bytes:
    if value is None:
        return b""
    return value.encode() if isinstance(value, str) else msgspec.json.encode(value)


def _plan(conn: Connection, index: int, resolved: Resolved) -> Plan:
    with _naming(index):
        item = resolved.item
        return plan(
            conn,
            item.destination,
            resolved.targets,
            resolved.options,
            resolved.body,
            resolved.routing,
        )


def add_routes(app: web.Application) -> None:
    app.router.add_post("/v2/batch", publish_batch)
