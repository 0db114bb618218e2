"""`python -m bench.profiled OUT -m MODULE [ARGS...]`: run MODULE as `__main__` under cProfile and
write its stats to OUT when it exits, for `bench calls` (bench/calls.py).

hookstream's roles stop on SIGTERM by themselves and return. The ceilings run until killed, so a
SIGTERM here writes the stats and exits at once: raising an exception from the handler instead
would be lost whenever the signal lands in a callback that swallows exceptions (a weakref's), and
the process would run on until the SIGKILL, leaving no stats.
"""

from __future__ import annotations

import cProfile
import os
import runpy
import signal
import sys
from pathlib import Path
from types import FrameType


def main() -> None:
    out, flag, module, *args = sys.argv[1:]
    assert flag == "-m", "usage: python -m bench.profiled OUT -m MODULE [ARGS...]"
    sys.argv = [module, *args]
    profiler = cProfile.Profile()

    def write_stats() -> None:
        profiler.disable()
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        profiler.dump_stats(out)

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        write_stats()
        os._exit(0)

    signal.signal(signal.SIGTERM, on_sigterm)
    profiler.enable()
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    finally:
        write_stats()


if __name__ == "__main__":
    main()
