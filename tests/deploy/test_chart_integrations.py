"""Optional chart integrations: Prometheus Operator monitors and rules, dashboard, NetworkPolicy."""

from __future__ import annotations

import re

import yaml


def test_service_monitor_scrapes_every_role_with_a_role_job(chart):
    """ServiceMonitor case: API Service + headless metrics Services; job = <fullname>-<role>."""
    docs = chart.render_case("servicemonitor")
    services = {d["metadata"]["name"]: d for d in chart.find(docs, "Service")}
    assert set(services) == {
        chart.fullname,
        f"{chart.fullname}-worker-metrics",
        f"{chart.fullname}-scheduler-metrics",
    }
    assert services[f"{chart.fullname}-worker-metrics"]["spec"]["clusterIP"] == "None"
    monitor = chart.one(docs, "ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert [e["port"] for e in monitor["spec"]["endpoints"]] == ["http", "metrics"]
    for endpoint in monitor["spec"]["endpoints"]:
        _assert_job_relabeling(chart, endpoint["relabelings"])
    assert chart.find(docs, "PodMonitor") == []


def test_pod_monitor_needs_no_metrics_services(chart):
    """PodMonitor case: only the API Service exists; the PodMonitor sets the same job label."""
    docs = chart.render_case("podmonitor")
    assert [d["metadata"]["name"] for d in chart.find(docs, "Service")] == [chart.fullname]
    monitor = chart.one(docs, "PodMonitor")
    assert [e["port"] for e in monitor["spec"]["podMetricsEndpoints"]] == ["http", "metrics"]
    for endpoint in monitor["spec"]["podMetricsEndpoints"]:
        _assert_job_relabeling(chart, endpoint["relabelings"])
    assert chart.find(docs, "ServiceMonitor") == []


def test_prometheus_rule_embeds_the_rules_file(chart):
    """The PrometheusRule's groups are deploy/prometheus/rules.yaml, byte for byte in meaning."""
    rules = yaml.safe_load((chart.dir / "files/prometheus/rules.yaml").read_text())
    rule = chart.one(chart.render_case("servicemonitor"), "PrometheusRule")
    assert rule["spec"] == rules


def test_runbook_base_url_is_replaced_everywhere(chart):
    """prometheusRule.runbookBaseUrl rewrites every runbook_url and keeps the anchors."""
    values = chart.values("servicemonitor")
    values["prometheusRule"] = {
        **values["prometheusRule"],
        "runbookBaseUrl": "https://wiki.example/hookstream",
    }
    rule = chart.one(chart.render(values), "PrometheusRule")
    urls = [
        r["annotations"]["runbook_url"]
        for g in rule["spec"]["groups"]
        for r in g["rules"]
        if "alert" in r
    ]
    assert urls
    for url in urls:
        assert re.fullmatch(r"https://wiki\.example/hookstream#hookstream\w+", url), url


def test_dashboard_config_map_is_found_by_the_grafana_sidecar(chart):
    """The dashboard ConfigMap has label grafana_dashboard=1 and the committed JSON."""
    cm = chart.one(chart.render_case("servicemonitor"), "ConfigMap", f"{chart.fullname}-dashboard")
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert cm["data"]["hookstream.json"] == (
        chart.dir / "files/grafana/hookstream.json"
    ).read_text().rstrip("\n")


def test_network_policy_lets_only_workers_reach_the_internet(chart):
    """networkpolicy case: all roles get DNS and Redis; only workers egress to public IPv4 and
    IPv6 addresses, plus the allow-listed in-cluster range."""
    docs = chart.render_case("networkpolicy")
    policies = {
        d["metadata"]["name"].removeprefix(f"{chart.fullname}-"): d["spec"]
        for d in chart.find(docs, "NetworkPolicy")
    }
    assert set(policies) == set(chart.roles)
    for role, spec in policies.items():
        assert spec["policyTypes"] == ["Ingress", "Egress"]
        blocks = [
            peer["ipBlock"]
            for rule in spec["egress"]
            for peer in rule.get("to", [])
            if "ipBlock" in peer
        ]
        if role == "worker":
            v4, v6, allowed = blocks
            assert v4["cidr"] == "0.0.0.0/0"
            assert {"169.254.0.0/16", "10.0.0.0/8"} <= set(v4["except"])
            assert (v6["cidr"], set(v6["except"])) == ("::/0", {"fc00::/7", "fe80::/10"})
            assert allowed == {"cidr": "10.96.0.0/12"}
        else:
            assert blocks == []
    api_sources = [rule.get("from") for rule in policies["ingress"]["ingress"]]
    metrics_from = chart.values("networkpolicy")["networkPolicy"]["metricsFrom"]
    assert metrics_from in api_sources, "the API pods' /metrics must stay scrapeable"


def _assert_job_relabeling(chart, relabelings):
    assert relabelings == [
        {
            "sourceLabels": ["__meta_kubernetes_pod_label_app_kubernetes_io_component"],
            "targetLabel": "job",
            "replacement": f"{chart.fullname}-$1",
        }
    ]
