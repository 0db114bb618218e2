"""Drain measurement at the sink, shared by hookstream, the ceiling and the peers."""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict, dataclass
from typing import Any

from bench.lab import Lab
from bench.proc import Role, cpu_seconds, machine_jiffies

POLL_SECONDS = 0.02


@dataclass(frozen=True)
class DrainResult:
    """Deliveries/s between the first and last arrival, CPU per 1,000 and peak memory.

    `others_cpu_s_per_1000` is what the sink and Redis spent meanwhile, and `machine_busy`
    the busy share of all cores: on two cores they tell how much was left for the workers.
    """

    deliveries: int
    seconds: float
    per_second: float
    cpu_s_per_1000: float
    peak_rss_mib: float
    others_cpu_s_per_1000: dict[str, float]
    machine_busy: float

    @property
    def cores_busy(self) -> float:
        """The cores the measured processes kept busy: CPU per delivery x deliveries/s. A
        drainer of one process below 1.0 waited for something with work in flight (the
        sink, Redis, or a core), however cheap its deliveries are."""
        return round(self.cpu_s_per_1000 * self.per_second / 1000, 2)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"cores_busy": self.cores_busy}


def drain_timeout(count: int) -> float:
    """Generous: even a drain at 100 deliveries/s must finish, but nothing runs forever."""
    return 30 + count / 100


def _cpu(roles: list[Role], others: dict[str, int]) -> dict[str, float]:
    mine = {"roles": sum(role.cpu_seconds() for role in roles)}
    busy, total = machine_jiffies()
    return (
        mine
        | {name: cpu_seconds(pid) for name, pid in others.items()}
        | {
            "_busy": busy,
            "_total": total,
        }
    )


async def measure_drain(lab: Lab, roles: list[Role], count: int) -> DrainResult:
    """Wait until the sink got `count` deliveries from `roles`, started just before.

    CPU is counted from the first 2% of the deliveries on, so interpreter start-up and
    imports (half a CPU second) are not charged to the deliveries.
    """
    max_wait = drain_timeout(count)
    deadline = time.monotonic() + max_wait
    baseline: tuple[int, dict[str, float]] | None = None
    while True:
        for role in roles:
            role.check_alive()
        stats = await lab.sink.stats()
        if baseline is None and stats["delivered"] >= max(1, count // 50):
            baseline = stats["delivered"], _cpu(roles, lab.bystanders)
        if stats["delivered"] >= count:
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"drain: {stats['delivered']}/{count} after {max_wait}s")
        await asyncio.sleep(POLL_SECONDS)
    assert baseline is not None
    measured = max(1, stats["delivered"] - baseline[0])
    spent = {name: value - baseline[1][name] for name, value in _cpu(roles, lab.bystanders).items()}
    machine_busy = round(spent.pop("_busy") / max(1, spent.pop("_total")), 3)
    cpu = {name: round(value / measured * 1000, 3) for name, value in spent.items()}
    seconds = stats["last"] - stats["first"]
    return DrainResult(
        deliveries=stats["delivered"],
        seconds=round(seconds, 3),
        per_second=round((stats["delivered"] - 1) / seconds, 1) if seconds else 0.0,
        cpu_s_per_1000=cpu.pop("roles"),
        peak_rss_mib=max(role.peak_rss_mib() for role in roles),
        others_cpu_s_per_1000=cpu,
        machine_busy=machine_busy,
    )
