"""A wall-clock step for one role process, without faketime: a `sitecustomize` on the
child's PYTHONPATH wraps `time.time`, and each SIGUSR1 moves that process's clock by the
next of its steps. The monotonic clock (asyncio's) is left alone, as a real step leaves it."""

from __future__ import annotations

import os
from pathlib import Path

_SHIM = """\
import os, signal, time

_real_time, _offset = time.time, [0.0]
_steps = [float(s) for s in os.environ["HOOKSTREAM_TEST_CLOCK_STEPS_S"].split(",")]

def _stepped():
    return _real_time() + _offset[0]

def _on_signal(signum, frame):
    _offset[0] += _steps.pop(0) if _steps else 0.0

time.time = _stepped
signal.signal(signal.SIGUSR1, _on_signal)
"""


def clock_step_env(folder: Path, *steps_s: float) -> dict[str, str]:
    """Environment for a role whose clock jumps by the next of `steps_s` at each SIGUSR1."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sitecustomize.py").write_text(_SHIM)
    path = os.pathsep.join(filter(None, [str(folder), os.environ.get("PYTHONPATH", "")]))
    return {"PYTHONPATH": path, "HOOKSTREAM_TEST_CLOCK_STEPS_S": ",".join(map(str, steps_s))}
