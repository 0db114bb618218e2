"""`python -m bench profile --py-spy PATH`: where a worker and the ingress spend their CPU.

py-spy samples the role's process (non-blocking, so the role runs at full speed) during a
drain and during publishes; its collapsed stacks (`--format raw`) are kept under
bench/results/profiles/ and summarised here as the top functions by own time and by
inclusive time. Redis' side comes from INFO commandstats over the same window.
"""

from __future__ import annotations

import asyncio
import collections
import re
import signal
import subprocess
from pathlib import Path

from bench.lab import Lab
from bench.loadgen import closed_loop
from bench.measure import measure_drain
from bench.proc import Role
from bench.sizes import Sizes

TOP = 15
SAMPLE_RATE = 500


# Frames of the main thread's way into the event loop: in every sample, so not informative.
# What uvloop's C code does (polling, socket I/O) shows as own time of Runner.run.
_ENTRY = re.compile(r"runpy|hookstream/cli\.py|__main__\.py|uvloop/__init__\.py|^run \(")
LOOP_FRAME = "Runner.run (runners.py)"


def _parse(frame: str) -> tuple[str, str]:
    """`function (path/to/file.py:123)` → (`function (file.py)`, package `path`)."""
    match = re.match(r"(.*) \((.*?)(?::\d+)?\)$", frame)
    if not match:
        return frame, "?"
    name, path = match.groups()
    package = "uvloop C code" if f"{name} ({Path(path).name})" == LOOP_FRAME else path.split("/")[0]
    return f"{name} ({Path(path).name})", package


def summarise(collapsed: Path) -> str:
    """Own time by package and by function, and inclusive time by function."""
    by_package: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        frames = stack.split(";")
        total += count
        name, package = _parse(frames[-1])
        own[name] += count
        by_package[package] += count
        for frame in set(frames):
            if not _ENTRY.search(frame) and _parse(frame)[0] != LOOP_FRAME:
                inclusive[_parse(frame)[0]] += count
    lines = [f"{total} samples"]
    sections = (("own time by package", by_package), ("own time", own),
                ("inclusive time", inclusive))  # fmt: skip
    for title, counter in sections:
        lines.append(f"\ntop {TOP} by {title}:")
        lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in counter.most_common(TOP)]
    return "\n".join(lines)


class Recording:
    """py-spy attached to one role until stopped."""

    def __init__(self, py_spy: str, role: Role, output: Path) -> None:
        output.parent.mkdir(parents=True, exist_ok=True)
        self.output = output
        self.process = subprocess.Popen(
            [py_spy, "record", "--pid", str(role.pid), "--nonblocking", "--rate",
             str(SAMPLE_RATE), "--format", "raw", "--output", str(output)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip

    async def stop(self) -> str:
        """Stop sampling (py-spy writes its file on SIGINT) and summarise."""
        self.process.send_signal(signal.SIGINT)
        await asyncio.to_thread(self.process.wait, 30)
        return summarise(self.output)


async def _commandstats(lab: Lab) -> str:
    """Every command, costliest first: cheap ones still count as round trips (SCRIPT EXISTS)."""
    stats = await lab.redis.info("commandstats")
    rows = sorted(stats.items(), key=lambda item: -item[1]["usec"])
    return "\n".join(
        f"  {name.removeprefix('cmdstat_'):>12}: {values['calls']:>8} calls, "
        f"{values['usec_per_call']:7.1f} µs/call, {values['usec'] / 1e6:6.2f} s"
        for name, values in rows
    )


async def profile_drain(lab: Lab, py_spy: str, count: int, folder: Path) -> str:
    await lab.clean()
    await lab.queue_messages(count)
    await lab.redis.config_resetstat()
    (worker,) = lab.workers(1)
    await worker.wait_ready()  # imports done: sample the drain, not the start-up
    recording = Recording(py_spy, worker, folder / "worker-drain.txt")
    result = await measure_drain(lab, [worker], count)
    profile = await recording.stop()
    redis_side = await _commandstats(lab)
    return f"worker drain: {result.per_second}/s\n{profile}\n\nredis commandstats:\n{redis_side}"


async def profile_publish(lab: Lab, py_spy: str, sizes: Sizes, folder: Path) -> str:
    await lab.clean()
    ingress, endpoint = await lab.ingress()
    await lab.redis.config_resetstat()
    recording = Recording(py_spy, ingress, folder / "ingress-publish.txt")
    result = await closed_loop(endpoint, sizes.publish, sizes.publish_concurrency)
    profile = await recording.stop()
    redis_side = await _commandstats(lab)
    return f"ingress publish: {result.per_second}/s\n{profile}\n\nredis commandstats:\n{redis_side}"


async def run(lab: Lab, sizes: Sizes, py_spy: str, folder: Path) -> None:
    for report in (
        await profile_drain(lab, py_spy, sizes.drain, folder),
        await profile_publish(lab, py_spy, sizes, folder),
    ):
        print(report, end="\n\n", flush=True)
