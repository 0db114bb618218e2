"""Schemathesis against a live ingress, operation by operation, from /v2/openapi.json.

The ingress is a real process (`python -m broker`) on the suite's valkey, with the production
destination policy plus loopback (as the role tests run it) and no worker: whatever URL a
fuzzed request names, nothing is ever delivered, so no traffic leaves 127.0.0.1.

Every answer must be no 5xx, come within REQUEST_TIMEOUT_S, carry a status the document
declares, and, for a 4xx, leave the keyspace as it was: a rejected request writes nothing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import redis
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import status_code_conformance

from broker.http.openapi import OPERATIONS, openapi_document
from broker.redis_server import EmbeddedServer, free_port
from tests.support.hookstream import TEST_TOKEN
from tests.support.procs import RoleProcess, role_env

pytestmark = pytest.mark.integration

MAX_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "20"))
"""Per test run: ~115 of them (operations x kinds) x 20 examples, about 45 s alone on 2 cores.
A longer hunt: `FUZZ_EXAMPLES=500 make test-integration PYTEST_ARGS=-ktest_fuzz`."""
REQUEST_TIMEOUT_S = 10
AUTH = {"Authorization": f"Bearer {TEST_TOKEN}"}
SCHEMA = schemathesis.openapi.from_dict(openapi_document())
LOOPBACK_SINK = "http://127.0.0.1:9/fuzz"  # the discard port: never delivered (no worker)
GROUP = "fuzz"  # a URL group of LOOPBACK_SINK (a destination the path carries unencoded), and
# the name of the queue, flow-control key and schedule the fuzzer finds existing
Snapshot = dict[bytes, tuple[bytes, int]]


@pytest.fixture(scope="module", name="ingress")
def _ingress(redis_server: EmbeddedServer) -> Iterator[str]:
    """A fresh database and an ingress process on it; its base URL."""
    client = redis.Redis(port=redis_server.port)
    client.flushall()
    client.close()
    port = str(free_port())
    env = role_env(redis_server.url, HOOKSTREAM_PORT=port, HOOKSTREAM_METRICS_PORT=port)
    process = RoleProcess("broker", env).wait_ready()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.stop()


def _call(base_url: str, method: str, path: str, **kwargs: Any) -> Any:
    answer = requests.request(
        method, base_url + path, headers=AUTH | kwargs.pop("headers", {}),
        timeout=REQUEST_TIMEOUT_S, **kwargs,
    )  # fmt: skip
    assert answer.status_code in (200, 201), f"{method} {path}: {answer.text}"
    return answer.json()


@pytest.fixture(scope="module", name="existing")
def _existing(ingress: str) -> dict[str, str]:
    """One of each resource, named GROUP (ids as issued): the path parameters that make
    generated requests act on something that exists. Everything targets the loopback group."""
    endpoints = {"endpoints": [{"url": LOOPBACK_SINK}]}
    _call(ingress, "POST", f"/v2/topics/{GROUP}/endpoints", json=endpoints)
    _call(ingress, "POST", "/v2/queues", json={"queueName": GROUP, "parallelism": 1})
    flow = {"Upstash-Flow-Control-Key": GROUP, "Upstash-Flow-Control-Value": "parallelism=1"}
    _call(ingress, "POST", f"/v2/publish/{GROUP}", headers=flow)
    schedule = {"Upstash-Cron": "0 0 1 1 *", "Upstash-Schedule-Id": GROUP}
    _call(ingress, "POST", f"/v2/schedules/{GROUP}", headers=schedule)
    [message] = _call(ingress, "POST", f"/v2/publish/{GROUP}", headers={"Upstash-Delay": "1h"})
    return {"name": GROUP, "queue": GROUP, "destination": GROUP, "key": GROUP,
            "schedule_id": GROUP, "message_id": message["messageId"]}  # fmt: skip


@pytest.fixture(scope="module", name="keyspace")
def _keyspace(redis_server: EmbeddedServer) -> Iterator[redis.Redis]:
    client = redis.Redis(port=redis_server.port)
    yield client
    client.close()


_SIZE = {b"stream": "xlen", b"zset": "zcard", b"hash": "hlen", b"list": "llen", b"set": "scard",
         b"string": "strlen"}  # fmt: skip


def snapshot(client: redis.Redis) -> Snapshot:
    """Every key with its type and size (XLEN, ZCARD, HLEN, ...)."""
    keys = sorted(client.scan_iter(count=1000))
    with client.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.type(key)
        kinds = pipe.execute()
        for key, kind in zip(keys, kinds, strict=True):
            getattr(pipe, _SIZE[kind])(key)
        sizes = pipe.execute()
    return {key: (kind, size) for key, kind, size in zip(keys, kinds, sizes, strict=True)}


def check_case(case: schemathesis.Case, base_url: str, client: redis.Redis) -> None:
    """One request: answered in time, no 5xx, a declared status, nothing written for a 4xx."""
    before = snapshot(client)
    try:
        response = case.call(base_url=base_url, headers=AUTH, timeout=REQUEST_TIMEOUT_S)
    except requests.Timeout:
        pytest.fail(f"no answer within {REQUEST_TIMEOUT_S} s: {case.as_curl_command()}")
    case.validate_response(response, checks=[not_a_server_error, status_code_conformance])
    if 400 <= response.status_code < 500:
        after = snapshot(client)
        assert after == before, (
            f"{response.status_code} {response.text[:200]} but the keyspace changed: "
            f"{_difference(before, after)}\n{case.as_curl_command()}"
        )


def _difference(before: Snapshot, after: Snapshot) -> dict[bytes, Any]:
    keys = set(before) | set(after)
    return {k: (before.get(k), after.get(k)) for k in keys if before.get(k) != after.get(k)}


def _fuzz(
    method: str,
    path: str,
    base_url: str,
    client: redis.Redis,
    mode: GenerationMode = GenerationMode.POSITIVE,
    **fixed: Any,
) -> None:
    strategy = SCHEMA[path][method].as_strategy(mode, **fixed)

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case: schemathesis.Case) -> None:
        check_case(case, base_url, client)

    run()


OPERATION_IDS = [f"{method} {path}" for method, path in OPERATIONS]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize(("method", "path"), list(OPERATIONS), ids=OPERATION_IDS)
def test_fuzzed_requests(
    ingress: str, keyspace: redis.Redis, method: str, path: str, mode: GenerationMode
) -> None:
    """Generated path parameters, queries, headers and bodies: valid ones by the document,
    and invalid ones."""
    _fuzz(method, path, ingress, keyspace, mode)


FIXED = ("name", "queue", "destination", "key", "schedule_id", "message_id")
ON_EXISTING = [(m, p) for m, p in OPERATIONS if any("{" + name + "}" in p for name in FIXED)]


@pytest.mark.parametrize(("method", "path"), ON_EXISTING, ids=[f"{m} {p}" for m, p in ON_EXISTING])
def test_fuzzed_requests_on_existing_resources(
    ingress: str, keyspace: redis.Redis, existing: dict[str, str], method: str, path: str
) -> None:
    """The same with path parameters naming what exists (the loopback group as destination,
    its queue, flow-control key, schedule, a delayed message), so that headers, queries and
    bodies get past the lookups, and rejections of changes to existing things are checked."""
    fixed = {name: value for name, value in existing.items() if "{" + name + "}" in path}
    _fuzz(method, path, ingress, keyspace, path_parameters=fixed)


def test_the_keyspace_check_sees_a_write(keyspace: redis.Redis) -> None:
    """Negative control: one stream entry more, or one key more, changes the snapshot."""
    before = snapshot(keyspace)
    keyspace.xadd("{hs:0}:ready", {"id": "control"})
    after = snapshot(keyspace)
    assert _difference(before, after)
    keyspace.xdel("{hs:0}:ready", *[entry for entry, _ in keyspace.xrange("{hs:0}:ready")][-1:])


HUGE_DLQ_ID = "18446744073709551616-0-0"  # 2^64: past what a stream id holds


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/v2/dlq/{}"), ("DELETE", "/v2/dlq/{}"), ("POST", "/v2/dlq/retry/{}")],
)
def test_a_dlq_id_past_64_bits_is_not_found(ingress: str, method: str, path: str) -> None:
    """Found by fuzzing: Redis refused the stream id ("Invalid stream ID") and the API
    answered 500; such an id was never issued, so it is a 404."""
    url = ingress + path.format(HUGE_DLQ_ID)
    response = requests.request(method, url, headers=AUTH, timeout=REQUEST_TIMEOUT_S)
    assert response.status_code == 404, response.text
