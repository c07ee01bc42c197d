"""ResourceQuota and LimitRange through the real kubectl: LimitRanger defaults and 403s,
quota 403s with upstream's sentences, ``kubectl describe quota``, ``kubectl create quota``,
concurrent creates that never overshoot a quota, and deletes that give quota back."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.fixtures.apiserver import ApiServer, start_apiserver
from tests.fixtures.etcd import start_etcd
from tests.integration.apiserver.http import call


@pytest.fixture
def ns(apiserver: ApiServer, request: pytest.FixtureRequest) -> Iterator[str]:
    name = "q-" + request.node.name.replace("_", "-")[5:40].strip("-").lower()
    assert call(apiserver, "POST", "/api/v1/namespaces", {"metadata": {"name": name}}
                ).status == 201
    yield name
    call(apiserver, "DELETE", f"/api/v1/namespaces/{name}")


def _pod(name: str, ns: str, resources: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns},
            "spec": {"containers": [{"name": "app", "image": "nginx",
                                     "resources": resources or {}}]}}


def _apply(server: ApiServer, body: dict[str, Any]) -> None:
    proc = server.kubectl("apply", "-f", "-", input=json.dumps(body))
    assert proc.returncode == 0, proc.stderr


def _used(server: ApiServer, ns: str, name: str = "q") -> dict[str, str]:
    reply = call(server, "GET", f"/api/v1/namespaces/{ns}/resourcequotas/{name}")
    return dict(reply.body["status"]["used"])


def test_limit_range_defaults_and_403s(apiserver: ApiServer, ns: str) -> None:
    _apply(apiserver, {"apiVersion": "v1", "kind": "LimitRange",
                       "metadata": {"name": "lr", "namespace": ns},
                       "spec": {"limits": [{"type": "Container", "max": {"cpu": "500m"},
                                            "defaultRequest": {"cpu": "100m"},
                                            "default": {"memory": "128Mi"}}]}})
    stored = json.loads(apiserver.kubectl("get", "limitrange", "lr", "-n", ns, "-o",
                                          "json").stdout)
    assert stored["spec"]["limits"][0]["default"] == {"cpu": "500m", "memory": "128Mi"}
    _apply(apiserver, _pod("plain", ns))
    pod = json.loads(apiserver.kubectl("get", "pod", "plain", "-n", ns, "-o", "json").stdout)
    assert pod["spec"]["containers"][0]["resources"] == {
        "limits": {"cpu": "500m", "memory": "128Mi"},
        "requests": {"cpu": "100m", "memory": "128Mi"}}
    assert "LimitRanger plugin set" in pod["metadata"]["annotations"][
        "kubernetes.io/limit-ranger"]
    proc = apiserver.kubectl("apply", "-f", "-", input=json.dumps(
        _pod("big", ns, {"limits": {"cpu": "1"}, "requests": {"cpu": "200m"}})))
    assert proc.returncode == 1
    assert ('pods "big" is forbidden: maximum cpu usage per Container is 500m, but limit is 1'
            in proc.stderr), proc.stderr
    table = apiserver.kubectl("get", "limits", "-n", ns)
    assert table.stdout.split()[:3] == ["NAME", "CREATED", "AT"], table.stdout
    described = apiserver.kubectl("describe", "limitrange", "lr", "-n", ns)
    assert described.returncode == 0, described.stderr
    assert "Container   cpu       -    500m" in described.stdout, described.stdout


def test_quota_exceeded_describe_and_delete_frees(apiserver: ApiServer, ns: str) -> None:
    created = apiserver.kubectl("create", "quota", "q", "-n", ns,
                                "--hard=pods=2,requests.cpu=1,configmaps=10")
    assert created.returncode == 0, created.stderr
    for i in range(2):
        _apply(apiserver, _pod(f"p{i}", ns, {"requests": {"cpu": "100m"}}))
    proc = apiserver.kubectl("apply", "-f", "-", input=json.dumps(
        _pod("p2", ns, {"requests": {"cpu": "100m"}})))
    assert proc.returncode == 1
    assert ('pods "p2" is forbidden: exceeded quota: q, requested: pods=1, used: pods=2, '
            'limited: pods=2') in proc.stderr, proc.stderr
    bare = apiserver.kubectl("run", "bare", "-n", ns, "--image=nginx")
    assert 'forbidden: failed quota: q: must specify requests.cpu for: bare' in bare.stderr, \
        bare.stderr
    described = apiserver.kubectl("describe", "quota", "q", "-n", ns)
    assert described.returncode == 0, described.stderr
    lines = [line.split() for line in described.stdout.splitlines()]
    assert ["Resource", "Used", "Hard"] in lines, described.stdout
    assert ["pods", "2", "2"] in lines and ["requests.cpu", "200m", "1"] in lines, lines
    table = apiserver.kubectl("get", "quota", "-n", ns)
    assert "pods: 2/2" in table.stdout and "REQUEST" in table.stdout, table.stdout
    assert apiserver.kubectl("delete", "pod", "p0", "-n", ns).returncode == 0
    assert _used(apiserver, ns)["pods"] == "1"
    _apply(apiserver, _pod("p2", ns, {"requests": {"cpu": "100m"}}))
    assert _used(apiserver, ns) == {"pods": "2", "requests.cpu": "200m", "configmaps": "0"}


def test_concurrent_creates_never_exceed(apiserver: ApiServer, ns: str) -> None:
    _apply(apiserver, {"apiVersion": "v1", "kind": "ResourceQuota",
                       "metadata": {"name": "q", "namespace": ns}, "spec": {"hard": {
                           "pods": "5"}}})

    def create(i: int) -> int:
        return call(apiserver, "POST", f"/api/v1/namespaces/{ns}/pods",
                    _pod(f"c{i}", ns)).status

    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(create, range(20)))
    assert sorted(statuses).count(201) == 5 and statuses.count(403) == 15, statuses
    pods = call(apiserver, "GET", f"/api/v1/namespaces/{ns}/pods").body["items"]
    assert len(pods) == 5
    assert _used(apiserver, ns) == {"pods": "5"}


def test_invalid_quota_and_limit_range_are_422(apiserver: ApiServer, ns: str) -> None:
    reply = call(apiserver, "POST", f"/api/v1/namespaces/{ns}/resourcequotas",
                 {"metadata": {"name": "bad"}, "spec": {"hard": {"pods": "-1"}}})
    assert reply.status == 422 and "spec.hard[pods]" in reply.body["message"], reply.body
    reply = call(apiserver, "POST", f"/api/v1/namespaces/{ns}/limitranges",
                 {"metadata": {"name": "bad"}, "spec": {"limits": [
                     {"type": "Container", "min": {"cpu": "2"}, "max": {"cpu": "1"}}]}})
    assert reply.status == 422, reply.body
    assert "min value 2 is greater than max value 1" in reply.body["message"], reply.body


def test_two_apiservers_on_one_store_never_overshoot() -> None:
    with start_etcd() as etcd, start_apiserver(etcd.url) as one, \
            start_apiserver(etcd.url) as two:
        ns = "q-two-servers"
        assert call(one, "POST", "/api/v1/namespaces", {"metadata": {"name": ns}}).status == 201
        _apply(one, {"apiVersion": "v1", "kind": "ResourceQuota",
                     "metadata": {"name": "q", "namespace": ns},
                     "spec": {"hard": {"pods": "5"}}})

        def create(i: int) -> int:
            server = (one, two)[i % 2]
            return call(server, "POST", f"/api/v1/namespaces/{ns}/pods", _pod(f"c{i}", ns)).status

        with ThreadPoolExecutor(max_workers=20) as pool:
            statuses = list(pool.map(create, range(20)))
        assert statuses.count(201) == 5 and statuses.count(403) == 15, statuses
        assert len(call(two, "GET", f"/api/v1/namespaces/{ns}/pods").body["items"]) == 5
        assert _used(one, ns) == {"pods": "5"}


def _claim(name: str, ns: str, size: str, cls: str = "fast") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": cls,
                     "resources": {"requests": {"storage": size}}}}


def test_claims_meet_limit_range_and_storage_quota(apiserver: ApiServer, ns: str) -> None:
    _apply(apiserver, {"apiVersion": "v1", "kind": "LimitRange",
                       "metadata": {"name": "lr", "namespace": ns},
                       "spec": {"limits": [{"type": "PersistentVolumeClaim",
                                            "min": {"storage": "1Gi"}}]}})
    _apply(apiserver, {"apiVersion": "v1", "kind": "ResourceQuota",
                       "metadata": {"name": "q", "namespace": ns},
                       "spec": {"hard": {"requests.storage": "3Gi",
                                         "fast.storageclass.storage.k8s.io/requests.storage":
                                             "2Gi"}}})
    small = apiserver.kubectl("apply", "-f", "-", input=json.dumps(_claim("s", ns, "500Mi")))
    assert ('persistentvolumeclaims "s" is forbidden: minimum storage usage per '
            'PersistentVolumeClaim is 1Gi, but request is 500Mi') in small.stderr, small.stderr
    _apply(apiserver, _claim("a", ns, "2Gi"))
    over = apiserver.kubectl("apply", "-f", "-", input=json.dumps(_claim("b", ns, "1Gi")))
    assert ("exceeded quota: q, requested: fast.storageclass.storage.k8s.io/requests.storage="
            "1Gi, used: fast.storageclass.storage.k8s.io/requests.storage=2Gi, limited: "
            "fast.storageclass.storage.k8s.io/requests.storage=2Gi") in over.stderr, over.stderr
    _apply(apiserver, _claim("c", ns, "1Gi", cls="slow"))
    assert _used(apiserver, ns) == {"requests.storage": "3Gi",
                                    "fast.storageclass.storage.k8s.io/requests.storage": "2Gi"}


def test_changed_hard_limits_show_at_once(apiserver: ApiServer, ns: str) -> None:
    quota = {"apiVersion": "v1", "kind": "ResourceQuota",
             "metadata": {"name": "q", "namespace": ns}, "spec": {"hard": {"pods": "1"}}}
    _apply(apiserver, quota)
    _apply(apiserver, _pod("p", ns))
    quota["spec"]["hard"] = {"pods": "3", "configmaps": "4"}
    _apply(apiserver, quota)
    status = call(apiserver, "GET", f"/api/v1/namespaces/{ns}/resourcequotas/q").body["status"]
    assert status["hard"] == {"pods": "3", "configmaps": "4"}
    _apply(apiserver, {"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": {"name": "c", "namespace": ns}})
    assert _used(apiserver, ns) == {"pods": "1", "configmaps": "1"}


def test_a_new_quota_binds_the_very_next_create_on_either_apiserver() -> None:
    """Admission skips the store read of quotas when its watch cache knows none in the
    namespace, and writes the create on condition that the namespace still has none: a quota
    created a moment earlier — through this apiserver or another one whose cache has not seen
    it yet — is charged by the very next create."""
    with start_etcd() as etcd, start_apiserver(etcd.url) as one, \
            start_apiserver(etcd.url) as two:
        for round_, (writer, other) in enumerate(((one, two), (two, one))):
            ns = f"q-next-{round_}"
            assert call(writer, "POST", "/api/v1/namespaces",
                        {"metadata": {"name": ns}}).status == 201
            path = f"/api/v1/namespaces/{ns}/configmaps"
            assert call(other, "POST", path, {"metadata": {"name": "warm"}}).status == 201
            assert call(writer, "POST", f"/api/v1/namespaces/{ns}/resourcequotas", {
                "metadata": {"name": "q"}, "spec": {"hard": {"configmaps": "2"}}}).status == 201
            assert call(other, "POST", path, {"metadata": {"name": "a"}}).status == 201
            reply = call(writer, "POST", path, {"metadata": {"name": "b"}})
            assert reply.status == 403 and "exceeded quota: q" in reply.body["message"], \
                reply.body
            reply = call(other, "POST", path, {"metadata": {"name": "c"}})
            assert reply.status == 403, reply.body
            assert _used(other, ns) == {"configmaps": "2"}
