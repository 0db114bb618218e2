"""The fault tier's checker, after Jepsen's total-queue: what the ingress acknowledged must
come out.

A = ids the ingress answered 2xx, D = ids the sink answered 2xx (each request's body is the
client's key, so deliveries map back to what a client asked for), L = ids in the DLQ (read
through the API), C = ids cancelled. Valid only after a drain: nothing left in a ready stream,
a pending entries list, a delayed set, a gate's wait list or a gate's admitted count. Then
lost = A - (D | L | C) must be empty and every delivery must be of a message some client
asked for; duplicates (2xx deliveries past the first of each id) are counted and held to a
bound the test gives: what was in flight at its faults.

Publishes whose answer never arrived (a reset, a timeout) are "unknown": they may be delivered
("recovered") but are not owed. Refused publishes that were stored all the same (the command
ran, its reply was lost) are counted, and so are "copies": ids delivered for one key beyond
those its client was given, which a retry with a deduplication id must keep at zero.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import aiohttp
from redis.asyncio import Redis
from redis.exceptions import RedisError

from broker.queue.keys import GROUP, partition_keys
from tests.support.barriers import live_entries
from tests.support.sink import Sink


@dataclass
class Verdict:
    """One case's outcome: the sets' sizes, what went wrong, and how long the case took."""

    case: str
    fault: str
    attempted: int
    acknowledged: int
    delivered: int
    dead_lettered: int
    cancelled: int
    unknown: int
    recovered: int
    refused_but_stored: int
    copies: int
    lost: list[str]
    unexpected: list[str]
    duplicates: int
    max_duplicates: int
    stranded: dict[str, int]
    seconds: float
    notes: dict[str, Any] = field(default_factory=dict)

    def problems(self, allow_lost: bool = False) -> list[str]:
        found = [] if allow_lost or not self.lost else [f"lost {len(self.lost)}: {self.lost[:5]}"]
        if self.unexpected:
            found.append(f"unexpected deliveries {self.unexpected[:5]}")
        if self.stranded:
            found.append(f"stranded after the drain: {self.stranded}")
        if self.duplicates > self.max_duplicates:
            found.append(f"{self.duplicates} duplicates > bound {self.max_duplicates}")
        return found

    def row(self) -> dict[str, Any]:
        return asdict(self)


class Ledger:
    """Records what clients were told and checks it against what came out."""

    def __init__(
        self,
        redis: Redis,
        partitions: int,
        case: str,
        record: Callable[[Verdict], None] | None = None,
    ) -> None:
        self.redis = redis  # direct, never through a fault proxy
        self.partitions = [partition_keys(p, partitions) for p in range(partitions)]
        self.case = case
        self.record = record
        self.attempted: set[str] = set()  # client keys (each message's body)
        self.acknowledged: dict[str, str] = {}  # message id -> client key
        self.unknown: set[str] = set()  # keys whose publish got no answer
        self.unanswered = 0  # publishes that got no answer, retried ones included
        self.refused: Counter[int] = Counter()  # status -> count of non-2xx answers
        self.refused_without_retry_after = 0
        self.cancelled: set[str] = set()
        self.in_flight_at_faults = 0
        self.started = time.monotonic()

    # -- the client side --------------------------------------------------------------------

    async def publish(
        self,
        http: aiohttp.ClientSession,
        path: str,
        key: str,
        headers: dict[str, str] | None = None,
        timeout: float = 15.0,
    ) -> int | None:
        """POST `key` as the body to `path`; record the answer. Returns the status, or None
        when no answer arrived (connection reset, refused, or `timeout`)."""
        self.attempted.add(key)
        try:
            async with http.post(
                path, data=key, headers=headers, timeout=aiohttp.ClientTimeout(total=timeout)
            ) as resp:
                body = await resp.json(content_type=None) if resp.status < 300 else None
                retry_after = resp.headers.get("Retry-After")
                status = resp.status
        except (aiohttp.ClientError, TimeoutError):
            self.unknown.add(key)
            self.unanswered += 1
            return None
        if status < 300:
            for answer in body if isinstance(body, list) else [body]:
                self.acknowledge(key, answer["messageId"])
        else:
            self.refused[status] += 1
            self.refused_without_retry_after += status == 503 and retry_after is None
        return status

    async def publish_all(
        self,
        http: aiohttp.ClientSession,
        path: str,
        keys: list[str],
        concurrency: int = 16,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Publish every key, `concurrency` at a time, recording each answer."""
        todo = iter(keys)

        async def client() -> None:
            for key in todo:
                await self.publish(http, path, key, headers)

        await asyncio.gather(*(client() for _ in range(concurrency)))

    async def publish_until(
        self,
        http: aiohttp.ClientSession,
        path: str,
        stop: asyncio.Event,
        concurrency: int = 4,
        limit: int = 2000,
        pause: float = 0.01,
    ) -> None:
        """Steady load: keys `c-0`, `c-1`, ... until `stop` is set (at most `limit`), through
        whatever fault the test injects meanwhile."""
        counter = iter(range(limit))

        async def client() -> None:
            for n in counter:
                if stop.is_set():
                    return
                await self.publish(http, path, f"c-{n}")
                await asyncio.sleep(pause)

        await asyncio.gather(*(client() for _ in range(concurrency)))

    def acknowledge(self, key: str, message_id: str) -> None:
        self.acknowledged[message_id] = key
        self.unknown.discard(key)

    async def mark_fault(self) -> int:
        """Call just before a fault: adds what is in flight now to the duplicate bound."""
        pending = await self.pending()
        self.in_flight_at_faults += pending
        return pending

    # -- the Redis side ---------------------------------------------------------------------

    async def pending(self) -> int:
        total = 0
        for partition in self.partitions:
            try:
                total += (await self.redis.xpending(partition.ready, GROUP))["pending"]
            except RedisError:  # no group yet
                continue
        return total

    async def stranded(self) -> dict[str, int]:
        """Everything that still holds a message, by key; empty once drained."""
        counts: dict[str, int] = {}
        for partition in self.partitions:
            counts[partition.ready] = len(await live_entries(self.redis, partition))
            counts[partition.delayed] = await self.redis.zcard(partition.delayed)
        counts["pending"] = await self.pending()
        for key in await self._gate_keys():
            if await self.redis.type(key) == b"list":
                counts[key.decode()] = await self.redis.llen(key)
            else:
                counts[f"{key.decode()} active"] = int(await self.redis.hget(key, "active") or 0)
        return {key: count for key, count in counts.items() if count}

    async def _gate_keys(self) -> list[bytes]:
        """Every gate hash and wait list (ordered queues and flow-control keys), found by the
        names broker/queue/keys.py gives them: also those of a deleted queue."""
        found: list[bytes] = []
        for partition in self.partitions:
            for keys_of in (partition.queue_keys, partition.flow_keys):
                found += [key async for key in self.redis.scan_iter(match=keys_of("*")[0])]
        return found

    async def drain(self, timeout: float = 60.0) -> dict[str, int]:
        """Wait until nothing holds a message (twice in a row); return what still does at the
        deadline (empty when drained)."""
        deadline = time.monotonic() + timeout
        empty_polls = 0
        left: dict[str, int] = {}
        while time.monotonic() < deadline:
            try:
                left = await self.stranded()
            except RedisError as exc:  # Redis still restarting
                left = {"redis": 1, str(exc)[:60]: 1}
            empty_polls = 0 if left else empty_polls + 1
            if empty_polls >= 2:
                return {}
            await asyncio.sleep(0.2)
        return left

    # -- the API side -----------------------------------------------------------------------

    @staticmethod
    async def _pages(api: aiohttp.ClientSession, path: str, params: dict[str, str]) -> list[Any]:
        items: list[Any] = []
        while True:
            body = await Ledger._read(api, path, params)
            items += body.get("messages", body.get("events", []))
            if "cursor" not in body:
                return items
            params = {**params, "cursor": body["cursor"]}

    @staticmethod
    async def _read(api: aiohttp.ClientSession, path: str, params: dict[str, str]) -> Any:
        """One API read, retried on 503 as a careful client does: right after Redis restarts,
        each pooled connection that died with it fails one command."""
        for _ in range(50):
            async with api.get(path, params=params) as resp:
                if resp.status != 503:
                    assert resp.status == 200, await resp.text()
                    return await resp.json()
            await asyncio.sleep(0.1)
        raise AssertionError(f"{path} kept answering 503")

    async def dead_lettered(self, api: aiohttp.ClientSession) -> set[str]:
        return {m["messageId"] for m in await self._pages(api, "/v2/dlq", {"count": "100"})}

    async def cancelled_events(self, api: aiohttp.ClientSession) -> set[str]:
        params = {"state": "CANCELED", "count": "1000"}
        return {e["messageId"] for e in await self._pages(api, "/v2/events", params)}

    # -- the verdict ------------------------------------------------------------------------

    async def verdict(
        self,
        sink: Sink,
        api: aiohttp.ClientSession,
        fault: str,
        max_duplicates: int | None = None,
        drain_timeout: float = 60.0,
    ) -> Verdict:
        """Drain, then compare the sets. No assertion: see `verify`."""
        stranded = await self.drain(drain_timeout)
        accepted = Counter(mid for mid, status in sink.answered if 200 <= status < 300)
        bodies = {r.headers.get("Upstash-Message-Id", ""): r.body for r in sink.received}
        dead = await self.dead_lettered(api)
        cancelled = self.cancelled | await self.cancelled_events(api)
        out = set(accepted) | dead | cancelled
        unexpected = sorted(
            mid
            for mid in accepted
            if mid not in self.acknowledged and bodies.get(mid, b"").decode() not in self.attempted
        )
        recovered = {mid for mid in accepted if bodies.get(mid, b"").decode() in self.unknown}
        # Answered non-2xx, yet stored: the command ran but its reply was lost (a timeout, a
        # reset). Not owed to the client; a retry with a deduplication id makes it one message.
        acknowledged_keys = set(self.acknowledged.values())
        refused_but_stored = {
            mid
            for mid in accepted
            if mid not in self.acknowledged
            and bodies.get(mid, b"").decode() not in acknowledged_keys | self.unknown
        } - set(unexpected)
        # Copies: ids delivered for a key beyond the ids its client was given (a refused but
        # stored publish that was retried without a deduplication id).
        ids_per_key: Counter[str] = Counter(
            bodies[mid].decode() for mid in accepted if mid in bodies
        )
        given = Counter(self.acknowledged.values())
        return Verdict(
            case=self.case,
            fault=fault,
            attempted=len(self.attempted),
            acknowledged=len(self.acknowledged),
            delivered=len(set(accepted) & set(self.acknowledged)),
            dead_lettered=len(dead & set(self.acknowledged)),
            cancelled=len(cancelled & set(self.acknowledged)),
            unknown=len(self.unknown),
            recovered=len(recovered),
            refused_but_stored=len(refused_but_stored),
            copies=sum(max(0, n - max(1, given[key])) for key, n in ids_per_key.items()),
            lost=sorted(set(self.acknowledged) - out),
            unexpected=unexpected,
            duplicates=sum(n - 1 for n in accepted.values()),
            max_duplicates=self.in_flight_at_faults if max_duplicates is None else max_duplicates,
            stranded=stranded,
            seconds=round(time.monotonic() - self.started, 1),
            notes={"refused": {str(k): n for k, n in self.refused.items()}} if self.refused else {},
        )

    async def verify(
        self,
        sink: Sink,
        api: aiohttp.ClientSession,
        fault: str,
        max_duplicates: int | None = None,
        allow_lost: bool = False,
        drain_timeout: float = 60.0,
        **notes: Any,
    ) -> Verdict:
        """The one check every fault case ends with: drain, compare, record the row, assert
        nothing acknowledged is lost (unless `allow_lost`, for a setting allowed to lose),
        nothing is stranded and duplicates stay within the bound."""
        verdict = await self.verdict(sink, api, fault, max_duplicates, drain_timeout)
        verdict.notes.update(notes)
        if self.record is not None:
            self.record(verdict)
        assert self.acknowledged, "the case acknowledged nothing: it proves nothing"
        problems = verdict.problems(allow_lost)
        assert not problems, f"{'; '.join(problems)} in {verdict}"
        return verdict
