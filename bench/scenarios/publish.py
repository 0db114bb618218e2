"""Publish throughput of one ingress process (no worker), against the bare XADD ceiling, at
concurrency 64 and with one sequential client (the latency a single caller sees)."""

from __future__ import annotations

from typing import Any

from bench.lab import Endpoint, Lab
from bench.loadgen import closed_loop
from bench.proc import Role
from bench.report import Report
from bench.sizes import Sizes
from bench.stats import ratio, summary_ms

NAME = "publish"
TARGET = 0.8
SEQUENTIAL_TARGET = 1.3


async def _measure(server: Role, endpoint: Endpoint, sizes: Sizes) -> dict[str, Any]:
    """Throughput and latency at the client, CPU per 1,000 publishes in the server process.

    On two cores the load generator itself may be what limits req/s; the server's CPU per
    publish does not depend on that.
    """
    # Warm-up first: connection set-up and first-call costs are not what we measure.
    await closed_loop(endpoint, sizes.publish_warmup, sizes.publish_concurrency)
    cpu_before = server.cpu_seconds()
    result = await closed_loop(endpoint, sizes.publish, sizes.publish_concurrency)
    cpu = server.cpu_seconds() - cpu_before
    sequential = await closed_loop(endpoint, sizes.publish_sequential, 1)
    return {
        "per_second": result.per_second,
        "errors": result.errors,
        **summary_ms(result.latencies),
        "cpu_s_per_1000": round(cpu / sizes.publish * 1000, 3),
        "peak_rss_mib": server.peak_rss_mib(),
        "sequential": summary_ms(sequential.latencies),
    }


async def run(lab: Lab, sizes: Sizes, report: Report) -> None:
    await lab.clean()
    hookstream = await _measure(*await lab.ingress(), sizes)
    await lab.clean()
    ceiling = await _measure(*await lab.bare_xadd(), sizes)
    share = ratio(hookstream["per_second"], ceiling["per_second"])
    p50 = ratio(hookstream["sequential"]["p50_ms"], ceiling["sequential"]["p50_ms"])
    report.data[NAME] = {
        "count": sizes.publish,
        "concurrency": sizes.publish_concurrency,
        "hookstream": hookstream,
        "ceiling_bare_xadd": ceiling,
        "ratio": share,
        "sequential_p50_ratio": p50,
    }
    for who, numbers in (("hookstream", hookstream), ("bare XADD", ceiling)):
        report.add(NAME, f"{who} req/s", numbers["per_second"], "req/s")
        report.add(NAME, f"{who} p50", numbers["p50_ms"], "ms")
        report.add(NAME, f"{who} p99", numbers["p99_ms"], "ms")
        report.add(NAME, f"{who} CPU per 1,000", numbers["cpu_s_per_1000"], "s")
        report.add(NAME, f"{who} sequential p50", numbers["sequential"]["p50_ms"], "ms")
        if numbers["errors"]:
            report.add(NAME, f"{who} non-201 answers", numbers["errors"], "", "0", False)
    report.add(NAME, "hookstream / bare XADD", share, "x", f">= {TARGET}", share >= TARGET)
    report.add(
        NAME, "sequential p50 / bare XADD's", p50, "x", f"<= {SEQUENTIAL_TARGET}",
        p50 <= SEQUENTIAL_TARGET,
    )  # fmt: skip
    report.add(NAME, "ingress peak RSS", hookstream["peak_rss_mib"], "MiB")
