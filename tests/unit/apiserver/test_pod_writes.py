"""Pod writes stay byte-identical when their path is made cheaper: a binding stores exactly what
the general update admission (:func:`kboot.controlplane.apiserver.admission.admit_update`) makes
of the stored pod with ``spec.nodeName`` set and the binding's annotations merged."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kboot.controlplane.api.registry import lookup
from kboot.controlplane.apiserver import admission
from kboot.controlplane.client.clock import FakeClock
from tests.unit.apiserver.harness import Harness, async_test, running

NS = "/api/v1/namespaces/default"
PODS = lookup("", "pods")
assert PODS is not None

SPREAD = {"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
          "whenUnsatisfiable": "DoNotSchedule", "labelSelector": {"matchLabels": {"app": "b"}}}
BENCH = {"containers": [{"name": "c", "image": "pause",
                         "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}]}
RICH: dict[str, Any] = {
    "initContainers": [{"name": "init", "image": "busybox:1.36", "command": ["true"]}],
    "containers": [{
        "name": "web", "image": "nginx", "ports": [{"containerPort": 80, "name": "http"}],
        "env": [{"name": "A", "value": "1"},
                {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
        "readinessProbe": {"httpGet": {"path": "/", "port": "http"}},
        "livenessProbe": {"exec": {"command": ["true"]}, "periodSeconds": 5},
        "volumeMounts": [{"name": "cfg", "mountPath": "/etc/cfg"},
                         {"name": "scratch", "mountPath": "/tmp"}],
        "securityContext": {"runAsNonRoot": True, "capabilities": {"drop": ["ALL"]}},
        "resources": {"limits": {"cpu": "1", "memory": "64Mi"}}}],
    "volumes": [{"name": "cfg", "configMap": {"name": "cfg"}},
                {"name": "scratch", "emptyDir": {"sizeLimit": "1Gi"}}],
    "tolerations": [{"key": "k", "operator": "Exists", "effect": "NoSchedule"}],
    "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [
            {"key": "zone", "operator": "In", "values": ["a", "b"]}]}]}}},
    "topologySpreadConstraints": [SPREAD], "priorityClassName": "bench-low",
    "terminationGracePeriodSeconds": 0, "hostname": "h", "subdomain": "s",
}

CASES = {
    "bench": ({"labels": {"app": "b"}}, BENCH, None),
    "spread": ({"labels": {"app": "b"}}, {**BENCH, "topologySpreadConstraints": [SPREAD],
                                           "priorityClassName": "bench-low",
                                           "terminationGracePeriodSeconds": 0}, None),
    "rich": ({"labels": {"app": "b"}, "annotations": {"note": "x"},
              "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs",
                                   "uid": "0b8f3c9e-5d0a-4c1e-9d55-6f3d2a1b7c40"}]},
             RICH, {"scheduler.example.com/why": "fits", "note": "overwritten"}),
    "with status": ({}, BENCH, {"added": "yes"}),
}


def _binding(name: str, node: str, annotations: dict[str, str] | None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if annotations:
        meta["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "Binding", "metadata": meta,
            "target": {"apiVersion": "v1", "kind": "Node", "name": node}}


async def _stored(h: Harness, name: str) -> bytes:
    kv = await h.state.storage.store.get(PODS.key("default", name))
    assert kv is not None
    return kv.value


@pytest.mark.parametrize("case", sorted(CASES))
@async_test
async def test_a_binding_stores_what_the_general_update_admission_makes(case: str) -> None:
    meta, spec, annotations = CASES[case]
    clock = FakeClock()
    async with running(clock=clock) as h:
        await h.json("POST", "/apis/scheduling.k8s.io/v1/priorityclasses", {
            "metadata": {"name": "bench-low"}, "value": 10}, expect=201)
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", **meta},
               "spec": copy.deepcopy(spec)}
        if case == "with status":
            pod["status"] = {"phase": "Pending", "conditions": [
                {"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}]}
        await h.json("POST", f"{NS}/pods", pod, expect=201,
                      headers={"User-Agent": "creator/1.0"})
        before = await h.state.storage.get(PODS, "default", "p")
        await clock.advance(61)  # the binding's managedFields entry gets a later time
        await h.json("POST", f"{NS}/pods/p/binding", _binding("p", "node-7", annotations),
                     expect=201, headers={"User-Agent": "kube-scheduler/v1.31"})
        wanted = copy.deepcopy(before)
        wanted["spec"]["nodeName"] = "node-7"
        if annotations:
            wanted["metadata"].setdefault("annotations", {}).update(annotations)
        reference = admission.admit_update(
            h.state.strategy(PODS), before, wanted, subresource="binding",
            opts=admission.WriteOptions(field_manager="kube-scheduler"), now=clock.now())
        assert await _stored(h, "p") == h.state.storage.encode(PODS, reference)


@async_test
async def test_a_binding_with_invalid_annotations_is_refused_and_changes_nothing() -> None:
    """The binding's annotations are new input: a bad key is a 422 listing every problem of
    each key, as the pod's full validation reports them, and the pod stays unbound."""
    async with running() as h:
        await h.json("POST", f"{NS}/pods", {"metadata": {"name": "p"}, "spec": BENCH},
                     expect=201)
        before = await _stored(h, "p")
        refused = await h.json("POST", f"{NS}/pods/p/binding", _binding(
            "p", "node-1", {"bad key!": "x", "also/bad/": "y", "ok": "z" * 300_000}),
            expect=422)
        causes = refused["details"]["causes"]
        assert [(c["reason"], c["field"]) for c in causes] == [
            ("FieldValueInvalid", "metadata.annotations")] * 3 + [
            ("FieldValueTooLong", "metadata.annotations")]
        assert [c["message"].split(":")[1] for c in causes[:3]] == [
            ' "bad key!"', ' "also/bad/"', ' "also/bad/"']  # every problem of each key
        assert refused["message"].startswith('Pod "p" is invalid: [metadata.annotations: '
                                             'Invalid value: "bad key!"')
        assert await _stored(h, "p") == before
