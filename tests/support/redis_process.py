"""A Redis-compatible server a fault test owns: its own data dir with AOF on, killed with
SIGKILL and started again on the same dir and port, as a crashed and restarted Redis is."""

from __future__ import annotations

from pathlib import Path

from redis.asyncio import Redis

from broker.redis_server import EmbeddedServer


class RedisProcess:
    """The bundled valkey-server (broker/redis_server.py) with `appendonly yes` and the given
    `appendfsync`; `config` adds directives such as `maxmemory`."""

    def __init__(self, data_dir: Path, fsync: str = "everysec", **config: str) -> None:
        directives = {"appendfsync": fsync, **{k.replace("_", "-"): v for k, v in config.items()}}
        self.fsync = fsync
        self.server = EmbeddedServer(data_dir, appendonly=True, config=directives)

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def port(self) -> int:
        return self.server.port

    def start(self) -> RedisProcess:
        self.server.start()
        return self

    def kill(self) -> None:
        """SIGKILL: no shutdown, no final AOF flush; what the OS already has survives."""
        self.server.stop(kill=True)

    def restart(self) -> None:
        """Start again on the same dir and port; returns once it answers PING (AOF loaded)."""
        self.server.start(timeout=30)

    def stop(self) -> None:
        self.server.stop(kill=True)

    def client(self) -> Redis:
        """A direct connection for the test's own reads (never through a fault proxy)."""
        return Redis(port=self.port, socket_timeout=10, socket_connect_timeout=5)
