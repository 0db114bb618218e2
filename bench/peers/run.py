"""`make bench-peers`: the identical drain on hookstream, taskiq and saq, in one run.

Each peer queues the same number of 1 KiB POST jobs with its own client while no worker
runs, then one worker process with 64 concurrent jobs drains them to the same sink. The
hookstream drain is run fresh in the same command, so the ratio compares like with like.

The lean loop (bench/ceilings.py) drains the same count in the same run: its own ratio to the
best peer is the most any worker on this stack could reach, so it says whether the target is
within reach on this machine at all.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.lab import CONCURRENCY, Lab
from bench.measure import DrainResult, measure_drain
from bench.report import Report
from bench.scenarios.drain import ceiling_drain, hookstream_drain
from bench.sizes import Sizes
from bench.stats import ratio

NAME = "peers"
TARGET = 3.0


@dataclass(frozen=True)
class Peer:
    app: str
    worker_args: list[str]


TASKIQ_WORKER = ["-m", "taskiq", "worker", "bench.peers.taskiq_app:broker", "--workers", "1"]
PEERS = {
    "taskiq": Peer(
        "bench.peers.taskiq_app",
        [*TASKIQ_WORKER, "--max-async-tasks", str(CONCURRENCY), "--log-level", "WARNING"],
    ),
    "saq": Peer("bench.peers.saq_app", ["-m", "saq", "bench.peers.saq_app.settings", "--quiet"]),
}


async def peer_drain(lab: Lab, python: str, name: str, count: int) -> DrainResult:
    peer = PEERS[name]
    await lab.clean()
    env = {
        "REDIS_URL": lab.server.url,
        "BENCH_SINK_URL": lab.sink.hook_url,
        "BENCH_CONCURRENCY": str(CONCURRENCY),
    }
    await lab.spawn(f"{name}-enqueue", [python, "-m", peer.app, str(count)], env).finish()
    worker = lab.spawn(f"{name}-worker", [python, *peer.worker_args], env)
    return await measure_drain(lab, [worker], count)


async def run(lab: Lab, sizes: Sizes, report: Report, python: str) -> None:
    results = {"hookstream": await hookstream_drain(lab, sizes.drain)}
    for name in PEERS:
        results[name] = await peer_drain(lab, python, name, sizes.drain)
    results["lean loop"] = await ceiling_drain(lab, sizes.drain)
    best = max(PEERS, key=lambda name: results[name].per_second)
    share = ratio(results["hookstream"].per_second, results[best].per_second)
    lean_share = ratio(results["lean loop"].per_second, results[best].per_second)
    report.data[NAME] = {
        "count": sizes.drain,
        "concurrency": CONCURRENCY,
        **{name: result.as_dict() for name, result in results.items()},
        "best_peer": best,
        "ratio_to_best_peer": share,
        "lean_ratio_to_best_peer": lean_share,
    }
    for name, result in results.items():
        report.add(NAME, f"{name} deliveries/s (1 worker)", result.per_second, "/s")
        report.add(NAME, f"{name} CPU per 1,000", result.cpu_s_per_1000, "s")
        report.add(NAME, f"{name}: cores busy", result.cores_busy, "cores")
        report.add(NAME, f"{name} peak RSS", result.peak_rss_mib, "MiB")
    report.add(NAME, f"hookstream / {best}", share, "x", f">= {TARGET:g}", share >= TARGET)
    report.add(NAME, f"lean loop (the ceiling) / {best}", lean_share, "x")
