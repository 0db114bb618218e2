"""The rules for every name a client gives hookstream: one table, one check.

Names become parts of Redis key names (`{hs:3}:q:<queue>`, `{hs:topics}:g:<group>`,
`{hs:sched}:s:<schedule id>`, `{hs:2}:fc:<flow-control key>`), path segments of the API
(`/v2/queues/<name>`) and filter values (`?label=a,b`). So key parts never hold whitespace,
':' (the separator: a flow-control key `k:wait` would be the wait list of key `k`), '{' or '}'
(hash tags).

- Queue, URL-group and endpoint names and schedule ids: the alphabet QStash documents
  (qstash-api.md 1.2 and 4): letters, digits, '-', '_', '.'. Neither SDK checks more than
  "not empty".
- Flow-control keys and labels: QStash documents no rule and both SDKs send any string, so
  these allow every printable ASCII character (headers carry ASCII) that breaks nothing here.
  A flow-control key is also a path segment that both SDKs leave unencoded
  (`/v2/flowControl/<key>`), hence no '/', '?', '#', '%'. A ',' separates labels in
  `Upstash-Label` and values in filters (`flowControlKey=a,b`), so neither may contain one.
  Labels are filter values only, never key parts: they may contain ':' and inner spaces.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from broker.errors import BadRequest

Kind = Literal[
    "queue", "url_group", "endpoint", "schedule_id", "flow_control_key", "label", "workflow_run_id"
]


@dataclass(frozen=True)
class Rule:
    """How one kind of name is spelled."""

    field: str  # what the error message calls the value
    pattern: re.Pattern[str]
    hint: str  # the rule, in words


def _printable_except(forbidden: str, longest: int, inner_spaces: bool = False) -> re.Pattern[str]:
    """1 to `longest` printable ASCII characters, none in `forbidden`; with `inner_spaces`,
    also spaces that neither start nor end the value."""
    allowed = re.escape("".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in forbidden))
    if inner_spaces:
        return re.compile(f"(?! )[ {allowed}]{{1,{longest}}}(?<! )")
    return re.compile(f"[{allowed}]{{1,{longest}}}")


_QSTASH_NAME = re.compile(r"[A-Za-z0-9._-]{1,128}")
_QSTASH_HINT = "use 1 to 128 letters, digits, '-', '_' or '.'"

RULES: dict[Kind, Rule] = {
    "queue": Rule("queue name", _QSTASH_NAME, _QSTASH_HINT),
    "url_group": Rule("URL group name", _QSTASH_NAME, _QSTASH_HINT),
    "endpoint": Rule("endpoint name", _QSTASH_NAME, _QSTASH_HINT),
    "schedule_id": Rule("Upstash-Schedule-Id", _QSTASH_NAME, _QSTASH_HINT),
    "flow_control_key": Rule(
        "Upstash-Flow-Control-Key",
        _printable_except(":{}/?#%,", 256),
        "use 1 to 256 printable ASCII characters, without whitespace or any of : { } / ? # % ,",
    ),
    # The SDKs make `wfr_<nanoid>`; a caller's own id gets the prefix too. Also a key part.
    "workflow_run_id": Rule("Upstash-Workflow-RunId", _QSTASH_NAME, _QSTASH_HINT),
    "label": Rule(
        "Upstash-Label",
        _printable_except(",", 256, inner_spaces=True),
        "use 1 to 256 printable ASCII characters (spaces only inside), without ','",
    ),
}


def check_name(kind: Kind, value: str, field: str | None = None) -> str:
    """`value` if it follows the rule of its kind, else a 400 naming `field` (by default the
    kind's usual field)."""
    rule = RULES[kind]
    if not rule.pattern.fullmatch(value):
        shown = repr(value) if len(value) <= 64 else repr(value[:64]) + "..."
        raise BadRequest(f"invalid {field or rule.field} {shown}: {rule.hint}")
    return value
