"""List filters shared by events, DLQ, bulk cancel and DLQ bulk operations.

Values come as repeated query parameters (`label=a&label=b`, TypeScript SDK ≥ 2.10),
comma-separated values (`label=a,b`), or JSON body keys (older SDKs). Semantics: OR within one
key, AND across keys. Filters apply to the rendered API object, so a filter key is the JSON
key the user sees.

Lists (`list_filter`) and bulk actions (`bulk_selection`) refuse a key they do not know with a
400 naming it, by one check (`_known`): a mistyped field that was dropped would list, or act
on, everything. Bulk actions also refuse empty values, which would widen them the same way.
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
    # `source=workflow`: the Workflow client's DLQ list (dead-lettered steps of runs).
    "source": "source",
}
FILTER_KEYS = tuple(key for key in _FIELDS if key not in ("messageIds", "dlqIds"))
"""The filter fields every list and bulk action takes (the id lists are each one's own)."""
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
        return _destination_parts(str(item.get("url", "")), key)
    value = item.get(key)
    if isinstance(value, list):
        return {str(v) for v in value}
    return set() if value is None else {str(value)}


def _destination_parts(url: str, key: str) -> set[str]:
    """What `host` and `path` match in a destination URL: the host in lower case with and
    without its port (`e.com:8080` or `e.com`), and the path (`/` for none)."""
    parts = urlsplit(url)
    if key == "path":
        return {parts.path or "/"}
    return {parts.hostname or "", parts.netloc.rpartition("@")[2].lower()}


def filter_from_pairs(pairs: Iterable[tuple[str, Any]]) -> Filter:
    """Build a filter from (key, value) pairs already checked; other keys (paging) are left
    out."""
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


@dataclass(frozen=True)
class Selection:
    """What a bulk call acts on: explicit ids, else every item `wanted` matches."""

    ids: tuple[str, ...] | None = None
    wanted: Filter = field(default_factory=Filter)


# Query keys a bulk call or a list may carry besides its selection: paging, a list's order
# and trimBody (QStash's list parameters; the body is always whole here), and qstash_token
# (auth, middleware.py).
_BULK_PAGING = frozenset({"count", "cursor", "qstash_token"})
_LIST_PAGING = _BULK_PAGING | {"order", "trimBody"}
_DATES = ("fromDate", "toDate")


def _known(key: str, ids_key: str, kind: str, paging: frozenset[str]) -> None:
    """BadRequest naming `key` unless it is `ids_key`, a filter field or a paging key.

    DLQ ids select nothing among messages and events: asking those for them is a mistake.
    """
    fields = ({*_FIELDS, *_DATES} - {"dlqIds"}) | {ids_key}
    if key not in fields and key not in paging:
        known = ", ".join(sorted(fields - {ids_key}))
        also = ", ".join(sorted(paging - {"qstash_token"}))
        tail = f", or {also}" if also else ""
        raise BadRequest(
            f"unknown {kind} {key!r}: expected {ids_key} or a filter field ({known}){tail}"
        )


def list_filter(query: MultiMapping[str], ids_key: str) -> Filter:
    """The filter of a list (events: `messageIds`, the DLQ: `dlqIds`), each key checked."""
    for key in query:
        _known(key, ids_key, "parameter", _LIST_PAGING)
    return filter_from_pairs(query.items())


def bulk_selection(
    query: MultiMapping[str], body: Mapping[str, Any] | None, ids_key: str
) -> Selection:
    """The selection of a bulk call (bulk cancel, DLQ delete and retry), strictly read.

    It comes from the query (TypeScript SDK) or from a JSON body (Python SDK), not both, as
    ids (`ids_key`) or filter fields; a body may also nest its filter fields under `filter`,
    the SDKs' own shape. No selection at all (no body, only count and cursor) selects
    everything: the SDKs' "all" forms. Anything that could turn a narrower request into that
    is refused with a 400 naming the field instead: an unknown key, an empty value, an empty
    body or filter object, an id list that is not a list of strings.
    """
    pairs = [
        _checked(key, value, ids_key, "parameter")
        for key, value in query.items()
        if key not in _BULK_PAGING
    ]
    if body is not None:
        if pairs:
            raise BadRequest("give the selection in the query or in the body, not both")
        pairs = _body_pairs(body, ids_key)
    if any(key == ids_key for key, _ in pairs):  # ids win over filters, as in QStash
        return Selection(ids=tuple(v for key, values in pairs if key == ids_key for v in values))
    return Selection(wanted=filter_from_pairs((k, v) for k, values in pairs for v in values))


def _body_pairs(body: Mapping[str, Any], ids_key: str) -> list[tuple[str, list[str]]]:
    if not body:
        raise BadRequest(
            f"the body selects nothing: name {ids_key} or filter fields, or send no body "
            "to select everything"
        )
    nested = body.get("filter")
    if "filter" in body and (not isinstance(nested, dict) or not nested):
        raise BadRequest("filter must be an object with at least one filter field")
    items = [*((k, v) for k, v in body.items() if k != "filter"), *(nested or {}).items()]
    return [
        # An explicit empty id list selects nothing: Python sends it for cancel_many([]).
        (key, []) if key == ids_key and value == [] else _checked(key, value, ids_key, "field")
        for key, value in items
    ]


def _checked(key: str, raw: Any, ids_key: str, kind: str) -> tuple[str, list[str]]:
    """One selecting key with its values, or BadRequest naming it."""
    _known(key, ids_key, kind, frozenset())
    items = raw if isinstance(raw, list) else [raw]
    if not all(isinstance(item, str | int) and not isinstance(item, bool) for item in items):
        raise BadRequest(f"{key} must be a string, a number or a list of them")
    values = _split(items)
    if not values:
        raise BadRequest(f"{key} is empty: give at least one value")
    return key, values


def _split(raw: Any) -> list[str]:
    items = raw if isinstance(raw, list) else [raw]
    return [part.strip() for item in items for part in str(item).split(",") if part.strip()]


def _expand(target: str, value: str) -> list[str]:
    if target == "state":
        upper = value.upper()
        if upper == "IN_PROGRESS":
            return list(_IN_PROGRESS)
        return [State.CANCELED if upper == "CANCELLED" else upper]
    if target == "host":  # host names are case-insensitive
        return [value.lower()]
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
