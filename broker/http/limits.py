"""Request bodies, bounded around every handler: a declared size over the limit is refused
before a byte of it is read, and the rest must arrive within a deadline.

aiohttp's own `client_max_size` only counts while a handler reads, so a request announcing
100 MB was read up to the limit first; and no aiohttp setting bounds how long a body may
take. Handlers still read bodies themselves (whether one is present means something to some
of them): the deadline fails the pending read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aiohttp import StreamReader, web
from aiohttp.typedefs import Middleware

from broker.settings import Settings

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class _BodyTimeout(TimeoutError):
    """Set on a body that had not arrived by its deadline; a TimeoutError, so that aiohttp's
    discarding of an unread body stops at it quietly."""


def body_limits(settings: Settings) -> Middleware:
    """413 for a body over HOOKSTREAM_MAX_BODY_BYTES (by Content-Length before reading, or
    while reading a chunked one), 408 for one not complete within HOOKSTREAM_HTTP_BODY_TIMEOUT
    of the request head."""
    most, timeout_s = settings.max_body_bytes, settings.http_body_timeout_ms / 1000

    @web.middleware
    async def bounded_body(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.can_read_body:
            return await handler(request)
        if request.content_length is not None and request.content_length > most:
            raise _too_large(most, f"{request.content_length} bytes")
        deadline = _deadline(request.content, timeout_s)
        try:
            return await handler(request)
        except _BodyTimeout:
            reason = f"the body did not arrive within {timeout_s:g}s (HOOKSTREAM_HTTP_BODY_TIMEOUT)"
            raise web.HTTPRequestTimeout(reason=reason) from None
        except web.HTTPRequestEntityTooLarge:
            raise _too_large(most, "larger") from None
        finally:
            if deadline is not None:
                deadline.cancel()

    return bounded_body


def _deadline(body: StreamReader, timeout_s: float) -> asyncio.TimerHandle | None:
    """The timer that fails a body still arriving after `timeout_s`; none for a body that
    arrived whole with the request head (most do: no timer to arm and cancel)."""
    if body.is_eof():
        return None
    return asyncio.get_running_loop().call_later(timeout_s, _expire, body)


def _expire(body: StreamReader) -> None:
    if not body.is_eof():  # not all received yet (read or not)
        body.set_exception(_BodyTimeout())


def _too_large(most: int, size: str) -> web.HTTPRequestEntityTooLarge:
    reason = f"the body is {size}, above the maximum of {most} bytes (HOOKSTREAM_MAX_BODY_BYTES)"
    return web.HTTPRequestEntityTooLarge(most, reason=reason)
