"""Auth, errors and metrics for every API request, in one place rather than per handler."""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum

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

from broker.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    QueueError,
    Unauthorized,
    Unavailable,
)
from broker.health import REDIS_DOWN
from broker.http.routes import workflow_hooks as hooks
from broker.metrics import observe_request
from broker.queue.keys import rate_limit
from broker.queue.rate_limits import Limiter, Window

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
log = structlog.get_logger()

STATUS: dict[type[QueueError], int] = {
    BadRequest: 400,
    Unauthorized: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    Unavailable: 503,
}
"""The HTTP status of each domain error; a subclass answers like its nearest listed base,
and an error listed nowhere (ConfigError in a request, say) is a bug: 500."""

RETRY_AFTER_S = 5
"""What a 503 asks clients to wait: long enough for Redis to fail over or restart."""

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


class Access(Enum):
    """Which tokens may call a route."""

    READ = "read"  # every token, read-only ones too
    FULL = "full"  # full tokens only
    PUBLIC = "public"  # no token: a workflow webhook, called by third parties


_R, _F, _P = Access.READ, Access.FULL, Access.PUBLIC
ROUTE_ACCESS: dict[tuple[str, str], Access] = {
    ("POST", "/v2/publish/{destination}"): _F,
    ("POST", "/v2/enqueue/{queue}/{destination}"): _F,
    ("POST", "/v2/batch"): _F,
    ("GET", "/v2/messages/{message_id}"): _R,
    ("DELETE", "/v2/messages/{message_id}"): _F,
    ("DELETE", "/v2/messages"): _F,
    # The signing keys are secrets: whoever holds them can forge deliveries.
    ("GET", "/v2/keys"): _F,
    ("POST", "/v2/keys/rotate"): _F,
    ("GET", "/v2/readiness"): _R,
    ("GET", "/v2/openapi.json"): _R,
    ("GET", "/v2/stats"): _R,
    ("GET", "/v2/cronPreview"): _R,
    ("GET", "/v2/events"): _R,
    ("GET", "/v2/logs"): _R,
    ("GET", "/v2/dlq"): _R,
    ("GET", "/v2/dlq/{dlq_id}"): _R,
    ("DELETE", "/v2/dlq"): _F,
    ("DELETE", "/v2/dlq/{dlq_id}"): _F,
    ("POST", "/v2/dlq/retry"): _F,
    ("POST", "/v2/dlq/retry/{dlq_id}"): _F,
    ("GET", "/v2/schedules"): _R,
    ("GET", "/v2/schedules/{schedule_id}"): _R,
    ("POST", "/v2/schedules/{destination}"): _F,
    ("PATCH", "/v2/schedules/{schedule_id}/{action}"): _F,
    ("DELETE", "/v2/schedules/{schedule_id}"): _F,
    ("GET", "/v2/topics"): _R,
    ("GET", "/v2/topics/{name}"): _R,
    ("POST", "/v2/topics/{name}/endpoints"): _F,
    ("DELETE", "/v2/topics/{name}/endpoints"): _F,
    ("DELETE", "/v2/topics/{name}"): _F,
    ("GET", "/v2/queues"): _R,
    ("GET", "/v2/queues/{name}"): _R,
    ("POST", "/v2/queues"): _F,
    ("DELETE", "/v2/queues/{name}"): _F,
    ("POST", "/v2/queues/{name}/pause"): _F,
    ("POST", "/v2/queues/{name}/resume"): _F,
    ("GET", "/v2/flowControl"): _R,
    ("GET", "/v2/flowControl/{key}"): _R,
    ("GET", "/v2/globalParallelism"): _R,
    ("POST", "/v2/flowControl/{key}/pause"): _F,
    ("POST", "/v2/flowControl/{key}/resume"): _F,
    ("POST", "/v2/flowControl/{key}/pin"): _F,
    ("POST", "/v2/flowControl/{key}/unpin"): _F,
    ("POST", "/v2/flowControl/{key}/resetRate"): _F,
    ("POST", "/v2/flowControl/{key}/reset"): _F,
    ("GET", "/v2/workflows/runs/{run_id}"): _R,
    ("DELETE", "/v2/workflows/runs/{run_id}"): _F,
    ("DELETE", "/v2/workflows/runs"): _F,
    ("GET", "/v2/workflows/events"): _R,
    ("GET", "/v2/workflows/logs"): _R,
    ("POST", "/v2/wait/{event_id}"): _F,
    ("POST", "/v2/notify/{event_id}"): _F,
    ("POST", "/v2/notify/{run_id}/{event_id}"): _F,
    ("GET", "/v2/waiters/{event_id}"): _R,
    **{(method, hooks.TEMPLATE): _P for method in hooks.METHODS},  # the event id is the credential
    ("POST", "/v2/trigger/{destination}"): _F,
    # --- wfdlq ---
    ("GET", "/v2/workflows/dlq"): _R,
    ("DELETE", "/v2/workflows/dlq"): _F,
    ("POST", "/v2/workflows/dlq/resume"): _F,
    ("POST", "/v2/workflows/dlq/restart"): _F,
    ("POST", "/v2/workflows/dlq/callback/{dlq_id}"): _F,
}
"""Who may call each /v2 route, by method and route template; HEAD goes with its GET. A route
missing here (a new one, or no route at all) is FULL: a read-only token is refused it until
someone decides otherwise. tests/unit/test_access.py walks the app's routes against it."""


def access_of(method: str, template: str | None) -> Access | None:
    """The route's row in ROUTE_ACCESS, or None when it has none."""
    if template is None:
        return None
    return ROUTE_ACCESS.get(("GET" if method == "HEAD" else method, template))


@dataclass(frozen=True, slots=True)
class Caller:
    """Whose token an authenticated request carries."""

    read_only: bool
    rate_key: str  # its rate-limit counter (keys.rate_limit: named by a digest of the token)


class Tokens:
    """The configured bearer tokens, known only by a keyed digest.

    A presented token is digested the same way and compared with every configured one, each
    comparison of two 32-byte values: neither the length of a token nor how many leading bytes
    matched shows in the time an answer takes. The key is random per process; nothing else
    ever sees the digests.
    """

    def __init__(self, full: tuple[str, ...], read_only: tuple[str, ...] = ()) -> None:
        self._key = secrets.token_bytes(32)
        self._known = [(self._digest(t), Caller(False, rate_limit(t))) for t in full]
        self._known += [(self._digest(t), Caller(True, rate_limit(t))) for t in read_only]

    def _digest(self, token: str) -> bytes:
        # BLAKE2b in keyed mode is a MAC of its own: a third of HMAC-SHA256's cost per request.
        return hashlib.blake2b(token.encode(), key=self._key, digest_size=32).digest()

    def caller(self, presented: str) -> Caller | None:
        """Whose token `presented` is, or None (an empty one is nobody's). A token configured
        both ways is read-only."""
        digest = self._digest(presented)
        # Every token is compared, without stopping at a match, so timing stays flat.
        matched = [caller for known, caller in self._known if hmac.compare_digest(digest, known)]
        if not presented or not matched:
            return None
        return max(matched, key=lambda caller: caller.read_only)


def auth_middleware(tokens: Tokens, limiter: Limiter | None = None) -> Middleware:
    """On /v2/ paths but the PUBLIC routes: require a known token, as a Bearer header or
    `qstash_token` parameter (401); with a `limiter`, at most its number of requests per
    window and token (429); and a full token for every route ROUTE_ACCESS does not open to
    read-only ones (403)."""

    @web.middleware
    async def check_token(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith("/v2/") or _public(request):
            return await handler(request)
        caller = tokens.caller(presented_token(request))
        if caller is None:
            raise Unauthorized("missing or invalid bearer token")
        window = await limiter.take(caller.rate_key) if limiter else None
        if window is not None and window.exceeded:
            return rate_limited(window)
        if caller.read_only:
            _check_readable(request)
        response = await handler(request)
        if window is not None and not response.prepared:
            response.headers.update(burst_headers(window))
        return response

    return check_token


def _public(request: web.Request) -> bool:
    return access_of(request.method, _template(request)) is Access.PUBLIC


def _check_readable(request: web.Request) -> None:
    """Forbidden unless ROUTE_ACCESS opens the matched route to read-only tokens."""
    template = _template(request)
    if access_of(request.method, template) is not Access.READ:
        route = f"{request.method} {template}" if template else "this request"
        raise Forbidden(f"this token is read-only: {route} needs a full token")


def burst_headers(window: Window) -> dict[str, str]:
    """The window as QStash reports its burst limit. Reset is a Unix time in seconds."""
    return {
        "Burst-RateLimit-Limit": str(window.limit),
        "Burst-RateLimit-Remaining": str(window.remaining),
        "Burst-RateLimit-Reset": str(math.ceil(time.time() + window.resets_in_ms / 1000)),
    }


def rate_limited(window: Window) -> web.Response:
    """The 429 of a token over its limit.

    Only the Burst-* headers: both SDKs read a 429 that carries `RateLimit-Limit` as the daily
    message quota (qstash/http.py raise_for_non_ok_status, @upstash/qstash getResponseError),
    and raise their burst rate-limit error only without it.
    """
    retry_after = max(1, math.ceil(window.resets_in_ms / 1000))
    return web.json_response(
        {"error": f"rate limit exceeded: {window.limit} requests per window for this token"},
        status=429,
        headers={**burst_headers(window), "Retry-After": str(retry_after)},
    )


def _template(request: web.Request) -> str | None:
    """The matched route's template (`/v2/queues/{name}`); None when no route matched."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else None


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
    route = _template(request) or "unmatched"
    observe_request(request.method, route, response.status, time.perf_counter() - started)
    return response
