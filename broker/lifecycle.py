"""What every long-running loop of a role shares: a name for this process and a stoppable
sleep."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket


def process_name() -> str:
    """Unique per process (two live processes never share it) and readable by operators:
    the consumer name in the groups and the scheduler lease token."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


async def pause(stopping: asyncio.Event, seconds: float) -> bool:
    """Sleep `seconds`, waking at once when `stopping` is set; True when it is."""
    if seconds > 0 and not stopping.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), seconds)
    return stopping.is_set()
