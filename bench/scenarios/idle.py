"""Idle cost: what W workers with nothing to do cost Redis and the machine.

For 1, 2 and 4 workers at HOOKSTREAM_PARTITIONS=4 and =48: the Redis commands per second
(INFO commandstats deltas, every command counted, the bench's own INFO calls left out) and
the workers' CPU as a share of one core, over a window that starts once the workers are
ready and settled (their first sweeps, group creation and connections are not idle work).
The window (15 s) covers one round of every periodic loop but retention and housekeeping.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench.lab import Lab
from bench.report import Report
from bench.sizes import Sizes

NAME = "idle"
WORKERS = (1, 2, 4)
PARTITIONS = (4, 48)
SETTLE_SECONDS = 3.0
TARGET_COMMANDS = 20.0
TARGET_CPU_PERCENT = 1.0


async def _calls(lab: Lab) -> dict[str, int]:
    """Calls per command, summed over every master of the lab."""
    totals: dict[str, int] = {}
    for node in lab.nodes:
        for name, v in (await node.info("commandstats")).items():
            command = name.removeprefix("cmdstat_")
            totals[command] = totals.get(command, 0) + int(v["calls"])
    return totals


async def measure(lab: Lab, workers: int, partitions: int, seconds: float) -> dict[str, Any]:
    await lab.clean(partitions=partitions)
    roles = lab.workers(workers, HOOKSTREAM_PARTITIONS=str(partitions))
    for role in roles:
        await role.wait_ready()
    await asyncio.sleep(SETTLE_SECONDS)
    before, cpu_before, started = (
        await _calls(lab),
        sum(r.cpu_seconds() for r in roles),
        time.monotonic(),
    )
    await asyncio.sleep(seconds)
    after, cpu_after = await _calls(lab), sum(r.cpu_seconds() for r in roles)
    elapsed = time.monotonic() - started
    delta = {name: after[name] - before.get(name, 0) for name in after}
    delta["info"] = delta.get("info", 0) - len(lab.nodes)  # each node's second INFO is ours
    delta = {name: calls for name, calls in delta.items() if calls > 0}
    return {
        "workers": workers,
        "partitions": partitions,
        "seconds": round(elapsed, 2),
        "commands_per_second": round(sum(delta.values()) / elapsed, 1),
        "cpu_percent_of_a_core": round(100 * (cpu_after - cpu_before) / elapsed, 2),
        "commands": dict(sorted(delta.items(), key=lambda item: -item[1])),
    }


async def run(lab: Lab, sizes: Sizes, report: Report) -> None:
    results = [
        await measure(lab, workers, partitions, sizes.idle_seconds)
        for partitions in PARTITIONS
        for workers in WORKERS
    ]
    await lab.clean()
    report.data[NAME] = results
    for result in results:
        who = f"W={result['workers']} P={result['partitions']}"
        targeted = result["workers"] == max(WORKERS) and result["partitions"] == PARTITIONS[0]
        rows = (
            ("Redis commands/s", result["commands_per_second"], "/s", TARGET_COMMANDS),
            ("worker CPU", result["cpu_percent_of_a_core"], "% core", TARGET_CPU_PERCENT),
        )
        for metric, value, unit, target in rows:
            if targeted:
                report.add(NAME, f"{who}: {metric}", value, unit, f"<= {target:g}", value <= target)
            else:
                report.add(NAME, f"{who}: {metric}", value, unit)
