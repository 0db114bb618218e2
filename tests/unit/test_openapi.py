"""The OpenAPI document against the app's router, both ways, and its derived parts."""

from __future__ import annotations

import pytest
from aiohttp import web

from broker.http.app import build_app
from broker.http.openapi import ERRORS, openapi_document
from broker.queue.connection import Connection
from broker.settings import Settings

METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture(name="app")
def _app() -> web.Application:
    """The real API app; nothing connects to Redis to build it."""
    return build_app(Connection.open(Settings(tokens=("t",)), "redis://127.0.0.1:1"))


def api_routes(app: web.Application) -> set[tuple[str, str]]:
    """(method, template) of every /v2 route; HEAD goes with its GET."""
    found = set()
    for route in app.router.routes():
        assert route.resource is not None
        path = route.resource.canonical
        if path.startswith("/v2/") and route.method != "HEAD":
            found.add((route.method.lower(), path))
    return found


def documented(document: dict[str, object]) -> set[tuple[str, str]]:
    paths = document["paths"]
    assert isinstance(paths, dict)
    return {(method, path) for path, ops in paths.items() for method in ops if method in METHODS}


def test_every_route_is_documented(app: web.Application) -> None:
    """A /v2 route missing from the document fails."""
    assert api_routes(app) - documented(openapi_document()) == set()


def test_every_documented_operation_is_a_route(app: web.Application) -> None:
    """A documented operation with no route fails."""
    assert documented(openapi_document()) - api_routes(app) == set()


async def _nothing(_: web.Request) -> web.Response:
    return web.Response()


def test_the_comparison_sees_a_difference(app: web.Application) -> None:
    """Negative control: a route added to the app and an operation added to the document
    both show up."""
    app.router.add_get("/v2/someday", _nothing)
    document = openapi_document() | {"paths": {"/v2/nowhere": {"post": {}}}}
    assert ("get", "/v2/someday") in api_routes(app) - documented(openapi_document())
    assert documented(document) - api_routes(app) == {("post", "/v2/nowhere")}


def test_shapes_come_from_the_api_structs() -> None:
    """The Message schema is msgspec's: camelCase keys, the SDK-required ones required."""
    message = openapi_document()["components"]["schemas"]["Message"]
    assert {"messageId", "callerIp", "callerIP", "notBefore"} <= set(message["properties"])
    assert {"messageId", "url", "method", "header"} <= set(message["required"])
    get = openapi_document()["paths"]["/v2/messages/{message_id}"]["get"]
    ok = get["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/Message"}


def test_path_parameters_and_publish_headers() -> None:
    """Path parameters come from the templates; publish takes the Upstash-* headers; every
    operation declares the shared error statuses."""
    enqueue = openapi_document()["paths"]["/v2/enqueue/{queue}/{destination}"]["post"]
    where = {(p["in"], p["name"]) for p in enqueue["parameters"]}
    assert {("path", "queue"), ("path", "destination"), ("header", "Upstash-Delay")} <= where
    assert {str(s) for s in ERRORS} | {"201", "202"} == set(enqueue["responses"])
