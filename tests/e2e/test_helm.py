"""A real Helm 3 on a ``kboot up`` cluster (issue 17): ``helm create``'s chart with every toggle
on (ingress, autoscaling, service account) installs, upgrades, rolls back and uninstalls with
``--wait``, so its pods really run and pass their HTTP probes; the namespace is deleted after.

Images are offline: the chart runs the preloaded ``kboot.io/busybox`` serving HTTP with
``httpd`` in place of nginx (one ``command`` line added to the generated template). Joins the
shared 1+1 provisioned lab with one ``kboot.converge(lab)``; the in-process modules under
tests/integration/charts cover everything that needs no running container.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest

from tests.e2e.conftest import Kboot
from tests.fixtures.helm import Helm, helm_binary
from tests.fixtures.lab import LabFactory, Shape
from tests.waiting import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.lab]
LABS = (Shape(1, 1, "provisioned"),)
NS = "helm-web"
SERVE = 'mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p 80 -h /www'
VALUES = ["--set", "image.repository=kboot.io/busybox", "--set", "image.tag=1.35",
          "--set", "ingress.enabled=true", "--set", "autoscaling.enabled=true",
          "--set", "autoscaling.minReplicas=2", "--set", "serviceAccount.create=true"]
WAIT = ["--wait", "--timeout=300s"]


def stand_in_chart(root: Path, helm: Helm) -> Path:
    """``helm create``'s chart whose container serves HTTP on port 80 from busybox."""
    helm.ok("create", str(root / "web"))
    template = root / "web" / "templates" / "deployment.yaml"
    text = template.read_text()
    anchor = '          image: "{{ .Values.image.repository }}'
    assert anchor in text, "helm create's deployment template changed"
    template.write_text(text.replace(anchor, f"          command: [sh, -c, {SERVE!r}]\n{anchor}"))
    return root / "web"


def test_helm_create_chart_with_wait(lab_factory: LabFactory, kboot: Kboot) -> None:
    binary = helm_binary()
    if binary is None:
        pytest.skip("helm 3 not installed (scripts/kube-tools.sh installs it)")
    lab = lab_factory(1, 1, image="provisioned")
    kboot.converge(lab)
    with tempfile.TemporaryDirectory(prefix="kboot-helm-") as tmp:
        helm = Helm(binary, kboot.kubeconfig(lab.name), Path(tmp))
        chart = str(stand_in_chart(Path(tmp), helm))
        helm.ok("install", "web", chart, "-n", NS, "--create-namespace", *VALUES, *WAIT)
        ready = json.loads(helm.kubectl("get", "deploy", "web", "-n", NS, "-o", "json"))
        assert ready["status"]["readyReplicas"] == 2
        helm.ok("upgrade", "web", chart, "-n", NS, *VALUES, "--set",
                "podAnnotations.rev=two", *WAIT)
        helm.ok("rollback", "web", "1", "-n", NS, *WAIT)
        history = json.loads(helm.ok("history", "web", "-n", NS, "-o", "json"))
        assert [h["status"] for h in history] == ["superseded", "superseded", "deployed"]
        annotations = json.loads(helm.kubectl("get", "deploy", "web", "-n", NS, "-o", "json"))[
            "spec"]["template"]["metadata"].get("annotations") or {}
        assert "rev" not in annotations
        helm.ok("uninstall", "web", "-n", NS, *WAIT)
        helm.kubectl("delete", "namespace", NS, "--wait=false")
        wait_until(f"namespace {NS} gone", lambda: "NotFound" in helm.kubectl_result(
            "get", "namespace", NS).stderr, timeout=180)
