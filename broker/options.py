"""`Upstash-*` request headers → PublishOptions (qstash-api.md section 4).

One parser serves publish, enqueue, batch items and schedules. Header names are matched
case-insensitively (the TypeScript SDK lowercases them); values are parsed leniently where the
SDKs differ (`True`/`true`, `", "` separators, bare seconds) and strictly otherwise: a value we
cannot understand is a 400, never a silent default.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from typing import Any

from multidict import CIMultiDict, CIMultiDictProxy

from broker.durations import parse_duration_ms
from broker.errors import BadRequest
from broker.expressions import check_delays
from broker.header_policy import check_forwarded, name_refusal
from broker.queue.destinations import validate_url
from broker.queue.model import CallbackSpec, FlowControl, PublishOptions, WorkflowHeaders
from broker.queue.names import check_name
from broker.settings import Settings

Headers = CIMultiDict[str] | CIMultiDictProxy[str]

METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
_FORWARD = "upstash-forward-"


def parse_publish_headers(headers: Headers, settings: Settings) -> PublishOptions:
    """Read every publish option from request headers."""
    retries = _retries(headers.get("Upstash-Retries"), "Upstash-Retries", settings)
    workflow = _workflow(headers, "Upstash-Workflow-", settings)
    forwarded = forwarded_headers(
        headers.items(), _FORWARD, headers.get("Content-Type"), drop_refused=workflow is not None
    )
    return PublishOptions(
        method=_method(headers.get("Upstash-Method"), "Upstash-Method"),
        headers=forwarded,
        retries=retries,
        retry_delay=_retry_delay(
            headers.get("Upstash-Retry-Delay"), "Upstash-Retry-Delay", retries
        ),
        timeout_ms=_timeout(headers.get("Upstash-Timeout"), "Upstash-Timeout", settings),
        delay_ms=_delay(headers.get("Upstash-Delay"), "Upstash-Delay", settings),
        not_before_ms=_not_before(headers.get("Upstash-Not-Before"), settings),
        callback=_callback(headers, "callback", settings, retries, workflow is not None),
        failure_callback=_callback(headers, "failure", settings, retries, workflow is not None),
        labels=_labels(headers.getall("Upstash-Label", []), settings.max_labels),
        deduplication_id=_dedup_id(headers.get("Upstash-Deduplication-Id")),
        content_based_deduplication=_boolean(
            headers.get("Upstash-Content-Based-Deduplication"),
            "Upstash-Content-Based-Deduplication",
        ),
        flow_control=_flow_control(
            headers.get("Upstash-Flow-Control-Key"),
            headers.get("Upstash-Flow-Control-Value", ""),
            settings,
        ),
        **_redact(headers.get("Upstash-Redact-Fields", "")),
        workflow=workflow,
    )


def forwarded_headers(
    items: Iterable[tuple[str, str]],
    prefix: str,
    content_type: str | None = None,
    *,
    drop_refused: bool = False,
) -> dict[str, list[str]]:
    """Headers named `<prefix><Name>` become `<Name>`; Content-Type rides along unless a
    forwarded Content-Type overrides it. A header the policy never forwards (framing,
    hop-by-hop, hookstream's own delivery headers, a line break anywhere) is a 400 naming it.

    With `drop_refused` (workflow messages) a name the policy never forwards is dropped
    instead: the workflow SDK forwards every header of the request that started a run,
    `Host` and `Content-Length` among them, and QStash accepts that. A line break in a value
    is still a 400."""
    plen = len(prefix)
    # One loop with a sliced compare: most publishes forward nothing, and every header of
    # the request is tested (a generator chain and lower() of each whole name cost 3x).
    forwarded: dict[str, list[str]] = {}
    for name, value in items:
        if len(name) > plen and name[:plen].lower() == prefix:
            forwarded.setdefault(_canonical(name[plen:]), []).append(value)
    if drop_refused:
        forwarded = {n: v for n, v in forwarded.items() if name_refusal(n) is None}
    for name, values in forwarded.items():
        check_forwarded(name, values, _canonical(prefix + name))
    if content_type and "Content-Type" not in forwarded:
        check_forwarded("Content-Type", [content_type], "Content-Type")
        forwarded["Content-Type"] = [content_type]
    return forwarded


def _canonical(name: str) -> str:
    """`content-type` → `Content-Type`, the way Go's http.Header shows names."""
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


def _method(value: str | None, header: str) -> str:
    if value is None:
        return "POST"
    method = value.strip().upper()
    if method not in METHODS:
        raise BadRequest(f"{header}: unsupported method {value!r}")
    return method


_INTEGER = re.compile(r"-?[0-9]{1,18}")


def _int(value: str, header: str) -> int:
    """Decimal ASCII digits only (int() would also take '1_000' and other scripts' digits),
    and few enough that no bound check below meets a number of thousands of digits."""
    if not _INTEGER.fullmatch(value.strip()):
        shown = repr(value) if len(value) <= 32 else repr(value[:32]) + "..."
        raise BadRequest(f"{header} must be an integer, got {shown}")
    return int(value.strip())


def _retries(value: str | None, header: str, settings: Settings) -> int:
    if value is None:
        return settings.default_retries
    retries = _int(value, header)
    if not 0 <= retries <= settings.max_retries:
        raise BadRequest(f"{header} must be between 0 and {settings.max_retries}, got {retries}")
    return retries


def _retry_delay(value: str | None, header: str, retries: int) -> str | None:
    """An expression that gives a finite delay of at least 0 ms for each of the `retries`."""
    if value is None or not value.strip():
        return None
    check_delays(value, retries, header)
    return value.strip()


def _duration(value: str | None, header: str) -> int:
    if value is None or not value.strip():
        return 0
    try:
        return parse_duration_ms(value)
    except ValueError as exc:
        raise BadRequest(f"{header}: {exc}") from None


def _delay(value: str | None, header: str, settings: Settings) -> int:
    delay = _duration(value, header)
    if delay > settings.max_delay_ms:
        raise BadRequest(f"{header} is above the maximum of {_delay_limit(settings)}")
    return delay


def _delay_limit(settings: Settings) -> str:
    return f"{settings.max_delay_ms // 1000}s (HOOKSTREAM_MAX_DELAY)"


def _timeout(value: str | None, header: str, settings: Settings) -> int:
    timeout = _duration(value, header) or settings.default_timeout_ms
    if timeout > settings.max_timeout_ms:
        raise BadRequest(f"{header} is above the maximum of {settings.max_timeout_ms // 1000}s")
    return timeout


def _not_before(value: str | None, settings: Settings) -> int | None:
    """A unix time in seconds, at most HOOKSTREAM_MAX_DELAY ahead (a past one is due now)."""
    if value is None or not value.strip():
        return None
    seconds = _int(value, "Upstash-Not-Before")
    if seconds < 0:
        raise BadRequest("Upstash-Not-Before must be a unix time in seconds")
    if seconds * 1000 > time.time() * 1000 + settings.max_delay_ms:
        raise BadRequest(f"Upstash-Not-Before is further ahead than {_delay_limit(settings)}")
    return seconds * 1000


_REDACT_ITEM = re.compile(r"^(body|headers?)(?:\[([^\]]+)\])?$", re.IGNORECASE)


_NOTHING_REDACTED: dict[str, Any] = {"redact_body": False, "redact_headers": ()}


def _redact(value: str) -> dict[str, Any]:
    """`body`, `header` (every header) and `header[Name]`; the docs' `headers` spelling too."""
    if not value:
        return _NOTHING_REDACTED
    body, names = False, []
    for item in (part.strip() for part in value.split(",")):
        if not item:
            continue
        match = _REDACT_ITEM.match(item)
        if match is None or (match[1].lower() == "body" and match[2]):
            raise BadRequest(f"Upstash-Redact-Fields: cannot read {item!r}")
        if match[1].lower() == "body":
            body = True
        else:
            names.append(_canonical(match[2]) if match[2] else "*")
    return {"redact_body": body, "redact_headers": tuple(names)}


_FLOW = "Upstash-Flow-Control-Value"


def _flow_control(key: str | None, value: str, settings: Settings) -> FlowControl | None:
    """Lenient about separators (`", "` or `,`) and an empty value, strict about numbers,
    each bounded by its setting."""
    if key is None or not key.strip():
        return None
    key = check_name("flow_control_key", key.strip())
    given = _flow_control_value(value)
    period_ms = _duration(given.get("period"), f"{_FLOW} period")
    if period_ms > settings.max_rate_period_ms:
        most = f"{settings.max_rate_period_ms // 1000}s (HOOKSTREAM_MAX_RATE_PERIOD)"
        raise BadRequest(f"{_FLOW} period is above the maximum of {most}")
    return FlowControl(
        key=key,
        parallelism=_bounded(
            given.get("parallelism"), "parallelism", settings.max_parallelism, "PARALLELISM"
        ),
        rate=_bounded(given.get("rate"), "rate", settings.max_rate, "RATE"),
        period_s=period_ms // 1000 or 1,
    )


def _flow_control_value(value: str) -> dict[str, str]:
    """`parallelism=N, rate=N, period=<duration>` → {name: raw value}."""
    given: dict[str, str] = {}
    for part in value.split(","):
        name, sep, raw = part.strip().partition("=")
        if not part.strip():
            continue
        if not sep or name.strip().lower() not in ("parallelism", "rate", "period"):
            raise BadRequest(f"{_FLOW}: cannot read {part.strip()!r}")
        given[name.strip().lower()] = raw.strip()
    return given


def _bounded(value: str | None, name: str, most: int, setting: str) -> int | None:
    """A whole number from 1 to `most` (HOOKSTREAM_MAX_<setting>)."""
    if value is None:
        return None
    number = _int(value, f"{_FLOW} {name}")
    if not 1 <= number <= most:
        raise BadRequest(
            f"{_FLOW} {name} must be from 1 to {most} (HOOKSTREAM_MAX_{setting}), got {number}"
        )
    return number


def _dedup_id(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    if len(value) > 512:
        raise BadRequest("Upstash-Deduplication-Id is longer than 512 characters")
    return value.strip()


def _boolean(value: str | None, header: str) -> bool:
    """`true`/`false` in any case (Python's SDK sends `True`)."""
    if value is None or not value.strip():
        return False
    lowered = value.strip().lower()
    if lowered not in ("true", "false"):
        raise BadRequest(f"{header} must be true or false, got {value!r}")
    return lowered == "true"


def _labels(values: list[str], most: int) -> tuple[str, ...]:
    """Labels come one per header or comma-separated (the TypeScript SDK joins an array);
    at most `most` of them, counted before any is checked."""
    if not values:
        return ()
    labels = [label for value in values for part in value.split(",") if (label := part.strip())]
    if len(labels) > most:
        raise BadRequest(
            f"Upstash-Label: at most {most} labels per message (HOOKSTREAM_MAX_LABELS), "
            f"got {len(labels)}"
        )
    return tuple(check_name("label", label) for label in labels)


def _callback(
    headers: Headers, kind: str, settings: Settings, message_retries: int, of_workflow: bool
) -> CallbackSpec | None:
    """`Upstash-(Failure-)Callback` and the headers that configure the callback message.

    The callback is a message of its own, configured by the publish headers with `Upstash-`
    replaced by `Upstash-Callback-` (or `Upstash-Failure-Callback-`), as QStash documents:
    `-Method`, `-Retries`, `-Retry-Delay`, `-Timeout`, `-Delay`, `-Workflow-RunId` and
    `-Workflow-CallType` (the callback is then a delivery of that workflow run), and
    `-Forward-<Name>`, sent to the callback URL as `<Name>`. Other names are ignored, like
    unknown `Upstash-*` headers of a message: the workflow SDK's `-Feature-Set`, and Python's
    `callback_headers={"X": ...}`, which it sends as `Upstash-Callback-X` (`{"Forward-X": ...}`
    forwards X).

    A workflow message's callbacks drop the names the policy never forwards, as its own
    forwarded headers do: the Python SDK forwards the headers of the request that started
    the run to a `context.call`'s callback and the failure callback too, `Host` among them.
    """
    name = "Upstash-Callback" if kind == "callback" else "Upstash-Failure-Callback"
    url = headers.get(name)
    if url is None or not url.strip():
        return None
    given = headers.get(f"{name}-Retries")
    retries = None if given is None else _retries(given, f"{name}-Retries", settings)
    return CallbackSpec(
        url=validate_url(url.strip(), name, settings.destination_policy),
        method=_method(headers.get(f"{name}-Method"), f"{name}-Method"),
        headers=forwarded_headers(
            headers.items(), f"{name.lower()}-forward-", drop_refused=of_workflow
        ),
        retries=retries,
        timeout_ms=_timeout(headers.get(f"{name}-Timeout"), f"{name}-Timeout", settings),
        retry_delay=_retry_delay(
            headers.get(f"{name}-Retry-Delay"),
            f"{name}-Retry-Delay",
            message_retries if retries is None else retries,
        ),
        delay_ms=_delay(headers.get(f"{name}-Delay"), f"{name}-Delay", settings),
        **_callback_workflow(_workflow(headers, f"{name}-Workflow-", settings)),
    )


CALL_TYPES = frozenset({"step", "toCallback", "fromCallback", "failureCall"})


def _workflow(headers: Headers, prefix: str, settings: Settings) -> WorkflowHeaders | None:
    """`<prefix>RunId` (any case: the SDK also spells it `Runid`), `-Init`, `-Url`,
    `-CallType` (docs/workflow.md); None without a run id."""
    run_id = headers.get(f"{prefix}RunId")
    if run_id is None or not run_id.strip():
        return None
    call_type = headers.get(f"{prefix}CallType", "step").strip()
    if call_type not in CALL_TYPES:
        raise BadRequest(f"{prefix}CallType must be one of {', '.join(sorted(CALL_TYPES))}")
    url = headers.get(f"{prefix}Url")
    return WorkflowHeaders(
        run_id=check_name("workflow_run_id", run_id.strip(), f"{prefix}RunId"),
        init=_boolean(headers.get(f"{prefix}Init"), f"{prefix}Init"),
        url=validate_url(url.strip(), f"{prefix}Url", settings.destination_policy) if url else None,
        call_type=call_type,
        detect_trigger="WF_DetectTrigger" in _features(headers.get("Upstash-Feature-Set", "")),
        invoke=_boolean(headers.get(f"{prefix}Invoke"), f"{prefix}Invoke"),
    )


def _features(value: str) -> set[str]:
    return {part.strip() for part in value.split(",")}


def _callback_workflow(workflow: WorkflowHeaders | None) -> dict[str, Any]:
    """A callback that reports to a workflow run is delivered as one of its messages."""
    if workflow is None:
        return {}
    return {"workflow_run_id": workflow.run_id, "workflow_call_type": workflow.call_type}
