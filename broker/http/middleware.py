"""Auth, errors and metrics for every API request, in one place rather than per handler."""

from __future__ import annotations

import hmac
import time
from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web
from aiohttp.typedefs import Middleware
from redis.exceptions import (
    ClusterDownError,
    OutOfMemoryError,
    ReadOnlyError,
    ResponseError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from broker.errors import BadRequest, Conflict, NotFound, QueueError, Unauthorized, Unavailable
from broker.metrics import HTTP_DURATION, HTTP_REQUESTS

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
log = structlog.get_logger()

STATUS: dict[type[QueueError], int] = {
    BadRequest: 400,
    Unauthorized: 401,
    NotFound: 404,
    Conflict: 409,
    Unavailable: 503,
}
"""The HTTP status of each domain error; a subclass answers like its nearest listed base,
and an error listed nowhere (ConfigError in a request, say) is a bug: 500."""

RETRY_AFTER_S = 5
"""What a 503 asks clients to wait: long enough for Redis to fail over or restart."""

# redis-py's failures to reach Redis at all (refused, reset, timed out, still loading),
# as opposed to a reply Redis gave (ResponseError), which is a bug here.
REDIS_DOWN = (RedisConnectionError, RedisTimeoutError)
# Replies that mean Redis cannot take writes right now, not that the request was wrong: out of
# memory under noeviction, a replica or a failover in progress, a busy script. redis-py maps
# some to classes; inside a script they arrive as text in a plain ResponseError.
UNAVAILABLE_ERRORS = (OutOfMemoryError, ReadOnlyError, ClusterDownError, TryAgainError)
UNAVAILABLE_REPLIES = (
    "OOM command not allowed", "READONLY", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN",
    "NOREPLICAS", "BUSY ",
)  # fmt: skip


def redis_unavailable(exc: BaseException) -> bool:
    """Whether `exc` says Redis is out of reach or cannot serve now (a 503, retry later)."""
    if isinstance(exc, REDIS_DOWN + UNAVAILABLE_ERRORS):
        return True
    return isinstance(exc, ResponseError) and any(r in str(exc) for r in UNAVAILABLE_REPLIES)


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


def status_of(error: QueueError) -> int | None:
    """The status `error` answers with (STATUS), or None when it is not a client-facing one."""
    for cls in type(error).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return None


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error answer is JSON `{"error": "..."}` with the right status."""
    try:
        return await handler(request)
    except (*REDIS_DOWN, ResponseError) as exc:
        if not redis_unavailable(exc):
            return _internal_error(request)
        # One line per request, no traceback: the cause is outside this process.
        log.error("http.redis_unavailable", path=request.path, error=str(exc) or repr(exc))
        return error_response(Unavailable("Redis is unavailable; retry later"))
    except QueueError as exc:
        if status_of(exc) is None:
            return _internal_error(request)
        return error_response(exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return web.json_response({"error": exc.reason}, status=exc.status)
    except Exception:
        return _internal_error(request)


def error_response(error: QueueError) -> web.Response:
    """The answer for a client-facing domain error; a 503 also says when to retry."""
    status = status_of(error) or 500
    headers = {"Retry-After": str(RETRY_AFTER_S)} if status == 503 else None
    return web.json_response({"error": str(error)}, status=status, headers=headers)


def _internal_error(request: web.Request) -> web.Response:
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
