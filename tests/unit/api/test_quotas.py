"""ResourceQuota arithmetic and validation (upstream's ``pkg/quota/v1`` evaluator and
``ResourceQuota`` admission cases)."""

from __future__ import annotations

from datetime import UTC, datetime
from fractions import Fraction
from typing import Any

import pytest

from kboot.controlplane.api import quotas


def _quota(hard: dict[str, str], used: dict[str, str] | None = None, **spec: Any
           ) -> dict[str, Any]:
    out: dict[str, Any] = {"metadata": {"name": "q", "namespace": "ns"},
                           "spec": {"hard": hard, **spec}}
    if used is not None:
        out["status"] = {"hard": hard, "used": used}
    return out


def _pod(requests: dict[str, str] | None = None, limits: dict[str, str] | None = None,
         **spec: Any) -> dict[str, Any]:
    res: dict[str, Any] = {}
    if requests:
        res["requests"] = requests
    if limits:
        res["limits"] = limits
    return {"metadata": {"name": "p", "namespace": "ns"},
            "spec": {"containers": [{"name": "c", "image": "x", "resources": res}], **spec}}


def test_pod_usage_counts_requests_limits_and_init_containers() -> None:
    pod = _pod({"cpu": "100m", "memory": "1Gi"}, {"cpu": "200m"})
    pod["spec"]["initContainers"] = [{"name": "i", "resources": {"requests": {"cpu": "500m"}}}]
    use = quotas.usage("pods", "", pod)
    assert use["pods"] == 1 and use["count/pods"] == 1
    assert use["requests.cpu"] == Fraction(1, 2) == use["cpu"]  # init container dominates
    assert use["requests.memory"] == 2**30 == use["memory"]
    assert use["limits.cpu"] == Fraction(1, 5)


@pytest.mark.parametrize("phase", ["Succeeded", "Failed"])
def test_finished_pods_do_not_count(phase: str) -> None:
    pod = _pod()
    pod["status"] = {"phase": phase}
    assert quotas.usage("pods", "", pod) == {}


def test_service_claim_and_generic_counts() -> None:
    svc = {"spec": {"type": "LoadBalancer", "ports": [{"port": 1}, {"port": 2}]}}
    assert quotas.usage("services", "", svc) == {
        "services": 1, "count/services": 1, "services.loadbalancers": 1,
        "services.nodeports": 2}
    claim = {"spec": {"storageClassName": "fast",
                      "resources": {"requests": {"storage": "2Gi"}}}}
    use = quotas.usage("persistentvolumeclaims", "", claim)
    assert use["requests.storage"] == 2 * 2**30
    assert use["fast.storageclass.storage.k8s.io/requests.storage"] == 2 * 2**30
    assert quotas.usage("deployments", "apps", {}) == {"count/deployments.apps": 1}
    assert quotas.usage("configmaps", "", {}) == {"configmaps": 1, "count/configmaps": 1}


def test_exceeded_sentence_is_upstreams() -> None:
    with pytest.raises(quotas.QuotaRefused) as err:
        quotas.charge(_quota({"pods": "2"}, {"pods": "2"}), {"pods": Fraction(1)})
    assert str(err.value) == ("exceeded quota: q, requested: pods=1, used: pods=2, "
                              "limited: pods=2")
    with pytest.raises(quotas.QuotaRefused) as err:
        quotas.charge(_quota({"requests.memory": "1Gi", "pods": "9"},
                             {"requests.memory": "768Mi", "pods": "1"}),
                      {"requests.memory": Fraction(512 * 2**20), "pods": Fraction(1)})
    assert str(err.value) == ("exceeded quota: q, requested: requests.memory=512Mi, "
                              "used: requests.memory=768Mi, limited: requests.memory=1Gi")


def test_charge_adds_only_hard_names_and_allows_exact_fit() -> None:
    new = quotas.charge(_quota({"pods": "2", "cpu": "1"}, {"pods": "1", "cpu": "500m"}),
                        {"pods": Fraction(1), "cpu": Fraction(1, 2), "memory": Fraction(9)})
    assert new == {"pods": 2, "cpu": 1}
    # a release (negative delta) never refuses
    assert quotas.charge(_quota({"pods": "1"}, {"pods": "5"}), {"pods": Fraction(-1)}) == {
        "pods": 4}


def test_must_specify_sentence() -> None:
    msg = quotas.missing_requests(_pod({"memory": "1Gi"}), ["limits.cpu", "requests.cpu",
                                                           "requests.memory", "pods"])
    assert msg == "must specify limits.cpu for: c; requests.cpu for: c"
    assert quotas.missing_requests(_pod({"cpu": "1"}), ["cpu", "pods"]) is None


SCOPES = [
    ({"scopes": ["BestEffort"]}, _pod(), True),
    ({"scopes": ["BestEffort"]}, _pod({"cpu": "1"}), False),
    ({"scopes": ["NotBestEffort"]}, _pod({"cpu": "1"}), True),
    ({"scopes": ["Terminating"]}, _pod(activeDeadlineSeconds=10), True),
    ({"scopes": ["NotTerminating"]}, _pod(activeDeadlineSeconds=10), False),
    ({"scopeSelector": {"matchExpressions": [{"scopeName": "PriorityClass", "operator": "In",
                                              "values": ["high"]}]}},
     _pod(priorityClassName="high"), True),
    ({"scopeSelector": {"matchExpressions": [{"scopeName": "PriorityClass", "operator": "In",
                                              "values": ["high"]}]}},
     _pod(priorityClassName="low"), False),
    ({"scopeSelector": {"matchExpressions": [{"scopeName": "PriorityClass",
                                              "operator": "DoesNotExist"}]}}, _pod(), True),
]


@pytest.mark.parametrize(("spec", "pod", "expected"), SCOPES)
def test_scopes(spec: dict[str, Any], pod: dict[str, Any], expected: bool) -> None:
    assert quotas.matches(_quota({"pods": "1"}, **spec), "pods", "", pod) is expected


def test_scoped_quota_ignores_other_kinds_and_total_sums() -> None:
    scoped = _quota({"pods": "5"}, scopes=["BestEffort"])
    assert not quotas.matches(scoped, "services", "", {})
    objs = [("pods", "", _pod()), ("pods", "", _pod({"cpu": "1"})),
            ("configmaps", "", {})]
    assert quotas.total(objs, _quota({"pods": "9", "configmaps": "9", "cpu": "9"})) == {
        "pods": 2, "configmaps": 1, "cpu": 1}
    assert quotas.total(objs, scoped) == {"pods": 1}


INVALID = [
    ({"hard": {"pods": "-1"}}, "must be greater than or equal to 0"),
    ({"hard": {"pods": "1.5"}}, "must be an integer"),
    ({"hard": {"cpu": "lots"}}, "must be a valid quantity"),
    ({"hard": {"bad name!": "1"}}, "qualified name"),
    ({"hard": {"pods": "1"}, "scopes": ["Sometimes"]}, "Unsupported value"),
    ({"hard": {"pods": "1"}, "scopes": ["Terminating", "NotTerminating"]},
     "conflicting scopes"),
    ({"hard": {"services": "1"}, "scopes": ["BestEffort"]},
     "unsupported scope applied to resource"),
    ({"hard": {"pods": "1"}, "scopeSelector": {"matchExpressions": [
        {"scopeName": "PriorityClass", "operator": "In"}]}}, "must be at least one value"),
]


@pytest.mark.parametrize(("spec", "words"), INVALID, ids=[i[1][:25] for i in INVALID])
def test_invalid_quotas(spec: dict[str, Any], words: str) -> None:
    obj = {"metadata": {"name": "q"}, "spec": spec}
    messages = [e.cause()["message"] for e in quotas.validate(obj, None)]
    assert any(words in m for m in messages), messages


def test_valid_quota_and_table_cells() -> None:
    quota = _quota({"pods": "5", "limits.cpu": "2", "requests.memory": "1Gi"},
                   {"pods": "1", "limits.cpu": "500m", "requests.memory": "0"})
    assert quotas.validate(quota, None) == []
    assert [c["name"] for c in quotas.PRINTER.columns] == ["Name", "Age", "Request", "Limit"]
    now = datetime.now(UTC)
    assert quotas.PRINTER.cells(quota, now)[1:] == [
        "pods: 1/5, requests.memory: 0/1Gi", "limits.cpu: 500m/2"]
