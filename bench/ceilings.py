"""The ceilings: what this machine allows with no queue logic at all.

- `python -m bench.ceilings xadd PORT REDIS_URL`: the minimal aiohttp app that answers every
  publish with one XADD of the body. The publish scenario drives it with the same load
  generator.
- `python -m bench.ceilings drain REDIS_URL SINK_URL CONCURRENCY`: the lean drain, a minimal
  but correct streams consumer: XREADGROUP with COUNT (as many entries as there are free
  slots), concurrent POSTs on one shared ClientSession, and the acks of everything that
  finished in one event-loop turn sent together (XACK and XDEL of all their ids, one round
  trip). An entry is acked only after its POST answered, so a crash leaves it pending.

Both use the same stack as hookstream (uvloop, aiohttp, redis-py with hiredis, hookstream's
own Redis connection class; the XADD and the acks go past redis-py's per-call layers, as
hookstream's script calls do: broker/queue/direct.py) and start as its roles do
(broker/runtime.py: the same garbage collector settings), so a ratio to them measures
hookstream's own overhead, not the libraries'. Nothing else is done per message: no attempt
counting, signing, events or state.
"""

from __future__ import annotations

import asyncio
import sys

import aiohttp
from aiohttp import web
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from bench.payload import CONTENT_TYPE
from bench.sink import serve_forever
from broker import runtime
from broker.queue.connection import Connection
from broker.queue.direct import send_commands
from broker.settings import Settings

STREAM = "bench:bare"
GROUP = "bare"
READ_BATCH = 100
READ_BLOCK_MS = 1000


def redis_client(url: str) -> Redis:
    """A client on hookstream's connection class (hiredis packing, blocking pool)."""
    return Connection.open(Settings(), url).redis


def xadd_app(redis: Redis) -> web.Application:
    async def publish(request: web.Request) -> web.Response:
        body = await request.read()
        [entry] = await send_commands(redis, [("XADD", STREAM, "*", "b", body)])
        if isinstance(entry, Exception):
            raise entry
        return web.json_response({"messageId": entry.decode()}, status=201)

    async def ready(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/v2/publish/{destination:.+}", publish)
    app.router.add_get("/readyz", ready)
    return app


async def fill_stream(redis: Redis, bodies: list[bytes]) -> None:
    """Queue the bodies for the bare drain; its group reads from the start of the stream."""
    for start in range(0, len(bodies), 1000):
        async with redis.pipeline(transaction=False) as pipe:
            for body in bodies[start : start + 1000]:
                pipe.xadd(STREAM, {"b": body})
            await pipe.execute()
    try:
        await redis.xgroup_create(STREAM, GROUP, id="0")
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


class LeanDrain:
    """The lean consumer's state: free slots, and the ids waiting for their ack."""

    def __init__(self, redis: Redis, session: aiohttp.ClientSession, sink_url: str, slots: int):
        self.redis = redis
        self.session = session
        self.sink_url = sink_url
        self.free = slots
        self.freed = asyncio.Event()
        self.to_ack: list[bytes] = []
        self.tasks: set[asyncio.Task[None]] = set()
        self.headers = {"Content-Type": CONTENT_TYPE}

    async def run(self) -> None:
        while True:
            while self.free == 0:
                self.freed.clear()
                await self.freed.wait()
            count = min(self.free, READ_BATCH)
            reply = await self.redis.xreadgroup(
                GROUP, "lean", {STREAM: ">"}, count=count, block=READ_BLOCK_MS
            )
            for entry_id, fields in reply[0][1] if reply else []:
                self.free -= 1
                task = asyncio.create_task(self.send(entry_id, fields[b"b"]))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)

    async def send(self, entry_id: bytes, body: bytes) -> None:
        """POST, then queue the ack; a failed POST leaves the entry pending (not acked)."""
        try:
            async with self.session.post(self.sink_url, data=body, headers=self.headers) as r:
                await r.read()
                delivered = r.status < 300
        finally:
            self.free += 1
            self.freed.set()
        if delivered:
            if not self.to_ack:
                asyncio.get_running_loop().call_soon(self.flush_acks)
            self.to_ack.append(entry_id)

    def flush_acks(self) -> None:
        ids, self.to_ack = self.to_ack, []
        task = asyncio.create_task(self.ack(ids))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def ack(self, ids: list[bytes]) -> None:
        await send_commands(self.redis, [("XACK", STREAM, GROUP, *ids), ("XDEL", STREAM, *ids)])


async def drain(redis: Redis, sink_url: str, concurrency: int) -> None:
    """Runs until killed."""
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        await LeanDrain(redis, session, sink_url, concurrency).run()


def main() -> None:
    kind, *args = sys.argv[1:]
    if kind == "xadd":
        port, url = args
        runtime.run(serve_forever(xadd_app(redis_client(url)), int(port)))
    elif kind == "drain":
        url, sink_url, concurrency = args
        runtime.run(drain(redis_client(url), sink_url, int(concurrency)))
    else:
        sys.exit(f"unknown ceiling {kind!r}: xadd or drain")


if __name__ == "__main__":
    main()
