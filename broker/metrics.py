"""Every Prometheus metric hookstream exports, in one place (catalogue: docs/operations.md).

Labels are bounded: route templates, outcomes, status classes, partition numbers. Never
message ids, URLs or hosts.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

_DELIVERY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900)
# Queue waits blow past delivery-shaped buckets under backlog, so they get their own.
_WAIT_BUCKETS = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800,
)  # fmt: skip

BUILD_INFO = Gauge(
    "hookstream_build_info", "Build and role of this process", ["version", "revision", "role"]
)

HTTP_REQUESTS = Counter("hookstream_http_requests", "API requests", ["method", "route", "code"])
HTTP_DURATION = Histogram(
    "hookstream_http_request_duration_seconds", "API request duration", ["route"]
)
PUBLISHED = Counter("hookstream_messages_published", "Messages stored", ["source"])

DELIVERIES = Counter(
    "hookstream_deliveries", "Delivery attempts by outcome", ["outcome", "status_class"]
)
DELIVERY_DURATION = Histogram(
    "hookstream_delivery_duration_seconds",
    "Duration of one HTTP delivery attempt",
    buckets=_DELIVERY_BUCKETS,
)
DELIVERY_WAIT = Histogram(
    "hookstream_delivery_wait_seconds",
    "From a message's due time to the start of its attempt",
    buckets=_WAIT_BUCKETS,
)
RETRIES = Counter("hookstream_delivery_retries", "Retries scheduled", ["reason"])
DEAD_LETTERED = Counter("hookstream_dead_lettered", "Messages moved to the DLQ")
INFLIGHT = Gauge("hookstream_worker_inflight_deliveries", "Deliveries in flight")
CONCURRENCY = Gauge("hookstream_worker_concurrency", "Configured concurrent deliveries")

# Sampled from Redis by every worker; identical across replicas, so aggregate with max().
STREAM_LAG = Gauge(
    "hookstream_stream_lag_messages", "Entries not yet read by the group", ["stream"]
)
STREAM_PENDING = Gauge(
    "hookstream_stream_pending_messages", "Entries read but not acknowledged", ["stream"]
)
OLDEST_PENDING_AGE = Gauge(
    "hookstream_stream_oldest_pending_age_seconds", "Idle time of the oldest pending entry",
    ["stream"],
)  # fmt: skip
DELAYED = Gauge("hookstream_delayed_messages", "Messages waiting for their due time")
DLQ_SIZE = Gauge("hookstream_dlq_messages", "Messages in the dead-letter queue")

SCHEDULER_LAST_TICK = Gauge(
    "hookstream_scheduler_last_tick_timestamp_seconds", "When the scheduler last ran its loop"
)
SCHEDULE_FIRES = Counter("hookstream_schedule_fires", "Schedule ticks published")
SCHEDULE_FIRE_DELAY = Histogram(
    "hookstream_schedule_fire_delay_seconds",
    "From a tick's cron time to its publish",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
)


def status_class(status: int) -> str:
    """`2xx`..`5xx`, or `none` when no HTTP answer came."""
    return f"{status // 100}xx" if 100 <= status < 600 else "none"
