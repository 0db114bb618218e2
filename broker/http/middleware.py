"""Auth, errors and metrics for every API request, in one place rather than per handler."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web
from aiohttp.typedefs import Middleware

from broker.errors import BadRequest, Conflict, NotFound, QueueError, Unauthorized, Unavailable
from broker.health import REDIS_DOWN
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


class Tokens:
    """The configured bearer tokens, known only by a keyed digest.

    A presented token is digested the same way and compared with every configured one, each
    comparison of two 32-byte values: neither the length of a token nor how many leading bytes
    matched shows in the time an answer takes. The key is random per process; nothing else
    ever sees the digests.
    """

    def __init__(self, tokens: tuple[str, ...]) -> None:
        self._key = secrets.token_bytes(32)
        self._known = [self._digest(token) for token in tokens]

    def _digest(self, token: str) -> bytes:
        return hmac.new(self._key, token.encode(), hashlib.sha256).digest()

    def accepts(self, presented: str) -> bool:
        """Whether `presented` is one of the tokens (an empty one never is)."""
        digest = self._digest(presented)
        # Every token is compared, without stopping at a match, so timing stays flat.
        matches = [hmac.compare_digest(digest, known) for known in self._known]
        return bool(presented) and any(matches)


def auth_middleware(tokens: tuple[str, ...]) -> Middleware:
    """Require one of `tokens` on /v2/ paths, as a Bearer header or `qstash_token` parameter."""
    known = Tokens(tokens)

    @web.middleware
    async def check_token(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith("/v2/") and not known.accepts(presented_token(request)):
            raise Unauthorized("missing or invalid bearer token")
        return await handler(request)

    return check_token


def presented_token(request: web.Request) -> str:
    """The Bearer token of the request, else its `qstash_token` parameter, else ""."""
    header = request.headers.get("Authorization", "")
    scheme, _, presented = header.partition(" ")
    if scheme.lower() != "bearer":
        presented = request.query.get("qstash_token", "")
    return presented.strip()


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
    except REDIS_DOWN as exc:
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
