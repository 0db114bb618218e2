"""The lists that take filters (GET /v2/events, /v2/logs, /v2/dlq) refuse a query parameter
they do not know with a 400 naming it, by the check bulk actions use: a mistyped filter that
was dropped would list everything. Every parameter the SDKs send is still taken."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from qstash import AsyncQStash
from qstash.log import LogState

from tests.conftest import require_tool
from tests.integration.test_sdks import _keys, _node
from tests.support.api import api
from tests.support.hookstream import TEST_TOKEN, Hookstream

pytestmark = pytest.mark.integration

LISTS = ["/v2/events", "/v2/logs", "/v2/dlq"]


async def _two_waiting(server: Hookstream) -> str:
    """Two delayed messages (two CREATED events), and a cursor past the first event."""
    for body in ("1", "2"):
        await server.publish("http://127.0.0.1:9/x", body, Upstash_Delay="1h")
    _, page = await api(server, "GET", "/v2/events", params={"count": "1"})
    return str(page["cursor"])


@pytest.mark.parametrize("path", LISTS)
@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("labeel=x", "unknown parameter 'labeel'"),
        ("label=a&labeel=x&count=5", "unknown parameter 'labeel'"),
        ("ids=x", "unknown parameter 'ids'"),
    ],
)
async def test_an_unknown_parameter_is_a_400_naming_it(
    hookstream: Hookstream, path: str, query: str, named: str
) -> None:
    code, answer = await api(hookstream, "GET", f"{path}?{query}")
    assert (code, named in answer["error"]) == (400, True), answer


async def test_dlq_ids_are_no_filter_of_the_log(hookstream: Hookstream) -> None:
    """dlqIds select nothing among events: a 400, not an empty page."""
    code, answer = await api(hookstream, "GET", "/v2/events?dlqIds=1-0-0")
    assert (code, "unknown parameter 'dlqIds'" in answer["error"]) == (400, True)


@pytest.mark.parametrize("path", LISTS)
async def test_paging_order_trim_body_and_the_token_parameter_are_taken(
    hookstream: Hookstream, path: str
) -> None:
    query = f"count=5&order=earliestFirst&trimBody=100&qstash_token={TEST_TOKEN}"
    assert (await api(hookstream, "GET", f"{path}?{query}"))[0] == 200


async def test_typescript_sdk_lists_refuse_a_mistyped_filter_field(hookstream: Hookstream) -> None:
    """logs({filter: {labeel}}) and dlq.listMessages({filter: {labeel}}): the SDK passes any
    filter key on, so the server must name it instead of listing everything."""
    require_tool("node", "the TypeScript SDK test runs on Node.js")
    await _two_waiting(hookstream)
    keys = await _keys(hookstream)
    for command in ("logs", "dlq"):
        request_ = json.dumps({"filter": {"labeel": "x"}})
        ran = await asyncio.to_thread(
            _node, [command, request_], hookstream, keys, script="lists.mjs"
        )
        assert ran["status"] == 400, ran
        assert "unknown parameter 'labeel'" in str(ran["error"])


def _ts_requests(cursor: str) -> list[tuple[str, dict[str, Any]]]:
    """Every field each TypeScript list call sends (LogsListFilters, DLQFilterFields, the
    root count, cursor and id lists; the SDK itself drops the deprecated `api`)."""
    common = {"fromDate": 1, "toDate": 2, "callerIp": "1.2.3.4", "label": ["a", "b"],
              "flowControlKey": "k", "url": "https://a.example", "urlGroup": "g",
              "scheduleId": "s", "queueName": "q"}  # fmt: skip
    logs = {**common, "host": "a.example", "path": "/", "state": "DELIVERED",
            "messageId": "m", "topicName": "t", "count": 3, "api": "x"}  # fmt: skip
    dlq = {**common, "messageId": "m", "responseStatus": 500, "api": "x"}
    return [
        ("logs", {"count": 10, "cursor": cursor, "filter": logs}),
        ("logs", {"count": 10, "messageIds": ["m1", "m2"]}),
        ("dlq", {"count": 10, "filter": dlq}),
        ("dlq", {"dlqIds": ["1-0-0", "2-0-0"]}),
        ("logs", {}),
        ("dlq", {}),
    ]


async def test_typescript_sdk_lists_send_nothing_refused(hookstream: Hookstream) -> None:
    require_tool("node", "the TypeScript SDK test runs on Node.js")
    cursor = await _two_waiting(hookstream)
    keys = await _keys(hookstream)
    for command, request_ in _ts_requests(cursor):
        argv = [command, json.dumps(request_)]
        ran = await asyncio.to_thread(_node, argv, hookstream, keys, script="lists.mjs")
        assert "count" in ran, (command, request_, ran)


async def test_python_sdk_lists_send_nothing_refused(hookstream: Hookstream) -> None:
    """log.list and dlq.list with cursor, count and every filter key the SDK knows."""
    cursor = await _two_waiting(hookstream)
    client = AsyncQStash(TEST_TOKEN, base_url=hookstream.url)
    common: Any = {"message_id": "m", "url": "https://a.example", "url_group": "g",
                   "queue": "q", "schedule_id": "s", "from_time": 1, "to_time": 2,
                   "label": "a"}  # fmt: skip
    try:
        logs = {**common, "message_ids": ["m1", "m2"], "state": LogState.DELIVERED}
        await client.log.list(cursor=cursor, count=10, filter=logs)  # type: ignore[arg-type]
        assert len((await client.log.list(count=1)).logs) == 1
        dlq = {**common, "response_status": 500, "caller_ip": "1.2.3.4"}
        await client.dlq.list(count=10, filter=dlq)  # type: ignore[arg-type]
    finally:
        await client.http._client.aclose()
