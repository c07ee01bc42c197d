"""Widely used community charts, vendored pinned under tests/charts/community (see its README),
through a real Helm 3 against an in-process control plane, with default values and with their
production toggles (network policies, PDBs, autoscaling, persistence, replication, backups):
install, upgrade, rollback, uninstall, then the namespace deleted and gone.

No ``--wait``: the charts' images are not available offline, and what is under test is that
every object the charts render is accepted, patched and deleted as Kubernetes does."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fixtures.helm import Helm
from tests.integration.controllers.cluster import ControlPlane, wait_for

pytestmark = pytest.mark.integration
VENDORED = Path(__file__).resolve().parents[2] / "charts" / "community"
BITNAMI = ("postgresql", "redis", "nginx")


@dataclass(frozen=True)
class Case:
    chart: str
    values: tuple[str, ...]
    change: str  # a --set for the upgrade that lands in the rendered objects

    @property
    def id(self) -> str:
        return f"{self.chart}-{'production' if self.values else 'defaults'}"


PRODUCTION = {  # helm arguments: the charts' schemas want some values as strings

    "postgresql": ("--set=architecture=replication", "--set=readReplicas.replicaCount=2",
                   "--set=backup.enabled=true", "--set=primary.networkPolicy.allowExternal=false"),
    "redis": ("--set=replica.autoscaling.enabled=true",
              "--set-string=replica.autoscaling.targetCPU=60",
              "--set=networkPolicy.allowExternal=false", "--set=sentinel.enabled=true"),
    "nginx": ("--set=autoscaling.enabled=true", "--set=autoscaling.minReplicas=2",
              "--set=autoscaling.maxReplicas=4", "--set=autoscaling.targetCPU=60",
              "--set=ingress.enabled=true", "--set=networkPolicy.allowExternal=false"),
    "prometheus-node-exporter": ("--set=networkPolicy.enabled=true",),
    "kube-state-metrics": ("--set=networkPolicy.enabled=true", "--set=replicas=2",
                           "--set=podDisruptionBudget.minAvailable=1"),
}
# kinds the production toggles add and that must have been accepted
PRODUCTION_KINDS = {
    "postgresql": {"StatefulSet", "NetworkPolicy", "PodDisruptionBudget", "CronJob"},
    "redis": {"StatefulSet", "NetworkPolicy", "PodDisruptionBudget", "HorizontalPodAutoscaler"},
    "nginx": {"Deployment", "NetworkPolicy", "PodDisruptionBudget", "HorizontalPodAutoscaler",
              "Ingress"},
    "prometheus-node-exporter": {"DaemonSet", "NetworkPolicy"},
    "kube-state-metrics": {"Deployment", "NetworkPolicy", "PodDisruptionBudget",
                           "ClusterRole", "ClusterRoleBinding"},
}
CHANGE = {"postgresql": "commonLabels.tier=db", "redis": "commonLabels.tier=cache",
          "nginx": "commonLabels.tier=web", "prometheus-node-exporter": "podLabels.tier=metrics",
          "kube-state-metrics": "customLabels.tier=metrics"}
CASES = [Case(chart, values, CHANGE[chart])
         for chart, production in PRODUCTION.items() for values in ((), production)]


def assemble(chart: str, into: Path) -> Path:
    """A copy of the vendored chart with Bitnami's shared library chart in ``charts/``, as
    ``helm dependency build`` would leave it (the tests run offline)."""
    dest = into / chart
    shutil.copytree(VENDORED / chart, dest)
    if chart in BITNAMI:
        shutil.copytree(VENDORED / "common", dest / "charts" / "common")
    return dest


def namespace_gone(cp: ControlPlane, ns: str) -> bool:
    r = cp.server.kubectl("get", "namespace", ns)
    return r.returncode != 0 and "NotFound" in r.stderr


def release_objects(helm: Helm, ns: str) -> list[str]:
    manifest = helm.ok("get", "manifest", "rel", "-n", ns)
    return sorted(line.split(":", 1)[1].strip() for line in manifest.splitlines()
                  if line.startswith("kind:"))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_chart_lifecycle(cp: ControlPlane, helm: Helm, tmp_path: Path, case: Case) -> None:
    chart, ns = str(assemble(case.chart, tmp_path)), case.id
    helm.ok("install", "rel", chart, "-n", ns, "--create-namespace", *case.values)
    kinds = set(release_objects(helm, ns))
    assert not case.values or PRODUCTION_KINDS[case.chart] <= kinds, kinds
    helm.ok("upgrade", "rel", chart, "-n", ns, *case.values, "--set", case.change)
    key, value = case.change.split("=")[0].split(".")[-1], case.change.split("=")[1]
    labelled = json.loads(cp.kubectl("get", "all", "-n", ns, "-o", "json",
                                     "-l", f"{key}={value}"))["items"]
    assert labelled or "podLabels" in case.change
    helm.ok("rollback", "rel", "1", "-n", ns)
    history = json.loads(helm.ok("history", "rel", "-n", ns, "-o", "json"))
    assert [h["status"] for h in history] == ["superseded", "superseded", "deployed"]
    helm.ok("uninstall", "rel", "-n", ns)
    cp.kubectl("delete", "namespace", ns, "--wait=false")
    wait_for(f"namespace {ns} gone", lambda: namespace_gone(cp, ns), cp=cp)
