"""The loop-local counters and histograms export exactly what prometheus_client's would."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from broker.metrics import LoopCounter, LoopHistogram

BUCKETS = (0.005, 0.01, 0.5, 1, 30)
# Values on a bound belong to that bound's bucket (le is "less or equal"), one past the last
# bound only to +Inf.
OBSERVED = (0.0, 0.005, 0.0051, 0.01, 0.3, 1.0, 29.99, 30.0, 31.0, 4000.0)


def _samples(*collectors: object) -> set[tuple[str, tuple[tuple[str, str], ...], float]]:
    registry = CollectorRegistry()
    for collector in collectors:
        registry.register(collector)  # type: ignore[arg-type]
    text = generate_latest(registry).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items())), sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_a_histogram_exports_the_buckets_count_and_sum_of_prometheus_clients() -> None:
    ours = LoopHistogram("h_seconds", "doc", ("route",), buckets=BUCKETS)
    theirs = Histogram("h_seconds", "doc", ["route"], buckets=BUCKETS, registry=None)
    for value in OBSERVED:
        ours.labels("/a").observe(value)
        theirs.labels("/a").observe(value)
    ours.labels("/b").observe(2)
    theirs.labels("/b").observe(2)
    assert _samples(ours) == _samples(theirs)
    assert ("h_seconds_bucket", (("le", "0.005"), ("route", "/a")), 2.0) in _samples(ours)


def test_an_unlabelled_histogram_uses_the_default_buckets() -> None:
    ours, theirs = LoopHistogram("d_seconds", "doc"), Histogram("d_seconds", "doc", registry=None)
    for value in OBSERVED:
        ours.observe(value)
        theirs.observe(value)
    assert _samples(ours) == _samples(theirs)


def test_counters_export_totals_and_an_unlabelled_one_starts_at_zero() -> None:
    labelled = LoopCounter("events", "doc", ("kind",))
    unlabelled = LoopCounter("drops", "doc")
    assert _samples(labelled, unlabelled) == {("drops_total", (), 0.0)}
    labelled.labels("a").inc()
    labelled.labels("a").inc(2)
    labelled.labels("b").inc()
    unlabelled.inc()
    theirs_labelled = Counter("events", "doc", ["kind"], registry=None)
    theirs_labelled.labels("a").inc(3)
    theirs_labelled.labels("b").inc()
    theirs_unlabelled = Counter("drops", "doc", registry=None)
    theirs_unlabelled.inc()
    assert _samples(labelled, unlabelled) == _samples(theirs_labelled, theirs_unlabelled)


def test_a_wrong_label_count_is_refused() -> None:
    counter = LoopCounter("events", "doc", ("kind", "code"))
    with pytest.raises(ValueError, match="expected labels"):
        counter.labels("a")
