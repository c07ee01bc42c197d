"""Table rendering: columns per kind, kubectl's STATUS logic and age strings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kboot.controlplane.api.printers_base import human_duration
from kboot.controlplane.api.registry import KINDS
from kboot.controlplane.api.tables import printer_columns, to_table

NOW = datetime(2024, 6, 1, 12, 0, 0, tzinfo=UTC)


def ts(seconds_ago: float) -> str:
    return (NOW - timedelta(seconds=seconds_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(-5, "<invalid>"), (-0.5, "0s"), (0, "0s"), (59, "59s"), (119, "119s"), (120, "2m"),
     (303, "5m3s"), (600, "10m"), (179 * 60, "179m"), (3 * 3600, "3h"),
     (3 * 3600 + 120, "3h2m"), (8 * 3600, "8h"), (47 * 3600, "47h"), (48 * 3600, "2d"),
     (3 * 86400 + 5 * 3600, "3d5h"), (8 * 86400, "8d"), (693 * 86400, "693d"),
     (730 * 86400, "2y"), (735 * 86400, "2y5d"), (9 * 365 * 86400, "9y")],
)
def test_human_duration(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


def _names(kind: str, wide: bool = False) -> list[str]:
    return [c["name"] for c in printer_columns(kind) if wide or c["priority"] == 0]


@pytest.mark.parametrize(
    ("kind", "columns"),
    [("Pod", ["Name", "Ready", "Status", "Restarts", "Age"]),
     ("Deployment", ["Name", "Ready", "Up-to-date", "Available", "Age"]),
     ("ReplicaSet", ["Name", "Desired", "Current", "Ready", "Age"]),
     ("StatefulSet", ["Name", "Ready", "Age"]),
     ("DaemonSet", ["Name", "Desired", "Current", "Ready", "Up-to-date", "Available",
                    "Node Selector", "Age"]),
     ("Job", ["Name", "Status", "Completions", "Duration", "Age"]),
     ("Service", ["Name", "Type", "Cluster-IP", "External-IP", "Port(s)", "Age"]),
     ("Node", ["Name", "Status", "Roles", "Age", "Version"]),
     ("Namespace", ["Name", "Status", "Age"]),
     ("ConfigMap", ["Name", "Data", "Age"]),
     ("Secret", ["Name", "Type", "Data", "Age"]),
     ("Ingress", ["Name", "Class", "Hosts", "Address", "Ports", "Age"]),
     ("Event", ["Last Seen", "Type", "Reason", "Object", "Message"]),
     ("Role", ["Name", "Created At"])],
)
def test_columns(kind: str, columns: list[str]) -> None:
    assert _names(kind) == columns


def test_pod_wide_columns() -> None:
    assert _names("Pod", wide=True)[5:] == ["IP", "Node", "Nominated Node", "Readiness Gates"]
    name = printer_columns("Pod")[0]
    assert name["format"] == "name" and name["type"] == "string"


def pod(status: dict[str, Any], *, containers: int = 1, **meta: Any) -> dict[str, Any]:
    return {"metadata": {"name": "p", "namespace": "default", "creationTimestamp": ts(300),
                         **meta},
            "spec": {"containers": [{"name": f"c{i}"} for i in range(containers)],
                     "initContainers": [{"name": "i0"}], "nodeName": "n1"},
            "status": status}


def running(ready: bool = True, restarts: int = 0) -> dict[str, Any]:
    return {"ready": ready, "restartCount": restarts,
            "state": {"running": {"startedAt": ts(100)}}}


def waiting(reason: str, restarts: int = 0) -> dict[str, Any]:
    return {"ready": False, "restartCount": restarts, "state": {"waiting": {"reason": reason}}}


def terminated(reason: str = "", code: int = 0) -> dict[str, Any]:
    return {"ready": False, "restartCount": 0,
            "state": {"terminated": {"reason": reason, "exitCode": code}}}


DONE_INIT = {"initContainerStatuses": [terminated("Completed")]}

POD_CASES: list[tuple[dict[str, Any], dict[str, Any], str, str, str]] = [
    (pod({"phase": "Pending"}), {}, "0/1", "Pending", "0"),
    (pod({"phase": "Pending", **DONE_INIT,
          "containerStatuses": [waiting("ContainerCreating")]}), {}, "0/1",
     "ContainerCreating", "0"),
    (pod({"phase": "Running", **DONE_INIT, "podIP": "10.1.0.5",
          "containerStatuses": [running()]}), {}, "1/1", "Running", "0"),
    (pod({"phase": "Running", **DONE_INIT,
          "containerStatuses": [waiting("CrashLoopBackOff", 4)]}), {}, "0/1",
     "CrashLoopBackOff", "4"),
    (pod({"phase": "Succeeded", **DONE_INIT,
          "containerStatuses": [terminated("Completed")]}), {}, "0/1", "Completed", "0"),
    (pod({"phase": "Failed", **DONE_INIT, "containerStatuses": [terminated("", 3)]}), {},
     "0/1", "ExitCode:3", "0"),
    (pod({"phase": "Pending", "initContainerStatuses": [waiting("PodInitializing")]}), {},
     "0/1", "Init:0/1", "0"),
    (pod({"phase": "Pending", "initContainerStatuses": [terminated("Error", 1)]}), {},
     "0/1", "Init:Error", "0"),
    (pod({"phase": "Pending", "initContainerStatuses": [waiting("ImagePullBackOff")]}), {},
     "0/1", "Init:ImagePullBackOff", "0"),
    (pod({"phase": "Running", **DONE_INIT, "containerStatuses": [running(), running(False)]},
         containers=2), {}, "1/2", "Running", "0"),
    (pod({"phase": "Running", **DONE_INIT, "containerStatuses": [running()]},
         deletionTimestamp=ts(1)), {}, "1/1", "Terminating", "0"),
    (pod({"phase": "Failed", "reason": "Evicted"}), {}, "0/1", "Evicted", "0"),
]


@pytest.mark.parametrize(("obj", "_extra", "ready", "status", "restarts"), POD_CASES)
def test_pod_rows(obj: dict[str, Any], _extra: dict[str, Any], ready: str, status: str,
                  restarts: str) -> None:
    table = to_table("Pod", [obj], now=NOW)
    cells = table["rows"][0]["cells"]
    assert cells[:5] == ["p", ready, status, restarts, "5m"]
    assert len(cells) == len(table["columnDefinitions"])


def test_pod_restarts_show_last_restart_age() -> None:
    status = {"phase": "Running", **DONE_INIT, "containerStatuses": [
        {**running(restarts=2), "lastState": {"terminated": {"finishedAt": ts(130)}}}]}
    cells = to_table("Pod", [pod(status)], now=NOW)["rows"][0]["cells"]
    assert cells[3] == "2 (2m10s ago)"
    assert cells[6] == "n1"
    assert cells[5] == "<none>"


def test_row_objects_and_metadata() -> None:
    obj = pod({"phase": "Pending"})
    table = to_table("Pod", [obj], now=NOW, resource_version="42", continue_token="abc")
    assert table["kind"] == "Table" and table["apiVersion"] == "meta.k8s.io/v1"
    assert table["metadata"] == {"resourceVersion": "42", "continue": "abc"}
    row_obj = table["rows"][0]["object"]
    assert row_obj == {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                       "metadata": obj["metadata"]}
    assert to_table("Pod", [obj], include_object="Object", now=NOW)["rows"][0]["object"] is obj
    assert "object" not in to_table("Pod", [obj], include_object="None", now=NOW)["rows"][0]
    assert to_table("Pod", [obj], now=NOW, include_columns=False)["columnDefinitions"] == []


def _row(kind: str, obj: dict[str, Any]) -> list[Any]:
    obj.setdefault("metadata", {}).setdefault("name", "x")
    obj["metadata"].setdefault("creationTimestamp", ts(7200))
    table = to_table(kind, [obj], now=NOW)
    cells: list[Any] = table["rows"][0]["cells"]
    assert len(cells) == len(table["columnDefinitions"])
    return cells


ROW_CASES: list[tuple[str, dict[str, Any], list[Any]]] = [
    ("Deployment", {"spec": {"replicas": 3, "selector": {"matchLabels": {"app": "d"}},
                             "template": {"spec": {"containers": [{"name": "c",
                                                                   "image": "nginx"}]}}},
                    "status": {"readyReplicas": 2, "updatedReplicas": 3,
                               "availableReplicas": 2}},
     ["x", "2/3", 3, 2, "120m", "c", "nginx", "app=d"]),
    ("ReplicaSet", {"spec": {"replicas": 2}, "status": {"replicas": 2, "readyReplicas": 1}},
     ["x", 2, 2, 1, "120m", "", "", "<none>"]),
    ("StatefulSet", {"spec": {"replicas": 3}, "status": {"readyReplicas": 3}},
     ["x", "3/3", "120m", "", ""]),
    ("Job", {"spec": {"completions": 3}, "status": {
        "succeeded": 3, "startTime": ts(7000), "completionTime": ts(6940),
        "conditions": [{"type": "Complete", "status": "True"}]}},
     ["x", "Complete", "3/3", "60s", "120m", "", "", "<none>"]),
    ("Job", {"spec": {"parallelism": 2}, "status": {"startTime": ts(30)}},
     ["x", "Running", "0/1 of 2", "30s", "120m", "", "", "<none>"]),
    ("Service", {"spec": {"type": "NodePort", "clusterIP": "10.96.0.10", "selector": {"a": "b"},
                          "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"},
                                    {"port": 53, "protocol": "UDP"}]}},
     ["x", "NodePort", "10.96.0.10", "<none>", "80:30080/TCP,53/UDP", "120m", "a=b"]),
    ("Service", {"spec": {"type": "LoadBalancer", "clusterIP": "10.0.0.1", "ports": []}},
     ["x", "LoadBalancer", "10.0.0.1", "<pending>", "<none>", "120m", "<none>"]),
    ("Endpoints", {"subsets": [{"addresses": [{"ip": f"10.0.0.{i}"} for i in range(5)],
                                "ports": [{"port": 80}]}]},
     ["x", "10.0.0.0:80,10.0.0.1:80,10.0.0.2:80 + 2 more...", "120m"]),
    ("Node", {"metadata": {"labels": {"node-role.kubernetes.io/control-plane": ""}},
              "spec": {"unschedulable": True},
              "status": {"conditions": [{"type": "Ready", "status": "True"}],
                         "nodeInfo": {"kubeletVersion": "v1.32.0"},
                         "addresses": [{"type": "InternalIP", "address": "10.0.0.9"}]}},
     ["x", "Ready,SchedulingDisabled", "control-plane", "120m", "v1.32.0", "10.0.0.9",
      "<none>", "<unknown>", "<unknown>", "<unknown>"]),
    ("Namespace", {"status": {"phase": "Active"}}, ["x", "Active", "120m"]),
    ("ConfigMap", {"data": {"a": "1", "b": "2"}, "binaryData": {"c": ""}}, ["x", 3, "120m"]),
    ("Secret", {"type": "Opaque", "data": {"a": ""}}, ["x", "Opaque", 1, "120m"]),
    ("Ingress", {"spec": {"ingressClassName": "nginx", "rules": [{"host": "a.example"}],
                          "tls": [{}]}},
     ["x", "nginx", "a.example", "", "80, 443", "120m"]),
    ("Event", {"metadata": {"name": "e1"}, "type": "Warning", "reason": "BackOff",
               "lastTimestamp": ts(60), "firstTimestamp": ts(600), "count": 5,
               "message": "Back-off restarting ", "source": {"component": "kubelet"},
               "involvedObject": {"kind": "Pod", "name": "p1"}},
     ["60s", "Warning", "BackOff", "pod/p1", "", "kubelet", "Back-off restarting", "10m", 5,
      "e1"]),
    ("PersistentVolumeClaim", {"spec": {"volumeName": "pv1", "storageClassName": "local"},
                               "status": {"phase": "Bound", "capacity": {"storage": "1Gi"},
                                          "accessModes": ["ReadWriteOnce"]}},
     ["x", "Bound", "pv1", "1Gi", "RWO", "local", "<none>", "120m", "<unset>"]),
    ("Lease", {"spec": {"holderIdentity": "n1"}}, ["x", "n1", "120m"]),
    ("RoleBinding", {"roleRef": {"kind": "ClusterRole", "name": "admin"},
                     "subjects": [{"kind": "User", "name": "u"},
                                  {"kind": "ServiceAccount", "name": "sa", "namespace": "ns"}]},
     ["x", "ClusterRole/admin", "120m", "u", "", "ns/sa"]),
    ("ClusterRole", {}, ["x", ts(7200)]),
]


@pytest.mark.parametrize(("kind", "obj", "cells"), ROW_CASES)
def test_rows(kind: str, obj: dict[str, Any], cells: list[Any]) -> None:
    assert _row(kind, obj) == cells


@pytest.mark.parametrize("kind", [k.kind for k in KINDS])
def test_every_kind_renders_a_sparse_object(kind: str) -> None:
    table = to_table(kind, [{"metadata": {"name": "n"}}], now=NOW)
    assert len(table["rows"][0]["cells"]) == len(table["columnDefinitions"])
    names = [c for c in table["columnDefinitions"] if c["format"] == "name"]
    assert len(names) == 1


def test_pod_with_a_running_sidecar() -> None:
    obj = pod({"phase": "Running",
               "initContainerStatuses": [{**running(), "name": "i0", "started": True,
                                          "restartCount": 2}],
               "containerStatuses": [running(restarts=1)],
               "conditions": [{"type": "Initialized", "status": "True"}]})
    obj["spec"]["initContainers"] = [{"name": "i0", "restartPolicy": "Always"}]
    cells = to_table("Pod", [obj], now=NOW)["rows"][0]["cells"]
    assert cells[1:4] == ["2/2", "Running", "3"]


def test_pod_scheduling_gated_and_terminal_deletion() -> None:
    gated = pod({"phase": "Pending", "conditions": [
        {"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]})
    assert to_table("Pod", [gated], now=NOW)["rows"][0]["cells"][2] == "SchedulingGated"
    done = pod({"phase": "Succeeded", **DONE_INIT,
                "containerStatuses": [terminated("Completed")]}, deletionTimestamp=ts(1))
    assert to_table("Pod", [done], now=NOW)["rows"][0]["cells"][2] == "Completed"
    lost = pod({"phase": "Running", "reason": "NodeLost"}, deletionTimestamp=ts(1))
    assert to_table("Pod", [lost], now=NOW)["rows"][0]["cells"][2] == "Unknown"
