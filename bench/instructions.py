"""`bench instructions`: user-space instructions per delivery of one worker and of the lean
loop, per sequential publish of the ingress and of the bare XADD app, and of the Redis server
serving each, counted by callgrind, so a before/after needs no quiet machine.

Each side handles `small` and then `large` messages in a process of its own under
`valgrind --tool=callgrind`; (Ir(large) - Ir(small)) / (large - small) leaves start-up out.
Two repeats of the same code agree within ~1-2.5%, where CPU seconds on this shared machine move
by ±20%. For the server's count (`run_server`) the lab's own server runs under callgrind with
counting off, and only the deliveries or publishes are counted (callgrind_control; the messages
a drain starts from are stored before), the roles running at full speed; the same difference
leaves their start-up out. Publishes come from one sequential client, which is not counted.

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
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from bench import ceilings
from bench.lab import RUN_MODULE, Lab
from bench.loadgen import closed_loop
from bench.payload import make_body
from bench.proc import Role

MAX_WAIT_SECONDS = 900


CALLGRIND = ["valgrind", "--tool=callgrind"]
Counter = Callable[[Lab, str, int], Awaitable[int]]
Counts = dict[str, float]
# (hookstream's role, its ceiling)
DRAINERS, PUBLISHERS = ("worker", "lean"), ("ingress", "bare")


def server_lab(run_dir: Path) -> Lab:
    """A lab whose server runs under callgrind, counting nothing until told to."""
    out_dir = (run_dir / "callgrind").resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    launcher = [*CALLGRIND, "--instr-atstart=no", f"--callgrind-out-file={out_dir}/out.%p"]
    return Lab(run_dir, server_launcher=launcher)


async def _prepare(lab: Lab, who: str, count: int) -> None:
    """A clean lab, and the `count` messages a drainer (worker or lean) starts from."""
    await lab.clean()
    if who == "lean":
        await ceilings.fill_stream(lab.redis, [make_body(seq) for seq in range(count)])
    elif who == "worker":
        await lab.queue_messages(count)


async def _exercise(lab: Lab, who: str, count: int, launcher: Sequence[str]) -> Role:
    """Start `who` under `launcher` and return it, still running, once it has delivered
    (worker, lean) or answered (ingress, bare) `count` messages."""
    if who in PUBLISHERS:
        launch = lab.bare_xadd if who == "bare" else lab.ingress
        role, endpoint = await launch(launcher, MAX_WAIT_SECONDS)
        published = await closed_loop(endpoint, count, 1)
        if published.errors:
            raise RuntimeError(f"{who}: {published.errors} of {count} publishes failed")
        return role
    role = lab.bare_drain(launcher) if who == "lean" else lab.workers(1, launcher)[0]
    deadline = time.monotonic() + MAX_WAIT_SECONDS
    while (await lab.sink.stats())["delivered"] < count:
        role.check_alive()
        if time.monotonic() > deadline:
            raise TimeoutError(f"{who}: {count} messages not drained in {MAX_WAIT_SECONDS} s")
        await asyncio.sleep(0.5)
    return role


async def _own_instructions(lab: Lab, who: str, count: int) -> int:
    """Ir of the role itself, run under callgrind."""
    await _prepare(lab, who, count)
    launcher = [*CALLGRIND, "--callgrind-out-file=/dev/null", *RUN_MODULE]
    role = await _exercise(lab, who, count, launcher)
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
    """Ir of the server while `who`, at full speed, handled `count` messages."""
    pid, out_dir = lab.redis_pid, (lab.run_dir / "callgrind").resolve()
    await _prepare(lab, who, count)
    await _callgrind_control(pid, "--zero")
    await _callgrind_control(pid, "--instr=on")
    role = await _exercise(lab, who, count, RUN_MODULE)
    await _callgrind_control(pid, "--instr=off")
    await role.stop()
    await _callgrind_control(pid, "--dump")
    return _server_counted(out_dir)


async def _per_message(lab: Lab, counter: Counter, small: int, large: int) -> Counts:
    """Per message of each side, and hookstream's over its ceiling's."""
    counts: Counts = {}
    for ours, ceiling in (DRAINERS, PUBLISHERS):
        for who in (ours, ceiling):
            first = await counter(lab, who, small)
            counts[who] = (await counter(lab, who, large) - first) / (large - small)
        counts[f"{ours}/{ceiling}"] = counts[ours] / counts[ceiling]
    return counts


def require_valgrind() -> None:
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        sys.exit("valgrind not found: `apt-get install valgrind` (Debian) to count instructions")


async def run(lab: Lab, small: int, large: int) -> Counts:
    """Instructions per message of each role, and the ratios to the ceilings."""
    return await _per_message(lab, _own_instructions, small, large)


async def run_server(lab: Lab, small: int, large: int) -> Counts:
    """The server's instructions per message of each, and the ratios; `lab` comes from
    `server_lab`."""
    return await _per_message(lab, _server_instructions, small, large)
