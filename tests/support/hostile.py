"""Hostile destinations: sink responders that are slow, hang, send huge or compressed-bomb
bodies, redirect, or push back with 429/503 and Retry-After. Each one is a Sink `respond`;
`by_tag` picks one per message from its body (`<tag>:<key>`)."""

from __future__ import annotations

import asyncio
import gzip
from collections import Counter
from collections.abc import Awaitable, Callable

from aiohttp import web

Responder = Callable[[web.Request, bytes], Awaitable[web.StreamResponse]]


async def ok(_: web.Request, __: bytes) -> web.StreamResponse:
    return web.Response(text="ok")


def always(status: int) -> Responder:
    async def respond(_: web.Request, __: bytes) -> web.StreamResponse:
        return web.Response(status=status, text="no")

    return respond


def slow(seconds: float) -> Responder:
    """200 after `seconds`."""

    async def respond(_: web.Request, __: bytes) -> web.StreamResponse:
        await asyncio.sleep(seconds)
        return web.Response(text="ok")

    return respond


def hang_first(attempts: int = 1, seconds: float = 5.0) -> Responder:
    """Holds the first `attempts` deliveries of a message for `seconds`, past the worker's
    timeout (which must end them; the late answer reaches no one), then answers 200."""
    seen: Counter[str] = Counter()

    async def respond(request: web.Request, _: bytes) -> web.StreamResponse:
        message_id = request.headers.get("Upstash-Message-Id", "")
        seen[message_id] += 1
        if seen[message_id] <= attempts:
            await asyncio.sleep(seconds)
        return web.Response(text="ok")

    return respond


def huge_body(size: int) -> Responder:
    """200 with a `size`-byte body, streamed."""

    async def respond(request: web.Request, _: bytes) -> web.StreamResponse:
        response = web.StreamResponse()
        response.content_length = size
        await response.prepare(request)
        block = b"x" * 65536
        try:
            for start in range(0, size, len(block)):
                await response.write(block[: size - start])
            await response.write_eof()
        except ConnectionError:  # the worker read what it keeps and hung up: fine
            pass
        return response

    return respond


def gzip_bomb(inflated: int) -> Responder:
    """200 with `Content-Encoding: gzip`: a few KB that inflate to `inflated` bytes."""
    bomb = gzip.compress(b"\0" * inflated, compresslevel=9)

    async def respond(_: web.Request, __: bytes) -> web.StreamResponse:
        return web.Response(body=bomb, headers={"Content-Encoding": "gzip"})

    return respond


def redirect(location: str) -> Responder:
    """302 to `location`, which must never be followed."""

    async def respond(_: web.Request, __: bytes) -> web.StreamResponse:
        return web.Response(status=302, headers={"Location": location})

    return respond


def push_back(status: int, retry_after: str, times: int = 1) -> Responder:
    """`status` (429 or 503) with `Retry-After` for the first `times` deliveries of each
    message, then 200."""
    seen: Counter[str] = Counter()

    async def respond(request: web.Request, _: bytes) -> web.StreamResponse:
        message_id = request.headers.get("Upstash-Message-Id", "")
        seen[message_id] += 1
        if seen[message_id] <= times:
            return web.Response(status=status, headers={"Retry-After": retry_after})
        return web.Response(text="ok")

    return respond


def by_tag(responders: dict[str, Responder], default: Responder = ok) -> Responder:
    """Choose the responder by the body's tag (`slow:c-7` → responders["slow"])."""

    async def respond(request: web.Request, body: bytes) -> web.StreamResponse:
        tag = body.split(b":", 1)[0].decode(errors="replace") if b":" in body else ""
        return await responders.get(tag, default)(request, body)

    return respond
