"""taskiq with its Redis streams broker (taskiq-redis), the fastest peer in `make bench-peers`.

Worker: `taskiq worker bench.peers.taskiq_app:broker`; enqueue: `python -m ... COUNT`.
"""

from __future__ import annotations

import asyncio
import sys

from taskiq_redis import RedisStreamBroker

from bench.peers.job import REDIS_URL, Poster, enqueue_all

# consumer_id "0": the group reads what was queued before it was created (the default "$"
# would skip the whole pre-filled queue).
broker = RedisStreamBroker(REDIS_URL, consumer_id="0")
poster = Poster()


@broker.task(task_name="deliver")
async def deliver(body: str) -> None:
    await poster.post(body)


async def _enqueue(count: int) -> None:
    await broker.startup()
    await enqueue_all(count, deliver.kiq)
    await broker.shutdown()


if __name__ == "__main__":
    asyncio.run(_enqueue(int(sys.argv[1])))
