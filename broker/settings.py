"""One frozen Settings object per process, built from environment variables.

Every variable is documented, with its default, in deploy/config.example.env and README.md.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace

from broker.durations import parse_duration_ms
from broker.errors import ConfigError as ConfigError  # re-exported: the roles import it from here

# The QStash local dev server's fixed credentials (qstash-api.md 1.1). The TypeScript SDK in
# dev mode talks to 127.0.0.1:8080 with exactly these, so `hookstream dev` serves them too.
DEV_TOKEN = "eyJVc2VySUQiOiJkZWZhdWx0VXNlciIsIlBhc3N3b3JkIjoiZGVmYXVsdFBhc3N3b3JkIn0="
DEV_CURRENT_SIGNING_KEY = "sig_7kYjw48mhY7kAjqNGcy6cr29RJ6r"
DEV_NEXT_SIGNING_KEY = "sig_5ZB6DVzB1wjE8S6rZ7eenA8Pdnhs"


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything a role needs to know about its environment."""

    redis_url: str | None = None
    host: str = "0.0.0.0"
    port: int = 8080
    metrics_port: int = 9090
    tokens: tuple[str, ...] = ()
    current_signing_key: str | None = None
    next_signing_key: str | None = None
    partitions: int = 4
    worker_concurrency: int = 64
    default_timeout_ms: int = 30_000
    max_timeout_ms: int = 15 * 60_000
    visibility_timeout_ms: int = 30_000
    max_reclaims: int = 3
    shutdown_grace_ms: int = 25_000
    max_body_bytes: int = 1024 * 1024
    default_retries: int = 3
    max_retries: int = 20
    retry_time_scale: float = 1.0
    dlq_retention_ms: int = 7 * 86_400_000
    dedup_window_ms: int = 10 * 60_000
    events_max: int = 100_000
    events_retention_ms: int = 3 * 86_400_000
    promote_interval_ms: int = 20
    log_format: str = "json"
    log_level: str = "info"
    data_dir: str = ".hookstream-data"

    def with_dev_defaults(self) -> Settings:
        """Fill in the QStash dev server's token and keys where nothing was configured."""
        return replace(
            self,
            tokens=self.tokens or (DEV_TOKEN,),
            current_signing_key=self.current_signing_key or DEV_CURRENT_SIGNING_KEY,
            next_signing_key=self.next_signing_key or DEV_NEXT_SIGNING_KEY,
        )

    def require_tokens(self) -> None:
        """Production roles that accept API calls must not run open."""
        if not self.tokens:
            raise ConfigError("HOOKSTREAM_TOKENS must be set (comma-separated bearer tokens)")


def settings_from_env(env: Mapping[str, str] | None = None) -> Settings:
    """Read every HOOKSTREAM_* variable (and REDIS_URL), validating as we go."""
    env = os.environ if env is None else env
    reader = _EnvReader(env)
    return Settings(
        redis_url=env.get("REDIS_URL") or None,
        host=env.get("HOOKSTREAM_HOST", "0.0.0.0"),
        port=reader.integer("HOOKSTREAM_PORT", 8080),
        metrics_port=reader.integer("HOOKSTREAM_METRICS_PORT", 9090),
        tokens=tuple(t.strip() for t in env.get("HOOKSTREAM_TOKENS", "").split(",") if t.strip()),
        current_signing_key=env.get("HOOKSTREAM_CURRENT_SIGNING_KEY") or None,
        next_signing_key=env.get("HOOKSTREAM_NEXT_SIGNING_KEY") or None,
        partitions=reader.integer("HOOKSTREAM_PARTITIONS", 4, minimum=1),
        worker_concurrency=reader.integer("HOOKSTREAM_WORKER_CONCURRENCY", 64, minimum=1),
        default_timeout_ms=reader.duration("HOOKSTREAM_DEFAULT_TIMEOUT", "30s"),
        max_timeout_ms=reader.duration("HOOKSTREAM_MAX_TIMEOUT", "15m"),
        visibility_timeout_ms=reader.duration("HOOKSTREAM_VISIBILITY_TIMEOUT", "30s"),
        max_reclaims=reader.integer("HOOKSTREAM_MAX_RECLAIMS", 3),
        shutdown_grace_ms=reader.duration("HOOKSTREAM_SHUTDOWN_GRACE", "25s"),
        max_body_bytes=reader.integer("HOOKSTREAM_MAX_BODY_BYTES", 1024 * 1024, minimum=1),
        default_retries=reader.integer("HOOKSTREAM_DEFAULT_RETRIES", 3),
        max_retries=reader.integer("HOOKSTREAM_MAX_RETRIES", 20),
        retry_time_scale=reader.number("HOOKSTREAM_RETRY_TIME_SCALE", 1.0),
        dlq_retention_ms=reader.duration("HOOKSTREAM_DLQ_RETENTION", "7d"),
        dedup_window_ms=reader.duration("HOOKSTREAM_DEDUP_WINDOW", "10m"),
        events_max=reader.integer("HOOKSTREAM_EVENTS_MAX", 100_000, minimum=1),
        events_retention_ms=reader.duration("HOOKSTREAM_EVENTS_RETENTION", "3d"),
        promote_interval_ms=reader.integer("HOOKSTREAM_PROMOTE_INTERVAL_MS", 20, minimum=1),
        log_format=reader.choice("HOOKSTREAM_LOG_FORMAT", "json", ("json", "console")),
        log_level=reader.choice(
            "HOOKSTREAM_LOG_LEVEL", "info", ("debug", "info", "warning", "error")
        ),
        data_dir=env.get("HOOKSTREAM_DATA_DIR", ".hookstream-data"),
    )


class _EnvReader:
    """Typed access to environment variables with errors that name the variable."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def integer(self, name: str, default: int, minimum: int = 0) -> int:
        raw = self._env.get(name)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
        if value < minimum:
            raise ConfigError(f"{name} must be >= {minimum}, got {value}")
        return value

    def number(self, name: str, default: float) -> float:
        raw = self._env.get(name)
        if raw is None or raw == "":
            return default
        try:
            value = float(raw)
        except ValueError:
            raise ConfigError(f"{name} must be a number, got {raw!r}") from None
        if value <= 0:
            raise ConfigError(f"{name} must be > 0, got {value}")
        return value

    def duration(self, name: str, default: str) -> int:
        raw = self._env.get(name) or default
        try:
            return parse_duration_ms(raw)
        except ValueError as exc:
            raise ConfigError(f"{name}: {exc}") from None

    def choice(self, name: str, default: str, allowed: tuple[str, ...]) -> str:
        value = (self._env.get(name) or default).lower()
        if value not in allowed:
            raise ConfigError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
        return value
