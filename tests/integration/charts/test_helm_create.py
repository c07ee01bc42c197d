"""``helm create``'s chart with every toggle on (ingress, autoscaling, service account) through
a real Helm 3 against an in-process control plane: install, upgrade, rollback, uninstall, and
the namespace deleted afterwards. Hollow nodes run the pods, so ``--wait`` is meaningful for
everything but the containers' images (the lab e2e covers those)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fixtures.helm import Helm
from tests.integration.controllers.cluster import ControlPlane, wait_for

pytestmark = pytest.mark.integration
TOGGLES = ["--set", "ingress.enabled=true", "--set", "autoscaling.enabled=true",
           "--set", "serviceAccount.create=true", "--set", "autoscaling.minReplicas=2"]


def namespace_gone(cp: ControlPlane, ns: str) -> bool:
    r = cp.server.kubectl("get", "namespace", ns)
    return r.returncode != 0 and "NotFound" in r.stderr


def test_helm_create_chart_lifecycle(cp: ControlPlane, helm: Helm, tmp_path: Path) -> None:
    helm.ok("create", str(tmp_path / "web"))
    chart, ns = str(tmp_path / "web"), "web"
    helm.ok("install", "web", chart, "-n", ns, "--create-namespace", *TOGGLES,
            "--wait", "--timeout=120s")
    kinds = {o["kind"] for o in json.loads(
        cp.kubectl("get", "deploy,svc,sa,ingress,hpa", "-n", ns, "-o", "json"))["items"]}
    assert kinds == {"Deployment", "Service", "ServiceAccount", "Ingress",
                     "HorizontalPodAutoscaler"}
    helm.ok("upgrade", "web", chart, "-n", ns, *TOGGLES, "--set", "image.tag=1.27",
            "--wait", "--timeout=120s")
    image = cp.kubectl("get", "deploy", "web", "-n", ns, "-o",
                       "jsonpath={.spec.template.spec.containers[0].image}")
    assert image == "nginx:1.27"
    helm.ok("rollback", "web", "1", "-n", ns, "--wait", "--timeout=120s")
    history = json.loads(helm.ok("history", "web", "-n", ns, "-o", "json"))
    assert [h["status"] for h in history] == ["superseded", "superseded", "deployed"]
    assert not cp.kubectl("get", "deploy", "web", "-n", ns, "-o",
                          "jsonpath={.spec.template.spec.containers[0].image}").endswith(":1.27")
    helm.ok("uninstall", "web", "-n", ns, "--wait", "--timeout=120s")
    left = json.loads(cp.kubectl("get", "deploy,svc,sa,ingress,hpa,secrets", "-n", ns,
                                 "-o", "json"))["items"]
    assert [o["metadata"]["name"] for o in left] == ["default"]  # only the namespace's own SA
    cp.kubectl("delete", "namespace", ns, "--wait=false")
    wait_for(f"namespace {ns} gone", lambda: namespace_gone(cp, ns), cp=cp)
