"""Typed application state shared by the route handlers."""

from __future__ import annotations

from aiohttp import web

from broker.queue.connection import Connection

CONNECTION = web.AppKey("connection", Connection)


def connection(request: web.Request) -> Connection:
    """The Redis connection of the app serving this request."""
    return request.app[CONNECTION]
