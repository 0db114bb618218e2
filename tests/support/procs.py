"""Real role processes for chaos tests: started with the test settings, killed at will."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from broker.redis_server import free_port
from tests.support.hookstream import TEST_TOKEN

ROOT = Path(__file__).resolve().parents[2]
PARTITIONS = 2  # as tests/support/hookstream.py's in-process settings


def role_env(redis_url: str, **overrides: str) -> dict[str, str]:
    """Environment matching tests/support/hookstream.py's in-process settings."""
    env = {
        "REDIS_URL": redis_url,
        "HOOKSTREAM_TOKENS": TEST_TOKEN,
        "HOOKSTREAM_HOST": "127.0.0.1",
        # The test sinks run on loopback, which the destination policy denies by default.
        "HOOKSTREAM_ALLOWED_DESTINATIONS": "127.0.0.1/32,::1/128",
        "HOOKSTREAM_METRICS_PORT": str(free_port()),
        "HOOKSTREAM_PARTITIONS": str(PARTITIONS),
        "HOOKSTREAM_VISIBILITY_TIMEOUT": "2s",
        "HOOKSTREAM_RETRY_TIME_SCALE": "0.001",
        "HOOKSTREAM_LOG_LEVEL": "warning",
    }
    return os.environ | env | overrides


class RoleProcess:
    """`python -m <module>` as a child process, ready once its /readyz answers; its log lines
    go to `log_path` when given."""

    def __init__(self, module: str, env: dict[str, str], log_path: Path | None = None) -> None:
        self.env = env
        self.module = module
        command = [sys.executable, "-m", module]
        if log_path is None:
            self.process = subprocess.Popen(command, cwd=ROOT, env=env)
            return
        with log_path.open("ab") as log_file:  # the child keeps its own descriptor
            self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log_file)

    @property
    def health_port(self) -> str:
        """The ingress serves /readyz on its API port; the other roles on the metrics port."""
        return self.env["HOOKSTREAM_PORT" if self.module == "broker" else "HOOKSTREAM_METRICS_PORT"]

    def wait_ready(self, timeout: float = 15.0) -> RoleProcess:
        url = f"http://127.0.0.1:{self.health_port}/readyz"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"process exited with {self.process.returncode}")
            try:
                with urllib.request.urlopen(url, timeout=1) as answer:
                    if answer.status == 200:
                        return self
            except OSError:
                time.sleep(0.05)
        raise AssertionError("process did not become ready")

    def metric(self, name: str) -> float:
        """The sum of a metric's samples on this process's /metrics (0 when absent)."""
        url = f"http://127.0.0.1:{self.health_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as answer:
            lines = answer.read().decode().splitlines()
        samples = [line for line in lines if line.startswith((name + "{", name + " "))]
        return sum(float(line.rsplit(" ", 1)[1]) for line in samples)

    def rss_bytes(self) -> int:
        """Resident memory now (Linux /proc)."""
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        line = next(line for line in status.splitlines() if line.startswith("VmRSS:"))
        return int(line.split()[1]) * 1024

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def wait_exit(self, timeout: float = 30.0) -> int:
        """The exit code, once the process has ended (fails after `timeout`)."""
        return self.process.wait(timeout=timeout)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)


class Roles:
    """The role processes one test started, with their logs in `log_dir`; `stop_all` kills
    whatever is still running (each by its own pid)."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.started: list[RoleProcess] = []

    async def start(self, module: str, redis_url: str, **env: str) -> RoleProcess:
        """`python -m <module>` (broker = ingress, workers, scheduler), once ready. Waited
        for in a thread: the fault proxy and the sink run on the caller's event loop."""
        log_path = self.log_dir / f"{module}-{len(self.started)}.log"
        role = RoleProcess(module, role_env(redis_url, **env), log_path=log_path)
        self.started.append(role)
        return await asyncio.to_thread(role.wait_ready)

    async def ingress(self, redis_url: str, port: int | None = None, **env: str) -> RoleProcess:
        return await self.start(
            "broker", redis_url, HOOKSTREAM_PORT=str(port or free_port()), **env
        )

    async def worker(self, redis_url: str, **env: str) -> RoleProcess:
        return await self.start("workers", redis_url, **env)

    async def scheduler(self, redis_url: str, **env: str) -> RoleProcess:
        return await self.start("scheduler", redis_url, **env)

    def stop_all(self) -> None:
        for role in self.started:
            role.stop()
