"""Publish headers → PublishOptions."""

from __future__ import annotations

import pytest
from multidict import CIMultiDict

from broker.errors import BadRequest
from broker.options import parse_publish_headers
from broker.queue.destinations import validate_url
from broker.queue.model import CallbackSpec, WorkflowHeaders
from broker.settings import Settings

SETTINGS = Settings(max_retries=5, default_retries=3, max_timeout_ms=60_000)


def parse(**headers: str) -> object:
    return parse_publish_headers(CIMultiDict(headers), SETTINGS)


def test_defaults() -> None:
    """No headers: POST, default retries and timeout, nothing forwarded."""
    options = parse_publish_headers(CIMultiDict(), SETTINGS)
    assert options.method == "POST"
    assert options.retries == 3
    assert options.timeout_ms == SETTINGS.default_timeout_ms
    assert options.headers == {}
    assert options.delay_ms == 0
    assert options.not_before_ms is None
    assert options.labels == ()
    assert (options.redact_body, options.redact_headers) == (False, ())


def test_forward_headers_are_stripped_and_content_type_kept() -> None:
    """Upstash-Forward-X arrives as X (any case), Content-Type rides along; the prefix
    without a name forwards nothing."""
    headers = CIMultiDict(
        [
            ("Content-Type", "application/json"),
            ("upstash-forward-x-custom", "a"),
            ("Upstash-Forward-X-Custom", "b"),
            ("UPSTASH-FORWARD-X-CUSTOM", "c"),
            ("Upstash-Forward-", "no name"),
            ("Upstash-Telemetry-Sdk", "upstash-qstash-js@2.12.0"),
        ]
    )
    options = parse_publish_headers(headers, SETTINGS)
    assert options.headers == {"X-Custom": ["a", "b", "c"], "Content-Type": ["application/json"]}


def test_forwarded_content_type_overrides() -> None:
    """Python's SDK sends Upstash-Forward-content-type; it wins over Content-Type."""
    headers = CIMultiDict(
        [("Content-Type", "text/plain"), ("Upstash-Forward-content-type", "application/xml")]
    )
    assert parse_publish_headers(headers, SETTINGS).headers == {"Content-Type": ["application/xml"]}


def test_all_options() -> None:
    """Every option header is read."""
    options = parse_publish_headers(
        CIMultiDict(
            {
                "Upstash-Method": "put",
                "Upstash-Retries": "2",
                "Upstash-Retry-Delay": "1000 * (1 + retried)",
                "Upstash-Timeout": "30s",
                "Upstash-Delay": "1h30m",
                "Upstash-Not-Before": "1700000000",
                "Upstash-Label": "a, b",
                "Upstash-Callback": "https://cb.example/ok",
                "Upstash-Callback-Retries": "1",
                "Upstash-Callback-Forward-H": "1",
                "Upstash-Failure-Callback": "https://cb.example/fail",
                "Upstash-Failure-Callback-Forward-H2": "2",
            }
        ),
        SETTINGS,
    )
    assert options.method == "PUT"
    assert options.retries == 2
    assert options.retry_delay == "1000 * (1 + retried)"
    assert options.timeout_ms == 30_000
    assert options.delay_ms == 5_400_000
    assert options.not_before_ms == 1_700_000_000_000
    assert options.labels == ("a", "b")
    assert options.callback is not None
    assert options.callback.url == "https://cb.example/ok"
    assert options.callback.retries == 1
    assert options.callback.headers == {"H": ["1"]}
    assert options.failure_callback is not None
    assert options.failure_callback.headers == {"H2": ["2"]}


@pytest.mark.parametrize("prefix", ["Upstash-Callback", "Upstash-Failure-Callback"])
def test_callback_headers_configure_the_callback_message(prefix: str) -> None:
    """`<prefix>-Method/-Retries/-Retry-Delay/-Timeout/-Delay` (any case) configure the callback
    message, `<prefix>-Forward-<Name>` reaches it as `<Name>`, `-Workflow-RunId` makes it a
    delivery of that run; other names (Python's `callback_headers={"X-Plain": ...}`, the
    workflow SDK's `-Feature-Set`) are ignored."""
    headers = CIMultiDict(
        [
            (prefix, "https://cb.example"),
            (f"{prefix.lower()}-method", "put"),
            (f"{prefix}-Retries", "2"),
            (f"{prefix}-Retry-Delay", "500 * retried"),
            (f"{prefix}-Timeout", "10s"),
            (f"{prefix}-Delay", "1m"),
            (f"{prefix}-Forward-X-Trace", "t1"),
            (f"{prefix.lower()}-forward-x-trace", "t2"),
            (f"{prefix}-X-Plain", "p"),
            (f"{prefix}-Workflow-Runid", "wfr_1"),
            (f"{prefix}-Workflow-CallType", "fromCallback"),
            (f"{prefix}-Feature-Set", "LazyFetch"),
        ]
    )
    options = parse_publish_headers(headers, SETTINGS)
    spec = options.callback if prefix == "Upstash-Callback" else options.failure_callback
    assert spec == CallbackSpec(
        url="https://cb.example",
        method="PUT",
        headers={"X-Trace": ["t1", "t2"]},
        retries=2,
        timeout_ms=10_000,
        retry_delay="500 * retried",
        delay_ms=60_000,
        workflow_run_id="wfr_1",
        workflow_call_type="fromCallback",
    )
    assert options.headers == {}
    assert options.workflow is None


def test_workflow_headers_name_the_run() -> None:
    """`Upstash-Workflow-RunId` (either spelling) with `-Init`, `-Url`, `-CallType` make a
    publish a workflow message; a bad run id or call type is a 400 naming the header."""
    headers = CIMultiDict(
        {
            "Upstash-Workflow-Runid": "wfr_abc-1",
            "Upstash-Workflow-Init": "true",
            "Upstash-Workflow-Url": "https://app.example/wf",
        }
    )
    workflow = parse_publish_headers(headers, SETTINGS).workflow
    assert workflow == WorkflowHeaders(
        run_id="wfr_abc-1", init=True, url="https://app.example/wf", call_type="step"
    )
    for name, value, message in [
        ("Upstash-Workflow-RunId", "wfr:{x}", "invalid Upstash-Workflow-RunId"),
        ("Upstash-Workflow-CallType", "other", "Upstash-Workflow-CallType must be one of"),
    ]:
        bad = headers.copy()
        bad[name] = value
        with pytest.raises(BadRequest, match=message):
            parse_publish_headers(bad, SETTINGS)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("Upstash-Retries", "many", "integer"),
        ("Upstash-Retries", "9", "between 0 and 5"),
        ("Upstash-Retries", "-1", "between 0 and 5"),
        ("Upstash-Retries", "1_0", "integer"),
        ("Upstash-Retries", "\uff15", "integer"),
        ("Upstash-Delay", "8d", "HOOKSTREAM_MAX_DELAY"),
        ("Upstash-Not-Before", "99999999999", "HOOKSTREAM_MAX_DELAY"),
        ("Upstash-Retry-Delay", "1000 - 600 * retried", "retried=2"),
        ("Upstash-Retry-Delay", "(-1) ** 0.5", "finite"),
        ("Upstash-Method", "TRACE", "unsupported method"),
        ("Upstash-Delay", "soon", "invalid duration"),
        ("Upstash-Timeout", "2m", "maximum"),
        ("Upstash-Not-Before", "tomorrow", "integer"),
        ("Upstash-Retry-Delay", "__import__('os')", "unknown function"),
        ("Upstash-Retry-Delay", "1000 *", "invalid"),
        ("Upstash-Callback", "ftp://x", "absolute http"),
    ],
)
def test_bad_values_are_rejected(name: str, value: str, message: str) -> None:
    """A value we cannot understand is a 400 that says which header is wrong."""
    with pytest.raises(BadRequest, match=message):
        parse_publish_headers(CIMultiDict({name: value}), SETTINGS)


@pytest.mark.parametrize(
    "url", ["https://example.com", "http://127.0.0.1:9000/a?b=1", "https://u:p@h.io/x"]
)
def test_valid_urls(url: str) -> None:
    """Absolute http(s) URLs with a host pass unchanged."""
    assert validate_url(url, "destination", None) == url


@pytest.mark.parametrize(
    "url", ["example.com", "ftp://h/x", "https://", "http:///path", "https://a b"]
)
def test_invalid_urls(url: str) -> None:
    """Anything without an http(s) scheme and a host is refused."""
    with pytest.raises(BadRequest, match="invalid destination"):
        validate_url(url, "destination", None)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("parallelism=2, rate=5, period=60s", (2, 5, 60)),
        ("rate=10,period=1h30m3s", (None, 10, 5403)),
        ("", (None, None, 1)),
        ("parallelism=3", (3, None, 1)),
    ],
)
def test_flow_control_values(value: str, expected: tuple[int | None, int | None, int]) -> None:
    """Both SDKs' separators, compound periods, and an empty value (Python may send one)."""
    headers = CIMultiDict({"Upstash-Flow-Control-Key": "k", "Upstash-Flow-Control-Value": value})
    flow = parse_publish_headers(headers, SETTINGS).flow_control
    assert flow is not None
    assert (flow.parallelism, flow.rate, flow.period_s) == expected


def test_no_flow_control_without_a_key() -> None:
    """A value without a key means no flow control."""
    headers = CIMultiDict({"Upstash-Flow-Control-Value": "rate=1"})
    assert parse_publish_headers(headers, SETTINGS).flow_control is None


@pytest.mark.parametrize(
    ("value", "body", "headers"),
    [
        ("body,header[Authorization]", True, ("Authorization",)),
        ("headers", False, ("*",)),
        ("header[x-api-key], body", True, ("X-Api-Key",)),
        ("", False, ()),
    ],
)
def test_redact_fields(value: str, body: bool, headers: tuple[str, ...]) -> None:
    """The SDK spelling (`header`) and the docs' (`headers`), with or without names."""
    options = parse_publish_headers(CIMultiDict({"Upstash-Redact-Fields": value}), SETTINGS)
    assert (options.redact_body, options.redact_headers) == (body, headers)


def test_unreadable_redact_fields() -> None:
    """Anything else is a 400."""
    with pytest.raises(BadRequest, match="Redact"):
        parse_publish_headers(CIMultiDict({"Upstash-Redact-Fields": "body[x]"}), SETTINGS)


def test_a_workflow_message_drops_headers_that_are_never_forwarded() -> None:
    """The workflow SDK forwards every header of the request that started a run: on a
    workflow message Host and Content-Length are dropped, elsewhere they stay a 400, and a
    line break is a 400 for both."""
    headers = CIMultiDict(
        {
            "Upstash-Workflow-RunId": "wfr_1",
            "Upstash-Forward-Host": "app.example",
            "Upstash-Forward-Content-Length": "12",
            "Upstash-Forward-X-User": "u",
        }
    )
    assert parse_publish_headers(headers, SETTINGS).headers == {"X-User": ["u"]}
    plain = headers.copy()
    del plain["Upstash-Workflow-RunId"]
    with pytest.raises(BadRequest, match="Host"):
        parse_publish_headers(plain, SETTINGS)
    broken = headers.copy()
    broken["Upstash-Forward-X-User"] = "a\r\nb"
    with pytest.raises(BadRequest, match="CR, LF or NUL"):
        parse_publish_headers(broken, SETTINGS)


def test_a_workflow_message_drops_them_from_its_callbacks_too() -> None:
    """The Python workflow SDK also forwards the starting request's headers to a
    context.call's callback and to the failure callback: on a workflow message their Host is
    dropped too, on a plain message it stays a 400."""
    headers = CIMultiDict(
        {
            "Upstash-Workflow-RunId": "wfr_1",
            "Upstash-Callback": "https://app.example/wf",
            "Upstash-Callback-Forward-Host": "app.example",
            "Upstash-Callback-Forward-X-User": "u",
            "Upstash-Failure-Callback": "https://app.example/wf",
            "Upstash-Failure-Callback-Forward-Host": "app.example",
            "Upstash-Failure-Callback-Forward-X-User": "f",
        }
    )
    options = parse_publish_headers(headers, SETTINGS)
    assert options.callback is not None
    assert options.failure_callback is not None
    assert options.callback.headers == {"X-User": ["u"]}
    assert options.failure_callback.headers == {"X-User": ["f"]}
    plain = headers.copy()
    del plain["Upstash-Workflow-RunId"]
    with pytest.raises(BadRequest, match="Host"):
        parse_publish_headers(plain, SETTINGS)
