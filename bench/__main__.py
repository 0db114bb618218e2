"""`python -m bench [run|peers|profile|instructions]`: see docs/performance.md.

- run (what `make bench` does): every scenario, one table, JSON under bench/results/;
- peers (what `make bench-peers` does): the drain of hookstream, taskiq and saq side by side;
- profile: py-spy on a worker during a drain and on the ingress during publishes
  (`--py-spy PATH`; py-spy is not a project dependency);
- instructions: callgrind's instruction count per delivery of a worker and of the lean loop,
  per publish of the ingress and of the bare XADD app, and of the Redis server serving each,
  which a noisy machine does not move (needs valgrind);
- calls: Python calls per delivery (worker, lean loop) and per publish (ingress, bare app)
  under cProfile, and the functions with the most calls beyond the ceilings'.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import uvloop

from bench import calls, instructions, profile, targets
from bench.lab import Lab
from bench.peers import run as peers
from bench.proc import background_busy
from bench.report import Report
from bench.scenarios import delay, drain, idle, latency, memory, publish, retry
from bench.sizes import Sizes

RESULTS = Path(__file__).parent / "results"
INSTRUCTIONS_SMALL, INSTRUCTIONS_LARGE = 500, 2500
CALLS_SMALL, CALLS_LARGE = 1000, 6000
COMMANDS = ("run", "peers", "profile", "instructions", "calls")
Scenario = Callable[[Lab, Sizes, Report], Awaitable[None]]
# Drain runs before retry: the retry rows compare with the plain drain.
SCENARIOS: dict[str, Scenario] = {
    "publish": publish.run,
    "drain": drain.run,
    "latency": latency.run,
    "delay": delay.run,
    "retry": retry.run,
    "memory": memory.run,
    "idle": idle.run,
}


async def run_scenarios(scenarios: dict[str, Scenario], sizes: Sizes, title: str) -> None:
    """Run the scenarios on one bench, then print the table and write the JSON file."""
    report = Report()
    started = time.monotonic()
    async with Lab(RESULTS / "runs" / time.strftime("%Y%m%dT%H%M%S")) as lab:
        background = await background_busy()
        for name, scenario in scenarios.items():
            print(f"[bench] {name} ...", flush=True)
            await scenario(lab, sizes, report)
    elapsed = round(time.monotonic() - started, 1)
    print(f"\n{title}: one run of {elapsed} s on a shared machine, {os.cpu_count()} cores, "
          f"{background:.0%} busy with others before it started\n")  # fmt: skip
    print(report.table())
    summary = targets.table(report.data)
    if summary:
        print(f"\ntargets (issue 17), each from this run:\n{summary}")
    extra = {"command": title, "sizes": sizes.__dict__, "seconds": elapsed,
             "background_busy": background, "logs": str(lab.logs),
             "targets": targets.rows(report.data)}  # fmt: skip
    print(f"\nresults: {report.write(RESULTS, extra)}")


async def run_profile(py_spy: str, sizes: Sizes) -> None:
    stamp = time.strftime("%Y%m%dT%H%M%S")
    async with Lab(RESULTS / "runs" / stamp) as lab:
        await profile.run(lab, sizes, py_spy, RESULTS / "profiles" / stamp)


async def run_instructions() -> None:
    instructions.require_valgrind()
    run_dir = RESULTS / "runs" / time.strftime("%Y%m%dT%H%M%S")
    async with Lab(run_dir) as lab:
        own = await instructions.run(lab, INSTRUCTIONS_SMALL, INSTRUCTIONS_LARGE)
    async with instructions.server_lab(run_dir / "server") as lab:
        server = await instructions.run_server(lab, INSTRUCTIONS_SMALL, INSTRUCTIONS_LARGE)
    for what, counts in (("", own), (" of the Redis server serving it", server)):
        print(f"instructions per message{what} (callgrind, {INSTRUCTIONS_LARGE} - "
              f"{INSTRUCTIONS_SMALL} messages): per delivery worker {counts['worker']:,.0f}, "
              f"lean loop {counts['lean']:,.0f}, ratio {counts['worker/lean']:.2f}; "
              f"per sequential publish ingress {counts['ingress']:,.0f}, bare XADD app "
              f"{counts['bare']:,.0f}, ratio {counts['ingress/bare']:.2f}")  # fmt: skip


async def run_calls() -> None:
    stamp = time.strftime("%Y%m%dT%H%M%S")
    async with Lab(RESULTS / "runs" / stamp) as lab:
        print(await calls.run(lab, CALLS_SMALL, CALLS_LARGE, RESULTS / "calls" / stamp))


def _chosen(parser: argparse.ArgumentParser, only: str) -> dict[str, Scenario]:
    names = [name.strip() for name in only.split(",") if name.strip()]
    unknown = set(names) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    return {name: SCENARIOS[name] for name in names}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("command", nargs="?", default="run", choices=COMMANDS)
    parser.add_argument("--only", default=",".join(SCENARIOS), help="comma-separated scenarios")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply message counts")
    parser.add_argument("--peers-python", default="bench/.peers-venv/bin/python")
    parser.add_argument("--py-spy", default="py-spy", help="the py-spy binary (profile)")
    args = parser.parse_args()
    sizes = Sizes().scaled(args.scale)
    if args.command == "run":
        uvloop.run(run_scenarios(_chosen(parser, args.only), sizes, "hookstream bench"))
    elif args.command == "peers":
        if not Path(args.peers_python).exists():
            sys.exit(f"{args.peers_python} not found: `make bench-peers` creates the peers' venv")
        scenario = functools.partial(peers.run, python=args.peers_python)
        uvloop.run(run_scenarios({"peers": scenario}, sizes, "hookstream vs peers"))
    elif args.command == "profile":
        uvloop.run(run_profile(args.py_spy, sizes))
    elif args.command == "calls":
        uvloop.run(run_calls())
    else:
        uvloop.run(run_instructions())


if __name__ == "__main__":
    main()
