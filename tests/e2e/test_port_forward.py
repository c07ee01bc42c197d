"""Port-forward on a ``kboot up`` cluster (issue 18's acceptance, port-forward part), on a small
lab (1 control plane + 1 worker), from the workstation with the real kubectl 1.32:

- ``kubectl port-forward`` to busybox ``httpd`` answers 100 sequential and 20 concurrent
  requests, through ``pod/``, ``svc/`` and ``deploy/``, in both tunnel modes (WebSocket, and
  SPDY forced with ``KUBECTL_PORT_FORWARD_WEBSOCKETS=false``);
- the official Python client's ``portforward``: the logic of kubernetes-client/python's e2e
  ``test_portforward_raw`` and ``test_portforward_http`` (python_portforward.py; busybox
  ``nc -ll -e cat`` stands in for its ``python`` image's port_server.py, busybox ``httpd`` for
  its ``nginx``);
- a closed port, a pod that is not Running and a user without the verb: clear kubectl errors,
  and the cluster keeps serving.
"""

from __future__ import annotations

import json
import socket
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from kboot.lab import Lab
from tests.e2e.conftest import KUBECTL, Kboot
from tests.fixtures.lab import LabFactory, Shape
from tests.integration.apiserver.portforward_kubelet import MODES, http_get, kubectl_forward
from tests.integration.apiserver.python_portforward import check_http, check_raw

pytestmark = [pytest.mark.e2e, pytest.mark.lab,
              pytest.mark.timeout(1800)]  # its setup runs kboot up (slow on a busy machine)
LABS = (Shape(1, 1, "provisioned"),)

APPS = """
apiVersion: v1
kind: Namespace
metadata: {name: pf}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: pf}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - name: web
          image: kboot.io/busybox:1.35
          command:
            - sh
            - -c
            - mkdir -p /w && echo -n hello > /w/index.html && exec httpd -f -p 8080 -h /w
          ports: [{containerPort: 8080}]
          readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 2}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: pf}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Pod
metadata: {name: echo, namespace: pf}
spec:
  containers:
    - name: echo
      image: kboot.io/busybox:1.35
      command: [sh, -c, "nc -ll -p 1234 -e cat & nc -ll -p 1235 -e cat & wait"]
      readinessProbe: {tcpSocket: {port: 1235}, periodSeconds: 1}
---
apiVersion: v1
kind: Pod
metadata: {name: done, namespace: pf}
spec:
  restartPolicy: Never
  containers: [{name: c, image: kboot.io/busybox:1.35, command: [echo, done]}]
"""


@dataclass(frozen=True)
class PfCluster:
    kboot: Kboot
    name: str
    server: Any  # a _Server: the admin kubeconfig and a work dir, all kubectl_forward uses

    def kubectl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.kboot.kubectl(self.name, *args, check=check)


class _Admin:
    def __init__(self, kubeconfig: Path) -> None:
        self.kubeconfig = kubeconfig


class _Server:
    """The little of ApiServer that kubectl_forward uses, for a lab cluster."""

    def __init__(self, kubeconfig: Path, workdir: Path) -> None:
        self.admin, self.workdir = _Admin(kubeconfig), workdir


@pytest.fixture(scope="module")
def cluster(lab_factory: LabFactory, kboot: Kboot,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[PfCluster]:
    lab: Lab = lab_factory(1, 1, image="provisioned")
    # the 1 + 1 lab is shared with others: converge the lab's cluster (reset first only if
    # another module left a different cluster there)
    assert "phase verify" in kboot.converge(lab).stdout
    work = tmp_path_factory.mktemp("pf")
    manifest = work / "apps.yaml"
    manifest.write_text(APPS)
    kboot.kubectl(lab.name, "apply", "-f", str(manifest))
    kboot.kubectl(lab.name, "-n", "pf", "rollout", "status", "deployment/web",
                  "--timeout=300s", timeout=320)
    kboot.kubectl(lab.name, "-n", "pf", "wait", "pod/echo", "--for=condition=Ready",
                  "--timeout=120s", timeout=130)
    server = _Server(kboot.kubeconfig(lab.name), work)
    yield PfCluster(kboot, lab.name, server)
    kboot.kubectl(lab.name, "delete", "namespace", "pf", "--wait=false", check=False)


def _web_pod(c: PfCluster) -> str:
    out = c.kubectl("-n", "pf", "get", "pods", "-l", "app=web", "-o", "json").stdout
    return str(json.loads(out)["items"][0]["metadata"]["name"])


@pytest.mark.parametrize("mode", sorted(MODES))
def test_kubectl_port_forward(cluster: PfCluster, mode: str) -> None:
    pod = _web_pod(cluster)
    with kubectl_forward(cluster.server, "pf", f"pod/{pod}", 8080, mode) as (port, _):
        for _ in range(100):
            assert http_get(port, "/index.html") == (200, b"hello")
        with ThreadPoolExecutor(20) as pool:
            got = list(pool.map(lambda _: http_get(port, "/index.html"), range(20)))
        assert got == [(200, b"hello")] * 20
    for target, remote in (("svc/web", 80), ("deploy/web", 8080)):
        with kubectl_forward(cluster.server, "pf", target, remote, mode) as (port, _):
            for _ in range(100):
                assert http_get(port, "/index.html") == (200, b"hello")
            with ThreadPoolExecutor(20) as pool:
                got = list(pool.map(lambda _: http_get(port, "/index.html"), range(20)))
            assert got == [(200, b"hello")] * 20


def _api(c: PfCluster) -> k8s.CoreV1Api:
    cfg = k8s.Configuration()
    k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
        config_file=str(c.kboot.kubeconfig(c.name)), client_configuration=cfg)
    return k8s.CoreV1Api(k8s.ApiClient(cfg))


def test_python_client_portforward_raw(cluster: PfCluster) -> None:
    check_raw(_api(cluster), "echo", "pf", (1234, 1235), 1236)


def test_python_client_portforward_http(cluster: PfCluster) -> None:
    assert check_http(_api(cluster), _web_pod(cluster), "pf", 8080) == (200, "hello")


def test_bad_input_is_a_clear_error(cluster: PfCluster, tmp_path: Path) -> None:
    pod = _web_pod(cluster)
    with kubectl_forward(cluster.server, "pf", f"pod/{pod}", 9999, "websocket") as (port, proc):
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
            assert sock.recv(100) == b""
        assert proc.wait(60) != 0
        assert proc.stderr is not None
        err = proc.stderr.read()
    assert f"an error occurred forwarding {port} -> 9999" in err and "connection refused" in err
    cluster.kubectl("-n", "pf", "wait", "pod/done", "--for=jsonpath={.status.phase}=Succeeded",
                    "--timeout=120s")
    done = cluster.kubectl("-n", "pf", "port-forward", "pod/done", "0:80", check=False)
    assert done.returncode != 0 and "not running" in done.stderr, done.stderr
    # a user with only get/list on pods: forbidden, with upstream's wording
    token = cluster.kubectl("-n", "pf", "create", "token", "default").stdout.strip()
    cluster.kubectl("-n", "pf", "create", "role", "reader", "--verb=get,list",
                    "--resource=pods")
    cluster.kubectl("-n", "pf", "create", "rolebinding", "reader", "--role=reader",
                    "--serviceaccount=pf:default")
    config = yaml.safe_load(cluster.kboot.kubeconfig(cluster.name).read_text())
    config["users"][0]["user"] = {"token": token}
    limited = tmp_path / "limited.kubeconfig"
    limited.write_text(yaml.safe_dump(config))
    denied = subprocess.run([KUBECTL, "--kubeconfig", str(limited), "-n", "pf", "port-forward",
                             f"pod/{pod}", "0:8080"], capture_output=True, text=True,
                            timeout=60, env=cluster.kboot.env())
    assert denied.returncode != 0
    assert 'cannot create resource "pods/portforward"' in denied.stderr, denied.stderr
    # still serving
    with kubectl_forward(cluster.server, "pf", f"pod/{pod}", 8080, "spdy") as (port, _):
        assert http_get(port, "/index.html") == (200, b"hello")
