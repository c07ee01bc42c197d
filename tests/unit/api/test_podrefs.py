"""The one walk over a pod's referenced Secrets, ConfigMaps and claims (Node authorizer and
kubelet), field by field as upstream's VisitPodSecretNames / VisitPodConfigmapNames."""

from __future__ import annotations

from typing import Any

import pytest

from kboot.controlplane.api.podrefs import (
    CLAIMS,
    CONFIGMAPS,
    CONTAINERS,
    INIT_CONTAINERS,
    SECRETS,
    PodReference,
    pod_references,
)


def _pod(**spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "p", "namespace": "ns"}, "spec": spec}


def _env(**source: Any) -> dict[str, Any]:
    return {"name": "c", "env": [{"name": "E", "valueFrom": source}]}


@pytest.mark.parametrize(("spec", "expected"), [
    ({"imagePullSecrets": [{"name": "pull"}]}, (SECRETS, "pull")),
    ({"volumes": [{"name": "v", "secret": {"secretName": "vol"}}]}, (SECRETS, "vol")),
    ({"volumes": [{"name": "v", "configMap": {"name": "cm"}}]}, (CONFIGMAPS, "cm")),
    ({"volumes": [{"name": "v", "persistentVolumeClaim": {"claimName": "data"}}]},
     (CLAIMS, "data")),
    ({"volumes": [{"name": "v", "projected": {"sources": [{"secret": {"name": "ps"}}]}}]},
     (SECRETS, "ps")),
    ({"volumes": [{"name": "v", "projected": {"sources": [{"configMap": {"name": "pc"}}]}}]},
     (CONFIGMAPS, "pc")),
    ({"containers": [_env(secretKeyRef={"name": "env", "key": "k"})]}, (SECRETS, "env")),
    ({"containers": [_env(configMapKeyRef={"name": "envcm", "key": "k"})]},
     (CONFIGMAPS, "envcm")),
    ({"initContainers": [{"name": "i", "envFrom": [{"secretRef": {"name": "from"}}]}]},
     (SECRETS, "from")),
    ({"ephemeralContainers": [{"name": "d", "envFrom": [{"configMapRef": {"name": "dbg"}}]}]},
     (CONFIGMAPS, "dbg")),
])
def test_each_referencing_field(spec: dict[str, Any], expected: tuple[str, str]) -> None:
    assert pod_references(_pod(**spec)) == {PodReference(*expected)}


def test_fields_that_reference_nothing() -> None:
    pod = _pod(volumes=[{"name": "e", "emptyDir": {}}, {"name": "h", "hostPath": {"path": "/"}},
                        {"name": "t", "projected": {"sources": [
                            {"serviceAccountToken": {"path": "token"}}]}}],
               containers=[{"name": "c", "env": [{"name": "A", "value": "1"}, {
                   "name": "F", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]}])
    assert pod_references(pod) == set()
    assert pod_references({}) == set()
    assert pod_references({"spec": None}) == set()


def test_callers_narrow_what_counts() -> None:
    pod = _pod(imagePullSecrets=[{"name": "pull"}],
               initContainers=[_env(secretKeyRef={"name": "init"})],
               containers=[_env(secretKeyRef={"name": "app"})],
               ephemeralContainers=[_env(secretKeyRef={"name": "debug"})])
    assert {r.name for r in pod_references(pod)} == {"pull", "init", "app", "debug"}
    narrowed = pod_references(pod, containers=(INIT_CONTAINERS, CONTAINERS),
                              image_pull_secrets=False)
    assert {r.name for r in narrowed} == {"init", "app"}


def test_references_without_a_name_are_left_out() -> None:
    pod = _pod(imagePullSecrets=[{}], volumes=[{"name": "v", "secret": {}}],
               containers=[_env(configMapKeyRef={"key": "k"})])
    assert pod_references(pod) == set()
