"""URL groups: `/v2/topics[/{name}[/endpoints]]`."""

from __future__ import annotations

from aiohttp import web

from broker.errors import NotFound
from broker.http.body import json_object
from broker.http.context import connection
from broker.http.views import group_view, respond
from broker.queue.names import check_name
from broker.queue.topics import (
    delete_group,
    get_group,
    list_groups,
    parse_endpoints,
    remove_endpoints,
    upsert_endpoints,
)


async def add_endpoints(request: web.Request) -> web.Response:
    """Create the group if needed and add or update endpoints (by url)."""
    name = check_name("url_group", request.match_info["name"])
    conn = connection(request)
    policy, most = conn.settings.destination_policy, conn.settings.max_group_endpoints
    endpoints = parse_endpoints((await json_object(request)).get("endpoints"), policy, most)
    await upsert_endpoints(conn.redis, name, endpoints, most)
    return web.json_response({})


async def drop_endpoints(request: web.Request) -> web.Response:
    """Remove endpoints by url or name; an emptied group is deleted."""
    name = check_name("url_group", request.match_info["name"])
    endpoints = parse_endpoints((await json_object(request)).get("endpoints"), None)
    if not await remove_endpoints(connection(request).redis, name, endpoints):
        raise NotFound(f"URL group {name!r} not found")
    return web.json_response({})


async def list_all(request: web.Request) -> web.Response:
    groups = await list_groups(connection(request).redis)
    return respond([group_view(g) for g in groups])


async def get_one(request: web.Request) -> web.Response:
    name = check_name("url_group", request.match_info["name"])
    group = await get_group(connection(request).redis, name)
    if group is None:
        raise NotFound(f"URL group {name!r} not found")
    return respond(group_view(group))


async def delete_one(request: web.Request) -> web.Response:
    """Deleting a group that does not exist is fine (the SDK tests delete before creating)."""
    name = check_name("url_group", request.match_info["name"])
    await delete_group(connection(request).redis, name)
    return web.json_response({})


def add_routes(app: web.Application) -> None:
    app.router.add_post("/v2/topics/{name}/endpoints", add_endpoints)
    app.router.add_delete("/v2/topics/{name}/endpoints", drop_endpoints)
    app.router.add_get("/v2/topics", list_all)
    app.router.add_get("/v2/topics/{name}", get_one)
    app.router.add_delete("/v2/topics/{name}", delete_one)
