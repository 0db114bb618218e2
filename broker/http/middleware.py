"""Auth, errors and metrics for every API request, in one place rather than per handler."""

from __future__ import annotations

import hmac
import time
from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web
from aiohttp.typedefs import Middleware

from broker.errors import QueueError, Unauthorized
from broker.metrics import HTTP_DURATION, HTTP_REQUESTS

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
log = structlog.get_logger()


def auth_middleware(tokens: tuple[str, ...]) -> Middleware:
    """Require one of `tokens` on /v2/ paths, as a Bearer header or `qstash_token` parameter."""
    encoded = [t.encode() for t in tokens]

    @web.middleware
    async def check_token(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith("/v2/") and not _authorised(request, encoded):
            raise Unauthorized("missing or invalid bearer token")
        return await handler(request)

    return check_token


def _authorised(request: web.Request, tokens: list[bytes]) -> bool:
    header = request.headers.get("Authorization", "")
    scheme, _, presented = header.partition(" ")
    if scheme.lower() != "bearer":
        presented = request.query.get("qstash_token", "")
    candidate = presented.strip().encode()
    # compare_digest against every token, without stopping early, keeps timing flat.
    matches = [hmac.compare_digest(candidate, token) for token in tokens]
    return bool(candidate) and any(matches)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error answer is JSON `{"error": "..."}` with the right status."""
    try:
        return await handler(request)
    except QueueError as exc:
        return web.json_response({"error": str(exc)}, status=exc.status)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return web.json_response({"error": exc.reason}, status=exc.status)
    except Exception:
        log.exception("http.unhandled_error", path=request.path)
        return web.json_response({"error": "internal error"}, status=500)


@web.middleware
async def metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Count and time requests by route template (never the raw path)."""
    started = time.perf_counter()
    response = await handler(request)
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else "unmatched"
    HTTP_REQUESTS.labels(request.method, route, str(response.status)).inc()
    HTTP_DURATION.labels(route).observe(time.perf_counter() - started)
    return response
