"""Server-side apply and managedFields bookkeeping, as scenarios between field managers."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from kboot.controlplane.api.apply import (
    ApplyConflict,
    managed_fields_for,
    record_update,
    server_side_apply,
)
from kboot.controlplane.api.fieldpaths import from_fields_v1, render_path, to_fields_v1

NOW = datetime(2024, 6, 1, 12, 0, 0, tzinfo=UTC)


def deployment(replicas: int | None = 3, labels: dict[str, str] | None = None,
               containers: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "selector": {"matchLabels": {"app": "d"}},
        "template": {"metadata": {"labels": {"app": "d"}},
                     "spec": {"containers": containers or [{"name": "c", "image": "nginx"}]}}}
    if replicas is not None:
        spec["replicas"] = replicas
    meta: dict[str, Any] = {"name": "d", "namespace": "default"}
    if labels:
        meta["labels"] = labels
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": spec}


def apply(live: dict[str, Any] | None, config: dict[str, Any], manager: str,
          force: bool = False) -> dict[str, Any]:
    return server_side_apply("Deployment", live, config, manager=manager, force=force,
                             api_version="apps/v1", now=NOW)


def owners(obj: dict[str, Any]) -> dict[str, set[str]]:
    """manager -> rendered owned paths."""
    return {e["manager"]: {render_path(p) for p in from_fields_v1(e["fieldsV1"])}
            for e in obj["metadata"]["managedFields"]}


def test_fields_v1_shape() -> None:
    fields = managed_fields_for("Deployment", deployment(labels={"a": "b"}))
    assert fields["f:metadata"] == {"f:labels": {"f:a": {}}}
    container = fields["f:spec"]["f:template"]["f:spec"]["f:containers"]['k:{"name":"c"}']
    assert container == {".": {}, "f:image": {}, "f:name": {}}
    assert fields["f:spec"]["f:replicas"] == {}
    pod = {"metadata": {"finalizers": ["a/b"]},
           "spec": {"containers": [{"name": "c", "ports": [{"containerPort": 80,
                                                           "protocol": "TCP"}]}],
                    "tolerations": [{"key": "k"}]}}
    fields = managed_fields_for("Pod", pod)
    assert fields["f:metadata"]["f:finalizers"] == {'v:"a/b"': {}}
    ports = fields["f:spec"]["f:containers"]['k:{"name":"c"}']["f:ports"]
    assert ports == {'k:{"containerPort":80,"protocol":"TCP"}': {".": {}, "f:containerPort": {},
                                                                 "f:protocol": {}}}
    assert fields["f:spec"]["f:tolerations"] == {}  # atomic


def test_round_trip_fields_v1() -> None:
    paths = {("f:a", "f:b"), ("f:a", 'k:{"name":"x"}', "."), ("f:c",)}
    assert from_fields_v1(to_fields_v1(paths)) == paths


def test_create_by_apply() -> None:
    config = deployment()
    out = apply(None, config, "kubectl")
    assert out["spec"] == config["spec"]
    [entry] = out["metadata"]["managedFields"]
    assert entry["manager"] == "kubectl" and entry["operation"] == "Apply"
    assert entry["apiVersion"] == "apps/v1" and entry["fieldsType"] == "FieldsV1"
    assert entry["time"] == "2024-06-01T12:00:00Z"
    assert ".spec.replicas" in owners(out)["kubectl"]
    assert config == deployment()  # pure


def test_reapply_is_idempotent() -> None:
    once = apply(None, deployment(), "kubectl")
    assert apply(once, deployment(), "kubectl") == once


def test_conflict_with_another_manager_and_force() -> None:
    live = apply(None, deployment(replicas=3), "kubectl")
    scaled = copy.deepcopy(live)
    scaled["spec"]["replicas"] = 5
    scaled["metadata"]["managedFields"] = record_update(
        "Deployment", live, scaled, manager="kubectl-scale", api_version="apps/v1", now=NOW)
    assert owners(scaled)["kubectl-scale"] == {".spec.replicas"}
    assert ".spec.replicas" not in owners(scaled)["kubectl"]
    with pytest.raises(ApplyConflict) as info:
        apply(scaled, deployment(replicas=3), "kubectl")
    assert [(c.field, c.manager) for c in info.value.causes] == [(".spec.replicas",
                                                                  "kubectl-scale")]
    assert info.value.code == 409
    assert 'conflict with "kubectl-scale" using apps/v1: .spec.replicas' in info.value.message
    forced = apply(scaled, deployment(replicas=3), "kubectl", force=True)
    assert forced["spec"]["replicas"] == 3
    assert "kubectl-scale" not in owners(forced)  # lost its only field
    # applying without replicas releases it: the live value stays, nobody conflicts
    released = apply(scaled, deployment(replicas=None), "kubectl")
    assert released["spec"]["replicas"] == 5


def test_same_value_is_shared_not_conflicting() -> None:
    live = apply(None, deployment(replicas=3), "a")
    both = apply(live, deployment(replicas=3), "b")
    assert ".spec.replicas" in owners(both)["a"] and ".spec.replicas" in owners(both)["b"]
    # a drops replicas: b still owns it, so it stays
    after = apply(both, deployment(replicas=None), "a")
    assert after["spec"]["replicas"] == 3


def test_dropping_a_field_removes_it() -> None:
    live = apply(None, deployment(labels={"x": "1", "y": "2"}), "a")
    out = apply(live, deployment(labels={"y": "2"}), "a")
    assert out["metadata"]["labels"] == {"y": "2"}


def test_list_map_items_merge_between_managers() -> None:
    c1, c2 = {"name": "c1", "image": "one"}, {"name": "c2", "image": "two"}
    live = apply(None, deployment(containers=[c1]), "a")
    both = apply(live, deployment(containers=[c2]), "b")
    names = [c["name"] for c in both["spec"]["template"]["spec"]["containers"]]
    assert names == ["c1", "c2"]
    dropped = apply(both, deployment(containers=[{"name": "c3", "image": "x"}]), "a")
    names = [c["name"] for c in dropped["spec"]["template"]["spec"]["containers"]]
    assert names == ["c2", "c3"]
    with pytest.raises(ApplyConflict) as info:
        apply(dropped, deployment(containers=[{"name": "c2", "image": "new"}]), "a")
    assert info.value.causes[0].field == '.spec.template.spec.containers[name="c2"].image'


def test_status_is_not_owned_through_the_main_resource() -> None:
    config = {**deployment(), "status": {"replicas": 9}}
    out = apply(None, config, "a")
    assert "status" not in out
    assert not any(p.startswith(".status") for p in owners(out)["a"])


def test_record_update_create_and_update() -> None:
    obj = deployment()
    created = record_update("Deployment", None, obj, manager="kubectl-client-side-apply",
                            api_version="apps/v1", now=NOW)
    assert [e["manager"] for e in created] == ["kubectl-client-side-apply"]
    assert created[0]["operation"] == "Update"
    live = {**copy.deepcopy(obj), "metadata": {**obj["metadata"], "managedFields": created}}
    edited = copy.deepcopy(live)
    edited["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:2"
    del edited["spec"]["replicas"]
    managed = record_update("Deployment", live, edited, manager="kubectl-edit",
                            api_version="apps/v1", now=NOW)
    edited["metadata"]["managedFields"] = managed
    got = owners(edited)
    assert got["kubectl-edit"] == {'.spec.template.spec.containers[name="c"].image'}
    assert '.spec.template.spec.containers[name="c"].image' not in got[
        "kubectl-client-side-apply"]
    assert ".spec.replicas" not in got["kubectl-client-side-apply"]
    # a no-op write keeps the entries (and their times)
    assert record_update("Deployment", edited, edited, manager="kubectl-edit",
                         api_version="apps/v1", now=NOW) == managed


def test_status_subresource_updates_are_tracked_separately() -> None:
    pod = {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "x"}]},
           "status": {"phase": "Pending"}}
    running = copy.deepcopy(pod)
    running["status"] = {"phase": "Running", "podIP": "10.0.0.1"}
    managed = record_update("Pod", pod, running, manager="kubelet", api_version="v1", now=NOW,
                            subresource="status")
    assert managed[0]["subresource"] == "status"
    assert from_fields_v1(managed[0]["fieldsV1"]) == {("f:status", "f:phase"),
                                                      ("f:status", "f:podIP")}


def _csa_live(config: dict[str, Any], live_replicas: int) -> dict[str, Any]:
    """A deployment as client-side apply leaves it: annotation + kubectl-client-side-apply."""
    live = copy.deepcopy(config)
    live["spec"]["replicas"] = live_replicas
    live["metadata"]["annotations"] = {
        "kubectl.kubernetes.io/last-applied-configuration": json.dumps(config)}
    live["metadata"]["managedFields"] = record_update(
        "Deployment", None, live, manager="kubectl-client-side-apply", api_version="apps/v1",
        now=NOW)
    return live


def test_kubectl_upgrades_from_client_side_apply_without_conflicts() -> None:
    live = _csa_live(deployment(replicas=3), live_replicas=3)
    out = apply(live, deployment(replicas=4), "kubectl")
    assert out["spec"]["replicas"] == 4
    assert ".spec.replicas" in owners(out)["kubectl"]
    # another manager name gets no upgrade path
    with pytest.raises(ApplyConflict):
        apply(live, deployment(replicas=4), "my-controller")
    # a field changed since the last client-side apply is still a conflict
    drifted = _csa_live(deployment(replicas=3), live_replicas=7)
    with pytest.raises(ApplyConflict) as info:
        apply(drifted, deployment(replicas=4), "kubectl")
    assert [c.field for c in info.value.causes] == [".spec.replicas"]


def test_list_map_keys_use_schema_defaults() -> None:
    live = server_side_apply(
        "Service", None, {"metadata": {"name": "s"}, "spec": {"ports": [{"port": 80}]}},
        manager="a", api_version="v1", now=NOW)
    live["spec"]["ports"][0]["protocol"] = "TCP"  # defaulted by the server
    again = server_side_apply(
        "Service", live, {"metadata": {"name": "s"}, "spec": {"ports": [{"port": 80,
                                                                          "targetPort": 8080}]}},
        manager="a", api_version="v1", now=NOW)
    assert again["spec"]["ports"] == [{"port": 80, "protocol": "TCP", "targetPort": 8080}]
    fields = again["metadata"]["managedFields"][0]["fieldsV1"]
    assert 'k:{"port":80,"protocol":"TCP"}' in fields["f:spec"]["f:ports"]
