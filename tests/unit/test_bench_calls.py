"""`bench calls` turns two profiles into calls per message, start-up left out."""

from __future__ import annotations

import cProfile
from pathlib import Path

from bench.calls import per_message, report


def per_message_work() -> None:
    sum(range(10))


def start_up() -> None:
    pass


def _profile(path: Path, messages: int) -> Path:
    profiler = cProfile.Profile()
    profiler.enable()
    start_up()
    for _ in range(messages):
        per_message_work()
    profiler.disable()
    profiler.dump_stats(str(path))
    return path


def test_calls_per_message_leave_start_up_out(tmp_path: Path) -> None:
    counts = per_message(_profile(tmp_path / "a", 10), _profile(tmp_path / "b", 60), 50)
    work = next(v for k, v in counts.items() if k.endswith("(per_message_work)"))
    once = next(v for k, v in counts.items() if k.endswith("(start_up)"))
    assert work[0] == 1.0
    assert once[0] == 0.0
    summed = next(v for k, v in counts.items() if "sum" in k and k.startswith("~:0("))
    assert summed[0] == 1.0


def test_the_report_ranks_python_functions_beyond_the_ceiling() -> None:
    ours = {"a.py:1(extra)": (2.0, 9.0), "a.py:2(shared)": (1.0, 5.0), "~:0(<len>)": (4.0, 1.0)}
    ceiling = {"a.py:2(shared)": (1.0, 5.0), "~:0(<len>)": (1.0, 0.2)}
    text = report("worker", ours, ceiling)
    assert text.splitlines()[0] == (
        "worker: 3 Python calls against the ceiling's 1 (3.00x), "
        "and 4 calls of C functions against 1"
    )
    rows = text.splitlines()[2:]
    assert rows[0].endswith("a.py:1(extra)")
    assert not any("<len>" in row for row in rows)
