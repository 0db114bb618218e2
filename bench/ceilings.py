"""The ceilings: what this machine allows with no queue logic at all.

- `python -m bench.ceilings xadd PORT REDIS_URL`: an aiohttp app that answers every publish
  with one XADD of the body. The publish scenario drives it with the same load generator.
- `python -m bench.ceilings drain REDIS_URL SINK_URL CONCURRENCY`: one process that reads a
  pre-filled stream with XREADGROUP, POSTs each body to the sink and XACKs it.

Both use the same stack as hookstream (uvloop, aiohttp, redis-py with hiredis), so a ratio
to them measures hookstream's own overhead, not the libraries'.
"""

from __future__ import annotations

import asyncio
import sys

import aiohttp
import uvloop
from aiohttp import web
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from bench.payload import CONTENT_TYPE
from bench.sink import serve_forever

STREAM = "bench:bare"
GROUP = "bare"
READ_BATCH = 100


def xadd_app(redis: Redis) -> web.Application:
    async def publish(request: web.Request) -> web.Response:
        body = await request.read()
        entry = await redis.xadd(STREAM, {"b": body})
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


async def drain(redis: Redis, sink_url: str, concurrency: int) -> None:
    """A reader feeds `concurrency` senders through a bounded queue; runs until killed."""
    work: asyncio.Queue[tuple[bytes, bytes]] = asyncio.Queue(maxsize=concurrency)
    headers = {"Content-Type": CONTENT_TYPE}
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def sender() -> None:
            while True:
                entry_id, body = await work.get()
                async with session.post(sink_url, data=body, headers=headers) as answer:
                    await answer.read()
                await redis.xack(STREAM, GROUP, entry_id)

        # Kept referenced for the life of the loop (the event loop holds tasks weakly).
        senders = [asyncio.create_task(sender()) for _ in range(concurrency)]
        while senders:
            reply = await redis.xreadgroup(GROUP, "bare", {STREAM: ">"}, READ_BATCH, 1000)
            for entry_id, fields in reply[0][1] if reply else []:
                await work.put((entry_id, fields[b"b"]))


def main() -> None:
    kind, *args = sys.argv[1:]
    if kind == "xadd":
        port, url = args
        redis = Redis.from_url(url, max_connections=128)
        uvloop.run(serve_forever(xadd_app(redis), int(port)))
    elif kind == "drain":
        url, sink_url, concurrency = args
        uvloop.run(drain(Redis.from_url(url, max_connections=128), sink_url, int(concurrency)))
    else:
        sys.exit(f"unknown ceiling {kind!r}: xadd or drain")


if __name__ == "__main__":
    main()
