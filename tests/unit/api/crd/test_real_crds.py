"""Real, widely installed CRDs (cert-manager, prometheus-operator; see data/README.md) are
accepted, and their custom resources validate, prune and print as on Kubernetes."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from kboot.controlplane.api.crd import columns, versions
from kboot.controlplane.api.crd.definition import validate_crd
from kboot.controlplane.api.crd.regex import compile_re2, translate
from kboot.controlplane.api.crd.resource import ResourceSchema

DATA = Path(__file__).parent / "data"


def load(name: str) -> dict[str, Any]:
    loaded = yaml.safe_load((DATA / name).read_text())
    assert isinstance(loaded, dict)
    return loaded


def schema_for(crd: dict[str, Any]) -> ResourceSchema:
    version = versions.storage_version(crd)
    assert version is not None
    return ResourceSchema(version.schema, kind=crd["spec"]["names"]["kind"],
                          namespaced=crd["spec"]["scope"] == "Namespaced")


@pytest.mark.parametrize("name", sorted(p.name for p in DATA.glob("*.yaml")))
def test_real_crds_are_accepted(name: str) -> None:
    assert validate_crd(load(name)) == []


def test_a_certificate_validates_prunes_and_prints() -> None:
    crd = load("cert-manager.io_certificates.yaml")
    cert = {"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
            "metadata": {"name": "web", "namespace": "default",
                         "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"secretName": "web-tls", "dnsNames": ["a.example.com"],
                     "issuerRef": {"name": "ca", "kind": "ClusterIssuer"}, "colour": "red"},
            "status": {"conditions": [{"type": "Ready", "status": "True",
                                       "lastTransitionTime": "2026-01-01T00:00:00Z"}]}}
    result = schema_for(crd).admit(cert, field_validation="Strict")
    assert result.errors == []
    assert result.strict_errors == ['unknown field "spec.colour"']
    version = versions.storage_version(crd)
    assert version is not None
    row = columns.row_cells(result.obj, version.columns,
                            datetime(2026, 1, 3, tzinfo=UTC))
    names = [c["name"] for c in columns.table_columns(version.columns)]
    assert dict(zip(names, row, strict=True))["Ready"] == "True"
    assert dict(zip(names, row, strict=True))["Secret"] == "web-tls"
    bad = {**cert, "spec": {"issuerRef": {"name": "ca"}, "duration": 5}}
    found = [str(e) for e in schema_for(crd).admit(bad).errors]
    assert "spec.secretName: Required value" in found
    assert ('spec.duration: Invalid value: "integer": spec.duration in body must be of type '
            'string: "integer"') in found


def test_a_prometheus_rule_with_an_inline_flag_pattern() -> None:
    crd = load("monitoring.coreos.com_prometheusrules.yaml")
    rule = {"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule",
            "metadata": {"name": "r", "namespace": "default"},
            "spec": {"groups": [{"name": "g", "partial_response_strategy": "WARN",
                                 "rules": [{"alert": "Down", "expr": "up == 0",
                                            "for": "5m"}]}]}}
    assert schema_for(crd).admit(rule).errors == []
    rule["spec"]["groups"][0]["partial_response_strategy"] = "retry"
    assert [str(e) for e in schema_for(crd).admit(rule).errors] == [
        'spec.groups[0].partial_response_strategy: Invalid value: "retry": '
        "spec.groups[0].partial_response_strategy in body should match '^(?i)(abort|warn)?$'"]


def test_a_service_monitor_with_int_or_string_ports() -> None:
    crd = load("monitoring.coreos.com_servicemonitors.yaml")
    monitor = {"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
               "metadata": {"name": "m", "namespace": "default"},
               "spec": {"selector": {"matchLabels": {"app": "web"}},
                        "endpoints": [{"port": "http", "targetPort": 8080}]}}
    assert schema_for(crd).admit(monitor).errors == []


@pytest.mark.parametrize(("pattern", "matching", "other"), [
    ("^((?i)sun|mon)day$", ["Sunday", "MONday"], ["tuesday"]),
    ("a(?i)b|c", ["aB", "C"], ["B"]),           # the flag spans the alternatives
    ("^(?i)(abort|warn)?$", ["ABORT", ""], ["x"]),
    (r"^[a-z]+\z", ["abc"], ["abc\n"]),
    (r"^\p{L}+$", ["héllo"], ["h1"]),
    (r"^[(?i)x]$", ["(", "x"], ["X"]),           # no flag inside a class
])
def test_re2_patterns_translate(pattern: str, matching: list[str], other: list[str]) -> None:
    compiled = compile_re2(pattern)
    assert compiled is not None, translate(pattern)
    assert all(compiled.search(m) for m in matching)
    assert not any(compiled.search(o) for o in other)
