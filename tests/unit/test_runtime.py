"""broker/runtime.py: a role's process runs with the collector settings the docs measure, and
still frees cyclic garbage. Each check runs in a fresh interpreter, so the test process's
own collector is left alone."""

from __future__ import annotations

import json
import subprocess
import sys

from broker.runtime import YOUNG_GENERATION_THRESHOLD


def _in_fresh_python(code: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    return json.loads(done.stdout)


def test_run_freezes_start_up_and_raises_the_young_threshold() -> None:
    seen = _in_fresh_python(
        "import gc, json\n"
        "from broker import runtime\n"
        "async def main():\n"
        "    print(json.dumps({'threshold': gc.get_threshold()[0],"
        " 'frozen': gc.get_freeze_count(), 'enabled': gc.isenabled()}))\n"
        "runtime.run(main())\n"
    )
    assert seen["threshold"] == YOUNG_GENERATION_THRESHOLD
    assert seen["enabled"] is True
    # The interpreter and the imported modules: tens of thousands of objects.
    frozen = seen["frozen"]
    assert isinstance(frozen, int)
    assert frozen > 10_000


def test_cyclic_garbage_is_still_collected() -> None:
    seen = _in_fresh_python(
        "import gc, json, weakref\n"
        "from broker import runtime\n"
        "runtime.tune_gc()\n"
        "class Node:\n"
        "    pass\n"
        "def cycle():\n"
        "    a, b = Node(), Node()\n"
        "    a.other, b.other = b, a\n"
        "    return weakref.ref(a)\n"
        "first = cycle()\n"
        # Allocations past the threshold, all freed at once, and cycles of their own.
        f"for _ in range({YOUNG_GENERATION_THRESHOLD} * 2):\n"
        "    cycle()\n"
        "print(json.dumps({'first_freed': first() is None}))\n"
    )
    assert seen["first_freed"] is True
