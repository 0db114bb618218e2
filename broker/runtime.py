"""How every hookstream process runs: its event loop, and its garbage collector's settings.

The bench's ceilings (bench/ceilings.py) start the same way, so a ratio to them measures
hookstream's own work, not a runtime setting one side has and the other lacks.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Coroutine
from typing import Any

# Allocations (net of frees) of container objects between two young-generation collections.
# Python's default, 700, is less than the objects 64 deliveries or publishes in flight hold:
# the live set's ebb and flow alone set off a collection every ~20 deliveries, which found
# next to nothing to free (docs/performance.md, "Garbage collection").
YOUNG_GENERATION_THRESHOLD = 20_000


def run(main: Coroutine[Any, Any, None]) -> None:
    """Run `main` on uvloop when it is installed (it is a dependency; plain asyncio is the
    fallback for a platform without a wheel), after tune_gc."""
    tune_gc()
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
    else:
        uvloop.run(main)


def tune_gc() -> None:
    """Collect rarely, and never traverse what start-up allocated.

    Freezing moves every object alive now (imported modules, their functions and tables:
    ~70,000 in a worker) out of the collector's sight, so a full collection, when one runs,
    looks at what the process made since (~7,000) and pauses the event loop for ~3 ms
    instead of ~36 ms. Cycles are still found: the young generation just waits for 20,000
    allocations instead of 700, which bounds the cyclic garbage waiting to a few MB.
    """
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, middle, old)
