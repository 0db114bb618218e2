"""Every publish is one script call: an enqueue or a flow-controlled publish opens its gate
(creates it on first use, takes the message's limits) inside the script that stores the
message, instead of a gate_set call before it. Only a gate's first use adds the index writes
(SADD to the index, then the gate's `indexed` mark)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from broker.queue.keys import FLOW_CONTROL_INDEX, QUEUES_INDEX, queue_partition
from tests.support.api import api
from tests.support.hookstream import Hookstream

pytestmark = pytest.mark.integration

SINK = "http://127.0.0.1:9/hook"  # never called: no worker runs here
FLOW = {"Upstash-Flow-Control-Key": "fk", "Upstash-Flow-Control-Value": "parallelism=2, rate=7"}


@pytest.fixture(name="ingress")
async def _ingress(redis_url: str) -> AsyncIterator[Hookstream]:
    """The ingress alone: no worker or scheduler sends commands of its own meanwhile."""
    server = await Hookstream(redis_url, with_worker=False).start()
    yield server
    await server.stop()


async def _calls(ingress: Hookstream, *commands: str) -> list[int]:
    """How often the server ran each command since the last CONFIG RESETSTAT."""
    stats = await ingress.conn.redis.info("commandstats")
    return [int(stats.get(f"cmdstat_{name}", {}).get("calls", 0)) for name in commands]


async def _publish(ingress: Hookstream, path: str, headers: dict[str, str]) -> None:
    code, answer = await api(ingress, "POST", path, data="x", headers=headers)
    assert code == 201, answer


@pytest.mark.parametrize(
    ("path", "headers"),
    [(f"/v2/enqueue/q1/{SINK}", {}), (f"/v2/publish/{SINK}", FLOW)],
    ids=["enqueue", "flow-control"],
)
async def test_a_gated_publish_is_one_script_call(
    ingress: Hookstream, path: str, headers: dict[str, str]
) -> None:
    """First use: one EVALSHA and the two index writes; each later publish: one EVALSHA and
    nothing else that the gate needs (no gate_set call, no index write)."""
    await ingress.conn.redis.config_resetstat()
    await _publish(ingress, path, headers)
    assert await _calls(ingress, "evalsha", "sadd") == [1, 1]
    await ingress.conn.redis.config_resetstat()
    for _ in range(3):
        await _publish(ingress, path, headers)
    assert await _calls(ingress, "evalsha", "sadd") == [3, 0]


async def test_the_gate_opened_by_the_store_script_is_indexed_and_limited(
    ingress: Hookstream,
) -> None:
    """The queue and the flow-control key exist after one publish each, are in their index,
    marked indexed, and the key holds the limits its message carried."""
    await _publish(ingress, f"/v2/enqueue/q2/{SINK}", {})
    await _publish(ingress, f"/v2/publish/{SINK}", FLOW)
    redis, partitions = ingress.conn.redis, ingress.settings.partitions
    queue, _ = queue_partition("q2", partitions).queue_keys("q2")
    flow, _ = queue_partition("fk", partitions).flow_keys("fk")
    assert await redis.smembers(QUEUES_INDEX) == {b"q2"}
    assert await redis.smembers(FLOW_CONTROL_INDEX) == {b"fk"}
    assert await redis.hmget(queue, "indexed", "parallelism") == [b"1", b"1"]
    assert await redis.hmget(flow, "indexed", "parallelism", "rate", "period") == [
        b"1",
        b"2",
        b"7",
        b"1000",
    ]
    _, waiting = await api(ingress, "GET", "/v2/queues/q2")
    assert waiting["lag"] == 1
