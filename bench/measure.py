"""Drain measurement at the sink, shared by hookstream, the ceiling and the peers."""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict, dataclass
from typing import Any

from bench.proc import Role
from bench.sink import SinkClient

POLL_SECONDS = 0.02


@dataclass(frozen=True)
class DrainResult:
    """Deliveries/s between the first and last arrival, CPU per 1,000 and peak memory."""

    deliveries: int
    seconds: float
    per_second: float
    cpu_s_per_1000: float
    peak_rss_mib: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _cpu(roles: list[Role]) -> float:
    return sum(role.cpu_seconds() for role in roles)


async def measure_drain(
    sink: SinkClient, roles: list[Role], count: int, max_wait: float
) -> DrainResult:
    """Wait until the sink got `count` deliveries from `roles`, started just before.

    CPU is counted from the first 2% of the deliveries on, so interpreter start-up and
    imports (half a CPU second) are not charged to the deliveries.
    """
    deadline = time.monotonic() + max_wait
    baseline: tuple[int, float] | None = None
    while True:
        for role in roles:
            role.check_alive()
        stats = await sink.stats()
        if baseline is None and stats["delivered"] >= max(1, count // 50):
            baseline = stats["delivered"], _cpu(roles)
        if stats["delivered"] >= count:
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"drain: {stats['delivered']}/{count} after {max_wait}s")
        await asyncio.sleep(POLL_SECONDS)
    assert baseline is not None
    cpu_per_delivery = (_cpu(roles) - baseline[1]) / max(1, stats["delivered"] - baseline[0])
    seconds = stats["last"] - stats["first"]
    return DrainResult(
        deliveries=stats["delivered"],
        seconds=round(seconds, 3),
        per_second=round((stats["delivered"] - 1) / seconds, 1) if seconds else 0.0,
        cpu_s_per_1000=round(cpu_per_delivery * 1000, 3),
        peak_rss_mib=max(role.peak_rss_mib() for role in roles),
    )
