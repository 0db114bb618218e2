"""`POST /v2/publish/{destination}`."""

from __future__ import annotations

from aiohttp import web

from broker.errors import BadRequest
from broker.http.context import connection
from broker.http.destination import raw_destination, url_destination
from broker.metrics import PUBLISHED
from broker.options import parse_publish_headers
from broker.queue.producer import Routing, build_draft, new_ids, publish

PREFIX = "/v2/publish/"


async def publish_message(request: web.Request) -> web.Response:
    """Validate everything, store the message in one atomic step, then answer."""
    conn = connection(request)
    destination = raw_destination(request, PREFIX)
    if destination == "api/llm":
        raise BadRequest("the api/llm destination is not supported by hookstream")
    url = url_destination(destination)
    options = parse_publish_headers(request.headers, conn.settings)
    body = await request.read()
    (message_id,) = new_ids(conn.settings.partitions, 1)
    draft = build_draft(url, options, body, message_id, Routing(caller_ip=request.remote or ""))
    await publish(conn.scripts, [draft])
    PUBLISHED.labels("api").inc()
    return web.json_response({"messageId": message_id, "url": url}, status=201)


def add_routes(app: web.Application) -> None:
    app.router.add_post(PREFIX + "{destination:.+}", publish_message)
