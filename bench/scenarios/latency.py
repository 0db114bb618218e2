"""Paced end-to-end latency: publish at a steady rate through ingress + one worker.

Latency = arrival at the sink - the `sent` stamp the publisher put in the body just before
the request; both are time.time() on this one machine.
"""

from __future__ import annotations

from bench.lab import Lab
from bench.loadgen import paced
from bench.report import Report
from bench.sizes import Sizes
from bench.stats import summary_ms

NAME = "paced e2e"
TARGET_P99_MS = 5.0


async def run(lab: Lab, sizes: Sizes, report: Report) -> None:
    endpoint = await lab.pipeline()
    count = sizes.paced_rate * sizes.paced_seconds
    await paced(endpoint, sizes.paced_rate, count)
    await lab.sink.wait_delivered(count, max_wait=sizes.paced_seconds + 30)
    records = await lab.sink.records()
    latency = summary_ms([at - sent for at, sent in zip(records.at, records.sent, strict=True)])
    report.data[NAME] = {"rate": sizes.paced_rate, "count": count, **latency}
    report.add(NAME, f"{sizes.paced_rate} msg/s p50", latency["p50_ms"], "ms")
    ok = latency["p99_ms"] <= TARGET_P99_MS
    report.add(
        NAME, f"{sizes.paced_rate} msg/s p99", latency["p99_ms"], "ms", f"<= {TARGET_P99_MS:g}", ok
    )
    report.add(NAME, f"{sizes.paced_rate} msg/s max", latency["max_ms"], "ms")
