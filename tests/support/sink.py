"""A recording HTTP receiver on 127.0.0.1: the destination of every delivery in the tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

from broker.redis_server import free_port


@dataclass(frozen=True)
class Received:
    """One request as the sink saw it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.time)


Responder = Callable[[web.Request, bytes], Awaitable[web.StreamResponse]]


async def _ok(_: web.Request, __: bytes) -> web.StreamResponse:
    return web.Response(text="ok")


class Sink:
    """Records requests; `respond` decides the answer (200 "ok" unless replaced). `answered`
    holds (message id, status) of every answer given, so a checker can tell a delivery the
    destination accepted from one it refused or never finished."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.answered: list[tuple[str, int]] = []
        self.respond: Responder = _ok
        self.port = free_port()
        self._arrived = asyncio.Condition()
        self._runner: web.AppRunner | None = None

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def start(self) -> Sink:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        async with self._arrived:
            self.received.append(
                Received(request.method, request.path_qs, dict(request.headers), body)
            )
            self._arrived.notify_all()
        response = await self.respond(request, body)
        # A streamed answer has sent its status line already; any other answer counts only
        # if someone still waits for it (a worker that timed out has closed the connection).
        transport = request.transport
        if response.prepared or (transport is not None and not transport.is_closing()):
            self.answered.append((request.headers.get("Upstash-Message-Id", ""), response.status))
        return response

    async def wait_for(
        self,
        count: int,
        timeout: float = 10.0,
        path: str | None = None,
    ) -> list[Received]:
        """Wait until `count` requests (to `path`, if given) arrived; return them."""

        def matching() -> list[Received]:
            return [r for r in self.received if path is None or r.path.split("?")[0] == path]

        async with self._arrived:
            await asyncio.wait_for(
                self._arrived.wait_for(lambda: len(matching()) >= count), timeout
            )
        return matching()
