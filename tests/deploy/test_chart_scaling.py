"""Worker autoscaling: none, HPA (CPU or External metric), KEDA (redis-streams or prometheus)."""

from __future__ import annotations

import json
import re

import pytest

from broker.queue.keys import partition_keys

# Metadata keys of KEDA's redis-streams scaler (KEDA 2.x docs): its CRD accepts any string map,
# so a misspelt key would only show up as a scaler error in the cluster.
REDIS_STREAMS_KEYS = {
    "address",
    "host",
    "port",
    "addressFromEnv",
    "hostFromEnv",
    "portFromEnv",
    "usernameFromEnv",
    "passwordFromEnv",
    "stream",
    "consumerGroup",
    "pendingEntriesCount",
    "streamLength",
    "lagCount",
    "activationLagCount",
    "enableTLS",
    "unsafeSsl",
    "databaseIndex",
}
PROMETHEUS_KEYS = {
    "serverAddress",
    "query",
    "threshold",
    "activationThreshold",
    "ignoreNullValues",
    "namespace",
    "customHeaders",
    "unsafeSsl",
    "queryParameters",
}


def test_fixed_replicas_without_autoscaling(chart):
    """With autoscaling off every Deployment sets its replica count; the scheduler runs 2."""
    docs = chart.render_case("default")
    assert {role: chart.deployment(docs, role)["spec"]["replicas"] for role in chart.roles} == {
        "ingress": 2,
        "worker": 2,
        "scheduler": 2,
    }
    assert chart.find(docs, "HorizontalPodAutoscaler") == chart.find(docs, "ScaledObject") == []


@pytest.mark.parametrize("scaled_case", ["keda", "keda-prometheus", "hpa-cpu", "hpa-external"])
def test_autoscaled_worker_leaves_replicas_to_one_autoscaler(chart, scaled_case):
    """An autoscaled worker omits spec.replicas and has exactly one of HPA or ScaledObject."""
    docs = chart.render_case(scaled_case)
    assert "replicas" not in chart.deployment(docs, "worker")["spec"]
    worker = f"{chart.fullname}-worker"
    hpas = [
        d
        for d in chart.find(docs, "HorizontalPodAutoscaler")
        if d["spec"]["scaleTargetRef"]["name"] == worker
    ]
    scaled = chart.find(docs, "ScaledObject")
    assert len(hpas) + len(scaled) == 1
    assert (len(scaled) == 1) == scaled_case.startswith("keda")


def test_keda_has_one_lag_trigger_per_partition(chart):
    """redis-streams mode: one trigger per partition's ready stream (the tags the code
    computes), on the workers group's lag."""
    values = chart.values("keda")
    partitions = int(values["config"]["HOOKSTREAM_PARTITIONS"])
    docs = chart.render(values)
    scaled = chart.one(docs, "ScaledObject", f"{chart.fullname}-worker")
    assert scaled["spec"]["scaleTargetRef"] == {"name": f"{chart.fullname}-worker"}
    triggers = scaled["spec"]["triggers"]
    assert [t["metadata"]["stream"] for t in triggers] == [
        partition_keys(n, partitions).ready for n in range(partitions)
    ]
    for trigger in triggers:
        meta = trigger["metadata"]
        assert trigger["type"] == "redis-streams"
        assert set(meta) <= REDIS_STREAMS_KEYS, set(meta) - REDIS_STREAMS_KEYS
        assert all(isinstance(v, str) for v in meta.values()), "KEDA metadata values are strings"
        assert meta["consumerGroup"] == "workers"
        assert int(meta["lagCount"]) > 0, "lagCount selects lag mode, not pendingEntriesCount"
        assert re.fullmatch(r"[^:/]+:\d+", meta["address"]), "KEDA wants host:port, not a URL"
        assert trigger["authenticationRef"] == {"name": f"{chart.fullname}-redis"}
    auth = chart.one(docs, "TriggerAuthentication", f"{chart.fullname}-redis")
    assert [r["parameter"] for r in auth["spec"]["secretTargetRef"]] == ["password"]


def test_keda_address_defaults_to_the_redis_url_host(chart):
    """Without keda.redisAddress the trigger uses host:port of redis.url (default port 6379)."""
    values = chart.values("default")
    values["redis"] = {"url": "redis://redis.db.svc"}
    values["worker"] = {**values.get("worker", {}), "autoscaling": {"mode": "keda"}}
    scaled = chart.one(chart.render(values), "ScaledObject")
    assert {t["metadata"]["address"] for t in scaled["spec"]["triggers"]} == {"redis.db.svc:6379"}


def test_keda_prometheus_trigger_dedups_replicas(chart):
    """prometheus mode: one trigger whose default query takes max per partition, then sums."""
    triggers = chart.one(chart.render_case("keda-prometheus"), "ScaledObject")["spec"]["triggers"]
    (trigger,) = triggers
    assert trigger["type"] == "prometheus"
    assert set(trigger["metadata"]) <= PROMETHEUS_KEYS
    query = trigger["metadata"]["query"]
    assert query.startswith("sum(max by (stream) (hookstream_stream_lag_messages{")
    assert f'job="{chart.fullname}-worker"' in query
    assert f'namespace="{chart.namespace}"' in query


def test_hpa_external_metric_selects_this_release(chart):
    """hpa + external: an AverageValue External metric selected by this release's worker job."""
    docs = chart.render_case("hpa-external")
    hpa = chart.one(docs, "HorizontalPodAutoscaler", f"{chart.fullname}-worker")
    (metric,) = hpa["spec"]["metrics"]
    assert metric["type"] == "External"
    assert metric["external"]["metric"]["selector"] == {
        "matchLabels": {"job": f"{chart.fullname}-worker"}
    }
    assert metric["external"]["target"]["type"] == "AverageValue"
    assert hpa["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 300


def test_hpa_cpu_also_scales_the_api(chart):
    """hpa-cpu case: CPU HPAs for the worker and the API, and neither Deployment sets replicas."""
    docs = chart.render_case("hpa-cpu")
    for role in ("ingress", "worker"):
        hpa = chart.one(docs, "HorizontalPodAutoscaler", f"{chart.fullname}-{role}")
        assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
        assert "replicas" not in chart.deployment(docs, role)["spec"]


def test_the_charts_partition_salts_are_the_codes(repo):
    """files/partition-salts.json (Helm has no CRC16) holds, for every partition count it
    lists, the salts keys.py computes; 48 and the counts up to 64 are there."""
    salts = json.loads((repo / "deploy/helm/hookstream/files/partition-salts.json").read_text())
    assert {"48", "64", "96"} <= set(salts)
    for count, listed in salts.items():
        assert listed == [partition_keys(p, int(count)).salt for p in range(int(count))]


@pytest.mark.parametrize("mode", ["cluster", "sentinel"])
def test_keda_redis_streams_refuses_a_cluster_or_sentinel(chart, helm, mode):
    """The redis-streams scaler reads one server: on a cluster or Sentinel the chart says
    to use the prometheus trigger instead of rendering triggers that read the wrong node."""
    values = chart.values("keda")
    values["config"] = {**values["config"], "HOOKSTREAM_REDIS_MODE": mode}
    with pytest.raises(helm.HelmError, match=r"use worker\.autoscaling\.keda\.trigger: prometheus"):
        chart.render(values)
