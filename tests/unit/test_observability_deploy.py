"""The Grafana dashboard, the alert rules and the scrape component under
deploy/k8s/observability/: they parse, and every metric and label their queries name is one
Rhone exports (promtool is not at hand, so PromQL is checked against the registry here)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import Counter, Gauge, Histogram

from rhone.observability import metrics

ROOT = Path(__file__).resolve().parents[2] / "deploy" / "k8s" / "observability"
_METRIC = re.compile(r"\b(rhone_[a-z0-9_]+)(\{[^}]*\})?")
_MATCHER = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*\"")
# Labels Prometheus adds to every scraped series.
_TARGET_LABELS = {"instance", "job"}


def exported() -> dict[str, set[str]]:
    """Every sample name Rhone's registry can expose, with the labels it may carry."""
    names: dict[str, set[str]] = {}
    for value in vars(metrics).values():
        if isinstance(value, Counter):
            names[value._name + "_total"] = set(value._labelnames)
        elif isinstance(value, Gauge):
            names[value._name] = set(value._labelnames)
        elif isinstance(value, Histogram):
            labels = set(value._labelnames)
            names[value._name + "_bucket"] = labels | {"le"}
            names[value._name + "_count"] = labels
            names[value._name + "_sum"] = labels
    return names


def check_promql(expr: str) -> None:
    """Balanced brackets, at least one Rhone metric, and only metrics and labels that exist."""
    for opening, closing in ("()", "{}", "[]"):
        assert expr.count(opening) == expr.count(closing), f"unbalanced {opening}: {expr}"
    known = exported()
    found = _METRIC.findall(expr)
    assert found, f"names no Rhone metric: {expr}"
    for name, selector in found:
        assert name in known, f"{name} is not a Rhone metric ({expr})"
        for label, _ in _MATCHER.findall(selector):
            assert label in known[name], f"{name} has no label {label!r} ({expr})"
    for group in re.findall(r"\b(?:by|without)\s*\(([^)]*)\)", expr):
        for label in filter(None, (part.strip() for part in group.split(","))):
            assert label in _TARGET_LABELS or any(label in labels for labels in known.values()), (
                f"no metric has {label}"
            )


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((ROOT / "grafana-dashboard.json").read_text())
    return loaded


def dashboard_queries() -> list[str]:
    return [
        target["expr"] for panel in dashboard()["panels"] for target in panel.get("targets", [])
    ]


def test_the_checker_refuses_an_unknown_metric_or_label() -> None:
    with pytest.raises(AssertionError):
        check_promql("sum(rate(rhone_no_such_thing_total[5m]))")
    with pytest.raises(AssertionError):
        check_promql('sum(rate(rhone_requests_total{colour="red"}[5m]))')
    with pytest.raises(AssertionError):
        check_promql("sum(rate(rhone_requests_total[5m])")


def test_every_dashboard_query_names_metrics_that_exist() -> None:
    queries = dashboard_queries()
    assert len(queries) >= 15
    for expr in queries:
        check_promql(expr)


def test_the_dashboard_covers_what_an_operator_asks() -> None:
    board = dashboard()
    assert board["uid"] == "rhone-overview"
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids))
    text = " ".join(dashboard_queries())
    for metric in (
        "rhone_requests_total",
        "rhone_request_duration_seconds_bucket",
        "rhone_time_to_first_token_seconds_bucket",
        "rhone_tokens_total",
        "rhone_tenant_tokens_total",
        "rhone_upstream_attempts_total",
        "rhone_upstream_retries_total",
        "rhone_upstream_failovers_total",
        "rhone_upstream_responses_total",
        "rhone_grpc_server_inflight",
        "rhone_session_lease_conflicts_total",
        "rhone_db_query_duration_seconds_bucket",
        "rhone_ws_sockets_open",
    ):
        assert metric in text, metric
    variables = {v["name"]: v for v in board["templating"]["list"]}
    for name in ("surface", "model", "provider"):
        metric, label = re.fullmatch(
            r"label_values\((\w+), (\w+)\)", variables[name]["query"]["query"]
        ).groups()  # type: ignore[union-attr]
        assert label in exported()[metric]


def test_alert_rules_parse_and_name_metrics_that_exist() -> None:
    rules = yaml.safe_load((ROOT / "prometheus-rules.yaml").read_text())
    alerts = [rule for group in rules["groups"] for rule in group["rules"]]
    names = {rule["alert"] for rule in alerts}
    assert {
        "RhoneHighErrorRate",
        "RhoneSlowFirstToken",
        "RhoneUpstreamFailures",
        "RhoneSessionLeaseConflicts",
    } <= names
    for rule in alerts:
        assert set(rule) >= {"alert", "expr", "labels", "annotations"}, rule["alert"]
        assert rule["labels"]["severity"] in ("page", "warn")
        assert re.fullmatch(r"\d+[smh]", rule.get("for", "0m"))
        check_promql(rule["expr"])


def test_the_scrape_component_annotates_every_service_on_the_port_it_serves() -> None:
    component = yaml.safe_load((ROOT / "kustomization.yaml").read_text())
    assert component["kind"] == "Component"
    for patch in component["patches"]:
        deployment = yaml.safe_load((ROOT / patch["path"]).read_text())
        service = deployment["metadata"]["name"].removeprefix("rhone-")
        template = deployment["spec"]["template"]
        annotations = template["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true"
        assert annotations["prometheus.io/path"] == "/metrics"
        if service == "facade":
            assert annotations["prometheus.io/port"] == "8080"
            continue
        (container,) = template["spec"]["containers"]
        env = {e["name"]: e["value"] for e in container["env"]}
        assert env[f"RHONE_{service.upper()}_METRICS_PORT"] == annotations["prometheus.io/port"]
        assert {p["containerPort"] for p in container["ports"]} == {
            int(annotations["prometheus.io/port"])
        }
    for generated in component["configMapGenerator"]:
        for name in generated["files"]:
            assert (ROOT / name).is_file()
