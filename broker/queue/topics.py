"""URL groups ("topics"): named lists of endpoints that a publish fans out to.

A group is one JSON document under its own key plus an index set. Changes are read-modify-
write under WATCH, so concurrent endpoint upserts never lose one another.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any, cast

import msgspec
from redis.asyncio.client import Pipeline

from broker.egress import DestinationPolicy
from broker.errors import BadRequest
from broker.queue.connection import Client, members
from broker.queue.destinations import validate_url
from broker.queue.keys import TOPICS_INDEX, topic
from broker.queue.names import check_name


class Endpoint(msgspec.Struct, frozen=True, omit_defaults=True):
    """One destination of a group; `name` is optional and unique within the group."""

    url: str
    name: str | None = None


class UrlGroup(msgspec.Struct, frozen=True, rename="camel"):
    """A group as stored (JSON; broker/http/views.py renders it for the API)."""

    name: str
    created_at: int
    updated_at: int
    endpoints: list[Endpoint] = []


_decoder = msgspec.json.Decoder(UrlGroup)
_encoder = msgspec.json.Encoder()


def parse_endpoints(
    items: object, policy: DestinationPolicy | None, most: int | None = None
) -> list[Endpoint]:
    """`[{"url": ..., "name": ...}]` from a request body, validated. With a `policy`, the
    endpoints are to be added: each needs a url the policy allows. Without, they name
    endpoints to remove, by url or name. More than `most` is refused before any is read."""
    need_url = policy is not None
    if not isinstance(items, list) or not items:
        raise BadRequest("endpoints must be a non-empty list")
    if most is not None and len(items) > most:
        raise BadRequest(_too_many(len(items), most))
    endpoints = []
    for item in items:
        if not isinstance(item, dict):
            raise BadRequest("each endpoint must be an object")
        url, name = item.get("url"), item.get("name")
        if (need_url and not url) or not (url or name):
            raise BadRequest("each endpoint needs a url" + ("" if need_url else " or a name"))
        name = check_name("endpoint", _text(name, "endpoint name")) if name else None
        url = validate_url(url, "endpoint url", policy) if url else ""
        endpoints.append(Endpoint(url=url, name=name))
    return endpoints


def _text(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise BadRequest(f"invalid {what}: it must be a string")
    return value


async def get_group(redis: Client, name: str) -> UrlGroup | None:
    raw = await redis.get(topic(name))
    return _decoder.decode(raw) if raw else None


async def list_groups(redis: Client) -> list[UrlGroup]:
    names = sorted(n.decode() for n in members(await redis.smembers(TOPICS_INDEX)))
    raws = await redis.mget([topic(n) for n in names]) if names else []
    return [_decoder.decode(raw) for raw in raws if raw]


def _too_many(count: int, most: int) -> str:
    return (
        f"a URL group holds at most {most} endpoints (HOOKSTREAM_MAX_GROUP_ENDPOINTS), not {count}"
    )


async def upsert_endpoints(redis: Client, name: str, added: list[Endpoint], most: int) -> None:
    """Create the group if needed; add endpoints, replacing those with the same url. A group
    that would end up with more than `most` endpoints is left as it was (BadRequest)."""

    async def change(pipe: Pipeline) -> None:
        now = int(time.time() * 1000)
        raw = await pipe.get(topic(name))
        group = _decoder.decode(raw) if raw else UrlGroup(name, now, now)
        new_urls = {e.url for e in added}
        new_names = {e.name for e in added if e.name}
        kept = [e for e in group.endpoints if e.url not in new_urls and e.name not in new_names]
        if len(kept) + len(added) > most:
            raise BadRequest(_too_many(len(kept) + len(added), most))
        updated = UrlGroup(name, group.created_at, now, kept + added)
        pipe.multi()
        pipe.set(topic(name), _encoder.encode(updated))
        pipe.sadd(TOPICS_INDEX, name)

    await _transaction(redis, change, topic(name))


async def remove_endpoints(redis: Client, name: str, removed: list[Endpoint]) -> bool:
    """Drop matching endpoints (by url or name); the group goes when it becomes empty."""
    found = True

    async def change(pipe: Pipeline) -> None:
        nonlocal found
        raw = await pipe.get(topic(name))
        if not raw:
            found = False
            return
        group = _decoder.decode(raw)
        urls = {e.url for e in removed if e.url}
        names = {e.name for e in removed if e.name}
        kept = [e for e in group.endpoints if e.url not in urls and e.name not in names]
        pipe.multi()
        if kept:
            now = int(time.time() * 1000)
            pipe.set(topic(name), _encoder.encode(UrlGroup(name, group.created_at, now, kept)))
        else:
            pipe.delete(topic(name))
            pipe.srem(TOPICS_INDEX, name)

    await _transaction(redis, change, topic(name))
    return found


async def _transaction(
    redis: Client, change: Callable[[Pipeline], Awaitable[None]], watched: str
) -> None:
    """WATCH `watched`, run `change`, EXEC, again after a conflict. The same on a cluster (all
    keys in one slot), where redis-py types the callable as a coroutine by mistake."""
    await cast(Any, redis).transaction(change, watched)


async def delete_group(redis: Client, name: str) -> None:
    async with redis.pipeline(transaction=True) as pipe:
        pipe.delete(topic(name))
        pipe.srem(TOPICS_INDEX, name)
        await pipe.execute()
