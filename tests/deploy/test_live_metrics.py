"""Live checks: a running hookstream scraped by promtool and by a real Prometheus on 127.0.0.1.

One stack per module, about 15 s: an embedded Redis, `hookstream ingress`, `hookstream worker` and
`hookstream scheduler` as subprocesses, a local HTTP sink, and a
publisher thread that keeps messages flowing (successes, a retry and a dead letter every
cycle, unauthorised calls for 4xx, and a workflow run that the sink, playing the app, ends
with the SDK's finishing call). Then:

- `promtool check metrics` on each role's /metrics, and the exposition against the metric
  catalogue (tests/deploy/metrics.yaml): names, types, label names, buckets;
- Prometheus 2.42 (Debian) with a generated config, 1 s scrapes and evaluation, jobs named
  like the chart's monitors (`<fullname>-<role>`, fullname "hookstream"), loading
  deploy/prometheus/rules.yaml;
- every dashboard query and variable query, and every rule expression, through
  /api/v1/query: no error, every selector in them matches series, and the panels and
  recording rules return data; the alerts that go pending are exactly the ones the traffic
  should cause.

Everything listens on 127.0.0.1 only. Without prometheus/promtool the module skips (fails
with CI=true), like the other tool-based checks.
"""

from __future__ import annotations

import calendar
import http.server
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from broker.errors import EmbeddedServerError
from broker.redis_server import EmbeddedServer, free_port, stop_process

JOB_PREFIX = "hookstream-"  # the chart's job label is <fullname>-<role>
RATE_INTERVAL = "15s"  # $__rate_interval: >= 4 scrape intervals of 1 s
SINK_FAIL = "/fail"  # the sink answers 500 here, 200 everywhere else
SINK_WORKFLOW = "/wf"  # a workflow app: the sink ends the run its delivery names
PUBLISH_EVERY = 0.05  # seconds between publishes: ~20 messages/s
STARTUP_TIMEOUT = 15.0
WARMUP_TIMEOUT = 35.0  # the worker samples its Redis gauges every 5 s
BUDGET = 60.0  # every wait of the module together, from the stack's start

Json = dict[str, Any]


# -- helpers ---------------------------------------------------------------------------------


def _http(url: str, data: dict[str, str] | bytes | None = None, **headers: str) -> tuple[int, str]:
    body = urllib.parse.urlencode(data).encode() if isinstance(data, dict) else data
    request = urllib.request.Request(url, data=body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read().decode()


class _Budget:
    """One deadline for all the waits, so a slow machine fails in BUDGET seconds, not more."""

    deadline = float("inf")

    @classmethod
    def start(cls) -> None:
        cls.deadline = time.monotonic() + BUDGET

    @classmethod
    def cap(cls, timeout: float) -> float:
        return max(0.5, min(timeout, cls.deadline - time.monotonic()))


def _wait(what: str, check: Callable[[], Any], timeout: float, logs: Callable[[], str]) -> Any:
    """Poll `check` until it returns something truthy; fail with the logs when late."""
    timeout = _Budget.cap(timeout)
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except (OSError, ValueError, KeyError) as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(0.2)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})\n{logs()}")


def _tail(path: Path, lines: int = 12, width: int = 400) -> str:
    """The end of a log, each line cut to `width` (tracebacks in JSON logs are long)."""
    if not path.exists():
        return f"--- {path.name}: (missing)"
    text = path.read_text(errors="replace").splitlines()[-lines:]
    return f"--- {path.name}:\n" + "\n".join(line[:width] for line in text)


class _SinkHandler(http.server.BaseHTTPRequestHandler):
    """200 for every path except /fail (500): the destination of every delivery. At /wf it
    is the smallest workflow app: the trigger's delivery ends its run with RUN_SUCCESS, as the
    SDK does after a run's last step (DELETE /v2/workflows/runs/{id}?cancel=false)."""

    api, token = "", ""
    finished: list[int] = []  # the answers to those finishing calls

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        run_id = self.headers.get("Upstash-Workflow-RunId")
        if self.path.startswith(SINK_WORKFLOW) and run_id:
            self.finish_run(run_id)
        self.send_response(500 if self.path.startswith(SINK_FAIL) else 200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def finish_run(self, run_id: str) -> None:
        url = f"{self.api}/v2/workflows/runs/{urllib.parse.quote(run_id)}?cancel=false"
        request = urllib.request.Request(
            url, data=b'"done"', method="DELETE", headers={"Authorization": f"Bearer {self.token}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                self.finished.append(response.status)
        except urllib.error.HTTPError as exc:
            with exc:
                self.finished.append(exc.code)
        except OSError:
            self.finished.append(0)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class Publisher(threading.Thread):
    """Publishes in a loop until stopped: mostly successes, plus the failure paths."""

    def __init__(self, api: str, token: str, sink: str) -> None:
        super().__init__(daemon=True, name="live-publisher")
        self.api, self.token, self.sink = api, token, sink
        self.stopping = threading.Event()
        self.answers: dict[str, list[int]] = {}
        # (kind, path, Upstash-Retries, token): 200; 500 -> DLQ; 500 -> retry -> DLQ; 401.
        self.cycle = [("ok", "/ok", "3", token)] * 6 + [
            ("dead", SINK_FAIL, "0", token),
            ("retried", SINK_FAIL, "1", token),
            ("unauthorised", "/ok", "0", "wrong-token"),
            ("workflow", SINK_WORKFLOW, "0", token),
        ]

    def run(self) -> None:
        while not self.stopping.is_set():
            for kind, path, retries, token in self.cycle:
                if self.stopping.wait(PUBLISH_EVERY):
                    return
                status = self.publish(path, retries, token)
                self.answers.setdefault(kind, []).append(status)

    def publish(self, path: str, retries: str, token: str) -> int:
        url = f"{self.api}/v2/publish/{self.sink}{path}"
        headers = {"Authorization": f"Bearer {token}", "Upstash-Retries": retries}
        if path == SINK_WORKFLOW:  # a workflow trigger, as the SDK's Client.trigger sends it
            headers |= {
                "Upstash-Workflow-Init": "true",
                "Upstash-Workflow-RunId": f"wfr_live-{secrets.token_hex(8)}",
            }
        try:
            status, _ = _http(url, b"{}", **headers)
        except OSError:
            return 0
        return status


class Stack:
    """Redis, the hookstream roles, the sink and the publisher, all on 127.0.0.1."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.token = secrets.token_urlsafe(16)
        self.hookstream = str(Path(sys.executable).parent / "hookstream")
        self.redis: EmbeddedServer | None = None
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.metrics_urls: dict[str, str] = {}  # role -> its /metrics
        self.sink: http.server.ThreadingHTTPServer | None = None
        self.publisher: Publisher | None = None
        self.api = ""

    @property
    def roles(self) -> list[str]:
        return list(self.metrics_urls)

    def logs(self) -> str:
        return "\n".join(_tail(self.workdir / f"{role}.log") for role in self.processes)

    def start(self) -> Stack:
        _Budget.start()
        try:
            self.redis = EmbeddedServer(self.workdir / "redis", appendonly=False).start()
        except EmbeddedServerError as exc:
            pytest.fail(f"no Redis-compatible server for the live check: {exc}")
        self.sink = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _SinkHandler)
        _SinkHandler.token = self.token
        threading.Thread(target=self.sink.serve_forever, daemon=True, name="live-sink").start()
        ports = {role: free_port() for role in ("ingress", "worker", "scheduler")}
        for role, port in ports.items():
            self.spawn(role, port)
            self.metrics_urls[role] = f"http://127.0.0.1:{port}/metrics"
        self.api = _SinkHandler.api = f"http://127.0.0.1:{ports['ingress']}"
        for role, url in self.metrics_urls.items():
            _wait(f"{role} /readyz", lambda r=role, u=url: self.ready(r, u), STARTUP_TIMEOUT,
                  self.logs)  # fmt: skip
        sink = f"http://127.0.0.1:{self.sink.server_address[1]}"
        self.publisher = Publisher(self.api, self.token, sink)
        self.publisher.start()
        return self

    def ready(self, role: str, metrics_url: str) -> bool:
        if self.processes[role].poll() is not None:
            pytest.fail(f"hookstream {role} exited with {self.processes[role].returncode}\n"
                        + self.logs())  # fmt: skip
        return _http(metrics_url.replace("/metrics", "/readyz"))[0] == 200

    def spawn(self, role: str, port: int) -> None:
        assert self.redis is not None
        env = {
            **os.environ,
            "REDIS_URL": self.redis.url,
            "HOOKSTREAM_TOKENS": self.token,
            "HOOKSTREAM_HOST": "127.0.0.1",
            # The sink runs on loopback, which the destination policy denies by default.
            "HOOKSTREAM_ALLOWED_DESTINATIONS": "127.0.0.1/32",
            # The ingress serves /metrics on its API port; the others on the metrics port.
            "HOOKSTREAM_PORT": str(port),
            "HOOKSTREAM_METRICS_PORT": str(port),
            "HOOKSTREAM_DATA_DIR": str(self.workdir / "data"),
            "HOOKSTREAM_LOG_FORMAT": "json",
            "HOOKSTREAM_RETRY_TIME_SCALE": "0.001",
            "HOOKSTREAM_SHUTDOWN_GRACE": "2s",
        }
        with (self.workdir / f"{role}.log").open("wb") as log:
            self.processes[role] = subprocess.Popen(
                [self.hookstream, role], env=env, stdout=log, stderr=subprocess.STDOUT
            )

    def stop(self) -> None:
        if self.publisher:
            self.publisher.stopping.set()
            self.publisher.join(timeout=5)
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self.sink:
            self.sink.shutdown()
            self.sink.server_close()
        if self.redis:
            self.redis.stop()

    def scrape(self, role: str) -> str:
        status, text = _http(self.metrics_urls[role])
        assert status == 200, f"{role} /metrics answered {status}"
        return text


class Prometheus:
    """A Prometheus server on 127.0.0.1 scraping the stack every second, with our rules."""

    def __init__(self, binary: str, workdir: Path, stack: Stack, rules: Path) -> None:
        self.binary, self.workdir, self.stack, self.rules = binary, workdir, stack, rules
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = workdir / "prometheus.yml"
        self.process: subprocess.Popen[bytes] | None = None

    def write_config(self) -> Path:
        jobs = [
            {
                "job_name": JOB_PREFIX + role,
                "metrics_path": "/metrics",
                "static_configs": [{"targets": [url.split("/")[2]]}],
            }
            for role, url in self.stack.metrics_urls.items()
        ]
        config = {
            "global": {
                "scrape_interval": "1s",
                "scrape_timeout": "1s",
                "evaluation_interval": "1s",
            },
            "rule_files": [str(self.rules.resolve())],
            "scrape_configs": jobs,
        }
        self.config.write_text(yaml.safe_dump(config, sort_keys=False))
        return self.config

    def logs(self) -> str:
        return _tail(self.workdir / "prometheus.log", 25) + "\n" + self.stack.logs()

    def start(self) -> Prometheus:
        self.write_config()
        args = [
            self.binary,
            f"--config.file={self.config}",
            f"--storage.tsdb.path={self.workdir / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--log.level=warn",
        ]
        with (self.workdir / "prometheus.log").open("wb") as log:
            self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        _wait("Prometheus /-/ready", lambda: self.get("/-/ready")[0] == 200, 20, self.logs)
        return self

    def stop(self) -> None:
        if self.process:
            stop_process(self.process)

    def get(self, path: str, **params: str) -> tuple[int, str]:
        query = "?" + urllib.parse.urlencode(params) if params else ""
        return _http(self.url + path + query)

    def api(self, path: str, **params: str) -> Json:
        status, text = self.get(path, **params)
        body: Json = json.loads(text)
        assert status == 200, (path, params, body)
        assert body["status"] == "success", (path, params, body)
        return body["data"]

    def query(self, expr: str) -> Json:
        """The whole /api/v1/query answer (errors included): status, data or error, warnings."""
        status, text = _http(self.url + "/api/v1/query", {"query": expr})
        return {"http": status, **json.loads(text)}

    def result(self, expr: str) -> list[Json]:
        answer = self.query(expr)
        assert answer["status"] == "success", f"{expr}\n  -> {answer}"
        return list(answer["data"]["result"])


# -- the dashboard and the rules, as queries -----------------------------------------------


SELECTOR = re.compile(r"(?<![\w:])((?:hookstream_|namespace_job:hookstream_)[\w:]*)\s*(\{[^}]*\})?")
LABEL_VALUES = re.compile(r"label_values\((.*),\s*(\w+)\)$")
COMPARISON = re.compile(r"\s*(?:>|<|>=|<=|==|!=)\s*[0-9.]+(?=\s|$)")


def prometheus_regex_escape(value: str) -> str:
    """How Grafana escapes one value of a multi-value variable for =~."""
    return re.sub(r"([\\^$*+?.()|{}\[\]])", r"\\\1", value)


def substitute(expr: str, variables: dict[str, str]) -> str:
    """Replace Grafana variables ($name, ${name}, [[name]]); longest names first."""
    for name in sorted(variables, key=len, reverse=True):
        for form in (f"${{{name}}}", f"[[{name}]]", f"${name}"):
            expr = expr.replace(form, variables[name])
    assert "$" not in expr, f"unsubstituted variable in {expr}"
    return expr


NEGATIVE = re.compile(r'(\w+)\s*(!=|!~)\s*("(?:[^"\\]|\\.)*")')


def selectors(expr: str) -> list[str]:
    """Every hookstream or recorded-series selector in an expression, with its matchers.

    A negative matcher (outcome!="success") matches anything when its value is misspelt, so
    each one also yields the selector with that matcher made positive: the excluded value
    must exist too.
    """
    found = []
    for match in SELECTOR.finditer(expr):
        selector = match[1] + (match[2] or "")
        found.append(selector)
        for negative in NEGATIVE.finditer(selector):
            positive = negative[1] + {"!=": "=", "!~": "=~"}[negative[2]] + negative[3]
            found.append(selector[: negative.start()] + positive + selector[negative.end() :])
    return found


def rule_expressions(rules_path: Path) -> list[tuple[str, str, str]]:
    """(kind, name, expr) for every rule: kind is record or alert."""
    groups = yaml.safe_load(rules_path.read_text())["groups"]
    return [
        ("record", rule["record"], rule["expr"])
        if "record" in rule
        else ("alert", rule["alert"], rule["expr"])
        for group in groups
        for rule in group["rules"]
    ]


# -- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="hookstream-live-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def stack(promtool: str, prometheus: str, workdir: Path) -> Iterator[Stack]:
    # promtool and prometheus are requested first: without them nothing is started.
    running = Stack(workdir)
    try:
        yield running.start()
    finally:
        running.stop()


@pytest.fixture(scope="module")
def rules_file(repo: Path) -> Path:
    return repo / "deploy" / "prometheus" / "rules.yaml"


@pytest.fixture(scope="module")
def prom(prometheus: str, stack: Stack, workdir: Path, rules_file: Path) -> Iterator[Prometheus]:
    server = Prometheus(prometheus, workdir, stack, rules_file)
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture(scope="module")
def warm(prom: Prometheus, stack: Stack) -> Prometheus:
    """Wait until every target has been scraped a few times, the traffic shows, and the rules
    have been evaluated on that data."""

    def targets_up() -> bool:
        active = prom.api("/api/v1/targets")["activeTargets"]
        return len(active) == len(stack.roles) and all(t["health"] == "up" for t in active)

    _wait("every target up", targets_up, 10, prom.logs)
    # rate() needs two samples of every target in its window; targets are scraped at
    # different offsets, so wait for each job, not just for one counter.
    scraped = f"count(count_over_time(up[1m]) >= 3) == {len(stack.roles)}"
    ready = [
        scraped,
        f'sum(rate(hookstream_deliveries_total{{outcome="success"}}[{RATE_INTERVAL}])) > 0',
        f"sum(rate(hookstream_delivery_retries_total[{RATE_INTERVAL}])) > 0",
        f"sum(rate(hookstream_dead_lettered_total[{RATE_INTERVAL}])) > 0",
        'max(hookstream_dlq_messages{job="hookstream-worker"}) > 0',  # sampled every 5 s
        "count(hookstream_stream_lag_messages)",
        f"sum(rate(hookstream_workflow_runs_started_total[{RATE_INTERVAL}])) > 0",
        "sum(rate(hookstream_workflow_runs_finished_total"
        f'{{state="RUN_SUCCESS"}}[{RATE_INTERVAL}])) > 0',
        f"sum(rate(hookstream_workflow_step_deliveries_total[{RATE_INTERVAL}])) > 0",
    ]
    for expr in ready:
        _wait(f"data for {expr}", lambda e=expr: prom.result(e), WARMUP_TIMEOUT, prom.logs)
    # Then one more evaluation of every rule group, on that data (and deriv() in the
    # backlog alert has two recorded points).
    since = time.time() + 1

    def evaluated() -> bool:
        groups = prom.api("/api/v1/rules")["groups"]
        return all(_rfc3339(g["lastEvaluation"]) > since for g in groups)

    _wait("a rule evaluation after the warm-up", evaluated, 10, prom.logs)
    return prom


def _rfc3339(stamp: str) -> float:
    """Seconds since the epoch of Prometheus' RFC 3339 timestamps (nanoseconds, Z)."""
    whole, _, rest = stamp.rstrip("Z").partition(".")
    fraction = float("0." + (rest or "0"))
    return calendar.timegm(time.strptime(whole, "%Y-%m-%dT%H:%M:%S")) + fraction


@pytest.fixture(scope="module")
def dashboard(repo: Path) -> Json:
    return json.loads((repo / "deploy/helm/hookstream/files/grafana/hookstream.json").read_text())


@pytest.fixture(scope="module")
def grafana_variables(warm: Prometheus, dashboard: Json, stack: Stack) -> dict[str, str]:
    """The dashboard variables as Grafana would set them against this Prometheus.

    The namespace and job query variables are evaluated like Grafana's label_values(); with
    plain static scrape configs there is no namespace label, so $namespace is empty (as
    Grafana leaves a variable whose query found nothing) and =~"" matches it.
    """
    found: dict[str, list[str]] = {}
    for variable in dashboard["templating"]["list"]:
        if variable["type"] != "query":
            continue
        match = LABEL_VALUES.match(substitute(variable["query"], {"namespace": "", **{
            k: "(" + "|".join(map(prometheus_regex_escape, v)) + ")" for k, v in found.items()
        }}))  # fmt: skip
        assert match, f"variable {variable['name']}: not a label_values() query"
        series = warm.api("/api/v1/series", **{"match[]": match[1]})
        found[variable["name"]] = sorted({s[match[2]] for s in series if match[2] in s})
    assert found["namespace"] == []
    assert found["job"] == sorted(JOB_PREFIX + role for role in stack.roles)
    return {
        "datasource": "prometheus",
        "namespace": "",
        "job": "(" + "|".join(map(prometheus_regex_escape, found["job"])) + ")",
        "__rate_interval": RATE_INTERVAL,
        "__interval": "1s",
        "__range": "5m",
    }


# -- promtool and the catalogue on the live exposition --------------------------------------


@pytest.mark.parametrize("role", ["ingress", "worker"])
def test_promtool_check_metrics(stack: Stack, warm: Prometheus, promtool: str, role: str) -> None:
    """Each role's live /metrics, after traffic, passes promtool's exposition lint."""
    text = stack.scrape(role)
    result = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout + result.stderr == "", result.stdout + result.stderr


def _exposed(text: str) -> dict[str, Json]:
    """hookstream metrics in one exposition: catalogue name -> type, label sets, buckets."""
    found: dict[str, Json] = {}
    for family in text_string_to_metric_families(text):
        # prometheus_client also writes <counter|histogram>_created gauges (the text format
        # has no other place for creation times); they are not metrics of their own.
        if not family.name.startswith("hookstream_") or family.name.endswith("_created"):
            continue
        name = family.name + ("_total" if family.type == "counter" else "")
        entry = found.setdefault(name, {"type": family.type, "labels": set(), "buckets": set()})
        for sample in family.samples:
            if sample.name.endswith("_created"):
                continue
            entry["labels"].add(tuple(sorted(set(sample.labels) - {"le"})))
            if "le" in sample.labels and sample.labels["le"] != "+Inf":
                entry["buckets"].add(float(sample.labels["le"]))
    return found


def _catalogue_problems(
    role: str, exposed: dict[str, Json], catalogue: dict[str, Json]
) -> list[str]:
    """What one role's exposition disagrees on with the catalogue."""
    problems: list[str] = []
    for name, entry in exposed.items():
        known = catalogue.get(name)
        if known is None:
            problems.append(f"{role}: {name} is exported but not in tests/deploy/metrics.yaml")
            continue
        if entry["type"] != known["type"]:
            problems.append(f"{role}: {name} is a {entry['type']}, catalogue: {known['type']}")
        for labels in entry["labels"] - {tuple(sorted(known["labels"]))}:
            problems.append(
                f"{role}: {name} has labels {list(labels)}, catalogue: {known['labels']}"
            )
        if "buckets" in known and entry["buckets"] != {float(b) for b in known["buckets"]}:
            problems.append(f"{role}: {name} buckets {sorted(entry['buckets'])}")
    missing = [n for n, known in catalogue.items() if role in known["roles"] and n not in exposed]
    return problems + [f"{role}: catalogued {name} is not exported" for name in missing]


def test_exposition_matches_the_catalogue(
    stack: Stack, warm: Prometheus, catalogue: dict[str, Json]
) -> None:
    """Exported names, types, label names and buckets are the catalogue's; labelled metrics
    of the running roles have series, so the dashboard and rules below see real label sets."""
    by_role = {role: _exposed(stack.scrape(role)) for role in stack.roles}
    problems = [
        p for role, exp in by_role.items() for p in _catalogue_problems(role, exp, catalogue)
    ]
    for name, known in catalogue.items():
        running = [r for r in known["roles"] if r in by_role]
        has_series = any(by_role[r].get(name, {}).get("labels") for r in running)
        if known["labels"] and running and not has_series:
            problems.append(f"{name}{known['labels']}: no series from {running} after traffic")
    assert problems == []


def test_roles_export_only_their_own_metrics(stack: Stack, catalogue: dict[str, Json]) -> None:
    """A role exports only the metrics the catalogue gives it."""
    extra = {
        role: sorted(n for n in _exposed(stack.scrape(role)) if role not in catalogue[n]["roles"])
        for role in stack.roles
    }
    assert {role: names for role, names in extra.items() if names} == {}


def test_publisher_saw_the_expected_answers(stack: Stack, warm: Prometheus) -> None:
    """The traffic behind every other check: accepted publishes and the 401s."""
    assert stack.publisher is not None
    answers = {kind: set(codes) for kind, codes in stack.publisher.answers.items()}
    assert answers == {
        "ok": {201}, "dead": {201}, "retried": {201}, "unauthorised": {401}, "workflow": {201},
    }  # fmt: skip
    assert set(_SinkHandler.finished) == {200}, "the sink could not end its workflow runs"


# -- Prometheus: targets, rules, dashboard and rule queries ---------------------------------


def test_prometheus_config_is_valid(prom: Prometheus, promtool: str) -> None:
    """The generated scrape config (with our rule file) passes promtool check config."""
    result = subprocess.run(
        [promtool, "check", "config", str(prom.config)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_target_is_up_with_the_chart_job_names(warm: Prometheus, stack: Stack) -> None:
    """One target per role, job <fullname>-<role>, all healthy."""
    active = warm.api("/api/v1/targets")["activeTargets"]
    assert {t["labels"]["job"]: t["health"] for t in active} == {
        JOB_PREFIX + role: "up" for role in stack.roles
    }


def test_rules_loaded_and_healthy(warm: Prometheus, rules_file: Path) -> None:
    """Prometheus loaded every rule of deploy/prometheus/rules.yaml and evaluates it cleanly."""
    loaded = [rule for group in warm.api("/api/v1/rules")["groups"] for rule in group["rules"]]
    assert sorted(r["name"] for r in loaded) == sorted(
        n for _, n, _ in rule_expressions(rules_file)
    )
    unhealthy = {r["name"]: r.get("lastError") for r in loaded if r["health"] != "ok"}
    assert unhealthy == {}


# Selectors that legitimately match nothing in this run, and why.
NO_DATA_SELECTORS = {
    'code=~"5.."': "no API request fails with a 5xx",
}


def _empty_selectors(prom: Prometheus, expr: str, allowed: dict[str, str]) -> list[str]:
    return [s for s in selectors(expr) if not prom.result(s) and not any(a in s for a in allowed)]


def test_every_dashboard_query_evaluates_and_returns_data(
    warm: Prometheus, dashboard: Json, grafana_variables: dict[str, str], stack: Stack
) -> None:
    """Every panel target runs without error or warning; every selector in it matches series
    (so no panel names a metric, label or value the code does not export); and every panel
    shows data, but for the ones whose input this run cannot produce."""
    allowed = NO_DATA_SELECTORS
    errors, empty_selectors, empty_panels = {}, {}, []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            label = f"{panel['title']} / {target['legendFormat']}"
            expr = substitute(target["expr"], grafana_variables)
            answer = warm.query(expr)
            if answer["status"] != "success" or answer.get("warnings"):
                errors[label] = (expr, answer)
                continue
            if missing := _empty_selectors(warm, expr, allowed):
                empty_selectors[label] = missing
            if not answer["data"]["result"] and not any(a in expr for a in allowed):
                empty_panels.append(label)
    assert errors == {}
    assert empty_selectors == {}
    assert empty_panels == []


KEY_PANELS = ("Publish rate", "Deliveries by outcome", "DLQ size", "Backlog", "Lag by partition")


def test_key_panels_show_the_traffic(
    warm: Prometheus, dashboard: Json, grafana_variables: dict[str, str]
) -> None:
    """Publish and delivery rates are positive, the DLQ holds the dead letters, lag is there."""
    values: dict[str, list[float]] = {}
    for panel in dashboard["panels"]:
        if panel["type"] != "row" and panel["title"] in KEY_PANELS:
            for target in panel["targets"]:
                result = warm.result(substitute(target["expr"], grafana_variables))
                values.setdefault(panel["title"], []).extend(float(r["value"][1]) for r in result)
    assert set(values) == set(KEY_PANELS)
    assert all(values[title] for title in KEY_PANELS), values
    assert max(values["Publish rate"]) > 0, values
    assert max(values["Deliveries by outcome"]) > 0, values
    assert max(values["DLQ size"]) > 0, values


WORKFLOW_PANELS = (
    "Workflow runs started",
    "Workflow runs finished by state",
    "Workflow step deliveries by outcome",
)


def test_workflow_panels_show_the_runs(
    warm: Prometheus, dashboard: Json, grafana_variables: dict[str, str]
) -> None:
    """The workflow runs of the traffic show: runs started, runs finished with RUN_SUCCESS and
    successful step deliveries, each at a positive rate."""
    rates: dict[str, dict[str, float]] = {}
    for panel in dashboard["panels"]:
        if panel["title"] in WORKFLOW_PANELS:
            [target] = panel["targets"]
            result = warm.result(substitute(target["expr"], grafana_variables))
            rates[panel["title"]] = {
                next(iter(r["metric"].values()), ""): float(r["value"][1]) for r in result
            }
    assert set(rates) == set(WORKFLOW_PANELS)
    assert rates["Workflow runs started"].get("hookstream-ingress", 0) > 0, rates
    assert set(rates["Workflow runs finished by state"]) == {"RUN_SUCCESS"}, rates
    assert rates["Workflow runs finished by state"]["RUN_SUCCESS"] > 0, rates
    assert rates["Workflow step deliveries by outcome"].get("success", 0) > 0, rates


def test_every_rule_expression_evaluates_and_returns_data(
    warm: Prometheus, rules_file: Path, stack: Stack
) -> None:
    """Every rule expression runs without error; every selector in it matches series; every
    recording rule returns data (and Prometheus has recorded it)."""
    allowed = NO_DATA_SELECTORS
    errors, empty_selectors, empty_records = {}, {}, []
    for kind, name, expr in rule_expressions(rules_file):
        answer = warm.query(expr)
        if answer["status"] != "success" or answer.get("warnings"):
            errors[name] = answer
            continue
        if missing := _empty_selectors(warm, expr, allowed):
            empty_selectors[name] = missing
        if kind == "record" and not (answer["data"]["result"] and warm.result(name)):
            empty_records.append(name)
    assert errors == {}
    assert empty_selectors == {}
    assert empty_records == []


def test_alert_conditions_without_thresholds_return_data(
    warm: Prometheus, rules_file: Path, stack: Stack
) -> None:
    """With their thresholds removed, the alert expressions see the running system: they
    would fire on bad values, not stay silent because they match nothing."""
    # unless-alerts are empty while what they look for is present.
    expected_empty = {"HookstreamWorkersAbsent", "HookstreamSchedulerAbsent"}
    empty = sorted(
        name
        for kind, name, expr in rule_expressions(rules_file)
        if kind == "alert" and not warm.result(COMPARISON.sub("", expr))
    )
    assert empty == sorted(expected_empty)


def test_only_the_alerts_the_traffic_causes_are_active(warm: Prometheus, stack: Stack) -> None:
    """Dead letters raise the DLQ alerts; nothing else is pending or firing (a missing
    scheduler raises SchedulerAbsent; failing deliveries may raise the error ratio)."""
    required = {"HookstreamDeadLetterQueueGrowing", "HookstreamDeadLetterQueueNotEmpty"}
    optional = {"HookstreamDeliveryErrorRatioHigh"}

    def active() -> list[Json]:
        alerts: list[Json] = warm.api("/api/v1/alerts")["alerts"]
        return alerts if required <= {a["labels"]["alertname"] for a in alerts} else []

    alerts = _wait("the DLQ alerts to go pending", active, 10, warm.logs)
    unexpected = [
        (a["labels"], a["state"])
        for a in alerts
        if a["labels"]["alertname"] not in required | optional
    ]
    assert unexpected == []
    dlq_jobs = {
        a["labels"].get("job")
        for a in alerts
        if a["labels"]["alertname"].startswith("HookstreamDeadLetterQueue")
    }
    assert dlq_jobs == {"hookstream-worker"}
