"""Schedules end to end: the /v2/schedules API over HTTP and the Python SDK, ticks fired by the
in-process scheduler, and the exactly-once claim protocol under replays and races.

Ticks are observed with the test-only six-field crons (seconds first), so nothing waits for a
real minute; the public API keeps five fields.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from qstash import QStash
from structlog.testing import capture_logs

from broker.cron import next_fire_ms, parse_cron
from broker.queue import keys
from broker.queue.keys import tick_of
from broker.queue.schedules import Claim, Schedules
from scheduler import tick as tick_module
from scheduler.lease import Lease
from scheduler.tick import Ticker
from tests.support.api import api, eventually
from tests.support.hookstream import TEST_TOKEN, Hookstream
from tests.support.sink import Sink
from tests.support.ticks import tick_violations

pytestmark = pytest.mark.integration


@pytest.fixture
async def scheduled(redis_url: str) -> AsyncIterator[Hookstream]:
    """Ingress, worker and scheduler in this process; the API accepts seconds crons."""
    server = await Hookstream(redis_url, with_scheduler=True, second_field_crons=True).start()
    yield server
    await server.stop()


@pytest.fixture
async def ingress(redis_url: str) -> AsyncIterator[Hookstream]:
    """The API alone, as deployed (five-field crons only); nothing fires."""
    server = await Hookstream(redis_url, with_worker=False).start()
    yield server
    await server.stop()


@pytest.fixture
async def api_only(redis_url: str) -> AsyncIterator[Hookstream]:
    """Ingress only (no worker, no scheduler), accepting seconds crons: ticks are fired by hand."""
    server = await Hookstream(redis_url, with_worker=False, second_field_crons=True).start()
    yield server
    await server.stop()


async def _create(hookstream: Hookstream, destination: str, cron: str, **headers: str) -> str:
    status, body = await api(
        hookstream,
        "POST",
        f"/v2/schedules/{destination}",
        data=headers.pop("body", ""),
        headers={"Upstash-Cron": cron, **headers},
    )
    assert status == 200, body
    return body["scheduleId"]  # type: ignore[no-any-return]


async def _schedule(hookstream: Hookstream, schedule_id: str) -> dict[str, Any]:
    status, body = await api(hookstream, "GET", f"/v2/schedules/{schedule_id}")
    assert status == 200, body
    return body  # type: ignore[no-any-return]


async def _created(hookstream: Hookstream, schedule_id: str) -> list[tuple[str, int]]:
    """(message id, Redis time of its CREATED event) of every message the schedule produced."""
    _, body = await api(
        hookstream,
        "GET",
        "/v2/events",
        params={"scheduleId": schedule_id, "state": "CREATED", "order": "earliestFirst"},
    )
    return [(event["messageId"], event["time"]) for event in body["events"]]


async def _schedule_keys(hookstream: Hookstream) -> list[bytes]:
    return sorted(await hookstream.conn.redis.keys("{hs:sched}*"))


async def _redis_now(hookstream: Hookstream) -> int:
    return await Schedules(hookstream.conn).now_ms()


# -- the API ---------------------------------------------------------------------------------


@pytest.mark.cluster
async def test_create_with_every_option_and_read_back(ingress: Hookstream) -> None:
    """The docs' curl call plus every publish option: 200 {scheduleId: scd_...}, and GET shows
    each option with the next UTC midnight as nextScheduleTime."""
    before = await _redis_now(ingress)
    schedule_id = await _create(
        ingress,
        "https://example.com/hook?x=1",
        "0 0 * * *",
        body='{ "hello": "world" }',
        **{
            "Content-type": "application/json",
            "Upstash-Method": "PUT",
            "Upstash-Forward-X-Custom": "v",
            "Upstash-Retries": "2",
            "Upstash-Retry-Delay": "1000 * retried",
            "Upstash-Delay": "30s",
            "Upstash-Timeout": "10s",
            "Upstash-Callback": "https://cb.example/ok",
            "Upstash-Failure-Callback": "https://cb.example/failed",
            "Upstash-Label": "nightly",
            "Upstash-Queue-Name": "reports",
        },
    )
    assert schedule_id.startswith("scd_")
    shown = await _schedule(ingress, schedule_id)
    created_at = shown.pop("createdAt")
    assert before <= created_at <= await _redis_now(ingress)
    assert shown == {
        "scheduleId": schedule_id,
        "cron": "0 0 * * *",
        "destination": "https://example.com/hook?x=1",
        "method": "PUT",
        "header": {"X-Custom": ["v"], "Content-Type": ["application/json"]},
        "retries": 2,
        "retryDelayExpression": "1000 * retried",
        "delay": 30,
        "timeout": 10,
        "callback": "https://cb.example/ok",
        "failureCallback": "https://cb.example/failed",
        "label": "nightly",
        "labels": ["nightly"],
        "queueName": "reports",
        "callerIP": "127.0.0.1",
        "callerIp": "127.0.0.1",
        "isPaused": False,
        "nextScheduleTime": (created_at // 86_400_000 + 1) * 86_400_000,
        "body": '{ "hello": "world" }',
    }
    _, listed = await api(ingress, "GET", "/v2/schedules")
    assert [s["scheduleId"] for s in listed] == [schedule_id]


async def test_delete_removes_everything(ingress: Hookstream) -> None:
    """DELETE answers 200, then the schedule is 404, gone from the list and from Redis."""
    schedule_id = await _create(ingress, "https://example.com", "*/5 * * * *")
    assert (await api(ingress, "DELETE", f"/v2/schedules/{schedule_id}"))[0] == 200
    assert (await api(ingress, "GET", f"/v2/schedules/{schedule_id}"))[0] == 404
    assert (await api(ingress, "GET", "/v2/schedules")) == (200, [])
    assert await _schedule_keys(ingress) == []


@pytest.mark.parametrize(
    ("destination", "headers", "error"),
    [
        ("https://h.io", {}, "Upstash-Cron header is required"),
        ("https://h.io", {"Upstash-Cron": "* * * *"}, "5 fields"),
        ("https://h.io", {"Upstash-Cron": "*/5 * * * * *"}, "5 fields"),
        ("https://h.io", {"Upstash-Cron": "61 * * * *"}, "invalid cron"),
        ("https://h.io", {"Upstash-Cron": "CRON_TZ=Nowhere/City 0 0 * * *"}, "time zone"),
        ("https://h.io", {"Upstash-Cron": "0 0 * * *", "Upstash-Schedule-Id": "a b"}, "Id"),
        ("https://h.io", {"Upstash-Cron": "0 0 * * *", "Upstash-Queue-Name": "q/1"}, "Queue"),
        ("https://h.io", {"Upstash-Cron": "0 0 * * *", "Upstash-Not-Before": "1"}, "Delay"),
        ("https://h.io", {"Upstash-Cron": "0 0 * * *", "Upstash-Deduplication-Id": "d"}, "dedup"),
        ("https://h.io", {"Upstash-Cron": "0 0 * * *", "Upstash-Retries": "x"}, "Retries"),
        ("ftp://h.io", {"Upstash-Cron": "0 0 * * *"}, "invalid destination"),
        ("g%20roup", {"Upstash-Cron": "0 0 * * *"}, "invalid destination"),
    ],
)
async def test_invalid_input_is_400_and_stores_nothing(
    ingress: Hookstream, destination: str, headers: dict[str, str], error: str
) -> None:
    """Each invalid create gets a JSON 400 naming the problem, and no schedule key is written
    (seconds crons are refused by a default API)."""
    status, body = await api(ingress, "POST", f"/v2/schedules/{destination}", headers=headers)
    assert status == 400
    assert error in body["error"]
    assert await _schedule_keys(ingress) == []


async def test_unknown_schedule_is_404(ingress: Hookstream) -> None:
    """GET, DELETE and both pause forms of an unknown id are 404 with a JSON error."""
    for method, path in [
        ("GET", "/v2/schedules/nope"),
        ("DELETE", "/v2/schedules/nope"),
        ("PATCH", "/v2/schedules/nope/pause"),
        ("POST", "/v2/schedules/nope/resume"),
    ]:
        status, body = await api(ingress, method, path)
        assert (status, body) == (404, {"error": "schedule nope not found"}), path


async def test_update_in_place_keeps_the_id_and_moves_the_next_time(
    ingress: Hookstream,
) -> None:
    """Posting again with the same Upstash-Schedule-Id replaces cron and body, keeps the id
    and createdAt, and recomputes nextScheduleTime."""
    first = await _create(
        ingress, "https://h.io", "0 0 * * *", body="v1", **{"Upstash-Schedule-Id": "nightly"}
    )
    before = await _schedule(ingress, first)
    second = await _create(
        ingress, "https://h.io/v2", "0 12 * * *", body="v2", **{"Upstash-Schedule-Id": "nightly"}
    )
    after = await _schedule(ingress, second)
    assert first == second == "nightly"
    assert after["createdAt"] == before["createdAt"]
    assert (after["cron"], after["destination"], after["body"]) == (
        "0 12 * * *",
        "https://h.io/v2",
        "v2",
    )
    noon = next_fire_ms(parse_cron("0 12 * * *"), await _redis_now(ingress) - 1000)
    assert after["nextScheduleTime"] == noon != before["nextScheduleTime"]
    assert len((await api(ingress, "GET", "/v2/schedules"))[1]) == 1


async def test_pause_and_resume_by_patch_and_post(ingress: Hookstream) -> None:
    """PATCH and POST both pause and resume (idempotently), a paused schedule has no next
    time, and a URL ending in /pause is still a create because it contains ://."""
    schedule_id = await _create(ingress, "https://h.io", "*/5 * * * *")
    for method in ("PATCH", "POST"):
        for _ in range(2):
            assert (await api(ingress, method, f"/v2/schedules/{schedule_id}/pause"))[0] == 200
        paused = await _schedule(ingress, schedule_id)
        assert paused["isPaused"] is True
        assert "nextScheduleTime" not in paused
        assert (await api(ingress, method, f"/v2/schedules/{schedule_id}/resume"))[0] == 200
        resumed = await _schedule(ingress, schedule_id)
        assert resumed["isPaused"] is False
        assert resumed["nextScheduleTime"] % 300_000 == 0

    other = await _create(ingress, "https://h.io/x/pause", "0 0 * * *")
    assert (await _schedule(ingress, other))["destination"] == "https://h.io/x/pause"


async def test_python_sdk_manages_schedules(ingress: Hookstream) -> None:
    """QStash(...).schedule create/get/list/pause/resume/delete work unchanged."""
    client = QStash(TEST_TOKEN, base_url=ingress.url)
    try:
        schedule_id = await asyncio.to_thread(
            client.schedule.create,
            destination="https://example.com/py",
            cron="CRON_TZ=Europe/Berlin 0 9 * * 1-5",
            body='{"a": 1}',
            content_type="application/json",
            headers={"X-Custom": "v"},
            retries=1,
            delay=60,
            schedule_id="py-weekday",
            label="sdk",
        )
        got = await asyncio.to_thread(client.schedule.get, schedule_id)
        await asyncio.to_thread(client.schedule.pause, schedule_id)
        paused = await asyncio.to_thread(client.schedule.get, schedule_id)
        await asyncio.to_thread(client.schedule.resume, schedule_id)
        listed = await asyncio.to_thread(client.schedule.list)
        await asyncio.to_thread(client.schedule.delete, schedule_id)
    finally:
        client.http._client.close()  # the SDK offers no close(); its httpx client holds a socket
    assert schedule_id == "py-weekday"
    assert (got.destination, got.cron, got.body) == (
        "https://example.com/py",
        "CRON_TZ=Europe/Berlin 0 9 * * 1-5",
        '{"a": 1}',
    )
    assert (got.retries, got.delay, got.label, got.paused) == (1, 60, "sdk", False)
    assert got.headers == {"X-Custom": ["v"], "Content-Type": ["application/json"]}
    assert got.next_schedule_time is not None
    assert got.next_schedule_time > got.created_at
    assert paused.paused is True
    assert [s.schedule_id for s in listed] == ["py-weekday"]
    assert not listed[0].paused
    assert await _schedule_keys(ingress) == []


# -- ticks -----------------------------------------------------------------------------------


@pytest.mark.cluster
async def test_ticks_fire_on_the_boundary_with_the_schedule_id(
    scheduled: Hookstream, sink: Sink
) -> None:
    """An every-second schedule fires each tick once, on the second and never early, skipping
    ticks only after a late fire, with Upstash-Schedule-Id, the stored body, method, forwarded
    headers and destination query."""
    schedule_id = await _create(
        scheduled,
        sink.url("/tick?a=1"),
        "* * * * * *",
        body="payload",
        **{"Upstash-Method": "PUT", "Upstash-Forward-X-Custom": "v"},
    )
    received = await sink.wait_for(3, timeout=15)
    await scheduled.stop_scheduler()
    assert {r.headers["Upstash-Schedule-Id"] for r in received} == {schedule_id}
    assert {(r.method, r.path, r.body, r.headers["X-Custom"]) for r in received} == {
        ("PUT", "/tick?a=1", b"payload", "v")
    }
    created = await _created(scheduled, schedule_id)
    assert len(created) >= 3
    assert tick_violations(created) == []
    ticks = [tick_of(message_id) for message_id, _ in created]
    shown = await _schedule(scheduled, schedule_id)
    assert list(shown["lastScheduleStates"]) == [created[-1][0]]
    assert shown["lastScheduleTime"] >= ticks[-1]


async def test_pause_stops_ticks_and_resume_restarts_them(
    scheduled: Hookstream, sink: Sink
) -> None:
    """A paused schedule leaves the due set and produces nothing while a second every-second
    schedule ticks twice; after resume its ticks come again."""
    redis = scheduled.conn.redis
    schedule_id = await _create(scheduled, sink.url("/p"), "* * * * * *")
    await sink.wait_for(1, timeout=15, path="/p")
    assert (await api(scheduled, "PATCH", f"/v2/schedules/{schedule_id}/pause"))[0] == 200
    assert await redis.zscore(keys.SCHEDULES_DUE, schedule_id) is None

    async def no_claim_unpublished() -> bool:  # a tick claimed before the pause still lands
        return await redis.hlen(keys.SCHEDULE_CLAIMS) == 0

    await eventually(no_claim_unpublished)
    produced = len(await _created(scheduled, schedule_id))
    await _create(scheduled, sink.url("/sentinel"), "* * * * * *")
    await sink.wait_for(2, timeout=15, path="/sentinel")
    assert len(await _created(scheduled, schedule_id)) == produced
    assert (await api(scheduled, "PATCH", f"/v2/schedules/{schedule_id}/resume"))[0] == 200
    await sink.wait_for(produced + 1, timeout=15, path="/p")


async def test_unknown_url_group_records_the_error(scheduled: Hookstream) -> None:
    """A schedule to a URL group that does not exist fires no message; the tick is recorded
    with its error on the schedule."""
    schedule_id = await _create(scheduled, "my-group", "* * * * * *")

    async def failed() -> bool:
        return "error" in await _schedule(scheduled, schedule_id)

    await eventually(failed)
    shown = await _schedule(scheduled, schedule_id)
    assert shown["error"] == "URL group my-group not found"
    assert shown["lastScheduleTime"] > shown["createdAt"]
    assert await _created(scheduled, schedule_id) == []


# -- the claim protocol ----------------------------------------------------------------------


async def _make_due(hookstream: Hookstream, schedule_id: str, tick_ms: int) -> None:
    """Pretend the schedule's next fire time is `tick_ms` (e.g. missed while no scheduler ran)."""
    await hookstream.conn.redis.zadd(keys.SCHEDULES_DUE, {schedule_id: tick_ms})


async def test_missed_ticks_fire_once_then_the_next_time(api_only: Hookstream) -> None:
    """After a minute without a scheduler, one round publishes one message (not a burst) and
    moves the schedule to its next time after now."""
    schedule_id = await _create(api_only, "https://h.io", "* * * * * *")
    now = await _redis_now(api_only)
    await _make_due(api_only, schedule_id, now // 1000 * 1000 - 60_000)
    ticker = Ticker(Schedules(api_only.conn))
    assert await ticker.fire_due(await _redis_now(api_only), 100) == 1
    assert await ticker.fire_due(await _redis_now(api_only) - 1, 100) == 0
    ((message_id, _),) = await _created(api_only, schedule_id)
    assert tick_of(message_id) == now // 1000 * 1000 - 60_000
    assert (await _schedule(api_only, schedule_id))["nextScheduleTime"] > now


async def _claimed(hookstream: Hookstream, ticker: Ticker, destination: str) -> Claim:
    """A daily schedule's due tick, claimed but not published (as a crashed replica leaves it)."""
    schedule_id = await _create(hookstream, destination, "0 0 * * *", body="b")
    tick = await _redis_now(hookstream) - 5
    await _make_due(hookstream, schedule_id, tick)
    stored = await ticker.schedules.load(schedule_id)
    assert stored is not None
    claim = await ticker.outcome(stored, tick)
    assert not isinstance(claim, str)
    assert await ticker.schedules.claim(schedule_id, tick, tick + 86_400_000, claim) > 0
    return claim


@pytest.mark.cluster
async def test_claim_left_by_a_crash_is_published_exactly_once(api_only: Hookstream) -> None:
    """A tick claimed by a replica that died before publishing is published by the next one;
    replaying a claim that was already published creates nothing."""
    schedules = Schedules(api_only.conn)
    ticker = Ticker(schedules)
    claim = await _claimed(api_only, ticker, "https://h.io")
    schedule_id, tick = claim.schedule_id, claim.tick_ms
    assert await schedules.claim(schedule_id, tick, tick + 86_400_000, claim) == 0
    assert await ticker.complete_claims() == 1
    assert await schedules.publish(claim) == 0  # a stalled replica wakes up and retries
    assert await ticker.complete_claims() == 0
    assert [m for m, _ in await _created(api_only, schedule_id)] == [claim.drafts[0].envelope.id]


async def test_a_schedule_that_cannot_fire_neither_blocks_nor_spins(api_only: Hookstream) -> None:
    """A schedule whose definition is unreadable is skipped with its error recorded and moved
    a minute ahead; the schedule due with it still fires, and the next round finds nothing."""
    broken = await _create(api_only, "https://h.io/broken", "* * * * *")
    healthy = await _create(api_only, "https://h.io/ok", "* * * * *")
    await api_only.conn.redis.hset(keys.schedule(broken), "d", b"\xc1 not msgpack")
    now = await _redis_now(api_only)
    for schedule_id in (broken, healthy):
        await _make_due(api_only, schedule_id, now - 5)
    ticker = Ticker(Schedules(api_only.conn))
    assert await ticker.fire_due(now, 10) == 2
    assert len(await _created(api_only, healthy)) == 1
    fields = await api_only.conn.redis.hgetall(keys.schedule(broken))
    assert fields[b"error"].startswith(b"tick failed: ")
    assert await api_only.conn.redis.zscore(keys.SCHEDULES_DUE, broken) >= now + 60_000
    assert await ticker.fire_due(now + 1, 10) == 0


async def test_a_claim_that_cannot_be_published_is_dropped_after_its_replays(
    api_only: Hookstream,
) -> None:
    """A claimed tick whose publish fails every time (here a Lua error) does not end the
    round: the other claims are completed, and after its replays it is dropped with the
    error recorded on its schedule."""
    ticker = Ticker(Schedules(api_only.conn))
    poisoned = await _claimed(api_only, ticker, "https://h.io/poisoned")
    fine = await _claimed(api_only, ticker, "https://h.io/fine")
    # The message's hash key already holds a string: the publish script fails with WRONGTYPE.
    await api_only.conn.redis.set(poisoned.drafts[0].key, "in the way")
    assert await ticker.complete_claims() == 2
    assert [m for m, _ in await _created(api_only, fine.schedule_id)] == [
        fine.drafts[0].envelope.id
    ]
    for _ in range(tick_module.MAX_CLAIM_REPLAYS - 1):
        assert await ticker.complete_claims() == 1
    assert await ticker.complete_claims() == 0
    error = await api_only.conn.redis.hget(keys.schedule(poisoned.schedule_id), "error")
    assert error is not None
    assert error.startswith(f"tick {poisoned.tick_ms} could not be published".encode())


async def test_url_group_schedule_fans_out_to_every_endpoint(api_only: Hookstream) -> None:
    """A tick to a URL group publishes one message per endpoint (group looked up at tick time),
    each with topicName, endpointName and scheduleId, and all listed in lastScheduleStates."""
    endpoints = [{"url": "https://a.example/x", "name": "a"}, {"url": "https://b.example/y"}]
    status, _ = await api(
        api_only, "POST", "/v2/topics/team/endpoints", json={"endpoints": endpoints}
    )
    assert status == 200
    schedule_id = await _create(api_only, "team", "0 0 * * *")
    await _make_due(api_only, schedule_id, await _redis_now(api_only) - 5)
    assert await Ticker(Schedules(api_only.conn)).fire_due(await _redis_now(api_only), 10) == 1
    shown = await _schedule(api_only, schedule_id)
    messages = [
        (await api(api_only, "GET", f"/v2/messages/{message_id}"))[1]
        for message_id in shown["lastScheduleStates"]
    ]
    assert [(m["url"], m["topicName"], m.get("endpointName")) for m in messages] == [
        ("https://a.example/x", "team", "a"),
        ("https://b.example/y", "team", None),
    ]
    assert {m["scheduleId"] for m in messages} == {schedule_id}
    assert "error" not in shown


async def test_operators_see_the_lease_and_a_failed_tick_in_the_logs(api_only: Hookstream) -> None:
    """The log events the runbook names: the lease taken, and a tick that found no group."""
    schedule_id = await _create(api_only, "no-such-group", "0 0 * * *")
    await _make_due(api_only, schedule_id, await _redis_now(api_only) - 5)
    lease = Lease(Schedules(api_only.conn), ttl_ms=1000)
    with capture_logs() as logs:
        assert await lease.hold()
        await Ticker(Schedules(api_only.conn)).fire_due(await _redis_now(api_only), 10)
        await lease.release()
    seen = [(e["event"], e.get("schedule_id"), e.get("error")) for e in logs]
    assert seen == [
        ("scheduler.lease_acquired", None, None),
        ("schedule.tick_failed", schedule_id, "URL group no-such-group not found"),
        ("scheduler.lease_released", None, None),
    ]
    assert all(e.get("token") == lease.token for e in logs if e["event"].startswith("scheduler"))


async def test_flow_controlled_schedule_passes_its_gate(api_only: Hookstream) -> None:
    """A scheduled message with a flow-control key lives in that key's partition and waits
    behind its parallelism, like a published one (the schedule id hashes elsewhere)."""
    flow_key, schedule_id = "fc-nightly", "sched-gate-1"
    partitions = api_only.settings.partitions
    gate_partition = keys.queue_partition(flow_key, partitions)
    assert keys.queue_partition(schedule_id, partitions) != gate_partition  # the hard case
    flow = {"Upstash-Flow-Control-Key": flow_key, "Upstash-Flow-Control-Value": "parallelism=1"}
    await api_only.publish(
        "https://h.io/first", **{k.replace("-", "_"): v for k, v in flow.items()}
    )
    await _create(
        api_only, "https://h.io", "0 0 * * *", **{"Upstash-Schedule-Id": schedule_id}, **flow
    )
    await _make_due(api_only, schedule_id, await _redis_now(api_only) - 5)
    assert await Ticker(Schedules(api_only.conn)).fire_due(await _redis_now(api_only), 10) == 1
    ((message_id, _),) = await _created(api_only, schedule_id)
    assert keys.partition_of(message_id) == gate_partition.partition
    _, waiting = gate_partition.flow_keys(flow_key)
    assert await api_only.conn.redis.lrange(waiting, 0, -1) == [message_id.encode()]


async def test_queued_schedule_enqueues_into_its_queue(api_only: Hookstream) -> None:
    """With Upstash-Queue-Name each tick is enqueued into that ordered queue, created on first
    use as enqueue does."""
    schedule_id = await _create(
        api_only, "https://h.io", "0 0 * * *", **{"Upstash-Queue-Name": "nightly-q"}
    )
    await _make_due(api_only, schedule_id, await _redis_now(api_only) - 5)
    assert await Ticker(Schedules(api_only.conn)).fire_due(await _redis_now(api_only), 10) == 1
    ((message_id, _),) = await _created(api_only, schedule_id)
    _, message = await api(api_only, "GET", f"/v2/messages/{message_id}")
    assert message["queueName"] == "nightly-q"
    status, queue = await api(api_only, "GET", "/v2/queues/nightly-q")
    assert (status, queue["lag"]) == (200, 1)


async def test_racing_replicas_publish_each_tick_once(api_only: Hookstream) -> None:
    """Three replicas firing the same due ticks at once (no lease) publish one message per
    schedule and tick."""
    ids = [await _create(api_only, "https://h.io", "0 0 * * *") for _ in range(5)]
    for round_ in range(3):
        tick = await _redis_now(api_only) - 10 + round_
        for schedule_id in ids:
            await _make_due(api_only, schedule_id, tick)
        now = await _redis_now(api_only)
        replicas = [Ticker(Schedules(api_only.conn)) for _ in range(3)]
        await asyncio.gather(*(r.fire_due(now, 100) for r in replicas))
    for schedule_id in ids:
        created = await _created(api_only, schedule_id)
        assert len(created) == len({tick_of(m) for m, _ in created}) == 3


async def test_lease_admits_one_replica_and_hands_over(api_only: Hookstream) -> None:
    """One replica holds the lease at a time; releasing it lets a standby take it at once."""
    first = Lease(Schedules(api_only.conn), 5000)
    second = Lease(Schedules(api_only.conn), 5000)
    assert await first.hold() is True
    assert await second.hold() is False
    assert await first.hold() is True  # extending is holding
    await first.release()
    assert await second.hold() is True
    assert await first.hold() is False
    assert await api_only.conn.redis.get(keys.SCHEDULER_LEASE) == second.token.encode()
