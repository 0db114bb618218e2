"""`bench instructions`: user-space instructions per delivery of one worker and of the lean
loop, counted by callgrind, so a before/after needs no quiet machine.

Each side drains `small` and then `large` messages in a process of its own under
`valgrind --tool=callgrind`; (Ir(large) - Ir(small)) / (large - small) leaves start-up out.
Two repeats of the same code agree within ~1%, where CPU seconds on this shared machine move
by ±20%.

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

from bench import ceilings
from bench.lab import CONCURRENCY, Lab
from bench.payload import make_body

MAX_WAIT_SECONDS = 900


async def _instructions(lab: Lab, who: str, count: int) -> int:
    """Ir of one process (`who`: worker or lean) that drained `count` messages."""
    await lab.clean()
    argv = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable]
    env: dict[str, str] = {}
    if who == "lean":
        await ceilings.fill_stream(lab.redis, [make_body(seq) for seq in range(count)])
        argv += ["-m", "bench.ceilings", "drain", lab.server.url, lab.sink.hook_url]
        argv.append(str(CONCURRENCY))
    else:
        await lab.queue_messages(count)
        env = lab.hookstream_env()
        argv += ["-m", "workers"]
    role = lab.spawn(f"callgrind-{who}-{count}", argv, env)
    deadline = time.monotonic() + MAX_WAIT_SECONDS
    while (await lab.sink.stats())["delivered"] < count:
        role.check_alive()
        if time.monotonic() > deadline:
            raise TimeoutError(f"{who} under callgrind: not drained in {MAX_WAIT_SECONDS} s")
        await asyncio.sleep(0.5)
    await role.stop(grace=120)  # callgrind writes its totals as the process exits
    totals = re.findall(r"Collected : (\d+)", role.log_path.read_text())
    if not totals:
        raise RuntimeError(f"no callgrind total in {role.log_path}")
    return int(totals[-1])


async def run(lab: Lab, small: int, large: int) -> dict[str, float]:
    """Instructions per delivery of the worker and of the lean loop, and their ratio."""
    if shutil.which("valgrind") is None:
        sys.exit("valgrind not found: `apt-get install valgrind` (Debian) to count instructions")
    per_delivery = {}
    for who in ("worker", "lean"):
        first = await _instructions(lab, who, small)
        second = await _instructions(lab, who, large)
        per_delivery[who] = (second - first) / (large - small)
    return per_delivery | {"ratio": per_delivery["worker"] / per_delivery["lean"]}
