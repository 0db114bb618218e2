"""`python -m bench.profiled OUT -m MODULE [ARGS...]`: run MODULE as `__main__` under cProfile and
write its stats to OUT when it exits, for `bench calls` (bench/calls.py).

hookstream's roles stop on SIGTERM by themselves and return; the ceilings run until killed, so a
SIGTERM here ends them with KeyboardInterrupt, and the stats are written either way.
"""

from __future__ import annotations

import cProfile
import runpy
import signal
import sys
from pathlib import Path
from types import FrameType


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main() -> None:
    out, flag, module, *args = sys.argv[1:]
    assert flag == "-m", "usage: python -m bench.profiled OUT -m MODULE [ARGS...]"
    sys.argv = [module, *args]
    signal.signal(signal.SIGTERM, _interrupt)
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except KeyboardInterrupt:
        pass
    finally:
        profiler.disable()
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        profiler.dump_stats(out)


if __name__ == "__main__":
    main()
