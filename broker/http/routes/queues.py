"""Ordered queues: `/v2/queues[...]` and `POST /v2/enqueue/{queue}/{destination}`."""

from __future__ import annotations

from aiohttp import web

from broker.errors import BadRequest, NotFound
from broker.http.body import json_object
from broker.http.context import connection
from broker.http.routes.publish import publish_from
from broker.http.views import queue_view, respond
from broker.queue.names import check_name
from broker.queue.queues import (
    check_parallelism,
    delete_queue,
    get_queue,
    list_queues,
    set_queue,
)


async def upsert(request: web.Request) -> web.Response:
    """`{"queueName", "parallelism", "paused"}`: create or update."""
    body = await json_object(request)
    name = body.get("queueName", "")
    if not isinstance(name, str):  # str() would turn null into a queue named "None"
        raise BadRequest("queueName must be a string")
    name = check_name("queue", name, "queueName")
    most = connection(request).settings.max_parallelism
    parallelism = check_parallelism(body.get("parallelism", 1), most)
    paused = body.get("paused", False)
    if not isinstance(paused, bool):
        raise BadRequest("paused must be true or false")
    await set_queue(connection(request), name, parallelism, paused)
    return web.json_response({})


async def list_all(request: web.Request) -> web.Response:
    return respond([queue_view(q) for q in await list_queues(connection(request))])


async def get_one(request: web.Request) -> web.Response:
    name = check_name("queue", request.match_info["name"])
    queue = await get_queue(connection(request), name)
    if queue is None:
        raise NotFound(f"queue {name!r} not found")
    return respond(queue_view(queue))


async def delete_one(request: web.Request) -> web.Response:
    """Cancels the queue's undelivered messages, then removes it."""
    await delete_queue(connection(request), check_name("queue", request.match_info["name"]))
    return web.json_response({})


async def pause(request: web.Request) -> web.Response:
    """A paused queue accepts messages but delivers none until resumed."""
    return await _set_paused(request, paused=True)


async def resume(request: web.Request) -> web.Response:
    return await _set_paused(request, paused=False)


async def _set_paused(request: web.Request, paused: bool) -> web.Response:
    conn = connection(request)
    name = check_name("queue", request.match_info["name"])
    if await get_queue(conn, name) is None:
        raise NotFound(f"queue {name!r} not found")
    await set_queue(conn, name, paused=paused)
    return web.json_response({})


async def enqueue(request: web.Request) -> web.Response:
    """Publish into an ordered queue, created with parallelism 1 on first use."""
    name = check_name("queue", request.match_info["queue"])
    prefix = f"/v2/enqueue/{request.raw_path.split('/')[3]}/"
    return await publish_from(request, prefix, queue_name=name)


def add_routes(app: web.Application) -> None:
    app.router.add_post("/v2/queues", upsert)
    app.router.add_get("/v2/queues", list_all)
    app.router.add_get("/v2/queues/{name}", get_one)
    app.router.add_delete("/v2/queues/{name}", delete_one)
    app.router.add_post("/v2/queues/{name}/pause", pause)
    app.router.add_post("/v2/queues/{name}/resume", resume)
    app.router.add_post("/v2/enqueue/{queue}/{destination:.+}", enqueue)
