"""RBAC rule coverage (upstream's ``Covers`` table), the 403 rendering, and aggregation."""

from __future__ import annotations

from typing import Any

import pytest

from kboot.controlplane.api import rbac


def _r(verbs: list[str], resources: list[str], groups: list[str] | None = None,
       names: list[str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"apiGroups": groups or [""], "resources": resources, "verbs": verbs}
    if names:
        out["resourceNames"] = names
    return out


def _urls(urls: list[str], verbs: list[str]) -> dict[str, Any]:
    return {"nonResourceURLs": urls, "verbs": verbs}


@pytest.mark.parametrize(("owner", "wanted", "covered"), [
    (_r(["*"], ["*"], ["*"]), _r(["delete"], ["secrets"], ["apps", ""]), True),
    (_r(["get"], ["pods"]), _r(["get", "list"], ["pods"]), False),
    (_r(["get"], ["pods"]), _r(["get"], ["pods"], ["apps"]), False),
    (_r(["get"], ["pods"]), _r(["get"], ["pods"], names=["a"]), True),  # no names: all names
    (_r(["get"], ["pods"], names=["a"]), _r(["get"], ["pods"]), False),  # all names wanted
    (_r(["get"], ["pods"], names=["a", "b"]), _r(["get"], ["pods"], names=["b"]), True),
    (_r(["get"], ["*/status"]), _r(["get"], ["pods/status"]), True),
    (_r(["get"], ["*/status"]), _r(["get"], ["pods"]), False),
    (_r(["get"], ["pods"]), _r(["get"], ["pods/log"]), False),
    (_urls(["/api/*"], ["get"]), _urls(["/api/v1"], ["get"]), True),
    (_urls(["/api"], ["get"]), _urls(["/api/v1"], ["get"]), False),
    (_urls(["*"], ["*"]), _urls(["/metrics"], ["get"]), True),
    (_r(["*"], ["*"], ["*"]), _urls(["/metrics"], ["get"]), False),  # resources ≠ URLs
    (_r(["get"], ["pods"]), _r(["*"], ["pods"]), False),  # "*" is wanted literally
])
def test_covers(owner: dict[str, Any], wanted: dict[str, Any], covered: bool) -> None:
    assert (rbac.uncovered([owner], [wanted]) == []) is covered


def test_missing_rules_rendered_like_upstream() -> None:
    missing = rbac.uncovered([_r(["get"], ["pods"])],
                             [_r(["get", "list", "watch"], ["pods", "secrets"]),
                              _r(["get"], ["configmaps"], names=["x"]),
                              _urls(["/healthz"], ["get"])])
    assert rbac.describe_missing(missing).splitlines() == [
        '{APIGroups:[""], Resources:["configmaps"], ResourceNames:["x"], Verbs:["get"]}',
        '{APIGroups:[""], Resources:["pods"], Verbs:["list" "watch"]}',
        '{APIGroups:[""], Resources:["secrets"], Verbs:["get" "list" "watch"]}',
        '{NonResourceURLs:["/healthz"], Verbs:["get"]}',
    ]


def _role(name: str, rules: list[dict[str, Any]], labels: dict[str, str] | None = None,
          selects: dict[str, str] | None = None) -> dict[str, Any]:
    role: dict[str, Any] = {"metadata": {"name": name, "labels": labels or {}}, "rules": rules}
    if selects is not None:
        role["aggregationRule"] = {"clusterRoleSelectors": [{"matchLabels": selects}]}
    return role


def test_aggregation_gathers_selected_roles_transitively() -> None:
    roles = {r["metadata"]["name"]: r for r in [
        _role("top", [_r(["ignored"], ["x"])], selects={"agg": "top"}),
        _role("mid", [], labels={"agg": "top"}, selects={"agg": "mid"}),
        _role("leaf-a", [_r(["get"], ["pods"])], labels={"agg": "mid"}),
        _role("leaf-b", [_r(["get"], ["pods"]), _r(["list"], ["pods"])], labels={"agg": "top"}),
        _role("loop", [], labels={"agg": "top"}, selects={"agg": "top"}),
        _role("other", [_r(["*"], ["*"], ["*"])]),
    ]}
    assert rbac.effective_rules("top", roles) == [_r(["get"], ["pods"]), _r(["list"], ["pods"])]
    assert rbac.effective_rules("other", roles) == [_r(["*"], ["*"], ["*"])]
    assert rbac.effective_rules("absent", roles) == []
