"""List filters shared by events, DLQ, bulk cancel and DLQ bulk operations.

Values come as repeated query parameters (`label=a&label=b`, TypeScript SDK ≥ 2.10),
comma-separated values (`label=a,b`), or JSON body keys (older SDKs). Semantics: OR within one
key, AND across keys. Filters apply to the rendered API object, so a filter key is the JSON
key the user sees.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from multidict import MultiMapping

from broker.errors import BadRequest
from broker.queue.model import State

# filter key → API object key it compares against (same name unless listed)
_FIELDS = {
    "messageId": "messageId",
    "messageIds": "messageId",
    "dlqIds": "dlqId",
    "state": "state",
    "url": "url",
    "topicName": "topicName",
    "urlGroup": "topicName",
    "queueName": "queueName",
    "scheduleId": "scheduleId",
    "label": "labels",
    "flowControlKey": "flowControlKey",
    "callerIp": "callerIp",
    "callerIP": "callerIp",
    "responseStatus": "responseStatus",
    "host": "host",
    "path": "path",
}
# The filter-only state IN_PROGRESS means any of these.
_IN_PROGRESS = (State.ACTIVE, State.RETRY, State.ERROR)


@dataclass(frozen=True)
class Filter:
    """Accepted values per API key, plus a time window (ms, inclusive)."""

    values: dict[str, frozenset[str]] = field(default_factory=dict)
    from_ms: int | None = None
    to_ms: int | None = None

    @property
    def empty(self) -> bool:
        return not self.values and self.from_ms is None and self.to_ms is None

    def matches(self, item: Mapping[str, Any], time_ms: int) -> bool:
        """True when `item` (an API object) passes every key of the filter."""
        if self.from_ms is not None and time_ms < self.from_ms:
            return False
        if self.to_ms is not None and time_ms > self.to_ms:
            return False
        return all(_candidates(item, key) & accepted for key, accepted in self.values.items())


def _candidates(item: Mapping[str, Any], key: str) -> set[str]:
    if key in ("host", "path"):
        parts = urlsplit(str(item.get("url", "")))
        return {(parts.hostname or "") if key == "host" else parts.path}
    value = item.get(key)
    if isinstance(value, list):
        return {str(v) for v in value}
    return set() if value is None else {str(value)}


def filter_from_pairs(pairs: Iterable[tuple[str, Any]]) -> Filter:
    """Build a filter from (key, value) pairs; unknown keys are ignored (paging keys etc.)."""
    values: dict[str, set[str]] = {}
    from_ms = to_ms = None
    for key, raw in pairs:
        if key in ("fromDate", "toDate"):
            stamp = _milliseconds(key, raw)
            from_ms, to_ms = (stamp, to_ms) if key == "fromDate" else (from_ms, stamp)
            continue
        target = _FIELDS.get(key)
        if target is None:
            continue
        for value in _split(raw):
            values.setdefault(target, set()).update(_expand(target, value))
    return Filter({k: frozenset(v) for k, v in values.items()}, from_ms, to_ms)


def filter_from_query(query: MultiMapping[str]) -> Filter:
    return filter_from_pairs(query.items())


def filter_from_body(body: Mapping[str, Any]) -> Filter:
    return filter_from_pairs((k, v) for k, v in body.items() if v not in (None, "", []))


def _split(raw: Any) -> list[str]:
    items = raw if isinstance(raw, list) else [raw]
    return [part.strip() for item in items for part in str(item).split(",") if part.strip()]


def _expand(target: str, value: str) -> list[str]:
    if target == "state":
        upper = value.upper()
        if upper == "IN_PROGRESS":
            return list(_IN_PROGRESS)
        return [State.CANCELED if upper == "CANCELLED" else upper]
    return [value]


def _milliseconds(key: str, raw: Any) -> int:
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise BadRequest(f"{key} must be a unix time in milliseconds") from None


_COUNT = re.compile(r"[0-9]{1,9}")


def count_parameter(query: MultiMapping[str], default: int, maximum: int) -> int:
    """`count`: a whole number from 1 to `maximum` (the page size the API documents); a
    count outside it is a 400 rather than a silently different page."""
    raw = query.get("count")
    if raw is None or raw == "":
        return default
    if not _COUNT.fullmatch(raw) or not 1 <= int(raw) <= maximum:
        shown = repr(raw) if len(raw) <= 32 else repr(raw[:32]) + "..."
        raise BadRequest(f"count must be an integer from 1 to {maximum}, got {shown}")
    return int(raw)
