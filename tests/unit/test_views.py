"""Every API shape rendered from a sample domain object, compared with the exact JSON the
SDKs read (qstash-api.md 6 and 8), so a changed key, spelling or omission fails here."""

from __future__ import annotations

import hashlib
import inspect
import json

import msgspec
import pytest

from broker import api
from broker.http.views import (
    as_json,
    dlq_view,
    event_view,
    flow_control_view,
    global_parallelism_view,
    group_view,
    message_view,
    queue_view,
    respond,
)
from broker.queue.events import event_extra, event_header, read_event
from broker.queue.flow_control import FlowControlInfo
from broker.queue.model import CallbackSpec, Envelope, Response
from broker.queue.queues import QueueInfo
from broker.queue.store import StoredMessage
from broker.queue.topics import Endpoint, UrlGroup
from workers.callbacks import callback_body, failure_callback

FULL = Envelope(
    id="msg_1_A",
    url="https://example.com/hook",
    method="PUT",
    headers={"Content-Type": ["application/json"], "Authorization": ["secret"]},
    retries=5,
    retry_delay="1000 * retried",
    timeout_ms=10_000,
    created_at=1_000,
    not_before=2_000,
    caller_ip="10.0.0.1",
    callback=CallbackSpec(url="https://cb.example", headers={"X-Cb": ["1"]}),
    failure_callback=CallbackSpec(url="https://fcb.example"),
    topic_name="group",
    endpoint_name="ep",
    queue_name="q1",
    schedule_id="nightly",
    labels=("a", "b"),
    flow_control_key="fk",
    parallelism=3,
    redact_headers=("Authorization",),
)
BARE = Envelope(id="msg_0_B", url="https://example.com", created_at=5, not_before=5)
BARE_MESSAGE = {
    "messageId": "msg_0_B",
    "url": "https://example.com",
    "method": "POST",
    "header": {},
    "maxRetries": 3,
    "notBefore": 5,
    "createdAt": 5,
    "callerIP": "",
    "callerIp": "",
}
BARE_EVENT = {"url": "https://example.com", "method": "POST", "maxRetries": 3, "callerIp": ""}


def _hash(value: bytes) -> str:
    return "REDACTED:" + hashlib.sha256(value).hexdigest()


def _stored(envelope: Envelope, body: bytes, response: Response | None = None) -> StoredMessage:
    return StoredMessage(envelope, body, "FAILED", 1, response, None)


class TestMessage:
    def test_every_envelope_key(self) -> None:
        """A message with every option shows each key once, callerIP and callerIp both, the
        flow-control keys with period 1 by default, redacted headers as hashes, and a
        callback's headers only when it forwards some."""
        assert as_json(message_view(_stored(FULL, b'{"a": 1}'))) == {
            "messageId": "msg_1_A",
            "url": "https://example.com/hook",
            "method": "PUT",
            "header": {"Content-Type": ["application/json"], "Authorization": [_hash(b"secret")]},
            "maxRetries": 5,
            "notBefore": 2_000,
            "createdAt": 1_000,
            "callerIP": "10.0.0.1",
            "callerIp": "10.0.0.1",
            "topicName": "group",
            "endpointName": "ep",
            "queueName": "q1",
            "scheduleId": "nightly",
            "retryDelayExpression": "1000 * retried",
            "callback": "https://cb.example",
            "callbackHeader": {"X-Cb": ["1"]},
            "failureCallback": "https://fcb.example",
            "label": "a",
            "labels": ["a", "b"],
            "flowControlKey": "fk",
            "period": 1,
            "parallelism": 3,
            "body": '{"a": 1}',
        }

    def test_delivered_and_kept_without_its_body(self) -> None:
        """A delivered message kept for reading has no body (None), so neither body key."""
        kept = StoredMessage(BARE, None, "DELIVERED", 0, None, None)
        assert as_json(message_view(kept)) == BARE_MESSAGE

    def test_binary_body_and_no_options(self) -> None:
        """Unset options are left out (callerIP/callerIp stay, even empty); a body that is
        not UTF-8 is bodyBase64."""
        shown = as_json(message_view(_stored(BARE, b"\xff\x00")))
        assert shown == BARE_MESSAGE | {"bodyBase64": "/wA="}

    def test_redacted_body_and_all_headers(self) -> None:
        """Upstash-Redact-Fields: the body and, with "*", every header show as hashes."""
        envelope = msgspec.structs.replace(
            BARE, redact_body=True, redact_headers=("*",), headers={"A": ["x"]}
        )
        shown = as_json(message_view(_stored(envelope, b"hi")))
        assert shown == BARE_MESSAGE | {"header": {"A": [_hash(b"x")]}, "body": _hash(b"hi")}


class TestDlqMessage:
    def test_with_the_last_response(self) -> None:
        """The Message keys plus dlqId, the response's status, headers, text body and error."""
        response = Response(status=500, headers={"S": ["v"]}, body=b"oops", error="boom")
        assert as_json(dlq_view(_stored(BARE, b"hi", response), "1-0-1")) == BARE_MESSAGE | {
            "body": "hi",
            "dlqId": "1-0-1",
            "responseStatus": 500,
            "responseHeader": {"S": ["v"]},
            "responseBody": "oops",
            "error": "boom",
        }

    def test_binary_response_body(self) -> None:
        """A response body that is not UTF-8 is responseBodyBase64; no error, no key."""
        response = Response(status=404, body=b"\xff")
        assert as_json(dlq_view(_stored(BARE, b"hi", response), "1-0-1")) == BARE_MESSAGE | {
            "body": "hi",
            "dlqId": "1-0-1",
            "responseStatus": 404,
            "responseHeader": {},
            "responseBodyBase64": "/w==",
        }

    def test_without_any_response(self) -> None:
        """No attempt got an HTTP answer: responseStatus is still there (Python needs it), 0."""
        shown = as_json(dlq_view(_stored(BARE, b"hi"), "2-0-0"))
        assert shown == BARE_MESSAGE | {"body": "hi", "dlqId": "2-0-0", "responseStatus": 0}


def _event(header: bytes, extra: bytes, state: str = "ERROR") -> dict[str, object]:
    entry = {b"m": b"msg_1_A", b"s": state.encode(), b"h": header, b"x": extra}
    return as_json(event_view(read_event(entry, 77)))


FULL_EVENT = {
    "time": 77,
    "messageId": "msg_1_A",
    "state": "ERROR",
    "url": "https://example.com/hook",
    "method": "PUT",
    "maxRetries": 5,
    "callerIp": "10.0.0.1",
    "topicName": "group",
    "endpointName": "ep",
    "queueName": "q1",
    "scheduleId": "nightly",
    "callback": "https://cb.example",
    "failureCallback": "https://fcb.example",
    "retryDelayExpr": "1000 * retried",
    "retryDelayExpression": "1000 * retried",
    "label": "a",
    "labels": ["a", "b"],
    "flowControlKey": "fk",
    "error": "HTTP 500",
    "responseStatus": 500,
    "responseBody": "x",
}


class TestEvent:
    def test_header_and_extra(self) -> None:
        """The message's keys (only callerIp; both retry-delay spellings; flow control as for
        a Message; no headers or body) plus the event's own keys, time, messageId and state."""
        extra = event_extra(error="HTTP 500", responseStatus=500, responseBody="x", gone=None)
        assert _event(event_header(FULL), extra) == FULL_EVENT | {"period": 1, "parallelism": 3}

    def test_a_header_stored_by_the_previous_release(self) -> None:
        """Headers already in Redis (other key order, and before the flow-control limits
        were recorded) still render: rolling deploys."""
        stored = (
            b'{"url":"https://example.com/hook","method":"PUT","maxRetries":5,'
            b'"callerIp":"10.0.0.1","topicName":"group","endpointName":"ep","queueName":"q1",'
            b'"scheduleId":"nightly","callback":"https://cb.example",'
            b'"failureCallback":"https://fcb.example","retryDelayExpr":"1000 * retried",'
            b'"retryDelayExpression":"1000 * retried","label":"a","labels":["a","b"],'
            b'"flowControlKey":"fk"}'
        )
        extra = b'{"error":"HTTP 500","responseStatus":500,"responseBody":"x"}'
        assert _event(stored, extra) == FULL_EVENT

    def test_next_delivery_time(self) -> None:
        """A CREATED or RETRY event carries nextDeliveryTime from the script."""
        shown = _event(event_header(BARE), b'{"nextDeliveryTime":9}', "CREATED")
        assert shown == BARE_EVENT | {
            "time": 77,
            "messageId": "msg_1_A",
            "state": "CREATED",
            "nextDeliveryTime": 9,
        }

    def test_response_headers_in_both_spellings(self) -> None:
        """Python reads responseHeader, the docs say responseHeaders: both are sent."""
        extra = b'{"responseHeader":{"A":["1"]},"responseStatus":200}'
        assert _event(event_header(BARE), extra, "DELIVERED") == BARE_EVENT | {
            "time": 77,
            "messageId": "msg_1_A",
            "state": "DELIVERED",
            "responseStatus": 200,
            "responseHeader": {"A": ["1"]},
            "responseHeaders": {"A": ["1"]},
        }


class TestCallback:
    def test_every_key(self) -> None:
        """Bodies in base64, the source's headers unredacted, only callerIP, retried =
        attempts - 1; no queue, labels or callbacks of the source."""
        response = Response(status=500, headers={"S": ["v"]}, body=b"oops", error="boom")
        assert as_json(callback_body(FULL, b"\x01src", 3, response)) == {
            "status": 500,
            "header": {"S": ["v"]},
            "body": "b29wcw==",
            "retried": 2,
            "maxRetries": 5,
            "sourceMessageId": "msg_1_A",
            "url": "https://example.com/hook",
            "method": "PUT",
            "sourceHeader": {"Content-Type": ["application/json"], "Authorization": ["secret"]},
            "sourceBody": "AXNyYw==",
            "notBefore": 2_000,
            "createdAt": 1_000,
            "callerIP": "10.0.0.1",
            "topicName": "group",
            "endpointName": "ep",
            "scheduleId": "nightly",
            "error": "boom",
        }

    def test_first_attempt_without_options(self) -> None:
        """retried 0 and empty bodies are sent; unset routing keys and error are not."""
        assert as_json(callback_body(BARE, b"", 1, Response(status=200))) == {
            "status": 200,
            "header": {},
            "body": "",
            "retried": 0,
            "maxRetries": 3,
            "sourceMessageId": "msg_0_B",
            "url": "https://example.com",
            "method": "POST",
            "sourceHeader": {},
            "sourceBody": "",
            "notBefore": 5,
            "createdAt": 5,
            "callerIP": "",
        }

    def test_failure_callback_leaves_a_slot_for_the_dlq_id(self) -> None:
        """The failure callback's body is the callback body plus dlqId, split around the id
        the settle script inserts."""
        draft = failure_callback(FULL, b"", 4, Response(status=0, error="timeout"))[0]
        body = json.loads(draft.body + b"1-0-0" + draft.body_suffix)
        expected = as_json(callback_body(FULL, b"", 4, Response(status=0, error="timeout")))
        assert body == expected | {"dlqId": "1-0-0"}


class TestManagementObjects:
    def test_queue(self) -> None:
        """Every Queue key is always there (Python reads them all with [...]); lag counts
        waiting and admitted messages."""
        queue = QueueInfo("q", 2, False, created_at=1, updated_at=2, waiting=2, admitted=1)
        assert as_json(queue_view(queue)) == {
            "name": "q",
            "parallelism": 2,
            "createdAt": 1,
            "updatedAt": 2,
            "lag": 3,
            "paused": False,
        }

    def test_url_group(self) -> None:
        """Endpoints keep their order; an endpoint without a name has no name key."""
        group = UrlGroup(
            "g", 1, 2, [Endpoint(url="https://a"), Endpoint(url="https://b", name="b")]
        )
        assert as_json(group_view(group)) == {
            "name": "g",
            "createdAt": 1,
            "updatedAt": 2,
            "endpoints": [{"url": "https://a"}, {"url": "https://b", "name": "b"}],
        }

    def test_flow_control(self) -> None:
        """Every key is sent; the rate window is shown in seconds."""
        info = FlowControlInfo(
            key="fk",
            waiting=4,
            parallelism_max=3,
            parallelism_count=2,
            rate_max=10,
            rate_count=1,
            period_ms=60_000,
            period_start_ms=1_700_000_000_999,
            paused=True,
            pinned_parallelism=False,
            pinned_rate=True,
        )
        assert as_json(flow_control_view(info)) == {
            "flowControlKey": "fk",
            "waitListSize": 4,
            "parallelismMax": 3,
            "parallelismCount": 2,
            "rateMax": 10,
            "rateCount": 1,
            "ratePeriod": 60,
            "ratePeriodStart": 1_700_000_000,
            "isPaused": True,
            "isPinnedParallelism": False,
            "isPinnedRate": True,
        }

    def test_global_parallelism(self) -> None:
        """No global cap is configured, so the maximum is 0."""
        shown = as_json(global_parallelism_view(7))
        assert shown == {"parallelismMax": 0, "parallelismCount": 7}


def _keys(shape: type[api.Shape]) -> set[str]:
    return {f.encode_name for f in msgspec.structs.fields(shape)}


class TestQuirks:
    @pytest.mark.parametrize("shape", [api.Message, api.DlqMessage, api.Schedule])
    def test_both_caller_ip_spellings(self, shape: type[api.Shape]) -> None:
        """Message, DLQ message and Schedule declare callerIp and callerIP."""
        assert {"callerIp", "callerIP"} <= _keys(shape)

    def test_second_spellings_sit_beside_their_first(self) -> None:
        """Every shape that sends a spelling from QUIRKS also sends the key it repeats; only
        the callback sends callerIP on its own."""
        shapes = [
            c for _, c in inspect.getmembers(api, inspect.isclass) if issubclass(c, api.Shape)
        ]
        alone = {
            (shape.__name__, alias)
            for shape in shapes
            for alias, source in api.QUIRKS.items()
            if alias in _keys(shape) and source not in _keys(shape)
        }
        assert alone == {("Callback", "callerIP")}

    def test_a_second_spelling_cannot_be_set_apart(self) -> None:
        """Whatever a caller passes for the second spelling, the first one's value wins."""
        shown = as_json(message_view(_stored(BARE, b"")))
        assert shown["callerIP"] == shown["callerIp"]
        event = api.Event(
            url="u", method="POST", max_retries=0, caller_ip="", time=1, message_id="m",
            state="CREATED", retry_delay_expression="1", retry_delay_expr="2",
        )  # fmt: skip
        assert as_json(event)["retryDelayExpr"] == "1"


def test_respond_encodes_shapes_as_utf8_json() -> None:
    """Answers are JSON with the same Content-Type the ingress always sent."""
    response = respond({"queues": [queue_view(QueueInfo("q", 1, False, 1, 1, 0, 0))]}, status=201)
    assert response.status == 201
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert json.loads(response.body)["queues"][0]["name"] == "q"
