"""`/v2/flowControl[...]` and `/v2/globalParallelism`: inspect and steer flow-control keys."""

from __future__ import annotations

import re

from aiohttp import web

from broker.errors import BadRequest, NotFound
from broker.http.context import connection
from broker.http.views import flow_control_view, global_parallelism_view, respond
from broker.queue import flow_control
from broker.queue.names import check_name


def _key(request: web.Request) -> str:
    return check_name("flow_control_key", request.match_info["key"], "flow control key")


async def _existing(request: web.Request) -> str:
    key = _key(request)
    if await flow_control.info(connection(request), key) is None:
        raise NotFound(f"flow control key {key!r} not found")
    return key


async def get_one(request: web.Request) -> web.Response:
    info = await flow_control.info(connection(request), _key(request))
    if info is None:
        raise NotFound(f"flow control key {_key(request)!r} not found")
    return respond(flow_control_view(info))


async def list_all(request: web.Request) -> web.Response:
    keys = await flow_control.list_keys(connection(request), request.query.get("search", ""))
    return respond([flow_control_view(k) for k in keys])


async def global_parallelism(request: web.Request) -> web.Response:
    admitted = await flow_control.global_parallelism(connection(request))
    return respond(global_parallelism_view(admitted))


async def pause(request: web.Request) -> web.Response:
    await flow_control.set_paused(connection(request), await _existing(request), paused=True)
    return web.json_response({})


async def resume(request: web.Request) -> web.Response:
    await flow_control.set_paused(connection(request), await _existing(request), paused=False)
    return web.json_response({})


_WHOLE = re.compile(r"[0-9]{1,12}")


def _optional_int(request: web.Request, name: str, most: int, setting: str) -> int | None:
    """A query parameter from 0 to `most` (the setting that bounds it), or None when absent."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    if not _WHOLE.fullmatch(raw) or int(raw) > most:
        shown = repr(raw) if len(raw) <= 32 else repr(raw[:32]) + "..."
        raise BadRequest(f"{name} must be an integer from 0 to {most} ({setting}), got {shown}")
    return int(raw)


async def pin(request: web.Request) -> web.Response:
    """`?parallelism=3&rate=20&period=120` (period in seconds), each optional."""
    settings = connection(request).settings
    bounds = {
        "parallelism": (settings.max_parallelism, "HOOKSTREAM_MAX_PARALLELISM"),
        "rate": (settings.max_rate, "HOOKSTREAM_MAX_RATE"),
        "period": (settings.max_rate_period_ms // 1000, "HOOKSTREAM_MAX_RATE_PERIOD"),
    }
    values = {name: _optional_int(request, name, *bound) for name, bound in bounds.items()}
    if all(v is None for v in values.values()):
        raise BadRequest("give at least one of parallelism, rate, period")
    key = await _existing(request)
    await flow_control.pin(connection(request), key, **values)
    return web.json_response({})


async def unpin(request: web.Request) -> web.Response:
    """`?parallelism=true&rate=true`, each optional."""
    parallelism = request.query.get("parallelism", "").lower() == "true"
    rate = request.query.get("rate", "").lower() == "true"
    key = await _existing(request)
    await flow_control.unpin(connection(request), key, parallelism=parallelism, rate=rate)
    return web.json_response({})


async def reset_rate(request: web.Request) -> web.Response:
    await flow_control.reset_rate(connection(request), await _existing(request))
    return web.json_response({})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/v2/flowControl", list_all)
    app.router.add_get("/v2/flowControl/{key}", get_one)
    app.router.add_post("/v2/flowControl/{key}/pause", pause)
    app.router.add_post("/v2/flowControl/{key}/resume", resume)
    app.router.add_post("/v2/flowControl/{key}/pin", pin)
    app.router.add_post("/v2/flowControl/{key}/unpin", unpin)
    app.router.add_post("/v2/flowControl/{key}/resetRate", reset_rate)
    app.router.add_post("/v2/flowControl/{key}/reset", reset_rate)
    app.router.add_get("/v2/globalParallelism", global_parallelism)
