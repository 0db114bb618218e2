"""The smaller deploy/ files: config.example.env, redis.conf, the Dockerfile, the shell scripts."""

from __future__ import annotations

import re
import subprocess
import tomllib

import pytest
import yaml

SECRET_SETTINGS = {
    "HOOKSTREAM_TOKENS",
    "HOOKSTREAM_READONLY_TOKENS",
    "HOOKSTREAM_CURRENT_SIGNING_KEY",
    "HOOKSTREAM_NEXT_SIGNING_KEY",
}


@pytest.fixture(scope="module")
def example_env(repo):
    """KEY -> (value, unset-by-default, comment line above it) from deploy/config.example.env."""
    lines = (repo / "deploy/config.example.env").read_text().splitlines()
    settings = {}
    for i, line in enumerate(lines):
        match = re.fullmatch(r"(#?)([A-Z][A-Z0-9_]+)=(.*)", line)
        if match:
            settings[match[2]] = (match[3], bool(match[1]), lines[i - 1])
    return settings


def test_example_env_documents_every_chart_setting(example_env, repo):
    """config.example.env lists the chart's settings, the secret ones and REDIS_URL, no more."""
    config = yaml.safe_load((repo / "deploy/helm/hookstream/values.yaml").read_text())["config"]
    assert set(example_env) == set(config) | SECRET_SETTINGS | {"REDIS_URL"}


def test_example_env_defaults_match_the_chart(example_env, repo):
    """Each non-secret default in config.example.env is the chart's default, and is set."""
    config = yaml.safe_load((repo / "deploy/helm/hookstream/values.yaml").read_text())["config"]
    for key, default in config.items():
        value, unset, _ = example_env[key]
        assert (value, unset) == (str(default), False), key
    for key in SECRET_SETTINGS | {"REDIS_URL"}:
        assert example_env[key][1], f"{key} has no default: it must be commented out"


def test_example_env_has_a_comment_per_setting(example_env):
    """Every setting is preceded by a one-line comment that explains it."""
    for key, (_, _, above) in example_env.items():
        assert above.startswith("# "), key
        assert len(above) > 10, key


def test_redis_conf_keeps_every_acknowledged_message(repo):
    """redis.conf persists with the AOF (fsync every second) and never evicts."""
    directives = {}
    for line in (repo / "deploy/redis.conf").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.strip().partition(" ")
            directives[key] = value
    assert directives["appendonly"] == "yes"
    assert directives["appendfsync"] == "everysec"
    assert directives["maxmemory-policy"] == "noeviction"


def test_dockerfile_runs_hookstream_as_uid_10001(repo):
    """The image is multi-stage on python:3.11-slim, runs as 10001, entrypoint hookstream."""
    text = (repo / "deploy/Dockerfile").read_text()
    assert "ARG BASE_IMAGE=python:3.11-slim" in text
    assert len(re.findall(r"^FROM ", text, re.M)) == 2
    assert re.search(r"^USER 10001(:10001)?$", text, re.M)
    assert 'ENTRYPOINT ["hookstream"]' in text


def test_dockerfile_copies_every_package(repo):
    """Each package pyproject.toml installs is copied into the build stage and let through by
    the build context's ignore file (the `hookstream` package once was not)."""
    pyproject = tomllib.loads((repo / "pyproject.toml").read_text())
    packages = [
        p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    ]
    dockerfile = (repo / "deploy/Dockerfile").read_text()
    ignore = (repo / "deploy/Dockerfile.dockerignore").read_text().splitlines()
    for package in packages:
        assert f"COPY {package} ./{package}" in dockerfile, package
        assert f"!{package}/" in ignore, package


def test_image_version_is_the_project_and_chart_version(repo):
    """The image's version label defaults to the project's version, which the chart's
    appVersion (its default image tag) names too."""
    version = tomllib.loads((repo / "pyproject.toml").read_text())["project"]["version"]
    chart = yaml.safe_load((repo / "deploy/helm/hookstream/Chart.yaml").read_text())
    assert f"ARG VERSION={version}" in (repo / "deploy/Dockerfile").read_text()
    assert chart["appVersion"] == version


def test_dockerfile_passes_hadolint(hadolint, repo):
    """hadolint finds no problem in the Dockerfile."""
    result = subprocess.run(
        [hadolint, str(repo / "deploy/Dockerfile")], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("script", ["deploy/install-tools.sh", "deploy/image/build.sh"])
def test_shell_scripts_are_valid_bash(repo, script):
    """The deploy scripts parse (bash -n): install-tools.sh, which CI runs before these
    tests, and image/build.sh, which only the image test (root, buildah) runs."""
    result = subprocess.run(
        ["bash", "-n", str(repo / script)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
