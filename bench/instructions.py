"""`bench instructions`: user-space instructions per delivery of one worker and of the lean
loop, and of the Redis server serving each, counted by callgrind, so a before/after needs no
quiet machine.

Each side drains `small` and then `large` messages in a process of its own under
`valgrind --tool=callgrind`; (Ir(large) - Ir(small)) / (large - small) leaves start-up out.
Two repeats of the same code agree within ~1%, where CPU seconds on this shared machine move
by ±20%. For the server's count (`run_server`) the lab's own server runs under callgrind with
counting off, and only each drain is counted (callgrind_control), the drainers running at
full speed; the same difference leaves their start-up out.

What it does not see, so confirm a change with `make bench` too: kernel time (socket writes),
cache misses, and the real batching. Under callgrind the worker runs ~50x slower than Redis
and the sink, so every read is full and every turn settles dozens: per-batch costs weigh less
than in a real drain. Crypto is overcounted (callgrind hides the CPU's SHA extensions).
"""

from __future__ import annotations

import asyncio
import re
import shutil
import sys
import time
from asyncio.subprocess import PIPE, STDOUT
from collections.abc import Awaitable, Callable
from pathlib import Path

from bench import ceilings
from bench.lab import CONCURRENCY, Lab
from bench.payload import make_body
from bench.proc import Role

MAX_WAIT_SECONDS = 900


CALLGRIND = ["valgrind", "--tool=callgrind"]
Counter = Callable[[Lab, str, int], Awaitable[int]]


def server_lab(run_dir: Path) -> Lab:
    """A lab whose server runs under callgrind, counting nothing until told to."""
    out_dir = (run_dir / "callgrind").resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    launcher = [*CALLGRIND, "--instr-atstart=no", f"--callgrind-out-file={out_dir}/out.%p"]
    return Lab(run_dir, server_launcher=launcher)


async def _drain(lab: Lab, who: str, count: int, launcher: list[str]) -> Role:
    """Store `count` messages for `who` (worker or lean), start it under `launcher` (empty:
    at full speed) and return it once the sink has every delivery."""
    await lab.clean()
    argv = [*launcher, sys.executable]
    env: dict[str, str] = {}
    if who == "lean":
        await ceilings.fill_stream(lab.redis, [make_body(seq) for seq in range(count)])
        argv += ["-m", "bench.ceilings", "drain", lab.url, lab.sink.hook_url, str(CONCURRENCY)]
    else:
        await lab.queue_messages(count)
        env = lab.hookstream_env()
        argv += ["-m", "workers"]
    role = lab.spawn(f"{who}-{count}", argv, env)
    deadline = time.monotonic() + MAX_WAIT_SECONDS
    while (await lab.sink.stats())["delivered"] < count:
        role.check_alive()
        if time.monotonic() > deadline:
            raise TimeoutError(f"{who}: {count} messages not drained in {MAX_WAIT_SECONDS} s")
        await asyncio.sleep(0.5)
    return role


async def _drainer_instructions(lab: Lab, who: str, count: int) -> int:
    """Ir of the drainer itself, run under callgrind."""
    role = await _drain(lab, who, count, [*CALLGRIND, "--callgrind-out-file=/dev/null"])
    await role.stop(grace=120)  # callgrind writes its totals as the process exits
    totals = re.findall(r"Collected : (\d+)", role.log_path.read_text())
    if not totals:
        raise RuntimeError(f"no callgrind total in {role.log_path}")
    return int(totals[-1])


async def _callgrind_control(pid: int, *args: str) -> None:
    process = await asyncio.create_subprocess_exec(
        "callgrind_control", *args, str(pid), stdout=PIPE, stderr=STDOUT
    )
    output, _ = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"callgrind_control {' '.join(args)} {pid}: {output.decode()}")


def _server_counted(out_dir: Path) -> int:
    """The Ir of the server's newest callgrind dump."""
    newest = max(out_dir.glob("out.*"), key=lambda path: path.stat().st_mtime_ns)
    totals = re.findall(r"^(?:summary|totals): (\d+)", newest.read_text(), re.MULTILINE)
    if not totals:
        raise RuntimeError(f"no callgrind total in {newest}")
    return int(totals[-1])


async def _server_instructions(lab: Lab, who: str, count: int) -> int:
    """Ir of the server while `who`, at full speed, drained `count` messages."""
    pid, out_dir = lab.redis_pid, (lab.run_dir / "callgrind").resolve()
    await _callgrind_control(pid, "--zero")
    await _callgrind_control(pid, "--instr=on")
    role = await _drain(lab, who, count, [])
    await _callgrind_control(pid, "--instr=off")
    await role.stop()
    await _callgrind_control(pid, "--dump")
    return _server_counted(out_dir)


async def _per_delivery(lab: Lab, counter: Counter, small: int, large: int) -> dict[str, float]:
    per_delivery = {}
    for who in ("worker", "lean"):
        first = await counter(lab, who, small)
        second = await counter(lab, who, large)
        per_delivery[who] = (second - first) / (large - small)
    return per_delivery | {"ratio": per_delivery["worker"] / per_delivery["lean"]}


def require_valgrind() -> None:
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        sys.exit("valgrind not found: `apt-get install valgrind` (Debian) to count instructions")


async def run(lab: Lab, small: int, large: int) -> dict[str, float]:
    """Instructions per delivery of the worker and of the lean loop, and their ratio."""
    return await _per_delivery(lab, _drainer_instructions, small, large)


async def run_server(lab: Lab, small: int, large: int) -> dict[str, float]:
    """The server's instructions per delivery of each, and their ratio; `lab` comes from
    `server_lab`."""
    return await _per_delivery(lab, _server_instructions, small, large)
