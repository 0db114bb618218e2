"""Prometheus rules (deploy/prometheus/rules.yaml): promtool, naming, catalogue, runbooks."""

from __future__ import annotations

import re
import subprocess

import pytest
import yaml

RUNBOOK_BASE = "https://github.com/hookstream/hookstream/blob/main/docs/operations.md"
SEVERITIES = {"critical", "warning", "info"}


@pytest.fixture(scope="module")
def rules_path(repo):
    # The link in deploy/prometheus resolves to the chart's copy: one file for both.
    path = repo / "deploy" / "prometheus" / "rules.yaml"
    assert path.resolve() == (repo / "deploy/helm/hookstream/files/prometheus/rules.yaml")
    return path


@pytest.fixture(scope="module")
def rules(rules_path):
    return [
        rule
        for group in yaml.safe_load(rules_path.read_text())["groups"]
        for rule in group["rules"]
    ]


@pytest.fixture(scope="module")
def alerts(rules):
    return [r for r in rules if "alert" in r]


def test_promtool_check_rules(promtool, rules_path):
    """promtool parses every rule and finds no lint problem."""
    result = subprocess.run(
        [promtool, "check", "rules", str(rules_path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_pass(promtool, repo):
    """The alert and recording-rule unit tests in deploy/prometheus/rules.test.yaml pass."""
    result = subprocess.run(
        [promtool, "test", "rules", "rules.test.yaml"],
        cwd=repo / "deploy/prometheus",
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_unit_test(alerts, repo):
    """Each alert is exercised by at least one alert_rule_test that expects it to fire."""
    tests = yaml.safe_load((repo / "deploy/prometheus/rules.test.yaml").read_text())["tests"]
    fired = {
        t["alertname"] for test in tests for t in test.get("alert_rule_test", []) if t["exp_alerts"]
    }
    assert {a["alert"] for a in alerts} <= fired


def test_expressions_use_catalogued_metrics_correctly(rules, promql):
    """Rules use catalogued metrics and labels, rate() counters, and max() replicated gauges."""
    problems = {r.get("record") or r["alert"]: promql.problems(r["expr"]) for r in rules}
    assert {name: p for name, p in problems.items() if p} == {}


def test_recording_rules_follow_level_metric_operation(rules):
    """Recorded series are named level:metric:operation and keep namespace and job."""
    for rule in rules:
        if "record" in rule:
            assert re.fullmatch(
                r"namespace_job:hookstream_[a-z0-9_]+:[a-z0-9_]+", rule["record"]
            ), rule["record"]
            assert "by (namespace, job" in rule["expr"], rule["record"]


def test_alerts_carry_severity_summary_description_runbook(alerts):
    """Every alert has a known severity, a summary, a description and a runbook link."""
    for alert in alerts:
        assert alert["labels"]["severity"] in SEVERITIES, alert["alert"]
        assert set(alert["annotations"]) == {"summary", "description", "runbook_url"}, alert[
            "alert"
        ]
        assert alert["annotations"]["runbook_url"] == f"{RUNBOOK_BASE}#{alert['alert'].lower()}"


def test_every_alert_has_a_runbook_section(alerts, repo):
    """docs/operations.md has a '## <AlertName>' section for each alert, and no stale ones."""
    headings = set(
        re.findall(r"^## (Hookstream\w+)\s*$", (repo / "docs/operations.md").read_text(), re.M)
    )
    assert headings == {a["alert"] for a in alerts}


def test_chart_replaces_the_same_runbook_base(repo):
    """The chart's runbookBaseUrl override looks for exactly the base the rules use."""
    template = (repo / "deploy/helm/hookstream/templates/prometheusrule.yaml").read_text()
    assert f'replace "{RUNBOOK_BASE}"' in template
