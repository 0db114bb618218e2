"""An asyncio TCP proxy between a role and Redis that injects faults, switchable at run time.

Modes: pass-through; blackhole (accept and read, never forward or answer: a silent partition);
added latency on every chunk each way; and a reset in the middle of the next reply (half of it
forwarded, then both sides closed with RST). The pattern is redis-py's DelayProxy
(tests/test_asyncio/test_cwe_404.py), written for our faults.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from dataclasses import dataclass, field

from broker.redis_server import free_port

CHUNK = 65536


@dataclass(eq=False)
class _Link:
    """One client connection and its upstream connection."""

    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter | None = None
    damaged: bool = False  # bytes were dropped: the stream can never be resumed
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def close(self, reset: bool = False) -> None:
        for writer in (self.client, self.upstream):
            if writer is None:
                continue
            if reset:
                sock = writer.get_extra_info("socket")
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort() if reset else writer.close()


class FaultProxy:
    """127.0.0.1:<port> → 127.0.0.1:<upstream_port>; `url()` is what a role is given."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = free_port()
        self.blackholed = False
        self.delay = 0.0
        self.resets_armed = 0
        self.resets_done = 0
        self.dropped_chunks = 0
        self._links: set[_Link] = set()
        self._server: asyncio.Server | None = None

    def url(self, **options: str) -> str:
        """The Redis URL through the proxy; `options` become query parameters that redis-py
        reads (`socket_timeout="2"`)."""
        query = "&".join(f"{k}={v}" for k, v in options.items())
        return f"redis://127.0.0.1:{self.port}/0" + (f"?{query}" if query else "")

    async def start(self) -> FaultProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for link in list(self._links):
            link.close(reset=True)
        await asyncio.sleep(0)

    # -- switching faults -------------------------------------------------------------------

    def blackhole(self) -> None:
        """From now on nothing is forwarded either way; new connections are accepted and
        read, never connected upstream."""
        self.blackholed = True

    def heal(self) -> None:
        """Pass-through again, no latency. Connections that lost bytes in the blackhole are
        closed (as TCP gives up on a long partition); the others carry on."""
        self.blackholed = False
        self.delay = 0.0
        for link in [link for link in self._links if link.damaged]:
            link.close()

    def latency(self, seconds: float) -> None:
        """Hold every chunk `seconds` before forwarding it (each way)."""
        self.delay = seconds

    def reset_mid_reply(self, count: int = 1) -> None:
        """The next `count` replies from Redis are cut in half and their connections reset."""
        self.resets_armed += count

    # -- the pumps --------------------------------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        link = _Link(writer)
        self._links.add(link)
        try:
            if self.blackholed:
                link.damaged = True
                await self._swallow(reader)
                return
            up_reader, link.upstream = await asyncio.open_connection(
                "127.0.0.1", self.upstream_port
            )
            link.tasks = [
                asyncio.create_task(self._pump(reader, link.upstream, link, replies=False)),
                asyncio.create_task(self._pump(up_reader, writer, link, replies=True)),
            ]
            await asyncio.wait(link.tasks, return_when=asyncio.FIRST_COMPLETED)
        except OSError:
            pass
        finally:
            self._links.discard(link)
            for task in link.tasks:
                task.cancel()
            link.close()

    async def _swallow(self, reader: asyncio.StreamReader) -> None:
        """Read and drop until the client gives up or the blackhole heals (then close)."""
        while self.blackholed and await reader.read(CHUNK):
            self.dropped_chunks += 1

    async def _pump(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        link: _Link,
        *,
        replies: bool,
    ) -> None:
        while chunk := await reader.read(CHUNK):
            if self.delay:
                await asyncio.sleep(self.delay)
            if self.blackholed or link.damaged:
                link.damaged = True
                self.dropped_chunks += 1
                continue
            if replies and self.resets_armed > 0:
                self.resets_armed -= 1
                self.resets_done += 1
                writer.write(chunk[: max(1, len(chunk) // 2)])
                with contextlib.suppress(OSError):
                    await writer.drain()
                link.close(reset=True)
                return
            writer.write(chunk)
            await writer.drain()
