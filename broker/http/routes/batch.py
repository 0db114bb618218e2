"""`POST /v2/batch`: many publishes and enqueues in one request.

Every item is validated (headers, destination, queue name, URL group existence) before
anything is written, so an invalid item rejects the whole batch with a 400 naming it.
"""

from __future__ import annotations

import msgspec
from aiohttp import web
from multidict import CIMultiDict

from broker.errors import BadRequest, QueueError
from broker.http.context import connection
from broker.http.publishing import prepare, resolve, store
from broker.metrics import PUBLISHED
from broker.options import parse_publish_headers
from broker.queue.connection import Connection
from broker.queue.flow_control import apply_message_settings
from broker.queue.producer import Draft, Routing
from broker.queue.queues import check_name, set_queue


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
    planned = [await _plan(conn, index, item, caller) for index, item in enumerate(items)]
    answers = []
    for item, (drafts, digest, fan_out) in zip(items, planned, strict=True):
        if item.queue:
            await set_queue(conn, item.queue, create_only=True)
        await apply_message_settings(conn, drafts[0].envelope)
        published = await store(conn, drafts, digest, fan_out)
        if not published.deduplicated:
            PUBLISHED.labels("api").inc(len(drafts))
        answers.append(published.body())
    return web.json_response(answers, status=201)


async def _plan(
    conn: Connection, index: int, item: Item, caller: str
) -> tuple[list[Draft], str | None, bool]:
    """Validate one item into its drafts; errors name the item."""
    try:
        headers = CIMultiDict(item.headers)
        options = parse_publish_headers(headers, conn.settings)
        if item.queue:
            check_name(item.queue)
            if options.delay_ms or options.not_before_ms is not None:
                raise BadRequest("Upstash-Delay and Upstash-Not-Before are not allowed on enqueue")
        targets = await resolve(conn, item.destination)
        routing = Routing(caller_ip=caller, queue_name=item.queue or None)
        body = (item.body or "").encode()
        drafts, digest = prepare(conn, item.destination, targets, options, body, routing)
    except QueueError as exc:
        raise type(exc)(f"batch item {index}: {exc}") from None
    return drafts, digest, targets.topic_name is not None


def add_routes(app: web.Application) -> None:
    app.router.add_post("/v2/batch", publish_batch)
