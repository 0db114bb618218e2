"""`bench calls`: Python function calls per delivery of a worker against the lean loop, and per
publish of the ingress against the bare XADD app, counted by cProfile, and the functions with
the most own time beyond the ceiling's.

Like the instruction count (bench/instructions.py) this does not move with the machine's load,
and it names the Python functions the extra work is in. Each side handles `small` and then
`large` messages in a fresh process under `python -m bench.profiled`; the difference over
`large - small` leaves start-up out. Publishes come from one sequential client. The counts
move little from run to run (only calls made once per read or per flush depend on how many
messages share one); cProfile's own times are not CPU seconds (it adds ~0.3 µs to every call,
so call-heavy code looks slower than it is), but they rank the functions.
"""

from __future__ import annotations

import pstats
import sys
from pathlib import Path

from bench import ceilings
from bench.lab import Lab
from bench.loadgen import closed_loop
from bench.measure import measure_drain
from bench.payload import make_body

TOP = 25
# (calls, own µs) per message, by `file:line(function)`
PerMessage = dict[str, tuple[float, float]]


def _profiled(out: Path) -> tuple[str, ...]:
    """The launcher that runs a role's module under bench/profiled.py, stats to `out`."""
    return (sys.executable, "-m", "bench.profiled", str(out), "-m")


async def _drained(lab: Lab, who: str, count: int, folder: Path) -> Path:
    """The stats of a worker (`who` = worker) or the lean loop that drained `count`."""
    await lab.clean()
    out = folder / f"{who}-{count}.prof"
    if who == "lean":
        await ceilings.fill_stream(lab.redis, [make_body(seq) for seq in range(count)])
        role = lab.bare_drain(_profiled(out))
    else:
        await lab.queue_messages(count)
        (role,) = lab.workers(1, _profiled(out))
    await measure_drain(lab, [role], count)
    await role.stop(grace=60)
    return out


async def _published(lab: Lab, who: str, count: int, folder: Path) -> Path:
    """The stats of the ingress (`who` = ingress) or the bare app after `count` publishes."""
    await lab.clean()
    out = folder / f"{who}-{count}.prof"
    launch = lab.bare_xadd if who == "bare" else lab.ingress
    role, endpoint = await launch(_profiled(out))
    await closed_loop(endpoint, count, 1)
    await role.stop(grace=60)
    return out


def per_message(small: Path, large: Path, messages: int) -> PerMessage:
    """Calls and own µs per message of each function: (large - small) / messages."""
    before = pstats.Stats(str(small)).stats  # type: ignore[attr-defined]
    after = pstats.Stats(str(large)).stats  # type: ignore[attr-defined]
    counts: PerMessage = {}
    for key, (_, calls, own, _, _) in after.items():
        old_calls, old_own = before[key][1:3] if key in before else (0, 0.0)
        name = f"{Path(key[0]).name}:{key[1]}({key[2]})"
        counts[name] = ((calls - old_calls) / messages, (own - old_own) / messages * 1e6)
    return counts


def _is_builtin(name: str) -> bool:
    return name.startswith("~:0(")  # how pstats names a C function or method


def report(title: str, ours: PerMessage, ceiling: PerMessage) -> str:
    """Totals, then the Python functions with the most own time beyond the ceiling's (the C
    functions they call, `len` and `isinstance` and the like, are summed in the totals)."""

    def total(counts: PerMessage, builtin: bool) -> float:
        return sum(c for name, (c, _) in counts.items() if _is_builtin(name) == builtin)

    python, ceiling_python = total(ours, False), total(ceiling, False)
    lines = [
        f"{title}: {python:.0f} Python calls against the ceiling's {ceiling_python:.0f} "
        f"({python / ceiling_python:.2f}x), and {total(ours, True):.0f} calls of C functions "
        f"against {total(ceiling, True):.0f}",
        f"  {'calls':>6} {'ceiling':>7} {'own µs':>7}  Python function, by own time beyond the "
        "ceiling's",
    ]
    zero = (0.0, 0.0)
    python_names = [name for name in ours if not _is_builtin(name)]
    python_names.sort(key=lambda name: ceiling.get(name, zero)[1] - ours[name][1])
    for name in python_names[:TOP]:
        (calls, own), (ceiling_calls, _) = ours[name], ceiling.get(name, zero)
        lines.append(f"  {calls:6.2f} {ceiling_calls:7.2f} {own:7.2f}  {name}")
    return "\n".join(lines)


async def run(lab: Lab, small: int, large: int, folder: Path) -> str:
    stats: dict[str, PerMessage] = {}
    for who in ("worker", "lean"):
        first = await _drained(lab, who, small, folder)
        stats[who] = per_message(first, await _drained(lab, who, large, folder), large - small)
    for who in ("ingress", "bare"):
        first = await _published(lab, who, small, folder)
        stats[who] = per_message(first, await _published(lab, who, large, folder), large - small)
    return "\n\n".join([
        report("worker, per delivery", stats["worker"], stats["lean"]),
        report("ingress, per sequential publish", stats["ingress"], stats["bare"]),
    ])  # fmt: skip
