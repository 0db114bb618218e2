"""Tokens against the real server: how they are compared, what read-only ones may do, rate
limits per token, and what /readyz tells callers without one."""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator

import aiohttp
import pytest

from tests.support.hookstream import Hookstream

pytestmark = pytest.mark.integration

FULL_TOKEN = "full-token-0123456789"
OTHER_TOKEN = "other-token-with-another-length-0123456789"


@pytest.fixture(name="server")
async def _server(redis_url: str) -> AsyncIterator[Hookstream]:
    """An ingress with two full tokens of different lengths."""
    server = await Hookstream(
        redis_url, with_worker=False, tokens=(FULL_TOKEN, OTHER_TOKEN)
    ).start()
    yield server
    await server.stop()


async def _status(server: Hookstream, method: str, path: str, token: str) -> int:
    async with (
        aiohttp.ClientSession(server.url) as session,
        session.request(method, path, headers={"Authorization": f"Bearer {token}"}) as resp,
    ):
        return resp.status


async def test_tokens_are_compared_as_fixed_length_digests(
    server: Hookstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever the length of the presented token, the server compares two 32-byte digests
    per configured token, all of them: the time taken tells nothing about token lengths."""
    compared: list[tuple[int, int]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((len(a), len(b)))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    for presented, status in [("x", 401), (FULL_TOKEN, 200), ("y" * 300, 401), (OTHER_TOKEN, 200)]:
        compared.clear()
        assert await _status(server, "GET", "/v2/queues", presented) == status
        assert compared == [(32, 32), (32, 32)], presented
