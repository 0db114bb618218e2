"""The current/next signing key pair, kept in Redis so that every role signs alike and
`POST /v2/keys/rotate` takes effect everywhere."""

from __future__ import annotations

import secrets
from types import TracebackType
from typing import cast

from redis.asyncio.client import PubSub

from broker.queue import scripts
from broker.queue.connection import Client, Connection
from broker.queue.keys import SIGNING_KEYS, SIGNING_KEYS_CHANNEL

_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def generate_key() -> str:
    """A fresh key shaped like QStash's: `sig_` and 28 base58 characters (32 bytes)."""
    return "sig_" + "".join(secrets.choice(_ALPHABET) for _ in range(28))


async def ensure_keys(conn: Connection) -> tuple[str, str]:
    """Seed the pair from settings (or generate it) unless Redis has one; return it.

    Redis is the source of truth once seeded, so a rotation survives restarts.
    """
    settings = conn.settings
    current, upcoming = await conn.redis.hmget(SIGNING_KEYS, "current", "next")
    # Written only when missing: Redis refuses HSETNX while out of memory even when the field
    # exists, and a role must start then rather than exit.
    if current is None:
        await conn.redis.hsetnx(
            SIGNING_KEYS, "current", settings.current_signing_key or generate_key()
        )
    if upcoming is None:
        await conn.redis.hsetnx(SIGNING_KEYS, "next", settings.next_signing_key or generate_key())
    return await current_keys(conn)


async def current_keys(conn: Connection) -> tuple[str, str]:
    """(current, next)."""
    # Bytes, never None: ensure_keys seeds both fields before anything reads them.
    reply = await conn.redis.hmget(SIGNING_KEYS, "current", "next")
    current, upcoming = cast(list[bytes], reply)
    return current.decode(), upcoming.decode()


async def keys_initialised(conn: Connection) -> bool:
    """Whether ensure_keys has run against this Redis (readiness)."""
    return bool(await conn.redis.exists(SIGNING_KEYS))


async def rotate_keys(conn: Connection) -> tuple[str, str]:
    """current ← next, and a fresh next; atomic, so two rotations never interleave."""
    keys = {"signing_keys": SIGNING_KEYS}
    reply = await conn.scripts.call(scripts.SIGNING_ROTATE, None, keys, {"fresh": generate_key()})
    current, upcoming = cast(list[bytes], reply)
    # Workers refresh at once on this message (and every few seconds regardless), so a
    # delivery right after the rotation is already signed with the new current key.
    await conn.redis.publish(SIGNING_KEYS_CHANNEL, b"rotated")
    return current.decode(), upcoming.decode()


class RotationFeed:
    """Announcements of rotations, for workers to refresh their key the moment one happens."""

    def __init__(self, redis: Client) -> None:
        self._pubsub: PubSub = redis.pubsub()

    async def __aenter__(self) -> RotationFeed:
        await self._pubsub.subscribe(SIGNING_KEYS_CHANNEL)
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._pubsub.aclose()

    async def wait(self, seconds: float) -> bool:
        """True when a rotation was announced within `seconds`."""
        message = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=seconds)
        return message is not None
