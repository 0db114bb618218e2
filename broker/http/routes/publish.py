"""`POST /v2/publish/{destination}`: a URL or a URL group name."""

from __future__ import annotations

from aiohttp import web

from broker.http.context import connection
from broker.http.destination import raw_destination
from broker.http.publishing import publish_request
from broker.options import parse_publish_headers
from broker.queue.producer import Routing

PREFIX = "/v2/publish/"


async def publish_message(request: web.Request) -> web.Response:
    """Validate everything, store the message(s) in one atomic step, then answer."""
    conn = connection(request)
    destination = raw_destination(request, PREFIX)
    options = parse_publish_headers(request.headers, conn.settings)
    body = await request.read()
    routing = Routing(caller_ip=request.remote or "")
    return await publish_request(conn, destination, options, body, routing)


def add_routes(app: web.Application) -> None:
    app.router.add_post(PREFIX + "{destination:.+}", publish_message)
