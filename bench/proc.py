"""Child processes of a run: start, wait until ready, account CPU and memory, stop.

CPU and memory come from /proc (Linux only, like the rest of the bench) and cover the whole
process tree, because some peers (taskiq) run their worker as a child of a supervisor.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp

_TICKS = os.sysconf("SC_CLK_TCK")


class RoleFailed(RuntimeError):
    """A child process exited early or never became ready."""


def _children(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as handle:
                found += [int(child) for child in handle.read().split()]
    return found


def process_tree(pid: int) -> list[int]:
    """`pid` and all its descendants that are alive now."""
    tree, pending = [], [pid]
    while pending:
        current = pending.pop()
        tree.append(current)
        pending += _children(current)
    return tree


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of the process tree so far (exited children not included)."""
    total = 0
    for member in process_tree(pid):
        with contextlib.suppress(OSError), open(f"/proc/{member}/stat") as handle:
            # The command name may contain spaces: fields are counted after its ')'.
            fields = handle.read().rpartition(")")[2].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / _TICKS


def machine_jiffies() -> tuple[int, int]:
    """(busy, total) CPU time of the whole machine so far, from /proc/stat."""
    with open("/proc/stat") as handle:
        values = [int(v) for v in handle.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


async def background_busy(seconds: float = 1.0) -> float:
    """Share of the machine's CPU busy while we do nothing: other users of a shared box."""
    busy, total = machine_jiffies()
    await asyncio.sleep(seconds)
    busy_after, total_after = machine_jiffies()
    return round((busy_after - busy) / max(1, total_after - total), 3)


def _status_kib(pid: int, field_name: str) -> int:
    with contextlib.suppress(OSError), open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    return 0


def peak_rss_mib(pid: int) -> float:
    """Peak resident memory (VmHWM) summed over the process tree."""
    return round(sum(_status_kib(member, "VmHWM") for member in process_tree(pid)) / 1024, 1)


@dataclass
class Role:
    """One started child process; its output goes to `log_path`."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    ready_url: str = ""

    @property
    def pid(self) -> int:
        return self.process.pid

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pid)

    def peak_rss_mib(self) -> float:
        return peak_rss_mib(self.pid)

    def _failed(self) -> RoleFailed:
        tail = self.log_path.read_text(errors="replace")[-2000:]
        return RoleFailed(f"{self.name} exited with {self.process.returncode}:\n{tail}")

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise self._failed()

    async def finish(self) -> None:
        """Wait for a one-shot command (an enqueue); raise with its output if it failed."""
        if await asyncio.to_thread(self.process.wait) != 0:
            raise self._failed()

    async def wait_ready(self, max_wait: float = 20.0) -> Role:
        """Poll `ready_url` until it answers 200 (a health endpoint of the role)."""
        deadline = time.monotonic() + max_wait
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                self.check_alive()
                with contextlib.suppress(aiohttp.ClientError, OSError):
                    async with session.get(self.ready_url) as answer:
                        if answer.status == 200:
                            return self
                await asyncio.sleep(0.05)
        raise RoleFailed(f"{self.name} not ready after {max_wait}s; see {self.log_path}")

    async def stop(self, grace: float = 10.0) -> None:
        """SIGTERM to the process group (supervised peers included), then SIGKILL if late."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                await asyncio.to_thread(self.process.wait, grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                await asyncio.to_thread(self.process.wait)


def spawn(
    name: str, argv: list[str], env: dict[str, str], log_dir: Path, ready_url: str = ""
) -> Role:
    """Start `argv` in its own process group (so stop() reaches its children too)."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    with log_path.open("ab") as log_file:
        process = subprocess.Popen(
            argv,
            env={**os.environ, **env},
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Role(name, process, log_path, ready_url)
