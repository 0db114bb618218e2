"""saq (Redis lists + Lua), the second peer in `make bench-peers`.

Worker: `saq bench.peers.saq_app.settings`; enqueue: `python -m ... COUNT`.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import uvloop
from saq import Queue

from bench.peers.job import CONCURRENCY, REDIS_URL, Poster, enqueue_all

# saq's worker makes its loop with asyncio.new_event_loop(); the policy gives it uvloop, as
# hookstream and taskiq have.
asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())

queue = Queue.from_url(REDIS_URL)
poster = Poster()


async def deliver(_: dict[str, Any], *, body: str) -> None:
    await poster.post(body)


settings = {"queue": queue, "functions": [deliver], "concurrency": CONCURRENCY}


async def _enqueue(count: int) -> None:
    await queue.connect()
    await enqueue_all(count, lambda body: queue.enqueue("deliver", body=body))
    await queue.disconnect()


if __name__ == "__main__":
    asyncio.run(_enqueue(int(sys.argv[1])))
