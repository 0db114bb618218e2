"""One frozen Settings object per process, built from environment variables.

Each default is written once, on its dataclass field: a variable that is unset (or empty)
leaves the field out, so the default applies. The table VARIABLES names the variable and the
parser of each field. deploy/config.example.env and README.md document every variable with
its default; tests/unit/test_settings.py checks config.example.env against these defaults.
Other roles read their own knobs the same way (scheduler/settings.py).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any

from broker.durations import parse_duration_ms
from broker.egress import AllowList, DestinationPolicy
from broker.errors import ConfigError

# The QStash local dev server's fixed credentials (qstash-api.md 1.1). The TypeScript SDK in
# dev mode talks to 127.0.0.1:8080 with exactly these, so `hookstream dev` serves them too.
DEV_TOKEN = "eyJVc2VySUQiOiJkZWZhdWx0VXNlciIsIlBhc3N3b3JkIjoiZGVmYXVsdFBhc3N3b3JkIn0="
DEV_CURRENT_SIGNING_KEY = "sig_7kYjw48mhY7kAjqNGcy6cr29RJ6r"
DEV_NEXT_SIGNING_KEY = "sig_5ZB6DVzB1wjE8S6rZ7eenA8Pdnhs"


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most `requests` API calls per token in each window of `window_ms`."""

    requests: int
    window_ms: int


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything a role needs to know about its environment."""

    redis_url: str | None = None
    # How to reach Redis (broker/queue/connection.py): `auto` asks the server at REDIS_URL
    # whether it is a cluster node; `sentinel` asks the sentinels for the master.
    redis_mode: str = "auto"
    redis_sentinels: tuple[tuple[str, int], ...] = ()
    redis_master_name: str = ""
    # Above the workers' longest XREADGROUP BLOCK (1 s) with room to spare: a blocked read
    # that hits the socket timeout is cut and its connection dropped (settings floor: 2 s).
    redis_timeout_ms: int = 10_000
    redis_connect_timeout_ms: int = 5_000
    host: str = "0.0.0.0"
    port: int = 8080
    metrics_port: int = 9090
    tokens: tuple[str, ...] = ()
    readonly_tokens: tuple[str, ...] = ()
    # None = no limit; `hookstream dev` never limits.
    rate_limit: RateLimit | None = None
    current_signing_key: str | None = None
    next_signing_key: str | None = None
    # 48 spreads evenly over 1, 2, 3, 4, 6, 8, 12, 16, 24 or 48 cluster masters (keys.py).
    partitions: int = 48
    worker_concurrency: int = 64
    default_timeout_ms: int = 30_000
    max_timeout_ms: int = 15 * 60_000
    max_delay_ms: int = 7 * 86_400_000
    visibility_timeout_ms: int = 30_000
    max_reclaims: int = 3
    shutdown_grace_ms: int = 25_000
    max_body_bytes: int = 1024 * 1024
    max_publish_bytes: int = 10 * 1024 * 1024
    max_publish_messages: int = 1000
    max_batch_items: int = 100
    max_group_endpoints: int = 100
    max_labels: int = 10
    max_parallelism: int = 1000
    max_rate: int = 10_000
    max_rate_period_ms: int = 7 * 86_400_000
    http_idle_timeout_ms: int = 75_000
    http_body_timeout_ms: int = 60_000
    http_max_connections: int = 1000
    default_retries: int = 3
    max_retries: int = 20
    retry_time_scale: float = 1.0
    dlq_retention_ms: int = 7 * 86_400_000
    delivered_retention_ms: int = 5 * 60_000
    dedup_window_ms: int = 10 * 60_000
    max_workflow_steps: int = 1000
    max_workflow_bytes: int = 10 * 1024 * 1024
    workflow_retention_ms: int = 3 * 86_400_000
    events_max: int = 100_000
    events_retention_ms: int = 3 * 86_400_000
    flow_control_idle_ms: int = 86_400_000
    consumer_idle_ms: int = 3_600_000
    promote_interval_ms: int = 10_000
    log_format: str = "json"
    log_level: str = "info"
    data_dir: str = ".hookstream-data"
    allowed_destinations: str = ""
    # The operator accepts a Redis that evicts keys (and may drop acknowledged messages):
    # /readyz stops refusing an evicting maxmemory-policy (docs/operations.md).
    allow_eviction: bool = False
    # `hookstream dev` (and the in-process tests): loopback and private destinations allowed.
    # Set by the command, not by a variable.
    dev: bool = False

    @cached_property
    def destination_policy(self) -> DestinationPolicy:
        """Which addresses deliveries may reach (docs/security.md)."""
        return DestinationPolicy.from_setting(self.allowed_destinations, dev=self.dev)

    def with_dev_defaults(self) -> Settings:
        """Fill in the QStash dev server's token and keys where nothing was configured."""
        unset = {f: v for f, v in _DEV_CREDENTIALS.items() if not getattr(self, f)}
        return replace(self, dev=True, **unset)

    def require_tokens(self) -> None:
        """Production roles that accept API calls must not run open."""
        if not self.tokens:
            raise ConfigError("HOOKSTREAM_TOKENS must be set (comma-separated bearer tokens)")


Parse = Callable[[str, str], Any]
"""(variable name, raw value) -> field value; raises ConfigError naming the variable."""
Variable = tuple[str, Parse]
"""A field's environment variable and the parser of its value."""


def read_variables(variables: Mapping[str, Variable], env: Mapping[str, str]) -> dict[str, Any]:
    """{field: parsed value} for each variable that is set and not empty; the others are left
    out, so the dataclass default applies."""
    return {
        field: parse(name, env[name]) for field, (name, parse) in variables.items() if env.get(name)
    }


def text(_: str, raw: str) -> str:
    return raw


def integer(minimum: int = 0) -> Parse:
    """A whole number of at least `minimum`."""

    def parse(name: str, raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
        if value < minimum:
            raise ConfigError(f"{name} must be >= {minimum}, got {value}")
        return value

    return parse


def number(name: str, raw: str) -> float:
    """A number above zero."""
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if value <= 0:
        raise ConfigError(f"{name} must be > 0, got {value}")
    return value


def duration(name: str, raw: str) -> int:
    """A duration with a unit (`250ms`, `30s`, `1h30m`, bare seconds), in milliseconds."""
    try:
        return parse_duration_ms(raw)
    except ValueError as exc:
        raise ConfigError(f"{name}: {exc}") from None


def choice(*allowed: str) -> Parse:
    """One of `allowed`, in any case."""

    def parse(name: str, raw: str) -> str:
        if raw.lower() not in allowed:
            raise ConfigError(f"{name} must be one of {', '.join(allowed)}, got {raw.lower()!r}")
        return raw.lower()

    return parse


def flag(name: str, raw: str) -> bool:
    """`true`/`false` (also `1`/`0`, `yes`/`no`), in any case."""
    value = raw.strip().lower()
    if value not in _FLAGS:
        raise ConfigError(f"{name} must be true or false, got {raw!r}")
    return _FLAGS[value]


_FLAGS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def _allow_list(name: str, raw: str) -> str:
    try:
        AllowList.parse(raw)
    except ValueError as exc:
        raise ConfigError(f"{name}: {exc}") from None
    return raw


def _rate_limit(name: str, raw: str) -> RateLimit:
    """`<requests>/<window>`, e.g. `100/1s`."""
    count, slash, window = raw.partition("/")
    if not slash:
        raise ConfigError(f"{name} must be <requests>/<window>, e.g. 100/1s, got {raw!r}")
    window_ms = duration(name, window)
    if window_ms <= 0:
        raise ConfigError(f"{name}: the window must be longer than 0, got {window!r}")
    return RateLimit(integer(minimum=1)(name, count.strip()), window_ms)


def _host_ports(name: str, raw: str) -> tuple[tuple[str, int], ...]:
    """`host:port,host:port` (IPv6 as `[::1]:26379`)."""
    found = []
    for item in filter(None, (part.strip() for part in raw.split(","))):
        host, colon, port = item.rpartition(":")
        if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(f"{name} must be host:port[,host:port...], got {item!r}")
        found.append((host.removeprefix("[").removesuffix("]"), int(port)))
    if not found:
        raise ConfigError(f"{name} names no host:port")
    return tuple(found)


def _socket_timeout(name: str, raw: str) -> int:
    """A duration of at least REDIS_TIMEOUT_FLOOR_MS, so a blocked read never reaches it."""
    value = duration(name, raw)
    if value < REDIS_TIMEOUT_FLOOR_MS:
        raise ConfigError(
            f"{name} must be at least {REDIS_TIMEOUT_FLOOR_MS}ms (workers block reads for "
            f"up to {READ_BLOCK_CEILING_MS}ms), got {raw!r}"
        )
    return value


def _tokens(_: str, raw: str) -> tuple[str, ...]:
    return tuple(token.strip() for token in raw.split(",") if token.strip())


READ_BLOCK_CEILING_MS = 1_000
"""The longest XREADGROUP BLOCK any role sends (workers/worker.py READ_BLOCK_MS; a unit test
holds them together)."""
REDIS_TIMEOUT_FLOOR_MS = 2 * READ_BLOCK_CEILING_MS

VARIABLES: dict[str, Variable] = {
    "redis_url": ("REDIS_URL", text),
    "redis_mode": ("HOOKSTREAM_REDIS_MODE", choice("auto", "standalone", "cluster", "sentinel")),
    "redis_sentinels": ("HOOKSTREAM_REDIS_SENTINELS", _host_ports),
    "redis_master_name": ("HOOKSTREAM_REDIS_MASTER_NAME", text),
    "redis_timeout_ms": ("HOOKSTREAM_REDIS_TIMEOUT", _socket_timeout),
    "redis_connect_timeout_ms": ("HOOKSTREAM_REDIS_CONNECT_TIMEOUT", duration),
    "host": ("HOOKSTREAM_HOST", text),
    "port": ("HOOKSTREAM_PORT", integer()),
    "metrics_port": ("HOOKSTREAM_METRICS_PORT", integer()),
    "tokens": ("HOOKSTREAM_TOKENS", _tokens),
    "readonly_tokens": ("HOOKSTREAM_READONLY_TOKENS", _tokens),
    "rate_limit": ("HOOKSTREAM_RATE_LIMIT", _rate_limit),
    "current_signing_key": ("HOOKSTREAM_CURRENT_SIGNING_KEY", text),
    "next_signing_key": ("HOOKSTREAM_NEXT_SIGNING_KEY", text),
    "partitions": ("HOOKSTREAM_PARTITIONS", integer(minimum=1)),
    "worker_concurrency": ("HOOKSTREAM_WORKER_CONCURRENCY", integer(minimum=1)),
    "default_timeout_ms": ("HOOKSTREAM_DEFAULT_TIMEOUT", duration),
    "max_timeout_ms": ("HOOKSTREAM_MAX_TIMEOUT", duration),
    "max_delay_ms": ("HOOKSTREAM_MAX_DELAY", duration),
    "visibility_timeout_ms": ("HOOKSTREAM_VISIBILITY_TIMEOUT", duration),
    "max_reclaims": ("HOOKSTREAM_MAX_RECLAIMS", integer()),
    "shutdown_grace_ms": ("HOOKSTREAM_SHUTDOWN_GRACE", duration),
    "max_body_bytes": ("HOOKSTREAM_MAX_BODY_BYTES", integer(minimum=1)),
    "max_publish_bytes": ("HOOKSTREAM_MAX_PUBLISH_BYTES", integer(minimum=1)),
    "max_publish_messages": ("HOOKSTREAM_MAX_PUBLISH_MESSAGES", integer(minimum=1)),
    "max_batch_items": ("HOOKSTREAM_MAX_BATCH_ITEMS", integer(minimum=1)),
    "max_group_endpoints": ("HOOKSTREAM_MAX_GROUP_ENDPOINTS", integer(minimum=1)),
    "max_labels": ("HOOKSTREAM_MAX_LABELS", integer()),
    "max_parallelism": ("HOOKSTREAM_MAX_PARALLELISM", integer(minimum=1)),
    "max_rate": ("HOOKSTREAM_MAX_RATE", integer(minimum=1)),
    "max_rate_period_ms": ("HOOKSTREAM_MAX_RATE_PERIOD", duration),
    "http_idle_timeout_ms": ("HOOKSTREAM_HTTP_IDLE_TIMEOUT", duration),
    "http_body_timeout_ms": ("HOOKSTREAM_HTTP_BODY_TIMEOUT", duration),
    "http_max_connections": ("HOOKSTREAM_HTTP_MAX_CONNECTIONS", integer(minimum=1)),
    "default_retries": ("HOOKSTREAM_DEFAULT_RETRIES", integer()),
    "max_retries": ("HOOKSTREAM_MAX_RETRIES", integer()),
    "retry_time_scale": ("HOOKSTREAM_RETRY_TIME_SCALE", number),
    "dlq_retention_ms": ("HOOKSTREAM_DLQ_RETENTION", duration),
    "delivered_retention_ms": ("HOOKSTREAM_DELIVERED_RETENTION", duration),
    "dedup_window_ms": ("HOOKSTREAM_DEDUP_WINDOW", duration),
    "max_workflow_steps": ("HOOKSTREAM_MAX_WORKFLOW_STEPS", integer(minimum=1)),
    "max_workflow_bytes": ("HOOKSTREAM_MAX_WORKFLOW_BYTES", integer(minimum=1)),
    "workflow_retention_ms": ("HOOKSTREAM_WORKFLOW_RETENTION", duration),
    "events_max": ("HOOKSTREAM_EVENTS_MAX", integer(minimum=1)),
    "events_retention_ms": ("HOOKSTREAM_EVENTS_RETENTION", duration),
    "flow_control_idle_ms": ("HOOKSTREAM_FLOW_CONTROL_IDLE", duration),
    "consumer_idle_ms": ("HOOKSTREAM_CONSUMER_IDLE", duration),
    # The one integer-ms knob, named so since its first release; the others are durations.
    "promote_interval_ms": ("HOOKSTREAM_PROMOTE_INTERVAL_MS", integer(minimum=1)),
    "log_format": ("HOOKSTREAM_LOG_FORMAT", choice("json", "console")),
    "log_level": ("HOOKSTREAM_LOG_LEVEL", choice("debug", "info", "warning", "error")),
    "data_dir": ("HOOKSTREAM_DATA_DIR", text),
    "allowed_destinations": ("HOOKSTREAM_ALLOWED_DESTINATIONS", _allow_list),
    "allow_eviction": ("HOOKSTREAM_ALLOW_EVICTION", flag),
}
COMMAND_FIELDS = frozenset({"dev"})
"""Fields the command sets rather than a variable."""

_DEV_CREDENTIALS: dict[str, Any] = {
    "tokens": (DEV_TOKEN,),
    "current_signing_key": DEV_CURRENT_SIGNING_KEY,
    "next_signing_key": DEV_NEXT_SIGNING_KEY,
}
# What `hookstream dev` assumes where a variable is unset: a local, readable, open-by-token server.
DEV_DEFAULTS: dict[str, Any] = {
    "host": "127.0.0.1",
    "log_format": "console",
    "dev": True,
    **_DEV_CREDENTIALS,
}


def settings_from_env(env: Mapping[str, str] | None = None, *, dev: bool = False) -> Settings:
    """Read every HOOKSTREAM_* variable (and REDIS_URL), validating as we go. With `dev`, unset
    variables take DEV_DEFAULTS (the QStash dev server's token and keys, 127.0.0.1, console
    logs) before the dataclass defaults."""
    values = read_variables(VARIABLES, os.environ if env is None else env)
    return Settings(**(DEV_DEFAULTS | values if dev else values))
