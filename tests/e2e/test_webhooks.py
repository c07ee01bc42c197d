"""Admission webhooks on a ``kboot up`` cluster (issue 16): a validating and a mutating webhook
served by a pod of the cluster behind a Service, with a serving certificate from the cluster CA
issued through the CertificateSigningRequest API, deny and mutate ConfigMaps; with the pod
deleted, ``failurePolicy: Ignore`` lets writes through, ``Fail`` refuses them with a clear
message, and kube-system and unselected namespaces stay writable (controllers keep working).

Joins the shared 1 + 1 provisioned lab (test_streams, test_day2, ...). The webhook is
tests/fixtures/webhook_pod_server.py in the python stand-in image (``kboot image build
--standins``), loaded on every node with ``kboot image load``: no registry, no download.
Everything it creates is removed at the end, so later modules on the lab see no webhook.
"""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from subprocess import CompletedProcess

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from kboot.images.standins import build_standins
from kboot.lab import Lab
from tests.e2e.conftest import KUBECTL, Kboot
from tests.fixtures.lab import LabFactory, Shape
from tests.waiting import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.lab]
LABS = (Shape(1, 1, "provisioned"),)

SERVER_NS = "webhook-system"  # where the webhook runs: never selected by its own webhooks
HOOKED = "hooked"  # labelled webhooks=on: the namespace the webhooks select
FREE = "unhooked"
PYTHON = "docker.io/library/python:latest"
SERVER_SCRIPT = Path(__file__).resolve().parents[1] / "fixtures" / "webhook_pod_server.py"
CONFIGS = (("validatingwebhookconfiguration", "e2e-validate"),
           ("mutatingwebhookconfiguration", "e2e-mutate"))


@dataclass(frozen=True)
class Cluster:
    lab: Lab
    kubectl: Callable[..., CompletedProcess[str]]

    def apply(self, *docs: dict[str, object]) -> None:
        self.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(docs))


def serving_certificate(cluster: Cluster, name: str, dns: list[str]) -> tuple[bytes, bytes]:
    """Key and certificate for ``dns`` from the cluster CA, the way a user gets one: a CSR for
    the ``kubernetes.io/kubelet-serving`` signer (subject ``system:node:<name>`` in
    ``system:nodes``, usages server auth only), approved by an admin."""
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([
               x509.NameAttribute(NameOID.COMMON_NAME, f"system:node:{name}"),
               x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:nodes")]))
           .add_extension(x509.SubjectAlternativeName([x509.DNSName(d) for d in dns]),
                          critical=False)
           .sign(key, hashes.SHA256()))
    pem = csr.public_bytes(serialization.Encoding.PEM)
    cluster.apply({"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
                   "metadata": {"name": name},
                   "spec": {"request": base64.b64encode(pem).decode(),
                            "signerName": "kubernetes.io/kubelet-serving",
                            "usages": ["digital signature", "key encipherment",
                                       "server auth"]}})
    cluster.kubectl("certificate", "approve", name)

    def issued() -> str:
        return cluster.kubectl("get", "csr", name, "-o",
                               "jsonpath={.status.certificate}").stdout.strip()

    cert = base64.b64decode(wait_until(f"CSR {name} issued", issued, timeout=120, interval=1))
    key_pem = key.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption())
    return key_pem, cert


def _kubectl(kboot: Kboot, name: str, *args: str, input: str | None = None,
             check: bool = True, timeout: float = 120) -> CompletedProcess[str]:
    cmd = [KUBECTL, "--kubeconfig", str(kboot.kubeconfig(name)), *args]
    proc = subprocess.run(cmd, input=input, env=kboot.env(), capture_output=True, text=True,
                          timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} exited {proc.returncode}\n"
                             f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def server_objects(key: bytes, cert: bytes) -> list[dict[str, object]]:
    labels = {"app": "webhook"}
    return [
        {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
         "metadata": {"name": "webhook-tls", "namespace": SERVER_NS},
         "data": {"tls.crt": base64.b64encode(cert).decode(),
                  "tls.key": base64.b64encode(key).decode()}},
        {"apiVersion": "v1", "kind": "ConfigMap",
         "metadata": {"name": "webhook-server", "namespace": SERVER_NS},
         "data": {"server.py": SERVER_SCRIPT.read_text()}},
        {"apiVersion": "v1", "kind": "Service",
         "metadata": {"name": "webhook", "namespace": SERVER_NS},
         "spec": {"selector": labels, "ports": [{"name": "https", "port": 443,
                                                 "targetPort": 8443}]}},
    ]


def server_pod() -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "webhook", "namespace": SERVER_NS, "labels": {"app": "webhook"}},
            "spec": {"terminationGracePeriodSeconds": 1,
                     "tolerations": [{"operator": "Exists"}],
                     "containers": [{
                         "name": "server", "image": PYTHON, "imagePullPolicy": "IfNotPresent",
                         "command": ["python3", "/app/server.py"],
                         "ports": [{"containerPort": 8443}],
                         "readinessProbe": {"tcpSocket": {"port": 8443},
                                            "periodSeconds": 1},
                         "volumeMounts": [{"name": "tls", "mountPath": "/tls"},
                                          {"name": "app", "mountPath": "/app"}]}],
                     "volumes": [{"name": "tls", "secret": {"secretName": "webhook-tls"}},
                                 {"name": "app", "configMap": {"name": "webhook-server"}}]}}


def configurations(ca_bundle: str) -> list[dict[str, object]]:
    def hook(name: str, path: str, resources: list[str], policy: str) -> dict[str, object]:
        return {"name": name, "sideEffects": "None", "admissionReviewVersions": ["v1"],
                "failurePolicy": policy, "timeoutSeconds": 5,
                "namespaceSelector": {"matchLabels": {"webhooks": "on"}},
                "clientConfig": {"caBundle": ca_bundle, "service": {
                    "namespace": SERVER_NS, "name": "webhook", "path": path}},
                "rules": [{"operations": ["CREATE", "UPDATE"], "apiGroups": [""],
                           "apiVersions": ["v1"], "resources": resources}]}

    group = "admissionregistration.k8s.io/v1"
    return [
        {"apiVersion": group, "kind": "ValidatingWebhookConfiguration",
         "metadata": {"name": "e2e-validate"}, "webhooks": [
             hook("validate.e2e.kboot.test", "/validate", ["configmaps"], "Fail"),
             hook("lenient.e2e.kboot.test", "/validate", ["secrets"], "Ignore")]},
        {"apiVersion": group, "kind": "MutatingWebhookConfiguration",
         "metadata": {"name": "e2e-mutate"}, "webhooks": [
             hook("mutate.e2e.kboot.test", "/mutate", ["configmaps"], "Fail")]},
    ]


@pytest.fixture(scope="module")
def cluster(lab_factory: LabFactory, kboot: Kboot,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    lab = lab_factory(1, 1, image="provisioned")
    # the shared 1 + 1 lab's cluster (converge resets first only if another module left a
    # different cluster there: `up` refuses to switch a live cluster's store)
    kboot.converge(lab)
    c = Cluster(lab, partial(_kubectl, kboot, lab.name))
    images = tmp_path_factory.mktemp("standins")
    python_tar = next(p for p, _ in build_standins(images) if p.name == "python.tar")
    kboot("image", "load", str(python_tar), "-i", str(lab.inventory_path))
    try:
        yield c
    finally:
        for kind, name in CONFIGS:
            c.kubectl("delete", kind, name, "--ignore-not-found", check=False)
        for ns in (SERVER_NS, HOOKED, FREE):
            c.kubectl("delete", "namespace", ns, "--ignore-not-found", "--wait=false",
                      check=False)
        c.kubectl("delete", "csr", "webhook-e2e", "--ignore-not-found", check=False)


@pytest.fixture(scope="module")
def webhooks(cluster: Cluster) -> Cluster:
    """The webhook pod Ready behind its Service, and both configurations in force."""
    cluster.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": SERVER_NS}},
                  {"apiVersion": "v1", "kind": "Namespace",
                   "metadata": {"name": HOOKED, "labels": {"webhooks": "on"}}},
                  {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": FREE}})
    key, cert = serving_certificate(cluster, "webhook-e2e",
                                    [f"webhook.{SERVER_NS}.svc",
                                     f"webhook.{SERVER_NS}.svc.cluster.local"])
    cluster.apply(*server_objects(key, cert), server_pod())
    cluster.kubectl("-n", SERVER_NS, "wait", "--for=condition=Ready", "pod/webhook",
                    "--timeout=180s", timeout=200)
    ca = cluster.kubectl("-n", SERVER_NS, "get", "configmap", "kube-root-ca.crt", "-o",
                         "jsonpath={.data.ca\\.crt}").stdout
    cluster.apply(*configurations(base64.b64encode(ca.encode()).decode()))

    def mutated() -> bool:  # in force once a dry-run ConfigMap comes back labelled
        out = cluster.kubectl("-n", HOOKED, "create", "configmap", "probe", "--dry-run=server",
                              "-o", "json", check=False)
        return out.returncode == 0 and \
            json.loads(out.stdout)["metadata"].get("labels", {}).get("mutated") == "yes"

    wait_until("the webhooks in force", mutated, timeout=60, interval=1)
    return cluster


def test_webhooks_in_pods_deny_and_mutate(webhooks: Cluster) -> None:
    c = webhooks
    created = c.kubectl("-n", HOOKED, "create", "configmap", "bad", "--from-literal=a=b")
    cm = json.loads(c.kubectl("-n", HOOKED, "get", "configmap", "bad", "-o", "json").stdout)
    assert cm["metadata"]["labels"] == {"mutated": "yes"}  # not labelled deny: allowed, mutated
    assert "Warning: labelled mutated=yes by the e2e webhook" in created.stderr
    refused = c.kubectl("-n", HOOKED, "label", "configmap", "bad", "deny=yes", check=False)
    assert refused.returncode != 0
    assert ('admission webhook "validate.e2e.kboot.test" denied the request: objects '
            'labelled deny=yes are refused') in refused.stderr
    # outside the selected namespace nothing is sent
    c.kubectl("-n", FREE, "create", "configmap", "plain")
    plain = json.loads(c.kubectl("-n", FREE, "get", "configmap", "plain", "-o", "json").stdout)
    assert "mutated" not in (plain["metadata"].get("labels") or {})


def test_with_the_webhook_pod_gone_policies_decide(webhooks: Cluster) -> None:
    c = webhooks
    c.kubectl("-n", SERVER_NS, "delete", "pod", "webhook", "--wait=true", timeout=120)

    def no_endpoints() -> bool:
        ep = json.loads(c.kubectl("-n", SERVER_NS, "get", "endpoints", "webhook", "-o",
                                  "json").stdout)
        return not any(s.get("addresses") for s in ep.get("subsets") or [])

    wait_until("the webhook Service without endpoints", no_endpoints, timeout=60, interval=1)
    refused = c.kubectl("-n", HOOKED, "create", "configmap", "while-down", check=False)
    assert refused.returncode != 0
    assert ('Internal error occurred: failed calling webhook "mutate.e2e.kboot.test": failed '
            f'to call webhook: service "{SERVER_NS}/webhook:443": service has no ready '
            'endpoints') in refused.stderr, refused.stderr
    # failurePolicy Ignore: Secrets are still written
    c.kubectl("-n", HOOKED, "create", "secret", "generic", "while-down", "--from-literal=a=b")
    # kube-system and unselected namespaces stay writable; controllers keep working
    c.kubectl("-n", "kube-system", "create", "configmap", "webhook-e2e-while-down")
    c.kubectl("-n", "kube-system", "delete", "configmap", "webhook-e2e-while-down")
    c.kubectl("-n", FREE, "create", "deployment", "web", f"--image={PYTHON}", "--",
              "python3", "-c", "import time; time.sleep(3600)")
    c.kubectl("-n", FREE, "patch", "deployment", "web", "--type=json", "-p", json.dumps(
        [{"op": "add", "path": "/spec/template/spec/containers/0/imagePullPolicy",
          "value": "IfNotPresent"}]))
    c.kubectl("-n", FREE, "rollout", "status", "deployment/web", "--timeout=180s",
              timeout=200)
