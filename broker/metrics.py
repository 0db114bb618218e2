"""Every Prometheus metric hookstream exports, in one place (catalogue: docs/operations.md).

Labels are bounded: route templates, outcomes, status classes, partition numbers. Never
message ids, URLs or hosts. Metrics are created unregistered and each process exports only
the ones of the roles it runs (`export_role_metrics`), so an ingress shows no worker gauges
stuck at 0 and a worker no scheduler "last tick" of 1970.
"""

from __future__ import annotations

import bisect
import functools
import itertools
from collections.abc import Awaitable, Callable, Iterator
from importlib.metadata import PackageNotFoundError, version
from typing import Generic, TypeVar, cast

from prometheus_client import REGISTRY, Gauge, Histogram, disable_created_metrics
from prometheus_client import utils as prometheus_utils
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

# `_created` series double the series count of every counter and histogram for nothing our
# dashboards or rules use.
disable_created_metrics()
# How prometheus_client writes a bucket's `le` (1 → "1.0", as Go would); the library has no hints.
_le_text = cast(Callable[[float], str], prometheus_utils.floatToGoString)


# -- counters and histograms of the hot paths ------------------------------------------------
#
# prometheus_client's Counter and Histogram take a lock per update, and a histogram scans its
# buckets in Python: ~1 µs an observation, ~0.8 µs an increment, 3 µs of every delivery and 2.5
# of every publish (docs/performance-log.md, 2026-12-02). Every hookstream process updates
# its metrics on its event loop's thread and renders /metrics there too (broker/health.py), so
# the lock protects nothing: these series are plain numbers, read by `collect` at each scrape.


class CounterSeries:
    """One series of a counter."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0.0

    def inc(self, amount: float = 1) -> None:
        self.value += amount


class HistogramSeries:
    """One series of a histogram: a count per bucket (the last one +Inf) and the sum."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0

    def observe(self, amount: float) -> None:
        # A bucket counts the observations <= its bound: the first bound not below `amount`.
        self.counts[bisect.bisect_left(self.bounds, amount)] += 1
        self.sum += amount


S = TypeVar("S", CounterSeries, HistogramSeries)


class _Family(Collector, Generic[S]):
    """Series by label values, created on first use; an unlabelled family has its one series
    from the start (so it shows 0 before anything happens, as prometheus_client's do)."""

    def __init__(self, name: str, documentation: str, labelnames: tuple[str, ...]) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = labelnames
        self._series: dict[tuple[str, ...], S] = {}
        if not labelnames:
            self.labels()

    def labels(self, *values: str) -> S:
        series = self._series.get(values)
        if series is None:
            if len(values) != len(self.labelnames):
                raise ValueError(f"{self.name}: expected labels {self.labelnames}, got {values}")
            series = self._series[values] = self._new_series()
        return series

    def _new_series(self) -> S:
        raise NotImplementedError

    def _family(self) -> Metric:
        raise NotImplementedError

    def describe(self) -> Iterator[Metric]:
        yield self._family()

    def collect(self) -> Iterator[Metric]:
        family = self._family()
        for values, series in self._series.items():
            self._add(family, values, series)
        yield family

    def _add(self, family: Metric, values: tuple[str, ...], series: S) -> None:
        raise NotImplementedError


class LoopCounter(_Family[CounterSeries]):
    """A counter updated from one event loop (see above); exported as `<name>_total`."""

    def __init__(self, name: str, documentation: str, labelnames: tuple[str, ...] = ()) -> None:
        super().__init__(name, documentation, labelnames)
        if not labelnames:  # its one series' own method: two calls fewer per update
            self.inc = self.labels().inc  # type: ignore[method-assign]

    def inc(self, amount: float = 1) -> None:
        self.labels().inc(amount)

    def _new_series(self) -> CounterSeries:
        return CounterSeries()

    def _family(self) -> Metric:
        return CounterMetricFamily(self.name, self.documentation, labels=self.labelnames)

    def _add(self, family: Metric, values: tuple[str, ...], series: CounterSeries) -> None:
        assert isinstance(family, CounterMetricFamily)
        family.add_metric(values, series.value)


class LoopHistogram(_Family[HistogramSeries]):
    """A histogram updated from one event loop (see above), with cumulative `le` buckets."""

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: tuple[str, ...] = (),
        buckets: tuple[float, ...] = Histogram.DEFAULT_BUCKETS[:-1],
    ) -> None:
        self._bounds = tuple(float(bound) for bound in buckets)
        self._le = [*(_le_text(bound) for bound in self._bounds), "+Inf"]
        super().__init__(name, documentation, labelnames)
        if not labelnames:  # its one series' own method: two calls fewer per observation
            self.observe = self.labels().observe  # type: ignore[method-assign]

    def observe(self, amount: float) -> None:
        self.labels().observe(amount)

    def _new_series(self) -> HistogramSeries:
        return HistogramSeries(self._bounds)

    def _family(self) -> Metric:
        return HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)

    def _add(self, family: Metric, values: tuple[str, ...], series: HistogramSeries) -> None:
        assert isinstance(family, HistogramMetricFamily)
        cumulative = itertools.accumulate(series.counts)
        family.add_metric(values, list(zip(self._le, cumulative, strict=True)), series.sum)


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

HTTP_REQUESTS = LoopCounter("hookstream_http_requests", "API requests", ("method", "route", "code"))
HTTP_DURATION = LoopHistogram(
    "hookstream_http_request_duration_seconds", "API request duration", ("route",)
)
PUBLISHED = LoopCounter(
    "hookstream_messages_published",
    "Messages stored, by what created them (api, schedule, retry, callback)",
    ("source",),
)

DELIVERIES = LoopCounter(
    "hookstream_deliveries", "Delivery attempts by outcome", ("outcome", "status_class")
)
DELIVERY_DURATION = LoopHistogram(
    "hookstream_delivery_duration_seconds",
    "Duration of one HTTP delivery attempt",
    buckets=_DELIVERY_BUCKETS,
)
DELIVERY_WAIT = LoopHistogram(
    "hookstream_delivery_wait_seconds",
    "From a message's due time to the start of its first attempt",
    buckets=_WAIT_BUCKETS,
)
RETRIES = LoopCounter("hookstream_delivery_retries", "Retries scheduled", ("reason",))
DEAD_LETTERED = LoopCounter("hookstream_dead_lettered", "Messages moved to the DLQ")
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
SCHEDULE_FIRES = LoopCounter("hookstream_schedule_fires", "Schedule ticks published")
SCHEDULE_FIRE_DELAY = LoopHistogram(
    "hookstream_schedule_fire_delay_seconds",
    "From a tick's cron time to its publish",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
)

# Workflow runs (docs/workflow.md). The state label is one of the three final run states, the
# outcome one of the delivery outcomes: never a run id or a workflow URL.
WORKFLOW_RUNS_STARTED = LoopCounter(
    "hookstream_workflow_runs_started", "Workflow runs created by a trigger"
)
WORKFLOW_RUNS_FINISHED = LoopCounter(
    "hookstream_workflow_runs_finished",
    "Workflow runs ended, by final state (RUN_SUCCESS, RUN_FAILED, RUN_CANCELED)",
    ("state",),
)
WORKFLOW_STEP_DELIVERIES = LoopCounter(
    "hookstream_workflow_step_deliveries",
    "Delivery attempts of workflow steps to their app, by outcome",
    ("outcome",),
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
def _http_children(method: str, route: str, code: int) -> tuple[CounterSeries, HistogramSeries]:
    return HTTP_REQUESTS.labels(method, route, str(code)), HTTP_DURATION.labels(route)


def observe_request(method: str, route: str, code: int, seconds: float) -> None:
    """One API request by route template, its labelled children looked up once."""
    requests, duration = _http_children(method, route, code)
    requests.inc()
    duration.observe(seconds)


@functools.cache
def _published_child(source: str) -> CounterSeries:
    return PUBLISHED.labels(source)


def count_published(source: str, count: int = 1) -> None:
    """`count` messages stored by `source` (api, schedule, retry, callback: a bounded set),
    its labelled child looked up once."""
    _published_child(source).inc(count)


@functools.cache
def _delivery_child(outcome: str, status_group: str) -> CounterSeries:
    return DELIVERIES.labels(outcome, status_group)


def count_delivery(outcome: str, status: int) -> None:
    """One delivery attempt in DELIVERIES. The labelled child is looked up once per
    (outcome, status class), a bounded set, not once per delivery (a lock and a dict)."""
    _delivery_child(outcome, status_class(status)).inc()


@functools.cache
def _run_finished_child(state: str) -> CounterSeries:
    return WORKFLOW_RUNS_FINISHED.labels(state)


def count_run_finished(state: str) -> None:
    """One workflow run that ended in `state` (RUN_SUCCESS, RUN_FAILED or RUN_CANCELED)."""
    _run_finished_child(state).inc()


@functools.cache
def _step_delivery_child(outcome: str) -> CounterSeries:
    return WORKFLOW_STEP_DELIVERIES.labels(outcome)


def count_step_delivery(outcome: str) -> None:
    """One delivery attempt of a workflow step, by the outcome DELIVERIES counts it under."""
    _step_delivery_child(outcome).inc()
