"""Ingress on a ``kboot up`` cluster (issue 9's acceptance): host and path routing to two
Services from the workstation through any ingress node, TLS from a Secret verified against its
CA, routing changes without failed requests, and a deleted backend failing only its route."""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
import time
from pathlib import Path

import pytest

from kboot import pki
from kboot.lab import Lab
from tests.e2e.conftest import Kboot
from tests.fixtures.lab import Shape

pytestmark = [pytest.mark.e2e, pytest.mark.lab]
LABS = (Shape(3, 2),)

APPS = """
apiVersion: v1
kind: Namespace
metadata: {name: ing}
---
{apps}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web, namespace: ing}
spec:
  tls:
    - hosts: [a.example.test]
      secretName: a-tls
  rules:
    - host: a.example.test
      http:
        paths:
          - {path: /, pathType: Prefix, backend: {service: {name: app-a, port: {number: 80}}}}
    - host: b.example.test
      http:
        paths:
          - {path: /api, pathType: Prefix, backend: {service: {name: app-b, port: {number: 80}}}}
"""

APP = """apiVersion: apps/v1
kind: Deployment
metadata: {{name: app-{x}, namespace: ing}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: app-{x}}}}}
  template:
    metadata: {{labels: {{app: app-{x}}}}}
    spec:
      containers:
        - name: web
          image: kboot.io/busybox:1.35
          command:
            - sh
            - -c
            - >-
              mkdir -p /w/api && echo app-{x} > /w/index.html
              && cp /w/index.html /w/api/index.html && exec httpd -f -p 8080 -h /w
          readinessProbe: {{tcpSocket: {{port: 8080}}, periodSeconds: 2}}
---
apiVersion: v1
kind: Service
metadata: {{name: app-{x}, namespace: ing}}
spec:
  selector: {{app: app-{x}}}
  ports: [{{port: 80, targetPort: 8080}}]
"""


def _get(ip: str, host: str, path: str) -> tuple[int, str]:
    conn = http.client.HTTPConnection(ip, 80, timeout=5)
    try:
        conn.request("GET", path, headers={"Host": host})
        resp = conn.getresponse()
        return resp.status, resp.read().decode()
    finally:
        conn.close()


def _get_tls(ip: str, host: str, ca: Path) -> str:
    ctx = ssl.create_default_context(cafile=str(ca))
    with socket.create_connection((ip, 443), timeout=5) as raw, \
            ctx.wrap_socket(raw, server_hostname=host) as tls:
        tls.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := tls.recv(65536):
            data += chunk
    return data.decode()


def _until(fn, timeout: float = 60.0, diagnose=None):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            result = fn()
            if result:
                return result
            last = result
        except OSError as exc:
            last = exc
        if time.monotonic() > deadline:
            detail = diagnose() if diagnose else ""
            raise AssertionError(f"condition not met within {timeout:.0f}s "
                                 f"(last: {last!r})\n{detail}")
        time.sleep(1)


def _expect(fn, want: object, timeout: float = 60.0, diagnose=None):  # type: ignore[no-untyped-def]
    """Wait until ``fn()`` returns ``want``; the failure names the last answer seen."""
    seen: list[object] = []

    def check() -> bool:
        seen[:] = [fn()]
        return seen[0] == want
    try:
        _until(check, timeout, diagnose)
    except AssertionError as exc:
        raise AssertionError(f"wanted {want!r}, last got {seen[-1] if seen else None!r}; "
                             f"{exc}") from None


def _diagnosis(kboot: Kboot, cluster: str, lab: Lab, worker: str) -> str:
    """What the ingress node and the API say, for a failure message read in CI logs."""
    node = next(n.name for n in lab.nodes if n.address == worker)
    parts = [kboot.kubectl(cluster, "-n", "ing", "get", "pods,endpoints,ingress", "-o", "wide",
                           check=False).stdout]
    for cmd in (["systemctl", "is-active", "kboot-ingress"],
                ["journalctl", "-u", "kboot-ingress", "-n", "25", "--no-pager", "-o", "cat"],
                ["sh", "-c", "grep -A4 '^backend' /etc/kboot/ingress/haproxy.cfg | head -40"],
                ["ip", "route"]):
        res = lab.exec(node, cmd)
        parts.append(f"$ {' '.join(cmd)}  [{res.exit_code}]\n{res.stdout}{res.stderr}")
    return "\n".join(parts)[-6000:]


def test_ingress_routes_tls_updates_and_failures(
        kboot: Kboot, ha_cluster: str, lab: Lab, tmp_path: Path) -> None:
    ca = pki.new_ca("ingress-test-ca")
    leaf = pki.issue(ca, pki.CertSpec("a.example.test", dns_names=("a.example.test",),
                                      server=True))
    (tmp_path / "ca.crt").write_bytes(ca.cert_pem())
    (tmp_path / "tls.crt").write_bytes(leaf.cert_pem())
    (tmp_path / "tls.key").write_bytes(leaf.key_pem())
    manifest = tmp_path / "apps.yaml"
    manifest.write_text(APPS.replace("{apps}", APP.format(x="a") + "---\n" + APP.format(x="b")))
    kboot.kubectl(ha_cluster, "apply", "-f", str(manifest))
    kboot.kubectl(ha_cluster, "-n", "ing", "create", "secret", "tls", "a-tls",
                  f"--cert={tmp_path / 'tls.crt'}", f"--key={tmp_path / 'tls.key'}")
    for app in ("app-a", "app-b"):
        kboot.kubectl(ha_cluster, "-n", "ing", "rollout", "status", f"deployment/{app}",
                      "--timeout=180s", timeout=200)
    workers = [n.address for n in lab.nodes if n.role == "worker"]
    for ip in workers:  # every ingress node routes by host and path
        _expect(lambda ip=ip: _get(ip, "b.example.test", "/api/"), (200, "app-b\n"),
                diagnose=lambda ip=ip: _diagnosis(kboot, ha_cluster, lab, ip))
        # TLS host: plain HTTP is redirected, HTTPS verifies against the Secret's CA (SNI)
        assert _until(lambda ip=ip: _get(ip, "a.example.test", "/")[0] == 308)
        # until app-a answers: a 503 is an answer too while haproxy's check of its new
        # server has not passed yet
        assert _until(lambda ip=ip: "app-a" in _get_tls(ip, "a.example.test",
                                                        tmp_path / "ca.crt"))
    status = kboot.kubectl(ha_cluster, "-n", "ing", "get", "ingress", "web", "-o",
                           "jsonpath={.status.loadBalancer.ingress[*].ip}").stdout.split()
    assert set(workers) <= set(status)

    # a routing change under a running client loop: no failed request
    failures: list[str] = []
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            try:
                code, _ = _get(workers[0], "b.example.test", "/api/")
                if code != 200:
                    failures.append(str(code))
            except OSError as exc:
                failures.append(repr(exc))
    client = threading.Thread(target=loop)
    client.start()
    try:
        kboot.kubectl(ha_cluster, "-n", "ing", "patch", "ingress", "web", "--type=json", "-p",
                      '[{"op": "add", "path": "/spec/rules/1/http/paths/-", "value": '
                      '{"path": "/", "pathType": "Prefix", "backend": {"service": '
                      '{"name": "app-a", "port": {"number": 80}}}}}]')
        _until(lambda: _get(workers[0], "b.example.test", "/") == (200, "app-a\n"), 30)
    finally:
        stop.set()
        client.join()
    assert failures == []

    # a deleted backend Service fails its own route only
    kboot.kubectl(ha_cluster, "-n", "ing", "delete", "service", "app-a")
    _until(lambda: _get(workers[0], "b.example.test", "/")[0] == 503, 30)
    assert _get(workers[0], "b.example.test", "/api/") == (200, "app-b\n")
    kboot.kubectl(ha_cluster, "delete", "namespace", "ing", "--wait=false")
