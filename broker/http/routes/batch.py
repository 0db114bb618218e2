"""`POST /v2/batch`: many publishes and enqueues in one request.

Every item is validated (headers, destination, queue name, URL group existence) and the
request's size checked (items, messages, body bytes) before any draft is built or anything
written, so an invalid item rejects the whole batch with a 400 naming it. Item headers are JSON
strings, so unlike header lines they can hold CR, LF or NUL: refused here.

Storing is all or nothing per partition (publishing.commit_batch): items bound to no partition
(no queue, flow-control key or dedup id) share one, so such a batch is stored whole or not at
all. Items of other partitions are stored by other script calls; if some of those fail and
others succeed, the answer is the failure's status (503, or 500) with `items`: per item its
answer when it was stored, null when not, so a client knows exactly what to send again.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import msgspec
import structlog
from aiohttp import web
from multidict import CIMultiDict

from broker.errors import BadRequest, QueueError
from broker.header_policy import check_line_safe
from broker.http.context import connection
from broker.http.middleware import RETRY_AFTER_S, redis_unavailable
from broker.options import parse_publish_headers
from broker.queue.connection import Connection
from broker.queue.keys import PartitionKeys
from broker.queue.model import PublishOptions
from broker.queue.names import check_name
from broker.queue.producer import Routing
from broker.queue.publishing import (
    Plan,
    Published,
    Targets,
    any_partition,
    check_size,
    commit_batch,
    plan,
    resolve,
)


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
log = structlog.get_logger()


async def publish_batch(request: web.Request) -> web.Response:
    conn = connection(request)
    items = _decode(await request.read(), conn.settings.max_batch_items)
    caller = request.remote or ""
    resolved = [await _resolve(conn, index, item, caller) for index, item in enumerate(items)]
    check_size(conn.settings, [(r.targets, r.body) for r in resolved])
    anywhere = any_partition(conn.settings)
    plans = [_plan(conn, index, r, anywhere) for index, r in enumerate(resolved)]
    outcomes = await commit_batch(conn, plans)
    failures = [o for o in outcomes if isinstance(o, Exception)]
    if not failures:
        answers = [o.body() for o in outcomes if isinstance(o, Published)]
        return web.json_response(answers, status=201)
    if len(failures) == len(outcomes):
        raise failures[0]  # nothing stored: answered like any failed publish
    return _partly_stored(outcomes, failures[0])


def _partly_stored(outcomes: list[Published | Exception], error: Exception) -> web.Response:
    """Some partitions stored, others not: the failure's status, and what was stored."""
    items = [None if isinstance(o, Exception) else o.body() for o in outcomes]
    stored = [str(i) for i, item in enumerate(items) if item is not None]
    unavailable = redis_unavailable(error)
    log.error("batch.partly_stored", stored=len(stored), items=len(items), error=str(error),
              exc_info=not unavailable)  # fmt: skip
    message = (
        f"the batch was stored in part: items {', '.join(stored)} were stored, the others "
        "were not (null in items); send only those again"
    )
    status, headers = (503, {"Retry-After": str(RETRY_AFTER_S)}) if unavailable else (500, None)
    return web.json_response({"error": message, "items": items}, status=status, headers=headers)


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


def _plan(conn: Connection, index: int, resolved: Resolved, anywhere: PartitionKeys) -> Plan:
    with _naming(index):
        item = resolved.item
        return plan(
            conn,
            item.destination,
            resolved.targets,
            resolved.options,
            resolved.body,
            resolved.routing,
            anywhere=anywhere,
        )


def add_routes(app: web.Application) -> None:
    app.router.add_post("/v2/batch", publish_batch)
