"""Metrics and autoscaling on a ``kboot up`` cluster (issues 16 and 17): the metrics server
``kboot up`` starts is registered as an APIService and becomes Available; ``kubectl top nodes``
and ``kubectl top pods -A`` show non-zero CPU and memory read from the kubelets' cgroups; an
HPA scales a CPU-burning Deployment up, and back down once the load is switched off.

Runs on the shared 1+1 provisioned lab (the topology of test_streams).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from functools import partial
from subprocess import CompletedProcess

import pytest

from kboot.lab import Lab
from tests.e2e.conftest import KUBECTL, Kboot
from tests.fixtures.lab import LabFactory, Shape
from tests.waiting import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.lab]
LABS = (Shape(1, 1, "provisioned"),)
BB = "kboot.io/busybox:1.35"
NS = "autoscale"
Kubectl = Callable[..., CompletedProcess[str]]
# holds ~15 MB (a busybox shell alone is a few hundred KiB: `top` would print 0Mi), then burns
# one core while BURN=1 (the limit holds it to 200m) or idles
SCRIPT = ('x=$(seq 1 2000000); if [ "$BURN" = 1 ]; then while :; do :; done; fi; '
          'while :; do sleep 3600; done')


def _kubectl(kboot: Kboot, cluster: str, *args: str, input: str | None = None,
             timeout: float = 180, check: bool = True) -> CompletedProcess[str]:
    cmd = [KUBECTL, "--kubeconfig", str(kboot.kubeconfig(cluster)), *args]
    proc = subprocess.run(cmd, env=kboot.env(), input=input, capture_output=True, text=True,
                          timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} exited {proc.returncode}\n"
                             f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


@pytest.fixture(scope="module")
def lab(lab_factory: LabFactory, kboot: Kboot) -> Lab:
    lab = lab_factory(1, 1, image="provisioned")
    kboot.converge(lab)  # the shared lab's cluster, whatever module ran before
    _kubectl(kboot, lab.name, "create", "namespace", NS)
    return lab


@pytest.fixture(scope="module")
def kubectl(lab: Lab, kboot: Kboot) -> Kubectl:
    return partial(_kubectl, kboot, lab.name)


def _diagnose(lab: Lab, kubectl: Kubectl) -> str:
    """What the metrics path looks like when a wait fails: the API's answer, the kubelets'
    cgroup trees and the metrics server's log lines."""
    out = [kubectl("get", "--raw", "/apis/metrics.k8s.io/v1beta1/pods", check=False).stdout,
           kubectl("get", "pods", "-A", "-o", "wide", check=False).stdout]
    for node in lab.nodes:
        res = lab.exec(node.name, ["sh", "-c", "find /sys/fs/cgroup/memory/kubepods "
                                   "/sys/fs/cgroup/cpuacct/kubepods -maxdepth 2 | head -20; "
                                   "journalctl -u kboot-controller-manager --no-pager | "
                                   "grep -i metric | tail -5"])
        out.append(f"{node.name}: {res.stdout!r} {res.stderr!r}")
    return "\n".join(out)


def _deployment(burn: str) -> str:
    return json.dumps({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "burn", "namespace": NS},
        "spec": {"selector": {"matchLabels": {"app": "burn"}},
                 "template": {"metadata": {"labels": {"app": "burn"}}, "spec": {
                     "terminationGracePeriodSeconds": 1,
                     "containers": [{"name": "burn", "image": BB,
                                     "command": ["sh", "-c", SCRIPT],
                                     "env": [{"name": "BURN", "value": burn}],
                                     "resources": {"requests": {"cpu": "100m"},
                                                   "limits": {"cpu": "200m"}}}]}}}})


HPA = json.dumps({
    "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
    "metadata": {"name": "burn", "namespace": NS},
    "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "burn"},
             "minReplicas": 1, "maxReplicas": 3,
             "metrics": [{"type": "Resource", "resource": {
                 "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}],
             "behavior": {"scaleDown": {"stabilizationWindowSeconds": 10}}}})


def _top_rows(kubectl: Kubectl, *args: str) -> list[list[str]] | None:
    proc = kubectl("top", *args, "--no-headers", check=False)
    if proc.returncode != 0:
        return None
    return [line.split() for line in proc.stdout.splitlines() if line.strip()] or None


def _nonzero(cpu: str, memory: str) -> bool:
    """Measured (not ``<unknown>``) and above zero: ``250m``, ``2``; ``12Mi``."""
    return cpu[:1].isdigit() and cpu not in ("0", "0m") and memory[:1].isdigit() and \
        memory not in ("0", "0Mi", "0Ki")


def _replicas(kubectl: Kubectl) -> int:
    out = kubectl("-n", NS, "get", "deployment", "burn", "-o",
                  "jsonpath={.spec.replicas}").stdout
    return int(out or 0)


def test_metrics_api_and_kubectl_top(lab: Lab, kubectl: Kubectl) -> None:
    wait_until("the metrics APIService to be Available", lambda: "True" in kubectl(
        "get", "apiservice", "v1beta1.metrics.k8s.io", "-o",
        "jsonpath={.status.conditions[?(@.type=='Available')].status}").stdout, timeout=180)
    assert "Local" in kubectl("get", "apiservices", "v1.apps").stdout
    kubectl("apply", "-f", "-", input=_deployment("1"))
    kubectl("-n", NS, "rollout", "status", "deployment/burn", "--timeout=180s", timeout=200)

    nodes = wait_until("kubectl top nodes with every node measured", lambda: (
        rows if (rows := _top_rows(kubectl, "nodes")) and len(rows) == 2
        and all(_nonzero(r[1], r[3]) for r in rows) else None), timeout=180)
    print("kubectl top nodes:", nodes)
    pods = wait_until("kubectl top pods -A showing the burner", lambda: (
        rows if (rows := _top_rows(kubectl, "pods", "-A"))
        and any(r[0] == NS and _nonzero(r[2], r[3]) for r in rows) else None), timeout=180,
        diagnose=lambda: _diagnose(lab, kubectl))
    print("kubectl top pods -A:", pods)
    raw = json.loads(kubectl("get", "--raw", f"/apis/metrics.k8s.io/v1beta1/namespaces/{NS}/"
                             "pods").stdout)
    assert raw["items"][0]["containers"][0]["name"] == "burn"


def test_hpa_scales_up_under_load_and_down_after(kubectl: Kubectl) -> None:
    kubectl("apply", "-f", "-", input=_deployment("1"))
    kubectl("apply", "-f", "-", input=HPA)
    wait_until("the HPA to scale the burner up", lambda: _replicas(kubectl) >= 2, timeout=300,
               diagnose=lambda: kubectl("-n", NS, "describe", "hpa", "burn").stdout)
    listed = kubectl("-n", NS, "get", "hpa", "burn").stdout
    print(listed)
    assert "Deployment/burn" in listed and "cpu: " in listed and "/50%" in listed

    kubectl("apply", "-f", "-", input=_deployment("0"))  # the load goes away (new idle pods)
    wait_until("the HPA to scale back down to 1", lambda: _replicas(kubectl) == 1, timeout=400)
    described = kubectl("-n", NS, "get", "hpa", "burn", "-o", "json").stdout
    reasons = {c["type"]: c["reason"] for c in json.loads(described)["status"]["conditions"]}
    assert reasons["ScalingActive"] == "ValidMetricFound"
    kubectl("delete", "namespace", NS, "--wait=false")
