"""`/healthz`, `/readyz` and `/metrics`, served by every role."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from broker.metrics import SCRAPE_HOOKS, export_role_metrics


@dataclass(frozen=True, slots=True)
class Readiness:
    """A readiness check's verdict: `problem` is None when ready, else the reason it is not (a
    fixed phrase, since /readyz shows it to anyone who asks); `persistence` is the Redis
    server's persistence mode (broker/queue/durability.py), shown either way."""

    problem: str | None = None
    persistence: str | None = None


ReadinessCheck = Callable[[], Awaitable[Readiness]]

UNREACHABLE = "Redis is unreachable"
CHECK_FAILED = "readiness check failed"
# redis-py's failures to reach Redis at all (refused, reset, timed out, still loading), as
# opposed to a reply Redis gave (ResponseError), which is a bug. Whatever else a readiness
# check raises is answered CHECK_FAILED.
REDIS_DOWN = (RedisConnectionError, RedisTimeoutError, TimeoutError)
# The probes' timeoutSeconds is 3 (deploy/): a check still waiting on a silent server after
# this long answers 503 itself, so the kubelet logs why instead of a bare probe timeout.
READINESS_DEADLINE_S = 2.5
# A scrape waits this long for the gauges sampled on scrape (SCRAPE_HOOKS), then answers with
# the values it has: Prometheus' default scrape timeout is 10 s.
SCRAPE_HOOK_DEADLINE_S = 2.5

# A Callable is no class, so it goes in as the type argument rather than AppKey's `t`.
_READINESS = web.AppKey[ReadinessCheck]("readiness")
log = structlog.get_logger()


def add_health_routes(app: web.Application, role: str, readiness: ReadinessCheck) -> None:
    """Mount the three endpoints and export this role's metrics and build info."""
    export_role_metrics(role)
    app[_READINESS] = readiness
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz)
    app.router.add_get("/metrics", _metrics)


async def _healthz(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _readyz(request: web.Request) -> web.Response:
    """Anyone may ask, so the answer names the problem only in general terms (no address, no
    exception text); the log line has the details."""
    try:
        verdict = await _within_deadline(request.app[_READINESS]())
    except Exception as exc:
        log.warning("readiness.failed", reason=f"{type(exc).__name__}: {exc}")
        return _unready(UNREACHABLE if isinstance(exc, REDIS_DOWN) else CHECK_FAILED)
    extra = {"persistence": verdict.persistence} if verdict.persistence else {}
    if verdict.problem:
        log.warning("readiness.failed", reason=verdict.problem)
        return _unready(verdict.problem, extra)
    return web.json_response({"status": "ready", **extra})


async def _within_deadline(check: Awaitable[Readiness]) -> Readiness:
    """The check's verdict, or TimeoutError once the deadline passes. The check is left to
    finish on its own rather than awaited through its cancellation: redis-py turns a
    cancelled read into its own TimeoutError, and the cluster client may then carry on
    (reinitialising) for many seconds."""
    task = asyncio.ensure_future(check)
    done, _ = await asyncio.wait({task}, timeout=READINESS_DEADLINE_S)
    if not done:
        task.cancel()
        task.add_done_callback(_discard_outcome)
        raise TimeoutError(f"no verdict within {READINESS_DEADLINE_S}s")
    return task.result()


def _discard_outcome(task: asyncio.Future[Readiness]) -> None:
    if not task.cancelled():
        task.exception()  # retrieved, so asyncio does not log it as never retrieved


def _unready(reason: str, extra: dict[str, str] | None = None) -> web.Response:
    body = {"status": "unready", "reason": reason, **(extra or {})}
    return web.json_response(body, status=503)


async def _metrics(_: web.Request) -> web.Response:
    await _run_scrape_hooks()
    return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})


async def _run_scrape_hooks() -> None:
    """Refresh what is sampled on scrape; a failure or a slow Redis leaves the last values."""
    if not SCRAPE_HOOKS:
        return
    try:
        async with asyncio.timeout(SCRAPE_HOOK_DEADLINE_S):
            await asyncio.gather(*(hook() for hook in list(SCRAPE_HOOKS)))
    except Exception as exc:
        log.warning("metrics.sample_failed", reason=f"{type(exc).__name__}: {exc}")


async def api_readiness(request: web.Request) -> web.Response:
    """`GET /v2/readiness` (QStash's path; behind the API token like every /v2 path):
    `{"ready": true}`, or 503 `{"ready": false}`, on the check /readyz makes (and logs)."""
    ready = (await _readyz(request)).status == 200
    return web.json_response({"ready": ready}, status=200 if ready else 503)
