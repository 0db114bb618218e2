"""Reading a destination's answer: whole when small, cut at the cap when large."""

from __future__ import annotations

import asyncio
from unittest import mock

import aiohttp
from aiohttp.base_protocol import BaseProtocol

from workers.delivery import _read_capped


def _stream(chunks: list[bytes], eof: bool = True) -> aiohttp.StreamReader:
    loop = asyncio.get_running_loop()
    protocol = BaseProtocol(loop)
    protocol.connection_made(mock.Mock(spec=asyncio.Transport))  # a reader waits on it
    stream = aiohttp.StreamReader(protocol, 2**16, loop=loop)
    for chunk in chunks:
        stream.feed_data(chunk)
    if eof:
        stream.feed_eof()
    return stream


async def test_a_small_answer_is_read_whole() -> None:
    """One chunk and the end: the body as sent."""
    assert await _read_capped(_stream([b"ok"]), 64) == b"ok"


async def test_an_answer_in_pieces_is_joined() -> None:
    """Chunks that arrive apart are all read, up to the end."""
    stream = _stream([b"ab"], eof=False)

    async def rest() -> None:
        await asyncio.sleep(0.01)
        stream.feed_data(b"cd")
        stream.feed_eof()

    feeding = asyncio.create_task(rest())
    assert await _read_capped(stream, 64) == b"abcd"
    await feeding


async def test_a_large_answer_is_cut_at_the_cap() -> None:
    """Past the cap nothing more is read: the stored answer is exactly `cap` bytes."""
    assert await _read_capped(_stream([b"x" * 50, b"y" * 50]), 60) == b"x" * 50 + b"y" * 10


async def test_an_empty_answer_is_empty() -> None:
    """No body at all."""
    assert await _read_capped(_stream([]), 64) == b""
