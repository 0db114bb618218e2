"""The ingress: an aiohttp application serving the QStash v2 API. It validates, writes to
Redis and answers; it never calls a destination."""

from __future__ import annotations

from aiohttp import web

from broker.health import Readiness, add_health_routes, api_readiness
from broker.http import openapi
from broker.http.console import routes as console
from broker.http.context import CONNECTION
from broker.http.limits import body_limits
from broker.http.middleware import Tokens, auth_middleware, error_middleware, metrics_middleware
from broker.http.routes import (
    batch,
    cron,
    dlq,
    events,
    flow_control,
    keys,
    messages,
    publish,
    queues,
    schedules,
    stats,
    topics,
    workflow_dlq,
    workflow_hooks,
    workflow_trigger,
    workflows,
)
from broker.queue.connection import Connection
from broker.queue.durability import readiness as redis_readiness
from broker.queue.rate_limits import Limiter
from broker.queue.signing_keys import keys_initialised


def build_app(conn: Connection) -> web.Application:
    """The API application on an open connection (the caller owns its lifecycle)."""
    settings = conn.settings
    tokens = Tokens(settings.tokens, settings.readonly_tokens)
    # `hookstream dev` (and the SDKs' dev mode) never limits: a local loop must not stall.
    limit = None if settings.dev else settings.rate_limit
    limiter = Limiter(conn, limit) if limit else None
    app = web.Application(
        client_max_size=settings.max_body_bytes,
        middlewares=[metrics_middleware, error_middleware, auth_middleware(tokens, limiter)],
    )
    app.middlewares.append(body_limits(settings))  # after auth: no body is read without a token
    app[CONNECTION] = conn
    for routes in (
        publish,
        messages,
        keys,
        events,
        dlq,
        schedules,
        topics,
        queues,
        batch,
        flow_control,
        stats,
        cron,
        openapi,
        workflows,
        workflow_hooks,
        workflow_trigger,
        workflow_dlq,
        console,
    ):
        routes.add_routes(app)

    async def readiness() -> Readiness:
        verdict = await redis_readiness(conn, settings.allow_eviction)
        if not verdict.problem and not await keys_initialised(conn):
            return Readiness("signing keys are not initialised", verdict.persistence)
        return verdict

    add_health_routes(app, "ingress", readiness)
    app.router.add_get("/v2/readiness", api_readiness)
    return app
