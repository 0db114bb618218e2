"""Settings from the environment: defaults written once, dev defaults, the scheduler's knobs."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import pytest

from broker.settings import (
    COMMAND_FIELDS,
    DEV_CURRENT_SIGNING_KEY,
    DEV_NEXT_SIGNING_KEY,
    DEV_TOKEN,
    VARIABLES,
    ConfigError,
    RateLimit,
    Settings,
    settings_from_env,
)
from scheduler.settings import SchedulerSettings, scheduler_settings_from_env

EXAMPLE_ENV = Path(__file__).parents[2] / "deploy/config.example.env"


def _documented_defaults() -> dict[str, str]:
    """The variables config.example.env sets (commented-out ones have no default)."""
    lines = EXAMPLE_ENV.read_text().splitlines()
    return dict(
        m.groups() for line in lines if (m := re.fullmatch(r"([A-Z][A-Z0-9_]+)=(.*)", line))
    )


def test_documented_defaults_are_the_defaults() -> None:
    """Reading config.example.env gives exactly the dataclass defaults of both settings."""
    documented = _documented_defaults()
    assert settings_from_env(documented) == Settings()
    assert scheduler_settings_from_env(documented) == SchedulerSettings()


def test_every_field_has_one_variable() -> None:
    """Each Settings field is read from one variable, and no variable names two fields."""
    assert set(VARIABLES) == {f.name for f in fields(Settings)} - COMMAND_FIELDS
    names = [name for name, _ in VARIABLES.values()]
    assert len(names) == len(set(names))


def test_unset_and_empty_variables_keep_the_defaults() -> None:
    """No variables, or empty ones, mean the dataclass defaults."""
    empty = {name: "" for name, _ in VARIABLES.values()}
    assert settings_from_env({}) == settings_from_env(empty) == Settings()


def test_variables_are_parsed_into_their_fields() -> None:
    """Durations become ms, lists are split, choices lowercased; the old integer-ms name works."""
    settings = settings_from_env(
        {
            "HOOKSTREAM_PORT": "8000",
            "HOOKSTREAM_TOKENS": "a, b,",
            "HOOKSTREAM_DEFAULT_TIMEOUT": "1m30s",
            "HOOKSTREAM_RETRY_TIME_SCALE": "0.5",
            "HOOKSTREAM_PROMOTE_INTERVAL_MS": "5",
            "HOOKSTREAM_LOG_LEVEL": "DEBUG",
            "REDIS_URL": "redis://r:6379/1",
        }
    )
    assert (settings.port, settings.tokens, settings.default_timeout_ms) == (
        8000,
        ("a", "b"),
        90_000,
    )
    assert (settings.retry_time_scale, settings.promote_interval_ms) == (0.5, 5)
    assert (settings.log_level, settings.redis_url) == ("debug", "redis://r:6379/1")


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("HOOKSTREAM_PORT", "eighty", "must be an integer"),
        ("HOOKSTREAM_PARTITIONS", "0", "must be >= 1"),
        ("HOOKSTREAM_RETRY_TIME_SCALE", "0", "must be > 0"),
        ("HOOKSTREAM_DLQ_RETENTION", "a week", "invalid duration"),
        ("HOOKSTREAM_LOG_FORMAT", "xml", "must be one of json, console"),
        ("HOOKSTREAM_RATE_LIMIT", "100", "must be <requests>/<window>"),
        ("HOOKSTREAM_RATE_LIMIT", "0/1s", "must be >= 1"),
        ("HOOKSTREAM_RATE_LIMIT", "many/1s", "must be an integer"),
        ("HOOKSTREAM_RATE_LIMIT", "10/soon", "invalid duration"),
        ("HOOKSTREAM_RATE_LIMIT", "10/0s", "longer than 0"),
        ("HOOKSTREAM_REDIS_MODE", "ring", "must be one of auto, standalone, cluster"),
        ("HOOKSTREAM_REDIS_TIMEOUT", "1s", "must be at least 2000ms"),
        ("HOOKSTREAM_REDIS_SENTINELS", "s1:26379,s2", "must be host:port"),
        ("HOOKSTREAM_REDIS_SENTINELS", "s1:99999", "must be host:port"),
    ],
)
def test_bad_values_name_the_variable(name: str, value: str, message: str) -> None:
    """A malformed value stops the process with a message naming the variable."""
    with pytest.raises(ConfigError, match=f"^{name}.*{message}"):
        settings_from_env({name: value})


def test_rate_limit_is_requests_per_window() -> None:
    """HOOKSTREAM_RATE_LIMIT=100/1s is 100 requests per 1000 ms; unset, there is none."""
    assert settings_from_env({"HOOKSTREAM_RATE_LIMIT": "100/1s"}).rate_limit == RateLimit(100, 1000)
    assert settings_from_env({"HOOKSTREAM_RATE_LIMIT": "5/2m"}).rate_limit == RateLimit(5, 120_000)
    assert settings_from_env({}).rate_limit is None


def test_dev_defaults_fill_only_what_is_unset() -> None:
    """dev=True: QStash dev token and keys, 127.0.0.1 and console logs where nothing is set;
    whatever is set wins; dev=False keeps the production defaults."""
    dev = settings_from_env({}, dev=True)
    assert dev.tokens == (DEV_TOKEN,)
    assert (dev.current_signing_key, dev.next_signing_key) == (
        DEV_CURRENT_SIGNING_KEY,
        DEV_NEXT_SIGNING_KEY,
    )
    assert (dev.host, dev.log_format) == ("127.0.0.1", "console")
    chosen = {
        "HOOKSTREAM_HOST": "0.0.0.0",
        "HOOKSTREAM_LOG_FORMAT": "json",
        "HOOKSTREAM_TOKENS": "t",
    }
    configured = settings_from_env(chosen, dev=True)
    assert (configured.host, configured.log_format, configured.tokens) == (
        "0.0.0.0",
        "json",
        ("t",),
    )
    assert settings_from_env({}) == Settings()


def test_scheduler_poll_interval_is_a_duration() -> None:
    """HOOKSTREAM_SCHEDULER_POLL_INTERVAL takes a duration, like the lease."""
    env = {"HOOKSTREAM_SCHEDULER_POLL_INTERVAL": "50ms", "HOOKSTREAM_SCHEDULER_LEASE": "2s"}
    assert scheduler_settings_from_env(env) == SchedulerSettings(lease_ms=2000, poll_ms=50)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"HOOKSTREAM_SCHEDULER_POLL_INTERVAL": "0s"}, "must be above 0"),
        ({"HOOKSTREAM_SCHEDULER_POLL_INTERVAL": "3s"}, "at most half"),
        (
            {"HOOKSTREAM_SCHEDULER_POLL_INTERVAL": "600ms", "HOOKSTREAM_SCHEDULER_LEASE": "1s"},
            "half",
        ),
        ({"HOOKSTREAM_SCHEDULER_POLL_INTERVAL": "often"}, "invalid duration"),
    ],
)
def test_bad_poll_interval_is_refused(env: dict[str, str], message: str) -> None:
    """A zero poll, one the lease could expire in, or no duration stops the process."""
    with pytest.raises(ConfigError, match=f"^HOOKSTREAM_SCHEDULER_POLL_INTERVAL.*{message}"):
        scheduler_settings_from_env(env)


def test_sentinels_parse_to_host_port_pairs() -> None:
    """A comma-separated list, IPv6 in brackets."""
    settings = settings_from_env({"HOOKSTREAM_REDIS_SENTINELS": "s1:26379, [::1]:26380"})
    assert settings.redis_sentinels == (("s1", 26379), ("::1", 26380))


def test_the_redis_timeout_floor_exceeds_the_workers_read_block() -> None:
    """A blocked XREADGROUP returns before the socket timeout could cut it."""
    from broker.settings import READ_BLOCK_CEILING_MS, REDIS_TIMEOUT_FLOOR_MS
    from workers.worker import READ_BLOCK_MS

    assert READ_BLOCK_MS <= READ_BLOCK_CEILING_MS < REDIS_TIMEOUT_FLOOR_MS
    assert Settings().redis_timeout_ms >= REDIS_TIMEOUT_FLOOR_MS


@pytest.mark.parametrize("timeout_ms", [2_000, 5_000, 10_000, 60_000])
def test_an_idle_block_ends_well_before_the_reply_timeout(timeout_ms: int) -> None:
    """An idle partition blocks as long as the reply timeout allows, with a margin for a late
    reply, and at least as long as a busy one."""
    from workers.worker import IDLE_BLOCK_MARGIN_MS, READ_BLOCK_MS, idle_block_ms

    block = idle_block_ms(Settings(redis_timeout_ms=timeout_ms))
    assert READ_BLOCK_MS <= block <= timeout_ms - min(IDLE_BLOCK_MARGIN_MS, timeout_ms // 2)
