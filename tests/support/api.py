"""Small helpers for tests that talk to the API and the sink."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from qstash import Receiver

from tests.support.hookstream import Hookstream
from tests.support.sink import Received


async def api(hookstream: Hookstream, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
    """One API call: (status, decoded JSON body)."""
    assert hookstream.http is not None
    async with hookstream.http.request(method, path, **kwargs) as resp:
        return resp.status, await resp.json()


async def events_of(hookstream: Hookstream, message_id: str) -> list[str]:
    """The states a message went through, oldest first."""
    _, body = await api(
        hookstream, "GET", "/v2/events", params={"messageId": message_id, "order": "earliestFirst"}
    )
    return [event["state"] for event in body["events"]]


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    """Poll `check` until it is true; fail with a clear message when it never is."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"condition not met within {timeout} s")


async def until(check: Callable[[], bool], timeout: float = 30.0, what: str = "") -> None:
    """Wait for a synchronous condition (keep it quick: it blocks the loop while it runs),
    letting the event loop run between checks; fail with `what` when it never holds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() >= deadline:
            raise AssertionError(f"not within {timeout} s: {what or check}")
        await asyncio.sleep(0.02)


def status(code: int, text: str = "", headers: dict[str, str] | None = None) -> Callable[..., Any]:
    """A sink responder that always answers `code`."""

    async def respond(_: web.Request, __: bytes) -> web.StreamResponse:
        return web.Response(status=code, text=text, headers=headers)

    return respond


def by_path(routes: dict[str, Callable[..., Any]]) -> Callable[..., Any]:
    """A sink responder choosing by path; unknown paths answer 200."""

    async def respond(request: web.Request, body: bytes) -> web.StreamResponse:
        handler = routes.get(request.path)
        return await handler(request, body) if handler else web.Response(text="ok")

    return respond


def json_body(raw: bytes) -> dict[str, Any]:
    return json.loads(raw)  # type: ignore[no-any-return]


async def verify_signature(hookstream: Hookstream, received: Received, url: str) -> None:
    """Check a delivery's signature with the official Python Receiver and the server's keys."""
    _, keys = await api(hookstream, "GET", "/v2/keys")
    check_signature(keys, received, url)


def check_signature(keys: dict[str, str], received: Received, url: str) -> None:
    """Check a delivery's signature with the official Python Receiver and the keys that
    `GET /v2/keys` answered; raises on a bad one."""
    receiver = Receiver(current_signing_key=keys["current"], next_signing_key=keys["next"])
    receiver.verify(
        signature=received.headers["Upstash-Signature"], body=received.body.decode(), url=url
    )


class PeakConcurrency:
    """A sink responder that holds each request briefly and records the peak in flight."""

    def __init__(self, hold: float = 0.03, fail_first: set[str] | None = None) -> None:
        self.hold = hold
        self.now = self.peak = 0
        self.fail_first = set(fail_first or ())

    async def __call__(self, _: web.Request, body: bytes) -> web.StreamResponse:
        self.now += 1
        self.peak = max(self.peak, self.now)
        try:
            await asyncio.sleep(self.hold)
        finally:
            self.now -= 1
        if body.decode() in self.fail_first:
            self.fail_first.discard(body.decode())
            return web.Response(status=500)
        return web.Response(text="ok")
