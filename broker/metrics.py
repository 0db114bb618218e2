"""Every Prometheus metric hookstream exports, in one place (catalogue: docs/operations.md).

Labels are bounded: route templates, outcomes, status classes, partition numbers. Never
message ids, URLs or hosts. Metrics are created unregistered and each process exports only
the ones of the roles it runs (`export_role_metrics`), so an ingress shows no worker gauges
stuck at 0 and a worker no scheduler "last tick" of 1970.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from importlib.metadata import PackageNotFoundError, version

from prometheus_client import REGISTRY, Counter, Gauge, Histogram, disable_created_metrics
from prometheus_client.registry import Collector

# `_created` series double the series count of every counter and histogram for nothing our
# dashboards or rules use.
disable_created_metrics()

_DELIVERY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900)
# Queue waits blow past delivery-shaped buckets under backlog, so they get their own.
_WAIT_BUCKETS = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800,
)  # fmt: skip

BUILD_INFO = Gauge(
    "hookstream_build_info",
    "Build and role of this process",
    ["version", "revision", "role"],
    registry=None,
)

HTTP_REQUESTS = Counter(
    "hookstream_http_requests", "API requests", ["method", "route", "code"], registry=None
)
HTTP_DURATION = Histogram(
    "hookstream_http_request_duration_seconds", "API request duration", ["route"], registry=None
)
PUBLISHED = Counter(
    "hookstream_messages_published",
    "Messages stored, by what created them (api, schedule, retry, callback)",
    ["source"],
    registry=None,
)

DELIVERIES = Counter(
    "hookstream_deliveries",
    "Delivery attempts by outcome",
    ["outcome", "status_class"],
    registry=None,
)
DELIVERY_DURATION = Histogram(
    "hookstream_delivery_duration_seconds",
    "Duration of one HTTP delivery attempt",
    buckets=_DELIVERY_BUCKETS,
    registry=None,
)
DELIVERY_WAIT = Histogram(
    "hookstream_delivery_wait_seconds",
    "From a message's due time to the start of its first attempt",
    buckets=_WAIT_BUCKETS,
    registry=None,
)
RETRIES = Counter("hookstream_delivery_retries", "Retries scheduled", ["reason"], registry=None)
DEAD_LETTERED = Counter("hookstream_dead_lettered", "Messages moved to the DLQ", registry=None)
INFLIGHT = Gauge("hookstream_worker_inflight_deliveries", "Deliveries in flight", registry=None)
CONCURRENCY = Gauge(
    "hookstream_worker_concurrency", "Configured concurrent deliveries", registry=None
)

# Sampled from Redis by every worker; identical across replicas, so aggregate with max().
STREAM_LAG = Gauge(
    "hookstream_stream_lag_messages", "Entries not yet read by the group", ["stream"],
    registry=None,
)  # fmt: skip
STREAM_PENDING = Gauge(
    "hookstream_stream_pending_messages", "Entries read but not acknowledged", ["stream"],
    registry=None,
)  # fmt: skip
OLDEST_PENDING_AGE = Gauge(
    "hookstream_stream_oldest_pending_age_seconds", "Idle time of the oldest pending entry",
    ["stream"], registry=None,
)  # fmt: skip
DELAYED = Gauge("hookstream_delayed_messages", "Messages waiting for their due time", registry=None)
DLQ_SIZE = Gauge("hookstream_dlq_messages", "Messages in the dead-letter queue", registry=None)

SCHEDULER_LAST_TICK = Gauge(
    "hookstream_scheduler_last_tick_timestamp_seconds",
    "When the scheduler last ran its loop",
    registry=None,
)
SCHEDULE_FIRES = Counter("hookstream_schedule_fires", "Schedule ticks published", registry=None)
SCHEDULE_FIRE_DELAY = Histogram(
    "hookstream_schedule_fire_delay_seconds",
    "From a tick's cron time to its publish",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
    registry=None,
)

# Workflow runs (docs/workflow.md). The state label is one of the three final run states, the
# outcome one of the delivery outcomes: never a run id or a workflow URL.
WORKFLOW_RUNS_STARTED = Counter(
    "hookstream_workflow_runs_started", "Workflow runs created by a trigger", registry=None
)
WORKFLOW_RUNS_FINISHED = Counter(
    "hookstream_workflow_runs_finished",
    "Workflow runs ended, by final state (RUN_SUCCESS, RUN_FAILED, RUN_CANCELED)",
    ["state"],
    registry=None,
)
WORKFLOW_STEP_DELIVERIES = Counter(
    "hookstream_workflow_step_deliveries",
    "Delivery attempts of workflow steps to their app, by outcome",
    ["outcome"],
    registry=None,
)

_ROLE_METRICS: dict[str, tuple[Collector, ...]] = {
    "ingress": (
        HTTP_REQUESTS, HTTP_DURATION, PUBLISHED, WORKFLOW_RUNS_STARTED, WORKFLOW_RUNS_FINISHED,
    ),
    "worker": (
        PUBLISHED, DELIVERIES, DELIVERY_DURATION, DELIVERY_WAIT, RETRIES, DEAD_LETTERED,
        INFLIGHT, CONCURRENCY, STREAM_LAG, STREAM_PENDING, OLDEST_PENDING_AGE, DELAYED, DLQ_SIZE,
        WORKFLOW_RUNS_FINISHED, WORKFLOW_STEP_DELIVERIES,
    ),
    "scheduler": (PUBLISHED, SCHEDULER_LAST_TICK, SCHEDULE_FIRES, SCHEDULE_FIRE_DELAY),
}  # fmt: skip
_exported: set[int] = set()


def package_version() -> str:
    try:
        return version("hookstream")
    except PackageNotFoundError:
        return "0+unknown"


def export_role_metrics(role: str) -> None:
    """Register the metrics of `role` (once) and its build info; `dev` runs every role."""
    if not _exported:
        REGISTRY.register(BUILD_INFO)
        _exported.add(id(BUILD_INFO))
    BUILD_INFO.labels(version=package_version(), revision="unknown", role=role).set(1)
    for collector in _ROLE_METRICS[role]:
        if id(collector) not in _exported:
            REGISTRY.register(collector)
            _exported.add(id(collector))


ScrapeHook = Callable[[], Awaitable[None]]
SCRAPE_HOOKS: set[ScrapeHook] = set()
"""Run (together) before each /metrics answer: gauges read from Redis are sampled only when
someone looks at them, so an idle, unscraped system pays nothing for them."""


def status_class(status: int) -> str:
    """`2xx`..`5xx`, or `none` when no HTTP answer came."""
    return f"{status // 100}xx" if 100 <= status < 600 else "none"


@functools.lru_cache(maxsize=1024)  # bounded: a client chooses the method
def _http_children(method: str, route: str, code: int) -> tuple[Counter, Histogram]:
    return HTTP_REQUESTS.labels(method, route, str(code)), HTTP_DURATION.labels(route)


def observe_request(method: str, route: str, code: int, seconds: float) -> None:
    """One API request by route template, its labelled children looked up once."""
    requests, duration = _http_children(method, route, code)
    requests.inc()
    duration.observe(seconds)


@functools.cache
def _published_child(source: str) -> Counter:
    return PUBLISHED.labels(source)


def count_published(source: str, count: int = 1) -> None:
    """`count` messages stored by `source` (api, schedule, retry, callback: a bounded set),
    its labelled child looked up once."""
    _published_child(source).inc(count)


@functools.cache
def _delivery_child(outcome: str, status_group: str) -> Counter:
    return DELIVERIES.labels(outcome, status_group)


def count_delivery(outcome: str, status: int) -> None:
    """One delivery attempt in DELIVERIES. The labelled child is looked up once per
    (outcome, status class), a bounded set, not once per delivery (a lock and a dict)."""
    _delivery_child(outcome, status_class(status)).inc()


@functools.cache
def _run_finished_child(state: str) -> Counter:
    return WORKFLOW_RUNS_FINISHED.labels(state)


def count_run_finished(state: str) -> None:
    """One workflow run that ended in `state` (RUN_SUCCESS, RUN_FAILED or RUN_CANCELED)."""
    _run_finished_child(state).inc()


@functools.cache
def _step_delivery_child(outcome: str) -> Counter:
    return WORKFLOW_STEP_DELIVERIES.labels(outcome)


def count_step_delivery(outcome: str) -> None:
    """One delivery attempt of a workflow step, by the outcome DELIVERIES counts it under."""
    _step_delivery_child(outcome).inc()
