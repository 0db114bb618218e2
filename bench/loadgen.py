"""The load generator: closed-loop publishes at a fixed concurrency, or publishes at a pace.

One aiohttp session with keep-alive connections (as an SDK client keeps them). It runs in
the orchestrator process, which is otherwise idle while it runs; the sink has its own.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp

from bench.lab import Endpoint
from bench.payload import make_body

Headers = Callable[[int], dict[str, str]]


@dataclass
class LoadResult:
    """What a closed-loop run measured; latencies in seconds."""

    count: int
    seconds: float
    latencies: list[float] = field(default_factory=list)
    errors: int = 0

    @property
    def per_second(self) -> float:
        return round(self.count / self.seconds, 1) if self.seconds else 0.0


def _session(concurrency: int) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency))


async def closed_loop(endpoint: Endpoint, total: int, concurrency: int) -> LoadResult:
    """`total` publishes of the 1 KiB body, `concurrency` in flight at all times."""
    body = make_body(0)
    remaining = iter(range(total))
    result = LoadResult(total, 0.0)
    async with _session(concurrency) as session:

        async def client() -> None:
            for _ in remaining:
                started = time.perf_counter()
                async with session.post(endpoint.url, data=body, headers=endpoint.headers) as r:
                    await r.read()
                    result.errors += r.status != 201
                result.latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        result.seconds = time.perf_counter() - started
    return result


@dataclass(frozen=True)
class Published:
    """One paced publish: when it was sent and the message id the ingress answered."""

    sent: float
    message_id: str


async def paced(
    endpoint: Endpoint, rate: float, count: int, extra_headers: Headers | None = None
) -> list[Published]:
    """`count` publishes at `rate` per second, each stamped with its send time in the body.

    Requests are fired on schedule without waiting for earlier ones, so a slow answer does
    not slow the pace (no coordinated omission).
    """
    async with _session(0) as session:

        async def one(seq: int) -> Published:
            headers = {**endpoint.headers, **(extra_headers(seq) if extra_headers else {})}
            sent = time.time()
            async with session.post(endpoint.url, data=make_body(seq, sent), headers=headers) as r:
                answer = await r.json()
                if r.status != 201:
                    raise RuntimeError(f"publish failed: {r.status} {answer}")
            return Published(sent, answer["messageId"])

        start = time.monotonic()
        tasks = []
        for seq in range(count):
            await asyncio.sleep(max(0.0, start + seq / rate - time.monotonic()))
            tasks.append(asyncio.create_task(one(seq)))
        return await asyncio.gather(*tasks)
