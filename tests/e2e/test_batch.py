"""CronJob and preemption on a ``kboot up`` cluster (issue 17, acceptance), on the shared 1+1
lab: a CronJob every minute runs its Jobs to completion, keeps only its history limit, and
with ``concurrencyPolicy: Forbid`` never runs two at once; a high-priority pod preempts a
low-priority one on a full node (the victim is evicted, the node nominated, the pod runs)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from functools import partial
from subprocess import CompletedProcess
from typing import Any

import pytest

from kboot.controlplane.api.quantities import parse_quantity
from tests.e2e.conftest import Kboot
from tests.e2e.test_streams import _kubectl
from tests.fixtures.lab import LabFactory, Shape

pytestmark = [pytest.mark.e2e, pytest.mark.lab]
LABS = (Shape(1, 1, "provisioned"),)
BB = "kboot.io/busybox:1.35"
NS = "batch"
Kubectl = Callable[..., CompletedProcess[str]]


@pytest.fixture(scope="module")
def kubectl(lab_factory: LabFactory, kboot: Kboot) -> Kubectl:
    lab = lab_factory(1, 1, image="provisioned")
    kboot.up(lab.inventory_path)
    k: Kubectl = partial(_kubectl, kboot, lab.name)
    k("create", "namespace", NS)
    return k


def _json(k: Kubectl, *args: str) -> Any:
    return json.loads(k("-n", NS, *args, "-o", "json").stdout)


def _cronjob(name: str, script: str, **spec: Any) -> str:
    return json.dumps({
        "apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": name, "namespace": NS},
        "spec": {"schedule": "* * * * *", **spec, "jobTemplate": {"spec": {
            "backoffLimit": 0, "template": {"spec": {
                "restartPolicy": "Never", "terminationGracePeriodSeconds": 1,
                "containers": [{"name": "c", "image": BB, "command": ["sh", "-c", script]}]}}}}}})


def _owned_jobs(k: Kubectl, cronjob: str) -> list[Any]:
    return [j for j in _json(k, "get", "jobs")["items"]
            if any(r.get("name") == cronjob for r in j["metadata"].get("ownerReferences") or [])]


def _reasons(k: Kubectl, name: str) -> list[str]:
    events = _json(k, "get", "events", "--field-selector", f"involvedObject.name={name}")
    return [e["reason"] for e in events["items"]]


def test_cronjob_every_minute_history_limit_and_forbid(kubectl: Kubectl) -> None:
    k = kubectl
    k("apply", "-f", "-", input=_cronjob("quick", "echo hello-from-cron",
                                          successfulJobsHistoryLimit=1))
    # each run lasts past the next minute: Forbid skips that minute (the deadline stops the
    # skipped minute from starting late), so runs never overlap
    k("apply", "-f", "-", input=_cronjob("slow", "sleep 70", concurrencyPolicy="Forbid",
                                          startingDeadlineSeconds=15))
    most_active, deadline = 0, time.monotonic() + 330
    while time.monotonic() < deadline:
        slow = _owned_jobs(k, "slow")
        most_active = max(most_active, sum(1 for j in slow if not j["status"].get("conditions")))
        quick = _json(k, "get", "cronjob", "quick")
        created = _reasons(k, "quick").count("SuccessfulCreate")
        if created >= 2 and quick["status"].get("lastSuccessfulTime") and \
                "JobAlreadyActive" in _reasons(k, "slow") and \
                len(_owned_jobs(k, "quick")) == 1 and \
                any(c["type"] == "Complete" for j in _owned_jobs(k, "quick")
                    for c in j["status"].get("conditions") or []):
            break
        time.sleep(5)
    else:
        pytest.fail(f"cronjobs did not converge: quick={_reasons(k, 'quick')} "
                    f"slow={_reasons(k, 'slow')}")
    assert most_active <= 1
    [job] = _owned_jobs(k, "quick")
    assert job["metadata"]["name"].startswith("quick-")
    int(job["metadata"]["name"].removeprefix("quick-"))  # <cronjob>-<scheduled minute>
    assert "hello-from-cron" in k("-n", NS, "logs", f"job/{job['metadata']['name']}").stdout
    assert "SuccessfulDelete" in _reasons(k, "quick")  # the older run went (history limit 1)
    table = k("-n", NS, "get", "cronjob", "slow").stdout.splitlines()
    assert table[0].split()[:5] == ["NAME", "SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE"]
    k("-n", NS, "delete", "cronjob", "quick", "slow", "--wait=false")


def _free_millicores(k: Kubectl, node: str) -> int:
    alloc = _json(k, "get", "node", node)["status"]["allocatable"]["cpu"]
    used = 0.0
    pods = json.loads(k("get", "pods", "-A", "--field-selector", f"spec.nodeName={node}",
                        "-o", "json").stdout)["items"]
    for pod in pods:
        if pod["status"].get("phase") in ("Succeeded", "Failed"):
            continue
        for c in pod["spec"]["containers"]:
            used += float(parse_quantity(((c.get("resources") or {}).get("requests") or {})
                                         .get("cpu", "0")))
    return int((float(parse_quantity(alloc)) - used) * 1000)


def _pod(name: str, node: str, millicores: int, priority_class: str) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "Pod",
                       "metadata": {"name": name, "namespace": NS},
                       "spec": {"priorityClassName": priority_class,
                                "nodeSelector": {"kubernetes.io/hostname": node},
                                "terminationGracePeriodSeconds": 1, "containers": [{
                                    "name": "c", "image": BB, "command": ["sleep", "3600"],
                                    "resources": {"requests": {"cpu": f"{millicores}m"}}}]}})


def test_high_priority_pod_preempts_on_a_full_node(kubectl: Kubectl) -> None:
    k = kubectl
    workers = [n["metadata"]["name"] for n in json.loads(
        k("get", "nodes", "-o", "json").stdout)["items"]
        if "node-role.kubernetes.io/control-plane" not in n["metadata"].get("labels", {})]
    node = workers[0]
    for name, value in (("batch-low", 10), ("batch-high", 1000)):
        k("apply", "-f", "-", input=json.dumps({
            "apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
            "metadata": {"name": name}, "value": value}))
    try:
        size = _free_millicores(k, node) - 50
        assert size > 100, f"node {node} has no room to fill"
        k("apply", "-f", "-", input=_pod("low", node, size, "batch-low"))
        k("-n", NS, "wait", "--for=condition=Ready", "pod/low", "--timeout=120s", timeout=150)
        k("apply", "-f", "-", input=_pod("high", node, size, "batch-high"))
        k("-n", NS, "wait", "--for=condition=Ready", "pod/high", "--timeout=180s", timeout=200)
        high = _json(k, "get", "pod", "high")
        assert high["spec"]["priority"] == 1000 and high["spec"]["nodeName"] == node
        assert high["status"].get("nominatedNodeName") == node
        assert "Preempted" in _reasons(k, "low")
        gone = k("-n", NS, "get", "pod", "low", check=False)
        assert gone.returncode != 0 or '"deletionTimestamp"' in k(
            "-n", NS, "get", "pod", "low", "-o", "json", check=False).stdout
    finally:
        k("-n", NS, "delete", "pod", "low", "high", "--ignore-not-found", "--wait=false")
        k("delete", "priorityclass", "batch-low", "batch-high", "--ignore-not-found")
