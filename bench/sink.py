"""The destination of every delivery: an aiohttp server that answers at once and records.

It runs in its own process (`python -m bench.sink PORT`) so it never shares a GIL with the
load generator or with the process being measured. Per request it keeps the arrival time
(time.time(), the same clock as Redis TIME and the publisher on this machine), the message
id, the attempt number and the `sent` stamp of the body. The orchestrator reads them over
/_bench/* endpoints; SinkClient wraps those.

With `fail_first`, a first attempt (Upstash-Retried: 0) whose message id hashes odd gets a
500: about half the messages then take exactly one retry.
"""

from __future__ import annotations

import asyncio
import sys
import time
import zlib
from typing import Any

import aiohttp
import msgspec
import uvloop
from aiohttp import web

CONTROL = "/_bench"


class Stamp(msgspec.Struct):
    """The fields of the bench body the sink needs; msgspec skips the padding fast."""

    seq: int = -1
    sent: float = 0.0


class Records(msgspec.Struct):
    """Column-wise arrivals (cheap to append, cheap to ship as JSON)."""

    at: list[float] = []
    message_id: list[str] = []
    retried: list[int] = []
    sent: list[float] = []
    ok: list[bool] = []


class _Recorder:
    """The sink's state and request handlers; `reset` starts a new measurement."""

    def __init__(self) -> None:
        self.reset_state(fail_first=False)

    def reset_state(self, fail_first: bool) -> None:
        self.records = Records()
        self.delivered = 0
        self.first_ok = 0.0
        self.last_ok = 0.0
        self.fail_first = fail_first

    def _should_fail(self, message_id: str, retried: int) -> bool:
        return self.fail_first and retried == 0 and zlib.crc32(message_id.encode()) & 1 == 1

    async def receive(self, request: web.Request) -> web.Response:
        body = await request.read()
        now = time.time()
        message_id = request.headers.get("Upstash-Message-Id", "")
        retried = int(request.headers.get("Upstash-Retried", "0"))
        try:
            sent = _decode_stamp.decode(body).sent
        except msgspec.DecodeError:
            sent = 0.0
        ok = not self._should_fail(message_id, retried)
        rec = self.records
        rec.at.append(now)
        rec.message_id.append(message_id)
        rec.retried.append(retried)
        rec.sent.append(sent)
        rec.ok.append(ok)
        if ok:
            self.delivered += 1
            self.first_ok = self.first_ok or now
            self.last_ok = now
        return web.Response(status=200 if ok else 500)

    async def stats(self, _: web.Request) -> web.Response:
        counts = {"attempts": len(self.records.at), "delivered": self.delivered}
        return web.json_response({**counts, "first": self.first_ok, "last": self.last_ok})

    async def dump(self, _: web.Request) -> web.Response:
        return web.Response(body=_encode(self.records), content_type="application/json")

    async def reset(self, request: web.Request) -> web.Response:
        options = await request.json()
        self.reset_state(fail_first=bool(options.get("fail_first")))
        return web.json_response({})


_decode_stamp = msgspec.json.Decoder(Stamp)
_encode = msgspec.json.Encoder().encode


def build_app() -> web.Application:
    recorder = _Recorder()
    app = web.Application()
    app.router.add_get(CONTROL + "/stats", recorder.stats)
    app.router.add_get(CONTROL + "/records", recorder.dump)
    app.router.add_post(CONTROL + "/reset", recorder.reset)
    app.router.add_route("*", "/{tail:.*}", recorder.receive)
    return app


class SinkClient:
    """The orchestrator's handle on a running sink process."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self._session: aiohttp.ClientSession | None = None

    @property
    def hook_url(self) -> str:
        """The destination URL that publishes and peer tasks post to."""
        return f"{self.base}/hook"

    async def _call(self, method: str, path: str, **kwargs: Any) -> bytes:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        async with self._session.request(method, self.base + CONTROL + path, **kwargs) as answer:
            answer.raise_for_status()
            return await answer.read()

    async def reset(self, fail_first: bool = False) -> None:
        await self._call("POST", "/reset", json={"fail_first": fail_first})

    async def stats(self) -> dict[str, Any]:
        return msgspec.json.decode(await self._call("GET", "/stats"))  # type: ignore[no-any-return]

    async def records(self) -> Records:
        return msgspec.json.decode(await self._call("GET", "/records"), type=Records)

    async def wait_delivered(self, count: int, max_wait: float) -> dict[str, Any]:
        """Poll until `count` 2xx deliveries arrived; the last stats (raises when late)."""
        deadline = time.monotonic() + max_wait
        while True:
            current = await self.stats()
            if current["delivered"] >= count:
                return current
            if time.monotonic() > deadline:
                raise TimeoutError(f"sink got {current['delivered']}/{count} in {max_wait}s")
            await asyncio.sleep(0.02)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


def main() -> None:
    uvloop.run(serve_forever(build_app(), int(sys.argv[1])))


async def serve_forever(app: web.Application, port: int) -> None:
    """Serve `app` on 127.0.0.1 until the process is terminated (the bench's servers)."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    # A large backlog: a drain may open its 64 connections in the same instant.
    await web.TCPSite(runner, "127.0.0.1", port, backlog=1024).start()
    await asyncio.Event().wait()


if __name__ == "__main__":
    main()
