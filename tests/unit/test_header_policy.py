"""The header policy: what the ingress refuses to forward and the worker refuses to send."""

from __future__ import annotations

import pytest
from multidict import CIMultiDict

from broker.errors import BadRequest
from broker.header_policy import DELIVERY, name_refusal
from broker.options import forwarded_headers, parse_publish_headers
from broker.queue.model import Envelope
from broker.settings import Settings
from workers.delivery import request_headers

NEVER_FORWARDED = [
    "Host",
    "Content-Length",
    "Transfer-Encoding",
    "Connection",
    "Upgrade",
    "TE",
    "Trailer",
    "Keep-Alive",
    "Expect",
    "Proxy-Authorization",
    "Proxy-Connection",
    "Upstash-Message-Id",
    "Upstash-Retried",
    "Upstash-Signature",
    "Upstash-Caller-Ip",
    "Upstash-Schedule-Id",
    "Upstash-Topic-Name",
    "X-A: 1",  # not a token: would become a header line of its own choosing
    "X A",
]
# What the SDKs forward in ordinary calls: Content-Type (TypeScript sends it plain, Python as
# Upstash-Forward-content-type), the caller's own headers, the workflow SDK's Upstash-Workflow-*.
FORWARDED = ["Content-Type", "Authorization", "X-From-Ts", "Upstash-Workflow-Sdk-Version"]


@pytest.mark.parametrize("name", NEVER_FORWARDED)
def test_never_forwarded_names_are_refused_naming_the_header(name: str) -> None:
    """Any case, every forwarding prefix: a 400 that names the header as it was sent."""
    assert name_refusal(name) is not None
    assert name_refusal(name.lower()) is not None
    for prefix in ("upstash-forward-", "upstash-callback-forward-"):
        with pytest.raises(BadRequest, match="cannot be forwarded") as refused:
            forwarded_headers([(prefix + name.lower(), "1")], prefix)
        assert prefix.title().rstrip("-") in str(refused.value)


@pytest.mark.parametrize("name", FORWARDED)
def test_what_the_sdks_forward_is_kept(name: str) -> None:
    assert name_refusal(name) is None
    forwarded = [(f"upstash-forward-{name.lower()}", "v")]
    assert forwarded_headers(forwarded, "upstash-forward-") == {name: ["v"]}


@pytest.mark.parametrize("value", ["a\r\nX-Injected: 1", "a\nb", "a\rb", "a\x00b"])
def test_line_breaks_in_forwarded_values_are_refused(value: str) -> None:
    """Forwarded values, and the publish's Content-Type that rides along."""
    with pytest.raises(BadRequest, match="Upstash-Forward-X-A: the value contains CR, LF or NUL"):
        forwarded_headers([("Upstash-Forward-X-A", value)], "upstash-forward-")
    with pytest.raises(BadRequest, match="Content-Type"):
        forwarded_headers([], "upstash-forward-", content_type=value)


def test_callback_forwards_are_checked_too() -> None:
    headers = CIMultiDict(
        {
            "Upstash-Failure-Callback": "https://example.com/failed",
            "Upstash-Failure-Callback-Forward-Host": "internal.example",
        }
    )
    with pytest.raises(BadRequest, match="Upstash-Failure-Callback-Forward-Host"):
        parse_publish_headers(headers, Settings())


def _stored(headers: dict[str, list[str]]) -> Envelope:
    return Envelope(
        id="msg_0_x",
        url="https://example.com/hook",
        headers=headers,
        retries=0,
        timeout_ms=1000,
        created_at=0,
        not_before=0,
        caller_ip="10.0.0.1",
        schedule_id="scd_1",
        topic_name="group",
    )


def test_worker_skips_what_a_message_stored_earlier_would_smuggle() -> None:
    """Framing and our own names, and values with line breaks, never reach the wire; the
    rest does, and our own headers carry our values."""
    stored = {name: ["forged"] for name in NEVER_FORWARDED}
    stored |= {"X-Bad": ["a\r\nX-Injected: 1"], "X-Mixed": ["ok", "a\x00b"], "X-Good": ["1"]}
    stored |= {"User-Agent": ["forged"]}
    sent = CIMultiDict(request_headers(_stored(stored), b"body", 2, "sig-key"))
    assert "forged" not in sent.values()
    assert sent.getall("User-Agent") == ["Upstash-QStash"]
    assert {n.lower() for n in sent} == {"user-agent", "x-mixed", "x-good"} | DELIVERY
    assert sent.getall("X-Mixed") == ["ok"]
    assert sent["Upstash-Message-Id"] == "msg_0_x"
    assert sent["Upstash-Retried"] == "1"


def test_every_upstash_header_the_worker_sets_is_in_the_policy() -> None:
    """A new delivery header added to workers/delivery.py must join DELIVERY, or a client
    could forward a forged one."""
    sent = CIMultiDict(request_headers(_stored({}), b"", 1, "sig-key"))
    assert {n.lower() for n in sent if n.lower().startswith("upstash-")} == DELIVERY
