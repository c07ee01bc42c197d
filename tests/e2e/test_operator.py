"""An operator written on the official Kubernetes Python client's watch loop runs as a pod of a
``kboot up`` cluster (the shared 1+1 provisioned lab): it watches its custom resources
(``WebApp``, a CRD applied with kubectl) and creates Deployments owned by them; deleting a
WebApp garbage-collects its Deployment. The operator image is built locally (busybox, the
host's Python, the client and its requirements from the test virtualenv) and pushed to the
cluster registry — no download."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from kboot.lab import Lab
from tests.e2e.conftest import Kboot
from tests.e2e.operator.image import IMAGE, build_operator_image
from tests.e2e.operator.webapp import WEBAPP_CRD, webapp
from tests.fixtures.lab import LabFactory, Shape
from tests.waiting import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.lab]
LABS = (Shape(1, 1, "provisioned"),)

RBAC: list[dict[str, Any]] = [
    {"apiVersion": "v1", "kind": "ServiceAccount",
     "metadata": {"name": "webapp-operator", "namespace": "default"}},
    {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
     "metadata": {"name": "webapp-operator"},
     "rules": [{"apiGroups": ["apps.kboot.dev"], "resources": ["webapps"],
                "verbs": ["get", "list", "watch"]},
               {"apiGroups": ["apps.kboot.dev"], "resources": ["webapps/status"],
                "verbs": ["get", "patch", "update"]},
               {"apiGroups": ["apps"], "resources": ["deployments"],
                "verbs": ["get", "create", "patch"]}]},
    {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
     "metadata": {"name": "webapp-operator"},
     "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                 "name": "webapp-operator"},
     "subjects": [{"kind": "ServiceAccount", "name": "webapp-operator",
                   "namespace": "default"}]},
]
OPERATOR: dict[str, Any] = {
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "webapp-operator", "namespace": "default"},
    "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "webapp-operator"}},
             "template": {"metadata": {"labels": {"app": "webapp-operator"}}, "spec": {
                 "serviceAccountName": "webapp-operator", "terminationGracePeriodSeconds": 1,
                 "tolerations": [{"operator": "Exists"}],
                 "containers": [{"name": "operator", "image": IMAGE,
                                 "imagePullPolicy": "Always"}]}}},
}


@pytest.fixture(scope="module")
def cluster(lab_factory: LabFactory, kboot: Kboot) -> Lab:
    lab = lab_factory(1, 1, image="provisioned")
    kboot.up(lab.inventory_path)
    return lab


def _in_cluster_credentials(kboot: Kboot, lab: Lab) -> dict[str, Any]:
    """What a kubelet projects into ``/var/run/secrets/kubernetes.io/serviceaccount`` (a
    TokenRequest token, the cluster CA, the namespace), as a Secret: kboot's kubelet does not
    project ServiceAccount tokens yet."""
    token = kboot.kubectl(lab.name, "create", "token", "webapp-operator",
                          "--duration=2h").stdout.strip()
    config = yaml.safe_load(kboot.kubeconfig(lab.name).read_text())
    ca = config["clusters"][0]["cluster"]["certificate-authority-data"]
    return {"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "webapp-operator-token", "namespace": "default"},
            "data": {"token": base64.b64encode(token.encode()).decode(), "ca.crt": ca,
                     "namespace": base64.b64encode(b"default").decode()}}


def _operator(kboot: Kboot, lab: Lab) -> dict[str, Any]:
    """The operator's Deployment, told where the API is (kboot's kubelet sets no service
    environment variables yet) and given the credentials Secret at the in-cluster path."""
    api_ip = kboot.kubectl(lab.name, "get", "service", "kubernetes", "-o",
                           "jsonpath={.spec.clusterIP}").stdout.strip()
    operator = copy.deepcopy(OPERATOR)
    pod = operator["spec"]["template"]["spec"]
    pod["automountServiceAccountToken"] = False
    pod["volumes"] = [{"name": "sa", "secret": {"secretName": "webapp-operator-token"}}]
    pod["containers"][0]["env"] = [{"name": "KUBERNETES_SERVICE_HOST", "value": api_ip},
                                   {"name": "KUBERNETES_SERVICE_PORT", "value": "443"}]
    pod["containers"][0]["volumeMounts"] = [
        {"name": "sa", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
         "readOnly": True}]
    return operator


def _apply(kboot: Kboot, lab: Lab, tmp: Path, name: str, *objects: Any) -> None:
    path = tmp / f"{name}.json"
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": list(objects)}))
    kboot.kubectl(lab.name, "apply", "-f", str(path))


def _get(kboot: Kboot, lab: Lab, *args: str) -> Any:
    proc = kboot.kubectl(lab.name, "get", *args, "-o", "json", check=False)
    return json.loads(proc.stdout) if proc.returncode == 0 else None


def _operator_log(kboot: Kboot, lab: Lab) -> str:
    return kboot.kubectl(lab.name, "logs", "deployment/webapp-operator", "--tail=50",
                         check=False).stdout


def test_a_python_client_operator_owns_deployments_of_its_custom_resources(
        kboot: Kboot, cluster: Lab, tmp_path: Path) -> None:
    lab = cluster
    build_operator_image(tmp_path / "operator.tar")
    kboot("image", "push", str(tmp_path / "operator.tar"), "-i", str(lab.inventory_path))
    _apply(kboot, lab, tmp_path, "crd", WEBAPP_CRD)
    kboot.kubectl(lab.name, "wait", "--for=condition=Established",
                  "crd/webapps.apps.kboot.dev", "--timeout=60s")
    _apply(kboot, lab, tmp_path, "rbac", *RBAC)
    _apply(kboot, lab, tmp_path, "operator", _in_cluster_credentials(kboot, lab),
           _operator(kboot, lab))
    kboot.kubectl(lab.name, "rollout", "status", "deployment/webapp-operator",
                  "--timeout=300s", timeout=330)

    _apply(kboot, lab, tmp_path, "shop", webapp("shop", IMAGE, 2))
    deployment = wait_until("the operator creates the WebApp's Deployment",
                            lambda: _get(kboot, lab, "deployment", "shop-web"), timeout=120,
                            interval=2, diagnose=lambda: _operator_log(kboot, lab))
    shop = _get(kboot, lab, "webapp", "shop")
    owner = deployment["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["uid"]) == (
        "WebApp", "shop", shop["metadata"]["uid"])
    assert deployment["spec"]["replicas"] == 2
    kboot.kubectl(lab.name, "rollout", "status", "deployment/shop-web", "--timeout=300s",
                  timeout=330)  # the owned Deployment's pods run (the operator's image)
    wait_until("the WebApp's status names its Deployment (printer column)",
               lambda: "shop-web" in kboot.kubectl(lab.name, "get", "wa", "shop").stdout,
               timeout=60, interval=2)

    kboot.kubectl(lab.name, "delete", "webapp", "shop")
    wait_until("the garbage collector deletes the owned Deployment",
               lambda: _get(kboot, lab, "deployment", "shop-web") is None, timeout=120,
               interval=2)
    log = _operator_log(kboot, lab)
    assert "created deployment default/shop-web" in log and "Traceback" not in log, log

    for kind, name in (("deployment", "webapp-operator"), ("clusterrolebinding",
                       "webapp-operator"), ("clusterrole", "webapp-operator"),
                       ("serviceaccount", "webapp-operator"),
                       ("secret", "webapp-operator-token"),
                       ("crd", "webapps.apps.kboot.dev")):
        kboot.kubectl(lab.name, "delete", kind, name, "--ignore-not-found")
