"""The current/next signing key pair, kept in Redis so that every role signs alike and
`POST /v2/keys/rotate` takes effect everywhere."""

from __future__ import annotations

import secrets
from typing import cast

from redis.asyncio import Redis

from broker.queue.keys import SIGNING_KEYS, SIGNING_KEYS_CHANNEL
from broker.settings import Settings

_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def generate_key() -> str:
    """A fresh key shaped like QStash's: `sig_` and 28 base58 characters (32 bytes)."""
    return "sig_" + "".join(secrets.choice(_ALPHABET) for _ in range(28))


async def ensure_keys(redis: Redis, settings: Settings) -> tuple[str, str]:
    """Seed the pair from settings (or generate it) unless Redis has one; return it.

    Redis is the source of truth once seeded, so a rotation survives restarts.
    """
    await redis.hsetnx(SIGNING_KEYS, "current", settings.current_signing_key or generate_key())
    await redis.hsetnx(SIGNING_KEYS, "next", settings.next_signing_key or generate_key())
    return await current_keys(redis)


async def current_keys(redis: Redis) -> tuple[str, str]:
    """(current, next)."""
    # Bytes, never None: ensure_keys seeds both fields before anything reads them.
    current, upcoming = cast(list[bytes], await redis.hmget(SIGNING_KEYS, "current", "next"))
    return current.decode(), upcoming.decode()


async def rotate_keys(redis: Redis) -> tuple[str, str]:
    """current ← next, and a fresh next; atomic, so two rotations never interleave."""
    script = """
    local next_key = redis.call('HGET', KEYS[1], 'next')
    redis.call('HSET', KEYS[1], 'current', next_key, 'next', ARGV[1])
    return {next_key, ARGV[1]}
    """
    current, upcoming = await redis.eval(script, 1, SIGNING_KEYS, generate_key())
    # Workers refresh at once on this message (and every few seconds regardless), so a
    # delivery right after the rotation is already signed with the new current key.
    await redis.publish(SIGNING_KEYS_CHANNEL, b"rotated")
    return current.decode(), upcoming.decode()
