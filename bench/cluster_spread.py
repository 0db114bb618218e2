"""`python -m bench.cluster_spread [N]`: one Redis vs a local 3-master cluster, in-process.

Publishes N messages (default 3000) to a local sink through an in-process ingress + worker,
waits for every delivery, and reports per master: EVALSHA calls, server CPU (INFO cpu) per
1,000 deliveries, and the routing errors counted (MOVED/ASK/CROSSSLOT/NOSCRIPT); and for the
client, process CPU per delivery. Then the commands per second each master serves while the
system is idle. Everything runs on this machine's cores, so deliveries/s says nothing about
scaling; the per-master CPU and the spread of script calls do (docs/scaling.md).
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import redis

from broker.redis_server import EmbeddedServer
from tests.support.cluster import ROUTING_ERRORS, LocalCluster, started
from tests.support.hookstream import Hookstream
from tests.support.sink import Sink

PARTITIONS = 48
IDLE_SECONDS = 3.0


def _stats(port: int) -> dict[str, float]:
    with redis.Redis(port=port) as client:
        cpu = client.info("cpu")
        commands = client.info("commandstats")
        errors = client.info("errorstats")
    calls = sum(v["calls"] for v in commands.values())
    return {
        "cpu": float(cpu["used_cpu_sys"]) + float(cpu["used_cpu_user"]),
        "evalsha": commands.get("cmdstat_evalsha", {}).get("calls", 0),
        "calls": calls,
        "routing_errors": sum(errors.get(f"errorstat_{n}", {}).get("count", 0)
                              for n in ROUTING_ERRORS),
    }  # fmt: skip


def _reset(ports: list[int]) -> None:
    for port in ports:
        with redis.Redis(port=port) as client:
            client.flushall()
            client.config_resetstat()


async def _measure(url: str, ports: list[int], count: int) -> dict[str, Any]:
    _reset(ports)
    sink = await Sink().start()
    server = await Hookstream(url, partitions=PARTITIONS, worker_concurrency=64).start()
    try:
        before = {p: _stats(p) for p in ports}
        cpu0, wall0 = time.process_time(), time.monotonic()
        for start in range(0, count, 100):
            await asyncio.gather(*(server.publish(sink.url("/s"), b"x")
                                   for _ in range(start, min(count, start + 100))))  # fmt: skip
        await sink.wait_for(count, timeout=300)
        client_cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
        after = {p: _stats(p) for p in ports}
        idle0 = {p: _stats(p) for p in ports}
        await asyncio.sleep(IDLE_SECONDS)
        idle1 = {p: _stats(p) for p in ports}
    finally:
        await server.stop()
        await sink.stop()
    return {
        "deliveries_per_s": round(count / wall),
        "client_cpu_us_per_delivery": round(client_cpu / count * 1e6),
        "masters": [
            {
                "port": p,
                "evalsha": after[p]["evalsha"] - before[p]["evalsha"],
                "server_cpu_ms_per_1k": round((after[p]["cpu"] - before[p]["cpu"]) / count * 1e6),
                "routing_errors": after[p]["routing_errors"],
                "idle_commands_per_s": round(
                    (idle1[p]["calls"] - idle0[p]["calls"]) / IDLE_SECONDS
                ),
            }
            for p in ports
        ],
    }


async def main(count: int) -> None:
    results = {}
    with tempfile.TemporaryDirectory(prefix="hookstream-spread-") as folder:
        single = EmbeddedServer(Path(folder) / "single", appendonly=False).start()
        try:
            results["1 node"] = await _measure(single.url, [single.port], count)
        finally:
            single.stop()
    with started(LocalCluster, "hookstream-spread-cluster-") as cluster:
        ports = [node.port for node in cluster.nodes]
        results["3 masters"] = await _measure(cluster.url, ports, count)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 3000))
