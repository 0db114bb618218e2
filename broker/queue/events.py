"""The events log: what each state change records, and reading it back.

Each partition has a capped stream. An entry holds the message id `m`, the state `s`, the
message's event header `h` (JSON fields common to all its events, written once at publish)
and `x`, the JSON fields of this one event. The stream entry id gives the event time. Both
JSON objects use the API's spelling: they are the two parts of broker.api.EventFields, so a
listing renders them without looking the message up.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import msgspec

from broker.api import EventFields, from_envelope
from broker.queue.model import Envelope

_json = msgspec.json.Encoder()
_decode = msgspec.json.Decoder(dict[str, Any])


def event_header(envelope: Envelope) -> bytes:
    """The event fields that every event of this message repeats (API spelling)."""
    return _json.encode(from_envelope(EventFields, envelope))


def event_extra(**fields: Any) -> bytes:
    """The fields of one event (error, responseStatus, ...), leaving out empty ones."""
    return _json.encode({k: v for k, v in fields.items() if v not in (None, "", {})})


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """One entry of the events log."""

    message_id: str
    state: str
    time_ms: int
    fields: EventFields


def read_event(entry: Mapping[bytes, bytes], time_ms: int) -> StoredEvent:
    """The event in a stream entry; its own fields win over the header's."""
    recorded = _decode.decode(entry[b"h"]) | _decode.decode(entry[b"x"])
    fields = msgspec.convert(recorded, EventFields)
    return StoredEvent(entry[b"m"].decode(), entry[b"s"].decode(), time_ms, fields)
