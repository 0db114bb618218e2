#!/usr/bin/env python3
"""Generate the hookstream Grafana dashboard.

    python3 deploy/grafana/generate.py          # rewrite the JSON
    python3 deploy/grafana/generate.py --check  # exit 1 if the committed JSON is stale

The output is deploy/helm/hookstream/files/grafana/hookstream.json: the chart embeds it in its
dashboard ConfigMap, and deploy/grafana/hookstream.json links to it for manual import.
tests/deploy/test_dashboard.py checks the committed file equals build() and lints it.

Conventions (deploy/README.md): datasource/namespace/job variables, every panel has a description
and a unit, every range is $__rate_interval. The queue gauges (hookstream_stream_*,
hookstream_delayed_messages, hookstream_dlq_messages) are sampled by every worker replica, so
they are de-duplicated with max by (namespace, job[, stream]) before anything is summed.
"""

from __future__ import annotations

import json
import pathlib
import sys
from typing import Any

OUT = pathlib.Path(__file__).resolve().parents[1] / "helm/hookstream/files/grafana/hookstream.json"
UID = "hookstream-overview"
DS = {"type": "prometheus", "uid": "${datasource}"}
SEL = 'namespace=~"$namespace", job=~"$job"'

Panel = dict[str, Any]


def sel(extra: str = "") -> str:
    """The label matchers every query carries, plus extra ones."""
    return "{" + SEL + (", " + extra if extra else "") + "}"


def rate(metric: str, extra: str = "") -> str:
    return f"rate({metric}{sel(extra)}[$__rate_interval])"


def quantile(q: float, histogram: str, by: str = "le") -> str:
    return f"histogram_quantile({q}, sum by ({by}) ({rate(histogram + '_bucket')}))"


def queue_gauge(metric: str, by: str = "namespace, job") -> str:
    """A gauge every worker replica reports identically: take one copy, never the sum."""
    return f"max by ({by}) ({metric}{sel()})"


def target(expr: str, legend: str) -> dict[str, Any]:
    return {"datasource": DS, "expr": expr, "legendFormat": legend}


def panel(title: str, description: str, unit: str, *targets: dict[str, Any], **opts: Any) -> Panel:
    """A time series panel (or kind="stat") with one target per query."""
    kind = opts.get("kind", "timeseries")
    defaults: dict[str, Any] = {"unit": unit, "min": 0}
    if "max" in opts:
        defaults["max"] = opts["max"]
    p: Panel = {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DS,
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "targets": [dict(t, refId=chr(ord("A") + i)) for i, t in enumerate(targets)],
        "gridPos": {"w": opts.get("w", 8), "h": 4 if kind == "stat" else 8},
    }
    if kind == "stat":
        p["options"] = {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}}
    else:
        p["options"] = {
            "tooltip": {"mode": "multi", "sort": "desc"},
            "legend": {"displayMode": "list", "placement": "bottom"},
        }
    return p


PUBLISHED = "hookstream_messages_published_total"
DELIVERIES = "hookstream_deliveries_total"
HTTP = "hookstream_http_requests_total"
RETRIES, FIRES = "hookstream_delivery_retries_total", "hookstream_schedule_fires_total"
INFLIGHT = "hookstream_worker_inflight_deliveries"
RUNS_STARTED, RUNS_FINISHED = (
    "hookstream_workflow_runs_started_total", "hookstream_workflow_runs_finished_total",
)  # fmt: skip
STEP_DELIVERIES = "hookstream_workflow_step_deliveries_total"
WORKER_ROLE, SCHEDULER_ROLE = 'role="worker"', 'role="scheduler"'
SUCCESS, CODE_5XX, CODE_4XX = 'outcome="success"', 'code=~"5.."', 'code=~"4.."'
# Every role exports the last-tick gauge (0 when it never ticked): keep the schedulers' only.
ONLY_SCHEDULERS = f"and on (namespace, job, instance) hookstream_build_info{sel(SCHEDULER_ROLE)}"
BY_STREAM = "namespace, job, stream"
PARTITION = "{{job}} partition {{stream}}"

# The panels, row by row: panel(title, description, unit, *targets, kind=, w=, max=).
# fmt: off
ROWS: list[tuple[str, list[Panel]]] = [
    ("Overview", [
        panel("Publish rate",
              "Messages accepted per second, from every source (API, schedules, retries, "
              "callbacks).",
              "mps", target(f"sum({rate(PUBLISHED)})", "published"), kind="stat", w=6),
        panel("Delivery success ratio", "Share of delivery attempts that got a 2xx answer.",
              "percentunit",
              target(f"sum({rate(DELIVERIES, SUCCESS)}) / sum({rate(DELIVERIES)})", "success"),
              kind="stat", w=6),
        panel("Backlog",
              "Ready messages no worker has read yet, over all partitions (consumer group lag).",
              "short",
              target(f"sum({queue_gauge('hookstream_stream_lag_messages', BY_STREAM)})", "backlog"),
              kind="stat", w=6),
        panel("DLQ size", "Messages in the dead-letter queue: they exhausted their retries.",
              "short", target(f"sum({queue_gauge('hookstream_dlq_messages')})", "dlq"),
              kind="stat", w=6),
    ]),
    ("Throughput", [
        panel("Published by source",
              "Messages published per second by source: api, schedule, retry, callback.",
              "mps", target(f"sum by (source) ({rate(PUBLISHED)})", "{{source}}")),
        panel("Deliveries by outcome",
              "Delivery attempts per second by outcome "
              "(success, http_error, timeout, connect_error, rejected).",
              "mps", target(f"sum by (outcome) ({rate(DELIVERIES)})", "{{outcome}}")),
        panel("Retries by reason",
              "Failed attempts per second that were scheduled for another try, by reason.",
              "mps",
              target(f"sum by (reason) ({rate(RETRIES)})", "{{reason}}")),
    ]),
    ("Latency", [
        panel("Delivery duration",
              "Time of one delivery attempt: the HTTP call to the destination.", "s",
              target(quantile(0.5, "hookstream_delivery_duration_seconds"), "p50"),
              target(quantile(0.99, "hookstream_delivery_duration_seconds"), "p99"), w=12),
        panel("Queue wait",
              "Time from a message being due (published, not-before or retry time) to its "
              "attempt starting. Grows when workers fall behind.",
              "s",
              target(quantile(0.5, "hookstream_delivery_wait_seconds"), "p50"),
              target(quantile(0.99, "hookstream_delivery_wait_seconds"), "p99"), w=12),
    ]),
    ("Backlog", [
        panel("Lag by partition",
              "Entries of each partition stream not yet read by the workers group.", "short",
              target(queue_gauge("hookstream_stream_lag_messages", BY_STREAM), PARTITION), w=6),
        panel("Pending by partition",
              "Entries read but not acknowledged: deliveries in flight, plus entries of dead "
              "workers until they are reclaimed.", "short",
              target(queue_gauge("hookstream_stream_pending_messages", BY_STREAM), PARTITION), w=6),
        panel("Oldest pending age",
              "Idle time of the oldest unacknowledged entry per partition. Heartbeats keep live "
              "deliveries near 0 and reclaim takes over entries idle past the visibility "
              "timeout, so it stays low unless reclaim is stuck.", "s",
              target(queue_gauge("hookstream_stream_oldest_pending_age_seconds", BY_STREAM),
                     PARTITION), w=6),
        panel("Delayed messages",
              "Messages waiting for a later time: delays, not-before and retry backoff.", "short",
              target(queue_gauge("hookstream_delayed_messages"), "{{job}}"), w=6),
    ]),
    ("Workers", [
        panel("In-flight vs concurrency",
              "Deliveries in progress against the configured limit, summed over worker pods.",
              "short",
              target(f"sum by (job) ({INFLIGHT}{sel()})", "in flight {{job}}"),
              target(f"sum by (job) (hookstream_worker_concurrency{sel()})", "limit {{job}}")),
        panel("Worker saturation",
              "In-flight deliveries divided by the concurrency limit. Near 100% with a backlog "
              "means more workers are needed.", "percentunit",
              target(f"sum by (job) ({INFLIGHT}{sel()}) / "
                     f"sum by (job) (hookstream_worker_concurrency{sel()})", "{{job}}"), max=1),
        panel("Worker replicas", "Worker pods being scraped.", "short",
              target(f"count by (job) (hookstream_build_info{sel(WORKER_ROLE)})", "{{job}}")),
    ]),
    ("Dead letters", [
        panel("DLQ size", "Messages in the dead-letter queue, waiting to be retried or deleted.",
              "short", target(queue_gauge("hookstream_dlq_messages"), "{{job}}"), w=12),
        panel("DLQ inflow",
              "Messages moved to the dead-letter queue per second after their last retry.", "mps",
              target(f"sum by (job) ({rate('hookstream_dead_lettered_total')})", "{{job}}"), w=12),
    ]),
    ("Scheduler", [
        panel("Schedules fired", "Schedule ticks turned into published messages, per second.",
              "ops", target(f"sum by (job) ({rate(FIRES)})", "{{job}}")),
        panel("Scheduler last tick age",
              "Seconds since a scheduler replica last ran its loop. A few seconds when healthy.",
              "s",
              target("time() - max by (namespace, job) "
                     f"(hookstream_scheduler_last_tick_timestamp_seconds{sel()} {ONLY_SCHEDULERS})",
                     "{{job}}")),
        panel("Schedule fire delay",
              "Time from a schedule's due tick to its message being published.", "s",
              target(quantile(0.5, "hookstream_schedule_fire_delay_seconds"), "p50"),
              target(quantile(0.99, "hookstream_schedule_fire_delay_seconds"), "p99")),
    ]),
    ("HTTP API", [
        panel("Requests by status", "API requests per second by HTTP status code.", "reqps",
              target(f"sum by (code) ({rate(HTTP)})", "{{code}}")),
        panel("HTTP error rate",
              "Share of API requests answered with 5xx (server errors) and 4xx (client errors: "
              "bad input, bad token).", "percentunit",
              target(f"sum({rate(HTTP, CODE_5XX)}) / sum({rate(HTTP)})", "5xx"),
              target(f"sum({rate(HTTP, CODE_4XX)}) / sum({rate(HTTP)})", "4xx")),
        panel("Request duration p99", "99th percentile of API request duration by route.", "s",
              target(quantile(0.99, "hookstream_http_request_duration_seconds", "le, route"),
                     "{{route}}")),
    ]),
    ("Workflows", [
        panel("Workflow runs started",
              "Upstash Workflow runs created per second by a trigger (a repeated run id "
              "creates none).", "ops",
              target(f"sum by (job) ({rate(RUNS_STARTED)})", "{{job}}")),
        panel("Workflow runs finished by state",
              "Runs ended per second: RUN_SUCCESS (the app returned), RUN_FAILED (a step ran "
              "out of retries, or the trigger reached no workflow app), RUN_CANCELED.", "ops",
              target(f"sum by (state) ({rate(RUNS_FINISHED)})", "{{state}}")),
        panel("Workflow step deliveries by outcome",
              "Delivery attempts of workflow steps to their app per second, by outcome. The "
              "calls of context.call to third parties are ordinary deliveries.", "mps",
              target(f"sum by (outcome) ({rate(STEP_DELIVERIES)})", "{{outcome}}")),
    ]),
]
# fmt: on


def layout(rows: list[tuple[str, list[Panel]]]) -> list[Panel]:
    """Place rows and their panels left to right on Grafana's 24-column grid; number them."""
    out: list[Panel] = []
    y = 0
    for title, panels in rows:
        out.append(
            {
                "type": "row",
                "title": title,
                "collapsed": False,
                "panels": [],
                "gridPos": {"x": 0, "y": y, "w": 24, "h": 1},
            }
        )
        y += 1
        x = 0
        for p in panels:
            w, h = p["gridPos"]["w"], p["gridPos"]["h"]
            if x + w > 24:
                x, y = 0, y + h
            out.append(dict(p, gridPos={"x": x, "y": y, "w": w, "h": h}))
            x += w
        y += max(p["gridPos"]["h"] for p in panels)
    return [dict(p, id=i) for i, p in enumerate(out, start=1)]


def variable(name: str, label: str, query: str, *, multi: bool) -> dict[str, Any]:
    return {
        "type": "query",
        "name": name,
        "label": label,
        "datasource": DS,
        "query": query,
        "definition": query,
        "refresh": 2,  # on time range change, so new namespaces and jobs appear
        "multi": multi,
        "includeAll": multi,
        "sort": 1,
        "current": {"selected": True, "text": "All", "value": "$__all"} if multi else {},
    }


def build() -> dict[str, Any]:
    return {
        "uid": UID,
        "title": "hookstream",
        "description": "hookstream: publishing, delivery, backlog, dead letters, scheduler, API, "
        "workflow runs.",
        "tags": ["hookstream", "queue", "webhooks"],
        "editable": False,  # provisioned from code: edit deploy/grafana/generate.py
        "schemaVersion": 39,
        "graphTooltip": 1,
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "30s",
        "timezone": "",
        "annotations": {"list": []},
        "links": [],
        "templating": {
            "list": [
                {
                    "type": "datasource",
                    "name": "datasource",
                    "label": "Data source",
                    "query": "prometheus",
                    "refresh": 1,
                    "current": {},
                },
                variable(
                    "namespace",
                    "Namespace",
                    "label_values(hookstream_build_info, namespace)",
                    multi=False,
                ),
                variable(
                    "job",
                    "Job",
                    'label_values(hookstream_build_info{namespace=~"$namespace"}, job)',
                    multi=True,
                ),
            ]
        },
        "panels": layout(ROWS),
    }


def render() -> str:
    return json.dumps(build(), indent=2) + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if not OUT.exists() or OUT.read_text() != text:
            print(f"{OUT} is stale: run python3 deploy/grafana/generate.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
