"""The test bench of one run: a Redis server, the sink, and the roles started on demand.

Every role is a real child process with the same environment variables an operator would
set. `clean()` stops them all and empties Redis between scenarios, so no scenario sees
another's leftovers (consumer groups, delayed messages, signing keys).

By default the lab runs its own embedded Redis; `masters` (ports on 127.0.0.1) points it at a
running cluster instead (bench/cluster_spread.py), and `nodes` then holds one client per master.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType

from multidict import CIMultiDict
from redis.asyncio import Redis

from bench.payload import CONTENT_TYPE, make_body
from bench.proc import Role, spawn
from bench.sink import SinkClient
from broker.options import parse_publish_headers
from broker.queue.connection import Connection
from broker.queue.keys import new_message_id, random_partition
from broker.queue.layout import ensure_layout
from broker.queue.producer import Draft, Routing, build_draft, publish
from broker.redis_server import EmbeddedServer, free_port
from broker.settings import Settings

TOKEN = "bench-token-0123456789"
# The command a role's module is appended to: `python -m MODULE`. `bench calls` puts its
# profiler in front of the module (bench/profiled.py), `bench instructions` callgrind in front of
# the interpreter.
RUN_MODULE: Sequence[str] = (sys.executable, "-m")
READY_SECONDS = 20.0
PARTITIONS = 4
CONCURRENCY = 64
FILL_BATCH = 400


@dataclass(frozen=True)
class Endpoint:
    """Where the load generator publishes to."""

    url: str
    headers: dict[str, str]


class Lab:
    """Start with `async with Lab(run_dir) as lab:`; everything stops on exit."""

    def __init__(
        self,
        run_dir: Path,
        partitions: int = PARTITIONS,
        masters: Sequence[int] = (),
        server_launcher: Sequence[str] = (),
    ) -> None:
        """`server_launcher`: run the lab's own server under that program (see EmbeddedServer)."""
        self.run_dir = run_dir
        self.logs = run_dir / "logs"
        self.server = EmbeddedServer(run_dir / "redis", appendonly=False, launcher=server_launcher)
        self.masters = list(masters)
        self.sink = SinkClient(free_port())
        self.roles: list[Role] = []
        self._sink_role: Role | None = None
        self.redis: Redis
        self.nodes: list[Redis] = []
        self.conn: Connection
        self.settings = Settings(partitions=partitions, worker_concurrency=CONCURRENCY)

    @property
    def url(self) -> str:
        """The REDIS_URL of every role: the lab's own server, or the cluster's first master."""
        return f"redis://127.0.0.1:{self.masters[0]}" if self.masters else self.server.url

    async def __aenter__(self) -> Lab:
        # Same settings as the test server: no AOF, so disk speed is not part of the numbers.
        if not self.masters:  # a minute: valgrind takes seconds to start a server
            await asyncio.to_thread(self.server.start, 60.0)
        self.redis = Redis.from_url(self.url)
        self.nodes = [Redis(port=port) for port in self.masters] or [self.redis]
        self.conn = await Connection.connect(self.settings, self.url)
        self._sink_role = spawn(
            "sink",
            [sys.executable, "-m", "bench.sink", str(self.sink.port)],
            {},
            self.logs,
            f"{self.sink.base}/_bench/stats",
        )
        await self._sink_role.wait_ready()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop_roles()
        if self._sink_role is not None:
            await self._sink_role.stop()
        await self.sink.close()
        await self.conn.close()
        await asyncio.gather(*(node.aclose() for node in {*self.nodes, self.redis}))
        await asyncio.to_thread(self.server.stop)

    # -- roles ------------------------------------------------------------------------------

    def spawn(self, name: str, argv: list[str], env: dict[str, str], ready_url: str = "") -> Role:
        """A child process that `clean()` stops; its output goes to the run's logs."""
        role = spawn(name, argv, env, self.logs, ready_url)
        self.roles.append(role)
        return role

    def hookstream_env(self, **overrides: str) -> dict[str, str]:
        """The environment of a hookstream role; each role gets its own ports."""
        return {
            "REDIS_URL": self.url,
            "HOOKSTREAM_TOKENS": TOKEN,
            "HOOKSTREAM_HOST": "127.0.0.1",
            "HOOKSTREAM_PORT": str(free_port()),
            "HOOKSTREAM_METRICS_PORT": str(free_port()),
            "HOOKSTREAM_LOG_LEVEL": "warning",
            # The sink runs on loopback, which the destination policy denies by default.
            "HOOKSTREAM_ALLOWED_DESTINATIONS": "127.0.0.1/32",
            "HOOKSTREAM_PARTITIONS": str(self.settings.partitions),
            "HOOKSTREAM_WORKER_CONCURRENCY": str(CONCURRENCY),
            **overrides,
        }

    async def ingress(
        self, launcher: Sequence[str] = RUN_MODULE, ready_seconds: float = READY_SECONDS
    ) -> tuple[Role, Endpoint]:
        """A ready `hookstream ingress`, and where to publish to the sink through it."""
        env = self.hookstream_env()
        base = f"http://127.0.0.1:{env['HOOKSTREAM_PORT']}"
        role = self.spawn("ingress", [*launcher, "broker"], env, base + "/readyz")
        await role.wait_ready(ready_seconds)
        headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": CONTENT_TYPE}
        return role, Endpoint(f"{base}/v2/publish/{self.sink.hook_url}", headers)

    def workers(
        self, count: int, launcher: Sequence[str] = RUN_MODULE, **overrides: str
    ) -> list[Role]:
        """`count` worker processes, started now (a drain measures them at the sink)."""
        roles = []
        for index in range(count):
            env = self.hookstream_env(**overrides)
            ready = f"http://127.0.0.1:{env['HOOKSTREAM_METRICS_PORT']}/readyz"
            roles.append(self.spawn(f"worker-{index}", [*launcher, "workers"], env, ready))
        return roles

    async def pipeline(self, fail_first: bool = False, **worker_env: str) -> Endpoint:
        """A clean bench with an ingress and one connected worker: publish → sink."""
        await self.clean(fail_first=fail_first)
        _, endpoint = await self.ingress()
        for worker in self.workers(1, **worker_env):
            await worker.wait_ready()
        return endpoint

    async def bare_xadd(
        self, launcher: Sequence[str] = RUN_MODULE, ready_seconds: float = READY_SECONDS
    ) -> tuple[Role, Endpoint]:
        """The publish ceiling: one XADD per request, behind the same URL shape."""
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        args = [*launcher, "bench.ceilings", "xadd", str(port), self.url]
        role = self.spawn("ceiling-xadd", args, {}, base + "/readyz")
        await role.wait_ready(ready_seconds)
        headers = {"Content-Type": CONTENT_TYPE}
        return role, Endpoint(f"{base}/v2/publish/{self.sink.hook_url}", headers)

    def bare_drain(self, launcher: Sequence[str] = RUN_MODULE) -> Role:
        """The drain ceiling, started now on the stream `ceilings.fill_stream` filled."""
        args = [*launcher, "bench.ceilings", "drain", self.url, self.sink.hook_url]
        return self.spawn("ceiling-drain", [*args, str(CONCURRENCY)], {})

    async def stop_roles(self) -> None:
        await asyncio.gather(*(role.stop() for role in self.roles))
        self.roles.clear()

    async def clean(self, fail_first: bool = False, partitions: int = 0) -> None:
        """Stop every role, empty Redis, record the layout of `partitions` (default: the
        lab's), and start a new recording at the sink."""
        await self.stop_roles()
        # SYNC: valkey frees lazily by default, which would skew the memory deltas.
        await asyncio.gather(*(node.execute_command("FLUSHALL", "SYNC") for node in self.nodes))
        # Recorded before any role starts: roles started together race to write the record's
        # two fields, and one that reads it half-written refuses to start.
        settings = replace(self.settings, partitions=partitions or self.settings.partitions)
        await ensure_layout(replace(self.conn, settings=settings))
        await self.sink.reset(fail_first=fail_first)

    # -- data -------------------------------------------------------------------------------

    async def queue_messages(self, count: int, headers: dict[str, str] | None = None) -> None:
        """Store `count` messages to the sink through hookstream's own publish script.

        Faster than HTTP (hundreds per script call), and the stored data is the same as
        an HTTP publish with these headers would store.
        """
        options = parse_publish_headers(
            CIMultiDict({"Content-Type": CONTENT_TYPE, **(headers or {})}), self.settings
        )
        url = self.sink.hook_url

        def draft(seq: int) -> Draft:
            message_id = new_message_id(random_partition(self.settings.partitions))
            return build_draft(url, options, make_body(seq), message_id, Routing())

        for start in range(0, count, FILL_BATCH * 4):
            batches = [
                [draft(seq) for seq in range(first, min(first + FILL_BATCH, count))]
                for first in range(start, min(start + FILL_BATCH * 4, count), FILL_BATCH)
            ]
            await asyncio.gather(*(publish(self.conn.scripts, batch) for batch in batches))

    async def used_memory(self) -> int:
        info = await self.redis.info("memory")
        return int(info["used_memory"])

    def sink_peak_rss_mib(self) -> float:
        assert self._sink_role is not None
        return self._sink_role.peak_rss_mib()

    @property
    def redis_pid(self) -> int:
        assert self.server.process is not None
        return self.server.process.pid

    @property
    def bystanders(self) -> dict[str, int]:
        """The processes every scenario shares the machine with, by name (a cluster's masters
        are not the lab's children: their CPU comes from INFO cpu instead)."""
        assert self._sink_role is not None
        own = {} if self.masters else {"redis": self.redis_pid}
        return {"sink": self._sink_role.pid, **own}
