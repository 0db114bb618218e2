"""The scheduler's own settings, read from the environment like broker.settings.Settings."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from broker.errors import ConfigError
from broker.settings import Variable, duration, read_variables

_MIN_LEASE_MS = 1000


@dataclass(frozen=True, kw_only=True)
class SchedulerSettings:
    """How the replicas share the work."""

    # How long the active replica's lease lasts without renewal: the failover time after a
    # crash. It is renewed at every wake-up (at least every poll_ms).
    lease_ms: int = 5000
    # The longest the active replica sleeps, and how often standbys try to take the lease. A
    # schedule created, updated or resumed while it sleeps is seen within this time, which
    # bounds how late its first tick can be.
    poll_ms: int = 200


VARIABLES: dict[str, Variable] = {
    "lease_ms": ("HOOKSTREAM_SCHEDULER_LEASE", duration),
    "poll_ms": ("HOOKSTREAM_SCHEDULER_POLL_INTERVAL", duration),
}


def scheduler_settings_from_env(env: Mapping[str, str] | None = None) -> SchedulerSettings:
    """Read HOOKSTREAM_SCHEDULER_LEASE and HOOKSTREAM_SCHEDULER_POLL_INTERVAL."""
    settings = SchedulerSettings(**read_variables(VARIABLES, os.environ if env is None else env))
    if settings.lease_ms < _MIN_LEASE_MS:
        raise ConfigError(
            f"HOOKSTREAM_SCHEDULER_LEASE must be at least 1s, got {settings.lease_ms} ms"
        )
    # Renewed at least twice per lease, the active replica keeps it through one slow round.
    if not 0 < settings.poll_ms <= settings.lease_ms // 2:
        raise ConfigError(
            "HOOKSTREAM_SCHEDULER_POLL_INTERVAL must be above 0 and at most half of "
            f"HOOKSTREAM_SCHEDULER_LEASE ({settings.lease_ms} ms), got {settings.poll_ms} ms"
        )
    return settings
