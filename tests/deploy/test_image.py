"""The image, built for real: deploy/image/build.sh, its config, its files, and the three roles
started from it delivering one signed message on 127.0.0.1.

The build is the one `make image` runs: buildah with chroot isolation (no container runtime,
no registry) on a Debian bookworm base made with debootstrap, from wheels the base's own pip
downloaded, offline inside the build. The base is cached (CACHE_DIR, default
~/.cache/hookstream-image, and buildah's storage), so only the first run on a machine pays for
debootstrap; deploy/README.md "Build the image" has the figures.

Then each role runs as a container would run it: `buildah run --isolation chroot` in its own
working container of the image, which applies the image's user, environment and working
directory, with the image's entrypoint and the role as its argument, against the suite's Redis
and sink. Needs buildah, debootstrap and root: skipped without them, required with CI=true
(deploy/install-tools.sh installs them).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sysconfig
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from broker.redis_server import free_port
from tests.support.api import check_signature
from tests.support.hookstream import TEST_TOKEN
from tests.support.procs import role_env
from tests.support.sink import Sink

BUILD_TIMEOUT = 900.0  # a cold build (debootstrap) on a loaded 2-core machine; warm takes seconds
STARTUP_TIMEOUT = 60.0  # every role ready, from the first start
DELIVERY_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0  # role_env's shutdown grace is the default 25 s; an idle role stops at once
IMAGE = "localhost/hookstream:test"
ROLES = ("ingress", "worker", "scheduler")
USER = "10001:10001"
# Never in the runtime image: installers, the dev extra's tools, compilers.
FORBIDDEN_PACKAGES = frozenset({"pip", "setuptools", "pytest", "ruff", "mypy", "fakeredis"})
FORBIDDEN_PROGRAMS = ("pip", "pip3", "gcc", "cc", "make", "git")

# pytest-timeout counts the build in the setup of the module's first test.
pytestmark = pytest.mark.timeout(
    BUILD_TIMEOUT + STARTUP_TIMEOUT + DELIVERY_TIMEOUT + len(ROLES) * STOP_TIMEOUT
)

Json = dict[str, Any]


def _tail(path: Path, lines: int = 30) -> str:
    if not path.exists():
        return f"--- {path.name}: (missing)"
    return f"--- {path.name}:\n" + "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


class Buildah:
    """The buildah command line with this module's containers.conf (no resource limits, which
    a sandbox without CAP_SYS_RESOURCE refuses); build.sh gets the same file."""

    def __init__(self, binary: str, workdir: Path) -> None:
        self.binary = binary
        conf = workdir / "containers.conf"
        conf.write_text("[containers]\ndefault_ulimits = []\n")
        self.env = {**os.environ, "CONTAINERS_CONF": str(conf)}

    def __call__(self, *args: str) -> str:
        result = self.run(*args)
        assert result.returncode == 0, f"buildah {' '.join(args)}: {result.stderr}"
        return result.stdout.strip()

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.binary, *args], env=self.env, capture_output=True, text=True, timeout=120
        )

    def working_container(self, image: str, name: str) -> str:
        """A fresh working container of the image under a fixed name, replacing one that an
        interrupted run left behind (so they never pile up)."""
        self.run("rm", name)
        return self("from", "--pull=false", "--quiet", "--name", name, image)

    def popen(self, args: list[str], log: Path) -> subprocess.Popen[bytes]:
        with log.open("wb") as out:
            return subprocess.Popen(
                [self.binary, *args], env=self.env, stdout=out, stderr=subprocess.STDOUT
            )


@pytest.fixture(scope="module")
def tools(buildah: str, tmp_path_factory: pytest.TempPathFactory) -> Buildah:
    return Buildah(buildah, tmp_path_factory.mktemp("buildah"))


@pytest.fixture(scope="module")
def image(tools: Buildah, repo: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """deploy/image/build.sh, bounded; its output is in the failure message. In a session of
    its own, so that a build past the bound is stopped with debootstrap and buildah under it."""
    log = tmp_path_factory.mktemp("build") / "build.log"
    with log.open("wb") as out:
        build = subprocess.Popen(
            ["bash", str(repo / "deploy/image/build.sh")],
            env={**tools.env, "IMAGE": IMAGE},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        status = build.wait(timeout=BUILD_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(build.pid, signal.SIGTERM)  # buildah removes its containers on SIGTERM
        try:
            build.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(build.pid, signal.SIGKILL)
            build.wait()
        pytest.fail(f"the image build took over {BUILD_TIMEOUT:.0f} s\n{_tail(log)}")
    assert status == 0, f"deploy/image/build.sh failed\n{_tail(log)}"
    assert log.read_text().splitlines()[-1] == IMAGE
    return IMAGE


@pytest.fixture(scope="module")
def config(tools: Buildah, image: str) -> Json:
    """The image's OCI config (User, Entrypoint, ExposedPorts, Labels, ...)."""
    inspected: Json = json.loads(tools("inspect", "--type", "image", image))
    return dict(inspected["OCIv1"]["config"])


@pytest.fixture(scope="module")
def rootfs(tools: Buildah, image: str) -> Iterator[Path]:
    """The image's filesystem, mounted through a working container."""
    container = tools.working_container(image, "hookstream-test-files")
    try:
        yield Path(tools("mount", container))
    finally:
        tools("rm", container)


def test_image_config_runs_hookstream_as_10001(config: Json, repo: Path) -> None:
    """The image runs `hookstream <role>` as uid 10001 in /tmp, exposes the API and metrics
    ports, and is labelled with the project's version."""
    version = re.search(r'^version = "(.+)"$', (repo / "pyproject.toml").read_text(), re.M)
    assert version
    assert config["User"] == USER
    assert config["Entrypoint"] == ["hookstream"]
    assert config["Cmd"] == ["--help"]
    assert config["WorkingDir"] == "/tmp"
    assert set(config["ExposedPorts"]) == {"8080/tcp", "9090/tcp"}
    labels = config["Labels"]
    assert labels["org.opencontainers.image.title"] == "hookstream"
    assert labels["org.opencontainers.image.version"] == version[1]
    assert labels["org.opencontainers.image.licenses"] == "Apache-2.0"


def _site_packages(root: Path) -> Path:
    found = sorted(root.glob("opt/hookstream/lib/python3.*/site-packages"))
    assert len(found) == 1, f"one virtualenv site-packages expected, found {found}"
    return found[0]


def forbidden_packages(site_packages: Path) -> set[str]:
    """Which of FORBIDDEN_PACKAGES are installed in a site-packages directory."""
    return {path.name for path in site_packages.iterdir() if path.name in FORBIDDEN_PACKAGES} | {
        path.name.split("-")[0]
        for path in site_packages.glob("*.dist-info")
        if path.name.split("-")[0].lower() in FORBIDDEN_PACKAGES
    }


def test_forbidden_packages_finds_the_dev_tools_of_this_venv() -> None:
    """Negative control: in the test suite's own virtualenv the check finds pip and pytest."""
    assert {"pip", "pytest"} <= forbidden_packages(Path(sysconfig.get_paths()["purelib"]))


def test_image_files_are_root_owned_with_no_dev_tools(rootfs: Path) -> None:
    """The code belongs to root (uid 10001 cannot change it); no installer, dev tool or
    compiler is in the image; what the chart and deliveries need is."""
    entrypoint = rootfs / "opt/hookstream/bin/hookstream"
    assert entrypoint.is_file()
    for path in (entrypoint, _site_packages(rootfs) / "broker"):
        info = path.stat()
        assert info.st_uid == 0, path
        assert not info.st_mode & 0o022, f"{path} is writable by others"
    assert forbidden_packages(_site_packages(rootfs)) == set()
    for directory in ("opt/hookstream/bin", "usr/local/bin", "usr/bin"):
        present = [name for name in FORBIDDEN_PROGRAMS if (rootfs / directory / name).exists()]
        assert present == [], f"/{directory}: {present}"
    assert re.search(r"^hookstream:x:10001:10001:", (rootfs / "etc/passwd").read_text(), re.M)
    assert (rootfs / "usr/bin/sleep").is_file()  # the chart's preStop hook runs `sleep`
    assert (rootfs / "etc/ssl/certs/ca-certificates.crt").is_file()  # https destinations


def written_outside_tmp(upper: Path) -> list[str]:
    """What a container wrote (or deleted: overlay whiteouts) outside /tmp, from the upper
    directory of its overlay mount; directories alone are not counted (buildah makes the
    mount points of its own /run)."""
    return sorted(
        str(path.relative_to(upper))
        for path in upper.rglob("*")
        if not path.is_dir() and path.relative_to(upper).parts[0] != "tmp"
    )


def test_written_outside_tmp_reports_files_beyond_tmp(tmp_path: Path) -> None:
    """Negative control: a file in /etc counts, one in /tmp and an empty /run do not."""
    for name in ("etc/changed", "tmp/scratch/file"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    (tmp_path / "run").mkdir()
    assert written_outside_tmp(tmp_path) == ["etc/changed"]


def _children(pid: int) -> list[int]:
    """Every descendant of a process, from the parent ids in /proc/*/stat."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # exited meanwhile
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _uids(pid: int) -> str:
    """The real, effective, saved and filesystem uids of a process."""
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"^Uid:\s+(.*)$", status, re.M)
    assert match, status
    return " ".join(match[1].split())


class ImageRole:
    """One role run from the image, in its own working container, as a container would run it:
    the image's user, environment, working directory and entrypoint."""

    def __init__(self, tools: Buildah, image: str, config: Json, role: str, log: Path) -> None:
        self.tools, self.role, self.log = tools, role, log
        self.port = free_port()
        settings = role_env("", HOOKSTREAM_PORT=str(self.port))
        settings["HOOKSTREAM_METRICS_PORT"] = str(self.port)
        self.settings = {
            key: value
            for key, value in settings.items()
            if key.startswith("HOOKSTREAM_") or key == "REDIS_URL"
        }
        self.image, self.entrypoint = image, [*config["Entrypoint"], role]
        self.container = ""
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, redis_url: str) -> ImageRole:
        self.container = self.tools.working_container(self.image, f"hookstream-test-{self.role}")
        env = [
            f"--env={key}={value}"
            for key, value in {**self.settings, "REDIS_URL": redis_url}.items()
        ]
        args = ["run", "--isolation", "chroot", *env, self.container, "--", *self.entrypoint]
        self.process = self.tools.popen(args, self.log)
        return self

    def hookstream_pid(self) -> int:
        """The role's own process, under buildah's (buildah-chroot-runtime, then
        buildah-chroot-exec, whose command line ends with the role's)."""
        assert self.process is not None
        for pid in _children(self.process.pid):
            try:
                command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if command[0].startswith(b"buildah"):
                continue
            if command[-2:] == [self.role.encode(), b""] and b"hookstream" in command[-3]:
                return pid
        pytest.fail(f"no `hookstream {self.role}` process under buildah run\n{_tail(self.log)}")

    async def wait_ready(self, http: aiohttp.ClientSession, deadline: float) -> None:
        url = f"http://127.0.0.1:{self.port}/readyz"
        assert self.process is not None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"{self.role} exited with {self.process.returncode}\n{_tail(self.log)}")
            try:
                async with http.get(url) as answer:
                    if answer.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
        pytest.fail(f"{self.role} not ready within {STARTUP_TIMEOUT:.0f} s\n{_tail(self.log)}")

    def terminate(self) -> int:
        """SIGTERM to the role's own process, as a container runtime sends it to the
        entrypoint; buildah run's exit status is then the role's."""
        assert self.process is not None
        os.kill(self.hookstream_pid(), signal.SIGTERM)
        try:
            return self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{self.role} still running {STOP_TIMEOUT:.0f} s after SIGTERM")

    def upper(self) -> Path:
        """The upper directory of the working container's overlay: what the role changed."""
        merged = Path(self.tools("mount", self.container))
        assert merged.name == "merged", f"{merged}: not an overlay mount (storage driver?)"
        return merged.parent / "diff"

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # buildah run then kills the role
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.container:
            self.tools("rm", self.container)


@pytest.fixture
def roles(
    tools: Buildah, image: str, config: Json, tmp_path: Path
) -> Iterator[dict[str, ImageRole]]:
    started = {
        role: ImageRole(tools, image, config, role, tmp_path / f"{role}.log") for role in ROLES
    }
    yield started
    for role in started.values():
        role.stop()


async def test_roles_from_the_image_deliver_a_signed_message(
    roles: dict[str, ImageRole], redis_url: str, sink: Sink
) -> None:
    """ingress, worker and scheduler, each from the image as uid 10001, take one publish and
    deliver it to the sink with a signature the official Receiver accepts; each then stops
    cleanly on SIGTERM, having written nothing outside /tmp."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
        for role in roles.values():
            role.start(redis_url)
        for role in roles.values():
            await role.wait_ready(http, deadline)
            assert _uids(role.hookstream_pid()) == "10001 10001 10001 10001", role.role
        api = f"http://127.0.0.1:{roles['ingress'].port}"
        auth = {"Authorization": f"Bearer {TEST_TOKEN}"}
        destination = sink.url("/from-the-image")
        body = b'{"built": "for real"}'
        async with http.post(
            f"{api}/v2/publish/{destination}",
            data=body,
            headers={**auth, "Content-Type": "application/json"},
        ) as answer:
            assert answer.status == 201, await answer.text()
            message_id = (await answer.json())["messageId"]
        try:
            [received] = await sink.wait_for(1, DELIVERY_TIMEOUT, path="/from-the-image")
        except TimeoutError:
            logs = "\n".join(_tail(role.log) for role in roles.values())
            pytest.fail(f"{message_id} not delivered within {DELIVERY_TIMEOUT:.0f} s\n{logs}")
        async with http.get(f"{api}/v2/keys", headers=auth) as answer:
            keys = await answer.json()
    assert received.body == body
    assert received.headers["Upstash-Message-Id"] == message_id
    check_signature(keys, received, destination)
    for role in roles.values():
        assert role.terminate() == 0, f"{role.role} exit status\n{_tail(role.log)}"
        # The chart mounts the root read-only, with an emptyDir at /tmp.
        assert written_outside_tmp(role.upper()) == [], role.role
