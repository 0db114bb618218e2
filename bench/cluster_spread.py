"""`python -m bench.cluster_spread [N]`: one Redis vs a local 3-master cluster, by 1/2/4 workers.

For each topology and W real worker processes (`python -m workers`, started by bench/lab.py):

- a drain: N messages (default 3000) stored through the publish script while the workers run,
  measured at the sink (deliveries/s, worker CPU per delivery) and on each master (server CPU
  from INFO cpu, EVALSHA calls from INFO commandstats, routing errors from INFO errorstats);
- paced publish-to-delivery latency through one ingress process (p50/p99);
- then the Redis commands/s the W idle workers cost at P = 48 (the idle scenario's measure).

Masters, workers, sink and bench share this machine's cores, so deliveries/s and latency
are absolute figures of this box only; the per-master CPU against the single node's, the
spread of script calls and the client CPU against the single-node client's are the ratios
that carry over (docs/scaling.md).
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import uvloop

from bench.lab import Lab
from bench.loadgen import paced
from bench.measure import measure_drain
from bench.proc import background_busy
from bench.report import Report, number
from bench.scenarios import idle
from bench.sizes import Sizes
from bench.stats import ratio, summary_ms
from tests.support.cluster import ROUTING_ERRORS, LocalCluster, started

RESULTS = Path(__file__).parent / "results"
PARTITIONS = 48
WORKERS = (1, 2, 4)
PACED_RATE = 300
PACED_COUNT = 900
IDLE_SECONDS = Sizes().idle_seconds  # the idle scenario's window: one round of each loop
TOPOLOGIES = ("1 node", "3 masters")


async def master_stats(lab: Lab) -> list[dict[str, float]]:
    """Per master, counters so far: server CPU seconds, EVALSHA calls, routing errors."""
    found = []
    for node in lab.nodes:
        cpu, commands = await node.info("cpu"), await node.info("commandstats")
        errors = await node.info("errorstats")
        found.append({
            "cpu": float(cpu["used_cpu_sys"]) + float(cpu["used_cpu_user"]),
            "evalsha": commands.get("cmdstat_evalsha", {}).get("calls", 0),
            "routing_errors": sum(errors.get(f"errorstat_{n}", {}).get("count", 0)
                                  for n in ROUTING_ERRORS),
        })  # fmt: skip
    return found


def per_master(
    before: Sequence[dict[str, float]], after: Sequence[dict[str, float]], deliveries: int
) -> list[dict[str, float]]:
    """What each master spent on `deliveries`: CPU ms per 1,000, EVALSHA calls and their
    share of all masters' calls, routing errors."""
    spent = [{k: a[k] - b[k] for k in a} for b, a in zip(before, after, strict=True)]
    calls = sum(s["evalsha"] for s in spent)
    return [
        {
            "server_cpu_ms_per_1k": round(s["cpu"] / max(1, deliveries) * 1e6, 1),
            "evalsha": int(s["evalsha"]),
            "evalsha_share": round(s["evalsha"] / calls, 3) if calls else 0.0,
            "routing_errors": int(s["routing_errors"]),
        }
        for s in spent
    ]


async def cell(lab: Lab, workers: int, count: int) -> dict[str, Any]:
    """One topology and W: the drain, the paced latency, then the idle cost."""
    await lab.clean()
    roles = lab.workers(workers)
    await asyncio.gather(*(role.wait_ready() for role in roles))
    _, endpoint = await lab.ingress()
    before = await master_stats(lab)
    drain, _ = await asyncio.gather(measure_drain(lab, roles, count), lab.queue_messages(count))
    masters = per_master(before, await master_stats(lab), count)
    await lab.sink.reset()
    await paced(endpoint, PACED_RATE, PACED_COUNT)
    await lab.sink.wait_delivered(PACED_COUNT, max_wait=PACED_COUNT / PACED_RATE + 30)
    records = await lab.sink.records()
    latency = summary_ms([at - sent for at, sent in zip(records.at, records.sent, strict=True)])
    quiet = await idle.measure(lab, workers, PARTITIONS, IDLE_SECONDS)
    return {
        "workers": workers,
        "drain": drain.as_dict(),
        "masters": masters,
        "paced": {"rate": PACED_RATE, "count": PACED_COUNT, **latency},
        "idle_commands_per_s": quiet["commands_per_second"],
        "idle": quiet,
    }


def matrix(results: dict[str, list[dict[str, Any]]]) -> list[tuple[str, list[str]]]:
    """The printed table: one row per figure, one column per topology and W. Client CPU is
    the worker CPU per delivery over the single node's at the same W."""
    single = {c["workers"]: c["drain"]["cpu_s_per_1000"] for c in results[TOPOLOGIES[0]]}
    cells = [c for topology in TOPOLOGIES for c in results.get(topology, [])]

    def each(figure: Any) -> list[str]:
        return [figure(c) for c in cells]

    def joined(key: str, scale: float = 1.0, digits: int = 0) -> Any:
        return lambda c: " / ".join(f"{m[key] * scale:.{digits}f}" for m in c["masters"])

    return [
        ("deliveries/s", each(lambda c: number(c["drain"]["per_second"]))),
        (f"p50 ms (paced {PACED_RATE}/s)", each(lambda c: number(c["paced"]["p50_ms"]))),
        (f"p99 ms (paced {PACED_RATE}/s)", each(lambda c: number(c["paced"]["p99_ms"]))),
        ("server CPU ms/1,000, per master", each(joined("server_cpu_ms_per_1k"))),
        ("EVALSHA share % per master", each(joined("evalsha_share", 100))),
        ("routing errors", each(lambda c: str(sum(m["routing_errors"] for m in c["masters"])))),
        ("worker CPU ms/1,000", each(lambda c: number(c["drain"]["cpu_s_per_1000"] * 1000))),
        ("worker CPU / 1 node's", each(
            lambda c: number(ratio(c["drain"]["cpu_s_per_1000"], single[c["workers"]])))),
        (f"idle Redis commands/s (P={PARTITIONS})", each(
            lambda c: number(c["idle_commands_per_s"]))),
    ]  # fmt: skip


def render(results: dict[str, list[dict[str, Any]]]) -> str:
    header = [f"{t} W={c['workers']}" for t in TOPOLOGIES for c in results.get(t, [])]
    lines = [("", header), *matrix(results)]
    widths = [max(len(row[1][i]) for row in lines) for i in range(len(header))]
    first = max(len(row[0]) for row in lines)
    return "\n".join(
        "  ".join([label.ljust(first), *(v.rjust(w) for v, w in zip(values, widths, strict=True))])
        for label, values in lines
    )


async def topology(name: str, masters: Sequence[int], count: int) -> list[dict[str, Any]]:
    run_dir = RESULTS / "runs" / f"{time.strftime('%Y%m%dT%H%M%S')}-{name.replace(' ', '-')}"
    async with Lab(run_dir, partitions=PARTITIONS, masters=masters) as lab:
        cells = []
        for workers in WORKERS:
            print(f"[bench-cluster] {name}, W={workers} ...", flush=True)
            cells.append(await cell(lab, workers, count))
        await lab.clean()
        return cells


async def main(count: int) -> None:
    started_at, load_before = time.monotonic(), os.getloadavg()
    background = await background_busy()
    results = {TOPOLOGIES[0]: await topology(TOPOLOGIES[0], (), count)}
    with started(LocalCluster, "hookstream-spread-cluster-") as cluster:
        ports = [node.port for node in cluster.nodes]
        results[TOPOLOGIES[1]] = await topology(TOPOLOGIES[1], ports, count)
    elapsed = round(time.monotonic() - started_at, 1)
    load_after = os.getloadavg()[0]
    print(f"\nbench-cluster: {count} deliveries per cell, P={PARTITIONS}, one run of {elapsed} s,"
          f" {os.cpu_count()} cores, load average {load_before[0]:.2f} before / {load_after:.2f}"
          f" after, {background:.0%} busy with others before\n")  # fmt: skip
    print(render(results))
    report = Report(data={"cluster": results})
    extra = {"command": f"python -m bench.cluster_spread {count}", "seconds": elapsed,
             "deliveries_per_cell": count, "partitions": PARTITIONS,
             "loadavg_at_start": [round(x, 2) for x in load_before],
             "background_busy": background}  # fmt: skip
    print(f"\nresults: {report.write(RESULTS, extra)}")


if __name__ == "__main__":
    uvloop.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 3000))
