"""ROUTE_ACCESS, the one table of what read-only tokens may call, against the app's routes."""

from __future__ import annotations

import pytest
from aiohttp import web

from broker.http.app import build_app
from broker.http.middleware import ROUTE_ACCESS, Access, access_of
from broker.queue.connection import Connection
from broker.settings import Settings

PUBLIC = {"/healthz", "/readyz", "/metrics", "/console", "/console/", "/console/{path}"}
"""Served to anyone, outside /v2/: the auth middleware never looks at them."""


@pytest.fixture(name="app")
def _app() -> web.Application:
    """The real API app; nothing connects to Redis to build it."""
    return build_app(Connection.open(Settings(tokens=("t",)), "redis://127.0.0.1:1"))


def _routes(app: web.Application) -> list[tuple[str, str]]:
    found = []
    for route in app.router.routes():
        assert route.resource is not None
        found.append((route.method, route.resource.canonical))
    return found


def test_every_api_route_is_classified(app: web.Application) -> None:
    """Each /v2 route the app registers (HEAD through its GET) has a row: a route added without
    one would be refused to read-only tokens, so it must be decided here, not by accident."""
    unclassified = [
        (method, path)
        for method, path in _routes(app)
        if path.startswith("/v2/") and access_of(method, path) is None
    ]
    assert unclassified == []
    assert {path for _, path in _routes(app) if not path.startswith("/v2/")} == PUBLIC


def test_every_row_names_a_route(app: web.Application) -> None:
    """No row is left over from a route that is gone or renamed."""
    assert set(ROUTE_ACCESS) <= set(_routes(app))


def test_unknown_routes_are_not_readable() -> None:
    """Default deny: an unmatched request or a route without a row is no READ route."""
    assert access_of("GET", None) is None
    assert access_of("GET", "/v2/someday") is None
    assert access_of("HEAD", "/v2/queues") is Access.READ


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v2/keys"),
        ("POST", "/v2/keys/rotate"),
        ("POST", "/v2/publish/{destination}"),
        ("POST", "/v2/batch"),
        ("POST", "/v2/dlq/retry/{dlq_id}"),
        ("DELETE", "/v2/messages/{message_id}"),
        ("POST", "/v2/flowControl/{key}/pause"),
        ("PATCH", "/v2/schedules/{schedule_id}/{action}"),
    ],
)
def test_writes_and_secrets_need_a_full_token(method: str, path: str) -> None:
    """What publishes, changes, deletes, retries, pauses, rotates or shows the signing keys."""
    assert access_of(method, path) is Access.FULL
