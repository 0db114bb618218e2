"""A DLQ retry's overrides: what the request names replaces the original, the rest stays."""

from __future__ import annotations

from broker.queue.dlq import RetryOverrides
from broker.queue.model import Envelope

ORIGINAL = Envelope(
    id="msg_0_OLD",
    url="https://example.com/hook",
    method="PUT",
    retries=0,
    retry_delay="1000",
    timeout_ms=5_000,
    created_at=1,
    not_before=1,
)


def test_named_settings_replace_the_original_ones() -> None:
    """Retries and delay given on the retry apply; method, retry delay and timeout are kept."""
    retried = RetryOverrides(retries=2, delay_ms=3_000).apply(ORIGINAL, "msg_0_NEW", 10_000)
    assert (retried.id, retried.retries, retried.created_at, retried.not_before) == (
        "msg_0_NEW",
        2,
        10_000,
        13_000,
    )
    assert (retried.method, retried.retry_delay, retried.timeout_ms) == ("PUT", "1000", 5_000)


def test_no_overrides_keep_everything_but_id_and_times() -> None:
    """A bare retry re-publishes the same message under a new id, due now."""
    retried = RetryOverrides().apply(ORIGINAL, "msg_0_NEW", 10_000)
    assert retried == Envelope(
        **{**{f: getattr(ORIGINAL, f) for f in ORIGINAL.__struct_fields__}}
        | {"id": "msg_0_NEW", "created_at": 10_000, "not_before": 10_000}
    )
