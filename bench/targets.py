"""The target table of issue 17: each figure a ratio (or a bound) from this one run, with the
absolute figures it comes from. Rows whose scenario did not run are left out."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.report import number

Data = dict[str, Any]


@dataclass(frozen=True)
class Target:
    figure: str
    scenario: str
    value: Callable[[Data], float]
    detail: Callable[[Data], str]
    bound: str
    met: Callable[[float], bool]


def _drain(d: Data, key: str) -> Any:
    return d["drain"][key]


def _idle(d: Data, workers: int, partitions: int) -> Data:
    return next(r for r in d["idle"] if (r["workers"], r["partitions"]) == (workers, partitions))


def _idle_detail(d: Data) -> str:
    at4, at48 = _idle(d, 4, 4), _idle(d, 4, 48)
    return (
        f"P=4: {at4['commands_per_second']:g}/s, {at4['cpu_percent_of_a_core']:g}% core; "
        f"P=48: {at48['commands_per_second']:g}/s, {at48['cpu_percent_of_a_core']:g}% core"
    )


TARGETS = (
    Target(
        "worker CPU per delivery / lean loop's", "drain",
        lambda d: _drain(d, "cpu_w1_to_ceiling"),
        lambda d: f"{_drain(d, 'hookstream_w1')['cpu_s_per_1000']:.3f} / "
        f"{_drain(d, 'ceiling_lean_loop')['cpu_s_per_1000']:.3f} ms",
        "<= 1.5", lambda v: v <= 1.5,
    ),
    Target(
        "drain deliveries/s, W=1 / lean loop", "drain",
        lambda d: _drain(d, "ratio_w1_to_ceiling"),
        lambda d: f"{_drain(d, 'hookstream_w1')['per_second']:,.0f} / "
        f"{_drain(d, 'ceiling_lean_loop')['per_second']:,.0f} /s",
        ">= 0.67", lambda v: v >= 0.67,
    ),
    Target(
        "publish req/s at c=64 / bare XADD app", "publish",
        lambda d: d["publish"]["ratio"],
        lambda d: f"{d['publish']['hookstream']['per_second']:,.0f} / "
        f"{d['publish']['ceiling_bare_xadd']['per_second']:,.0f} req/s",
        ">= 0.8", lambda v: v >= 0.8,
    ),
    Target(
        "sequential publish p50 / bare app's", "publish",
        lambda d: d["publish"]["sequential_p50_ratio"],
        lambda d: f"{d['publish']['hookstream']['sequential']['p50_ms']:.3f} / "
        f"{d['publish']['ceiling_bare_xadd']['sequential']['p50_ms']:.3f} ms",
        "<= 1.3", lambda v: v <= 1.3,
    ),
    Target(
        "paced 200 msg/s, publish-to-delivery p99 (ms)", "paced e2e",
        lambda d: d["paced e2e"]["p99_ms"],
        lambda d: f"p50 {d['paced e2e']['p50_ms']:.2f} ms",
        "<= 5", lambda v: v <= 5,
    ),
    Target(
        "idle, 4 workers: Redis commands/s", "idle",
        lambda d: _idle(d, 4, 4)["commands_per_second"], _idle_detail,
        "<= 20", lambda v: v <= 20,
    ),
    Target(
        "idle, 4 workers: worker CPU (% of a core)", "idle",
        lambda d: _idle(d, 4, 4)["cpu_percent_of_a_core"], _idle_detail,
        "<= 1", lambda v: v <= 1,
    ),
    Target(
        "delay lateness p99 (ms)", "delay",
        lambda d: d["delay"]["upstash_delay"]["p99_ms"],
        lambda d: f"early: {d['delay']['early']}",
        "<= 20, 0 early", lambda v: v <= 20,
    ),
)  # fmt: skip


def rows(data: Data) -> list[dict[str, Any]]:
    """The target rows of the scenarios that ran, as values for the JSON file."""
    found = []
    for target in TARGETS:
        if target.scenario not in data:
            continue
        value = target.value(data)
        met = target.met(value)
        if target.scenario == "delay":
            met = met and data["delay"]["early"] == 0
        found.append({"figure": target.figure, "value": value, "detail": target.detail(data),
                      "target": target.bound, "met": met})  # fmt: skip
    return found


def table(data: Data) -> str:
    found = rows(data)
    if not found:
        return ""
    lines = [(r["figure"], number(r["value"]), r["detail"], r["target"],
              "ok" if r["met"] else "MISS") for r in found]  # fmt: skip
    header = ("figure", "value", "from", "target", "")
    widths = [max(len(line[i]) for line in [header, *lines]) for i in range(len(header))]
    text = ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
            for line in [header, *lines]]  # fmt: skip
    return "\n".join([text[0], "-" * len(text[0]), *text[1:]])
