"""Redis memory per stored message, and the resident memory of the long-lived roles.

`used_memory` before and after storing N messages through hookstream's publish script,
once due now (an entry in a ready stream) and once delayed (a member of the delayed set).
Both include the message's CREATED event in the capped events stream.
"""

from __future__ import annotations

from bench.lab import Lab
from bench.proc import peak_rss_mib
from bench.report import Report
from bench.sizes import Sizes

NAME = "memory"


async def _bytes_per_message(lab: Lab, count: int, headers: dict[str, str]) -> dict[str, float]:
    await lab.clean()
    before = await lab.used_memory()
    await lab.queue_messages(count, headers)
    after = await lab.used_memory()
    events = 0
    for partition in lab.conn.partitions:
        events += await lab.redis.memory_usage(partition.events, samples=0) or 0
    return {
        "per_message": round((after - before) / count),
        "events_share": round(events / count),
        "used_memory_mib": round(after / 2**20, 1),
    }


async def run(lab: Lab, sizes: Sizes, report: Report) -> None:
    pending = await _bytes_per_message(lab, sizes.memory, {})
    delayed = await _bytes_per_message(lab, sizes.memory, {"Upstash-Delay": "1h"})
    rss = {"redis": peak_rss_mib(lab.redis_pid), "sink": lab.sink_peak_rss_mib()}
    report.data[NAME] = {
        "count": sizes.memory,
        "pending": pending,
        "delayed": delayed,
        "peak_rss_mib": rss,
    }
    report.add(
        NAME, f"Redis bytes per pending message (N={sizes.memory:,})", pending["per_message"], "B"
    )
    report.add(NAME, "  of which its CREATED event", pending["events_share"], "B")
    report.add(NAME, "Redis bytes per delayed message", delayed["per_message"], "B")
    report.add(NAME, "redis-server peak RSS", rss["redis"], "MiB")
    report.add(NAME, "sink peak RSS", rss["sink"], "MiB")
