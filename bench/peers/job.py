"""The job every peer runs: POST a 1 KiB JSON body to the sink (what hookstream delivers).

Environment: REDIS_URL and BENCH_SINK_URL, set by bench/peers/run.py.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from bench.payload import CONTENT_TYPE, make_body

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
SINK_URL = os.environ.get("BENCH_SINK_URL", "")
# Jobs in flight per worker process: hookstream's HOOKSTREAM_WORKER_CONCURRENCY in the bench.
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "64"))
ENQUEUE_BATCH = 200


class Poster:
    """One keep-alive session per worker process, opened inside the running loop."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    async def post(self, body: str) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        headers = {"Content-Type": CONTENT_TYPE}
        async with self._session.post(SINK_URL, data=body.encode(), headers=headers) as answer:
            await answer.read()
            answer.raise_for_status()  # a refused delivery is a failed task, as in hookstream


async def enqueue_all(count: int, enqueue: Callable[[str], Awaitable[Any]]) -> None:
    """Queue `count` bodies with the peer's own client, a batch at a time."""
    for start in range(0, count, ENQUEUE_BATCH):
        batch = range(start, min(start + ENQUEUE_BATCH, count))
        await asyncio.gather(*(enqueue(make_body(seq).decode()) for seq in batch))
