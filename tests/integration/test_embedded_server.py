"""The embedded dev server: one owner per data dir, and it dies with its parent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from broker.errors import EmbeddedServerError
from broker.redis_server import EmbeddedServer, find_server_binary

pytestmark = pytest.mark.integration

# Starts a server, prints its port, then waits to be killed.
OWNER = """
import sys, time
from pathlib import Path
from broker.redis_server import EmbeddedServer, find_server_binary
server = EmbeddedServer(Path(sys.argv[1]), appendonly=False).start()
print(server.port, flush=True)
time.sleep(60)
"""


def test_a_data_dir_has_one_server_at_a_time(tmp_path: Path) -> None:
    """A second server on the same folder is refused (two writers would corrupt the AOF);
    once the first stops, the folder can be used again."""
    first = EmbeddedServer(tmp_path, appendonly=False).start()
    try:
        with pytest.raises(EmbeddedServerError, match="in use by another hookstream dev"):
            EmbeddedServer(tmp_path, appendonly=False).start()
    finally:
        first.stop()
    EmbeddedServer(tmp_path, appendonly=False).start().stop()


def test_the_server_dies_with_its_killed_parent(tmp_path: Path) -> None:
    """SIGKILL of the process that started the server stops the server too, and frees the
    folder for the next one."""
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert owner.stdout is not None
        port = int(owner.stdout.readline())
        client = redis.Redis(port=port, socket_connect_timeout=0.5)
        assert client.ping()
        os.kill(owner.pid, signal.SIGKILL)
        owner.wait(timeout=10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _answers(client):
            time.sleep(0.1)
        assert not _answers(client)
        client.close()
    finally:
        owner.kill()
        owner.wait()
        if owner.stdout:
            owner.stdout.close()
    EmbeddedServer(tmp_path, appendonly=False).start().stop()


def _answers(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


def test_a_launcher_runs_the_server_under_another_program(tmp_path: Path) -> None:
    """The bench counts the server's instructions under valgrind this way; a shell that
    notes itself in the server's log, then execs the server, stands in for it here."""
    launcher = ["sh", "-c", 'echo "launched $1" && exec "$@"', "sh"]
    server = EmbeddedServer(tmp_path, appendonly=False, launcher=launcher).start()
    try:
        with redis.Redis(port=server.port) as client:
            assert client.ping()
        first_line = (tmp_path / "server.log").read_text().splitlines()[0]
        assert first_line == f"launched {find_server_binary()}"
    finally:
        server.stop()
