"""Pure parts of schedules: tick message ids, the Schedule JSON object, scheduler settings."""

from __future__ import annotations

import msgspec
import pytest

from broker.errors import ConfigError
from broker.http.views import as_json, schedule_view
from broker.queue.keys import PartitionKeys, partition_of, tick_message_id, tick_of
from broker.queue.model import CallbackSpec, FlowControl, PublishOptions
from broker.queue.schedules import ScheduleSpec, StoredSchedule
from scheduler.settings import SchedulerSettings, scheduler_settings_from_env


class TestTickMessageId:
    def test_same_tick_same_id(self) -> None:
        """Every replica and every replay of one tick names the same messages, one per
        endpoint position."""
        p = PartitionKeys(3)
        first = tick_message_id(p, "nightly", 1_700_000_000_000)
        assert first == tick_message_id(p, "nightly", 1_700_000_000_000, 0)
        assert first != tick_message_id(p, "nightly", 1_700_000_000_000, 1)
        assert first != tick_message_id(p, "nightly", 1_700_000_060_000)
        assert first != tick_message_id(p, "hourly", 1_700_000_000_000)

    def test_partition_and_time_are_readable(self) -> None:
        """The id parses like any message id, in the given partition, and its ULID time part
        is the tick."""
        ticks = [1_700_000_000_000 + n * 60_000 for n in range(5)]
        ids = [tick_message_id(PartitionKeys(3), "nightly", tick) for tick in ticks]
        assert {partition_of(i) for i in ids} == {3}
        assert [tick_of(i) for i in ids] == ticks
        assert all(len(i.split("_", 2)[2]) == 26 for i in ids)


def _stored(**overrides: object) -> StoredSchedule:
    options = PublishOptions(
        retries=2,
        timeout_ms=30_000,
        headers={"Content-Type": ["application/json"]},
        delay_ms=90_000,
        retry_delay="1000 * retried",
        callback=CallbackSpec(url="https://cb.example", headers={"X": ["1"]}),
        labels=("a", "b"),
    )
    spec = ScheduleSpec(
        id="nightly",
        cron="0 0 * * *",
        destination="https://example.com",
        options=options,
        queue_name="q1",
        caller_ip="10.0.0.1",
    )
    fields: dict[str, object] = {
        "spec": spec,
        "body": b'{"hello": "world"}',
        "created_at": 1,
        "paused": False,
        "next_ms": 86_400_000,
        "last_ms": None,
        "message_ids": (),
        "error": None,
    }
    return StoredSchedule(**(fields | overrides))  # type: ignore[arg-type]


def schedule_json(stored: StoredSchedule, states: dict[str, str]) -> dict[str, object]:
    return as_json(schedule_view(stored, states))


class TestScheduleJson:
    def test_every_field_the_sdks_read(self) -> None:
        """The object carries the keys of qstash-api.md 8.5 with their API units."""
        assert schedule_json(_stored(), {}) == {
            "scheduleId": "nightly",
            "cron": "0 0 * * *",
            "destination": "https://example.com",
            "method": "POST",
            "header": {"Content-Type": ["application/json"]},
            "retries": 2,
            "timeout": 30,
            "delay": 90,
            "createdAt": 1,
            "callerIP": "10.0.0.1",
            "callerIp": "10.0.0.1",
            "isPaused": False,
            "callback": "https://cb.example",
            "callbackHeader": {"X": ["1"]},
            "queueName": "q1",
            "retryDelayExpression": "1000 * retried",
            "nextScheduleTime": 86_400_000,
            "label": "a",
            "labels": ["a", "b"],
            "body": '{"hello": "world"}',
        }

    def test_paused_after_a_failed_tick(self) -> None:
        """A paused schedule has no next time; a failed tick shows its error and states."""
        shown = schedule_json(
            _stored(paused=True, next_ms=None, last_ms=5, error="URL group g not found"),
            {"msg_0_X": "SUCCESS"},
        )
        assert shown["isPaused"] is True
        assert "nextScheduleTime" not in shown
        assert shown["lastScheduleTime"] == 5
        assert shown["error"] == "URL group g not found"
        assert shown["lastScheduleStates"] == {"msg_0_X": "SUCCESS"}

    def test_unset_options_are_left_out(self) -> None:
        """No body, headers, timeout, delay, callbacks, labels, queue or flow control: none of
        their keys, as QStash answers; the required ones stay."""
        bare = ScheduleSpec(
            id="bare",
            cron="0 4 * * *",
            destination="https://example.com",
            options=PublishOptions(retries=3, timeout_ms=30_000),
            caller_ip="10.0.0.1",
            timeout_given=False,
        )
        assert schedule_json(_stored(spec=bare, body=b"", next_ms=None), {}) == {
            "scheduleId": "bare",
            "cron": "0 4 * * *",
            "destination": "https://example.com",
            "method": "POST",
            "retries": 3,
            "createdAt": 1,
            "callerIP": "10.0.0.1",
            "callerIp": "10.0.0.1",
            "isPaused": False,
        }

    def test_flow_control_as_for_a_message(self) -> None:
        """flowControlKey with period (s) always and the limits that are set; a callback
        without forwarded headers has no callbackHeader."""
        spec = _stored().spec
        options = msgspec.structs.replace(
            spec.options,
            callback=CallbackSpec(url="https://cb.example"),
            flow_control=FlowControl(key="fk", rate=5, period_s=60),
        )
        shown = schedule_json(_stored(spec=msgspec.structs.replace(spec, options=options)), {})
        assert {k: shown.get(k) for k in ("flowControlKey", "rate", "period", "parallelism")} == {
            "flowControlKey": "fk",
            "rate": 5,
            "period": 60,
            "parallelism": None,
        }
        assert "parallelism" not in shown
        assert "callbackHeader" not in shown

    def test_binary_body_is_base64(self) -> None:
        """A body that is not UTF-8 is shown as bodyBase64."""
        shown = schedule_json(_stored(body=b"\xff\x00"), {})
        assert shown["bodyBase64"] == "/wA="
        assert "body" not in shown


class TestSettings:
    def test_defaults(self) -> None:
        """Without variables the lease lasts 5 s."""
        assert scheduler_settings_from_env({}) == SchedulerSettings(lease_ms=5000)

    def test_lease_from_env(self) -> None:
        """HOOKSTREAM_SCHEDULER_LEASE takes a duration."""
        assert scheduler_settings_from_env({"HOOKSTREAM_SCHEDULER_LEASE": "2s"}).lease_ms == 2000

    @pytest.mark.parametrize("value", ["500ms", "soon"])
    def test_bad_lease_is_refused(self, value: str) -> None:
        """A lease under 1 s, or not a duration, stops the process with a clear message."""
        with pytest.raises(ConfigError, match="HOOKSTREAM_SCHEDULER_LEASE"):
            scheduler_settings_from_env({"HOOKSTREAM_SCHEDULER_LEASE": value})
