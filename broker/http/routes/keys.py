"""`GET /v2/keys` and `POST /v2/keys/rotate`."""

from __future__ import annotations

from aiohttp import web

from broker.http.context import connection
from broker.queue.signing_keys import current_keys, rotate_keys


async def get_keys(request: web.Request) -> web.Response:
    current, upcoming = await current_keys(connection(request))
    return web.json_response({"current": current, "next": upcoming})


async def rotate(request: web.Request) -> web.Response:
    """current ← next and a fresh next; receivers that know both keep verifying."""
    current, upcoming = await rotate_keys(connection(request))
    return web.json_response({"current": current, "next": upcoming})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/v2/keys", get_keys)
    app.router.add_post("/v2/keys/rotate", rotate)
