"""Drain: N messages queued while no worker runs, then W worker processes empty the queue.

Measured at the sink (first to last arrival). The ceiling is the lean drain of
bench/ceilings.py (XREADGROUP with COUNT, concurrent POSTs, batched acks) in one process over
the same sink; every row of CPU per delivery stands next to the ceiling's.
"""

from __future__ import annotations

from bench import ceilings
from bench.lab import Lab
from bench.measure import DrainResult, measure_drain
from bench.payload import make_body
from bench.report import Report
from bench.sizes import Sizes
from bench.stats import ratio

NAME = "drain"
CEILING_TARGET = 0.67
CPU_TARGET = 1.5
SCALING_TARGET = 1.3


async def hookstream_drain(lab: Lab, count: int, workers: int = 1) -> DrainResult:
    await lab.clean()
    await lab.queue_messages(count)
    return await measure_drain(lab, lab.workers(workers), count)


async def ceiling_drain(lab: Lab, count: int) -> DrainResult:
    await lab.clean()
    await ceilings.fill_stream(lab.redis, [make_body(seq) for seq in range(count)])
    return await measure_drain(lab, [lab.bare_drain()], count)


async def run(lab: Lab, sizes: Sizes, report: Report) -> None:
    # The ceiling runs between the two, so a change of load on the machine hits both alike.
    one = await hookstream_drain(lab, sizes.drain, workers=1)
    ceiling = await ceiling_drain(lab, sizes.drain)
    two = await hookstream_drain(lab, sizes.drain, workers=2)
    share = ratio(one.per_second, ceiling.per_second)
    cpu_share = ratio(one.cpu_s_per_1000, ceiling.cpu_s_per_1000)
    scaling = ratio(two.per_second, one.per_second)
    report.data[NAME] = {
        "count": sizes.drain,
        "hookstream_w1": one.as_dict(),
        "hookstream_w2": two.as_dict(),
        "ceiling_lean_loop": ceiling.as_dict(),
        "ratio_w1_to_ceiling": share,
        "cpu_w1_to_ceiling": cpu_share,
        "scaling_w2_to_w1": scaling,
    }
    for who, result in (("hookstream W=1", one), ("hookstream W=2", two), ("lean loop", ceiling)):
        report.add(NAME, f"{who} deliveries/s", result.per_second, "/s")
        report.add(NAME, f"{who} CPU per 1,000", result.cpu_s_per_1000, "s")
        report.add(NAME, f"{who}: cores busy", result.cores_busy, "cores")
        report.add(NAME, f"{who}: Redis CPU per 1,000", result.others_cpu_s_per_1000["redis"], "s")
        report.add(NAME, f"{who}: machine busy", round(result.machine_busy * 100, 1), "%")
    report.add(NAME, "sink CPU per 1,000 (W=1)", one.others_cpu_s_per_1000["sink"], "s")
    report.add(
        NAME, "W=1 CPU per delivery / lean loop's", cpu_share, "x", f"<= {CPU_TARGET}",
        cpu_share <= CPU_TARGET,
    )  # fmt: skip
    report.add(NAME, "W=1 / lean loop", share, "x", f">= {CEILING_TARGET}", share >= CEILING_TARGET)
    report.add(NAME, "W=2 / W=1", scaling, "x", f">= {SCALING_TARGET}", scaling >= SCALING_TARGET)
    report.add(NAME, "worker peak RSS", one.peak_rss_mib, "MiB")
