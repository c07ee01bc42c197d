"""``kboot certs rotate-ca`` on the HA lab (3 control planes + 1 worker), issue 20's acceptance
(certificates part; short-lived leaves, ``check`` and ``up`` renewing them are
test_certs_hooks.py's):

- while a workstation client sends requests through the API's virtual address (haproxy, which
  retries and redispatches a refused connection) with the admin kubeconfig (re-read for every
  request, as kubectl does) and a pod (the ``python`` stand-in image) on the first control
  plane watches the API with its
  projected ServiceAccount token through the ``kubernetes`` Service, checking the server
  against its projected ``ca.crt`` (both re-read for every watch), the three stages run —
  trust (twice: a re-run converges), reissue (which itself waits until the pod's projected
  ``ca.crt`` holds the new CA: the test does not), finish;
- after each stage the hosts, the ``kube-root-ca.crt`` ConfigMap and the pod's projected CA
  hold the expected CAs, leaves and the kubelets' client certificates come from the new CA,
  the pod's token is re-issued by the new key without restarting the pod (its kubelet restarts
  first in ``reissue``, before the other apiservers sign with the new key: ``reissue`` restarts
  it again once they all do), and at the end the
  old CAs and the old ServiceAccount key are gone and ``kboot certs check`` is clean;
- every request of either client is answered: the apiservers restart one node at a time, so
  no failure of any class — TLS, 401/403, nor connection refused or reset, a timeout, a
  502/503/504 from the load balancer — is acceptable; each is counted by class and stage and
  printed.
"""

from __future__ import annotations

import base64
import http.client
import json
import ssl
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from cryptography import x509

from kboot.controlplane.apiserver.tokens import (
    PublicKey,
    TokenError,
    load_public_keys,
    verify_any,
)
from kboot.images.standins import build_standins
from kboot.lab import Lab
from kboot.pki import signed_by
from tests.e2e.conftest import Kboot
from tests.fixtures.lab import LabFactory, Shape
from tests.waiting import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.lab, pytest.mark.timeout(3600)]
LABS = (Shape(3, 1, "provisioned"),)
# after the lab's other users: the cluster they converge keeps the CA it was installed with
RUNS_LAST_ON_ITS_LAB = True

NS = "rotca"
SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
PYTHON = "docker.io/library/python:latest"  # kboot.images.standins, pushed by the fixture
# a watch of 3 s at a time through the kubernetes Service, checking the server's certificate
# against the projected ca.crt and sending the projected token, both re-read for each watch
# (client-go re-reads the token; a client that reloads its CA); the outcome classified as
# ``request_once`` does, except that a handshake the server cuts off (EOF) is a "reset": with no
# client certificate, only a certificate verify failure is the rotation refusing this pod:
# "WATCH <class> <epoch seconds> <why>" (the lab machines share the
# workstation's clock, so the time places a watch in a stage)
WATCH_SCRIPT = f"""
import http.client, os, socket, ssl, time
host, port = os.environ["KUBERNETES_SERVICE_HOST"], int(os.environ["KUBERNETES_SERVICE_PORT"])
path = "/api/v1/namespaces/{NS}/configmaps?watch=1&timeoutSeconds=3"
while True:
    try:
        ctx = ssl.create_default_context(cafile="{SA_DIR}/ca.crt")
        token = open("{SA_DIR}/token").read().strip()
        conn = http.client.HTTPSConnection(host, port, context=ctx, timeout=15)
        conn.request("GET", path, headers={{"Authorization": "Bearer " + token}})
        resp = conn.getresponse()
        resp.read()
        conn.close()
        status = resp.status
        cls = {{200: "ok", 401: "unauthorized", 403: "forbidden", 502: "unavailable",
                503: "unavailable", 504: "unavailable"}}.get(status, "other")
        why = "HTTP %d" % status
    except ssl.SSLCertVerificationError as err:  # the server's certificate not trusted
        cls, why = "tls", str(err)
    except (ssl.SSLEOFError, ssl.SSLZeroReturnError) as err:
        # the server closed the connection mid-handshake (an apiserver stopping): a dropped
        # connection, not a refusal of trust (this client sends no certificate to refuse)
        cls, why = "reset", repr(err)
    except ssl.SSLError as err:
        cls, why = "tls", str(err)
    except ConnectionRefusedError as err:
        cls, why = "refused", str(err)
    except (ConnectionResetError, ConnectionAbortedError, BrokenPipeError,
            http.client.RemoteDisconnected) as err:
        cls, why = "reset", repr(err)
    except (TimeoutError, socket.timeout) as err:
        cls, why = "timeout", repr(err)
    except Exception as err:
        cls, why = "other", repr(err)
    print("WATCH", cls, "%.1f" % time.time(), why.replace(chr(10), " "), flush=True)
    time.sleep(0.5)
"""
WATCHER = f"""
apiVersion: v1
kind: Namespace
metadata: {{name: {NS}}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: watch-configmaps, namespace: {NS}}}
rules: [{{apiGroups: [""], resources: [configmaps], verbs: [get, list, watch]}}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: watch-configmaps, namespace: {NS}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: watch-configmaps}}
subjects: [{{kind: ServiceAccount, name: default, namespace: {NS}}}]
"""


def watcher_pod(node: str) -> dict[str, object]:
    """On ``node`` (a control plane: the taint tolerated)."""
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "watcher", "namespace": NS},
            "spec": {"terminationGracePeriodSeconds": 1,
                     "nodeSelector": {"kubernetes.io/hostname": node},
                     "tolerations": [{"key": "node-role.kubernetes.io/control-plane",
                                      "operator": "Exists", "effect": "NoSchedule"}],
                     "containers": [
                {"name": "watch", "image": PYTHON, "command": ["python3", "-c", WATCH_SCRIPT]}]}}


def _classify_http(status: int) -> str:
    if status == 200:
        return "ok"
    if status in (502, 503, 504):
        return "unavailable"  # the load balancer with no apiserver behind it (a restart)
    return {401: "unauthorized", 403: "forbidden"}.get(status, "other")


def request_once(kubeconfig: Path) -> tuple[str, str]:
    """One GET with the admin kubeconfig as it is now: (class as ``watch_class``'s, why)."""
    doc = yaml.safe_load(kubeconfig.read_text())
    cluster, user = doc["clusters"][0]["cluster"], doc["users"][0]["user"]
    ctx = ssl.create_default_context(
        cadata=base64.b64decode(cluster["certificate-authority-data"]).decode())
    with tempfile.NamedTemporaryFile("wb", suffix=".pem") as pem:
        pem.write(base64.b64decode(user["client-certificate-data"])
                  + base64.b64decode(user["client-key-data"]))
        pem.flush()
        ctx.load_cert_chain(pem.name)
    url = urlsplit(cluster["server"])
    conn = http.client.HTTPSConnection(url.hostname or "", url.port or 443, context=ctx,
                                       timeout=15)
    try:
        conn.request("GET", "/api/v1/namespaces/default")
        resp = conn.getresponse()
        resp.read()
        return _classify_http(resp.status), f"HTTP {resp.status}"
    except ssl.SSLError as err:  # a certificate not trusted, on either side
        return "tls", f"TLS: {err}"
    except ConnectionRefusedError as err:
        return "refused", str(err)
    except (ConnectionResetError, ConnectionAbortedError, BrokenPipeError,
            http.client.RemoteDisconnected) as err:
        return "reset", f"{type(err).__name__}: {err}"
    except TimeoutError as err:
        return "timeout", str(err)
    except (OSError, http.client.HTTPException) as err:
        return "other", f"{type(err).__name__}: {err}"
    finally:
        conn.close()


@dataclass
class Streamer:
    """Requests from the workstation, one after another, until stopped."""

    kubeconfig: Path
    results: list[tuple[str, str, str]] = field(default_factory=list)  # (phase, outcome, why)
    phase: str = "before"
    stop: threading.Event = field(default_factory=threading.Event)
    since: list[tuple[float, str]] = field(  # (epoch seconds, phase) as the phase changed
        default_factory=lambda: [(0.0, "before")])

    def enter(self, phase: str) -> None:
        self.since.append((time.time(), phase))
        self.phase = phase

    def phase_at(self, at: float) -> str:
        return [p for t, p in self.since if t <= at][-1]

    def run(self) -> None:
        while not self.stop.is_set():
            outcome, why = request_once(self.kubeconfig)
            self.results.append((self.phase, outcome, why))
            time.sleep(0.2)

    def count(self, outcome: str, phase: str | None = None) -> int:
        return sum(1 for p, o, _ in self.results if o == outcome and phase in (None, p))


@dataclass
class Rotating:
    lab: Lab
    kboot: Kboot
    state: Path
    streamer: Streamer
    old_ca: x509.Certificate
    old_etcd_ca: x509.Certificate

    @property
    def cp1(self) -> str:
        return f"{self.lab.name}-cp1"

    @property
    def w1(self) -> str:
        return f"{self.lab.name}-w1"

    @property
    def nodes(self) -> list[str]:
        return [n.name for n in self.lab.nodes]

    @property
    def cps(self) -> list[str]:
        return [n.name for n in self.lab.nodes if n.role == "control_plane"]

    def rotate(self, *extra: str) -> str:
        self.streamer.enter(extra[1] if extra[:1] == ("--stage",) else "rest")
        proc = self.kboot("certs", "rotate-ca", str(self.lab.inventory_path), *extra,
                          timeout=1800)
        return proc.stdout

    def sh(self, node: str, script: str) -> str:
        res = self.lab.exec(node, ["sh", "-c", script])
        assert res.exit_code == 0, res.stdout + res.stderr
        return res.stdout

    def certs(self, node: str, path: str) -> list[x509.Certificate]:
        return x509.load_pem_x509_certificates(self.sh(node, f"cat {path}").encode())

    def kubectl(self, *args: str) -> str:
        return self.kboot.kubectl(self.lab.name, *args).stdout

    def root_ca_configmap(self) -> list[x509.Certificate]:
        data = json.loads(self.kubectl("get", "configmap", "kube-root-ca.crt", "-n", NS,
                                       "-o", "json"))["data"]["ca.crt"]
        return x509.load_pem_x509_certificates(data.encode())

    def pod_file(self, name: str) -> str:
        """The file as the pod sees it ("" while exec cannot reach the kubelet, e.g. right
        after a stage restarted it)."""
        proc = self.kboot.kubectl(self.lab.name, "exec", "-n", NS, "watcher", "--", "cat",
                                  f"{SA_DIR}/{name}", check=False)
        return proc.stdout if proc.returncode == 0 else ""

    def pod_cas(self) -> list[x509.Certificate]:
        pem = self.pod_file("ca.crt")
        return x509.load_pem_x509_certificates(pem.encode()) if pem else []

    def watch_lines(self) -> list[str]:
        return [line for line in self.kubectl("logs", "-n", NS, "watcher").splitlines()
                if line.startswith("WATCH ")]

    def watch_outcomes(self) -> Counter[str]:
        """The pod's watches so far by class (``watch_class``)."""
        return Counter(watch_class(line) for line in self.watch_lines())

    def watch_report(self) -> tuple[Counter[tuple[str, str]], list[str]]:
        """The pod's watches by (stage, class), and the first refused ones with their stage."""
        by_phase: Counter[tuple[str, str]] = Counter()
        refused = []
        for line in self.watch_lines():
            parts = line.split(maxsplit=3)
            try:
                phase = self.streamer.phase_at(float(parts[2]))
            except (IndexError, ValueError):
                phase = "?"
            by_phase[(phase, watch_class(line))] += 1
            if watch_class(line) != "ok":
                refused.append(f"{phase}: {line}")
        return by_phase, refused[:20]


# a request's class: "ok"; connection-level (nothing answers while an apiserver restarts):
# "refused", "unavailable" (502/503/504 from the load balancer), "reset", "timeout";
# refused by the rotation: "tls", "unauthorized" (401), "forbidden" (403); else "other" —
# on the HA lab, all but "ok" are failures
def watch_class(line: str) -> str:
    """The class a watcher pod's line reports ("WATCH <class> <why>")."""
    parts = line.split(maxsplit=2)
    return parts[1] if len(parts) > 1 else "other"


@pytest.fixture(scope="module")
def rotating(lab_factory: LabFactory, kboot: Kboot,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rotating]:
    lab = lab_factory(3, 1, image="provisioned")
    kboot.converge(lab)
    state = kboot.kubeconfig(lab.name).parent.parent
    tmp = tmp_path_factory.mktemp("rotca")
    [python] = [p for p, _ in build_standins(tmp) if p.stem == "python"]
    kboot("image", "push", str(python), "-i", str(lab.inventory_path), timeout=600)
    manifest = tmp / "watcher.yaml"
    manifest.write_text(WATCHER + "---\n" + yaml.safe_dump(watcher_pod(f"{lab.name}-cp1")))
    kboot.kubectl(lab.name, "apply", "-f", str(manifest))
    kboot.kubectl(lab.name, "wait", "-n", NS, "pod/watcher", "--for=condition=Ready",
                  "--timeout=300s", timeout=330)
    streamer = Streamer(kboot.kubeconfig(lab.name))
    thread = threading.Thread(target=streamer.run, daemon=True)
    thread.start()
    ca = x509.load_pem_x509_certificate((state / "pki/ca.crt").read_bytes())
    etcd_ca = x509.load_pem_x509_certificate((state / "pki/etcd/ca.crt").read_bytes())
    r = Rotating(lab, kboot, state, streamer, ca, etcd_ca)
    try:
        yield r
    finally:
        streamer.stop.set()
        thread.join(timeout=60)
        kboot.kubectl(lab.name, "delete", "namespace", NS, "--wait=false", check=False)


def _pod_token_signed_by(r: Rotating, keys: list[PublicKey]) -> bool:
    seen: list[str] = []
    wait_until("the pod's token readable through exec",
               lambda: bool(seen.append(r.pod_file("token").strip()) or seen[-1]), timeout=120)
    token = seen[-1]
    try:
        verify_any(keys, token, now=time.time())
    except TokenError:
        return False
    return True


def test_rotate_ca_while_clients_keep_working(rotating: Rotating) -> None:
    r = rotating
    old_sa_pub = load_public_keys(r.sh(r.cp1, "cat /etc/kboot/pki/sa.pub").encode())
    assert _pod_token_signed_by(r, old_sa_pub)

    # trust: both CAs and both keys everywhere, the old one still signing; a re-run converges
    out = r.rotate("--stage", "trust")
    assert "stage trust" in out and "under way" in out
    new_ca = x509.load_pem_x509_certificate((r.state / "pki/next/ca.crt").read_bytes())
    for node in r.nodes:
        assert r.certs(node, "/etc/kboot/pki/ca.crt") == [r.old_ca, new_ca]
    for node in r.cps:
        assert len(r.certs(node, "/etc/kboot/pki/etcd/ca.crt")) == 2
        assert r.sh(node, "grep -c 'BEGIN PUBLIC KEY' /etc/kboot/pki/sa.pub").strip() == "2"
    assert "certificate-authority: /etc/kboot/pki/ca.crt" in r.sh(
        r.w1, "cat /etc/kboot/kubelet.kubeconfig")
    wait_until("kube-root-ca.crt with both CAs",
               lambda: r.root_ca_configmap() == [r.old_ca, new_ca], timeout=180)
    # no wait for the pod's projected ca.crt here: `reissue` itself waits for every pod's
    apiserver_before = r.certs(r.cp1, "/etc/kboot/pki/apiserver.crt")[0]
    out = r.rotate("--stage", "trust")
    assert "stage trust: 0 file(s) re-issued" in out
    assert r.certs(r.cp1, "/etc/kboot/pki/apiserver.crt")[0] == apiserver_before
    assert json.loads((r.state / "pki/rotation.json").read_text())["done"] == ["trust"]

    # reissue: first every pod's projected ca.crt holds the new CA (the command waits for the
    # kubelets to refresh them), then the new CA signs every leaf and the kubelets' client
    # certificates
    out = r.rotate("--stage", "reissue")
    assert "every pod's projected ca.crt holds the new CA" in out
    # the pod's kubelet (cp1's: restarted first) restarted again once every apiserver signs with
    # the new key (it may have got the pod's token from one still signing with the old key)
    assert "restarting the kubelets of" in out and r.cp1 in out.split(
        "restarting the kubelets of")[1].splitlines()[0], out
    wait_until("the pod's projected CA: both (read through exec)",
               lambda: set(r.pod_cas()) == {r.old_ca, new_ca}, timeout=120)
    for node in r.nodes:
        assert r.certs(node, "/etc/kboot/pki/ca.crt") == [new_ca, r.old_ca], node
        assert signed_by(r.certs(node, "/var/lib/kboot/kubelet/pki/kubelet-client-current.pem"
                                 )[0], new_ca), node
    for node in r.cps:
        assert signed_by(r.certs(node, "/etc/kboot/pki/apiserver.crt")[0], new_ca), node
    assert signed_by(r.certs(r.w1, "/etc/kboot/pki/kubelet.crt")[0], new_ca)
    if r.lab.exec(r.cp1, ["test", "-e", "/etc/kboot/pki/registry.crt"]).exit_code == 0:
        assert signed_by(r.certs(r.cp1, "/etc/kboot/pki/registry.crt")[0], new_ca)
    new_sa_pub = load_public_keys(r.sh(r.cp1, "cat /etc/kboot/pki/sa.pub").encode())[:1]
    assert new_sa_pub[0].public_numbers() != old_sa_pub[0].public_numbers()  # type: ignore
    wait_until("the pod's projected token signed by the new key (the pod not restarted)",
               lambda: _pod_token_signed_by(r, new_sa_pub), timeout=300)
    assert json.loads(r.kubectl("get", "pod", "-n", NS, "watcher", "-o", "json"))[
        "status"]["containerStatuses"][0]["restartCount"] == 0

    # finish (resumed without --stage): the old CAs and the old key gone
    out = r.rotate("--sa-key-grace-minutes", "0")
    assert "stage finish" in out and "CA rotation complete" in out
    assert not (r.state / "pki/rotation.json").exists()
    assert not (r.state / "pki/old").exists() and not (r.state / "pki/next").exists()
    for node in r.nodes:
        assert r.certs(node, "/etc/kboot/pki/ca.crt") == [new_ca], node
    for node in r.cps:
        etcd = r.certs(node, "/etc/kboot/pki/etcd/ca.crt")
        assert len(etcd) == 1 and etcd[0] != r.old_etcd_ca, node
        assert r.sh(node, "grep -c 'BEGIN PUBLIC KEY' /etc/kboot/pki/sa.pub").strip() == "1"
    admin = yaml.safe_load(r.kboot.kubeconfig(r.lab.name).read_text())
    assert x509.load_pem_x509_certificates(base64.b64decode(
        admin["clusters"][0]["cluster"]["certificate-authority-data"])) == [new_ca]
    wait_until("kube-root-ca.crt with the new CA only",
               lambda: r.root_ca_configmap() == [new_ca], timeout=180)
    wait_until("the pod's projected CA: the new one only",
               lambda: r.pod_cas() == [new_ca], timeout=180)
    assert not _pod_token_signed_by(r, old_sa_pub)
    check = r.kboot("certs", "check", str(r.lab.inventory_path), "-o", "json", check=False)
    assert check.returncode == 0, [c for c in json.loads(check.stdout)["certificates"]
                                   if c["status"] != "ok"]

    # the nodes still pull (through the cluster registry, whose certificate is re-issued too)
    r.kubectl("run", "pull-check", "-n", NS, "--image=kboot.io/busybox:1.35",
              "--image-pull-policy=Always", "--restart=Never", "--", "true")
    wait_until("a pod pulling its image after the rotation", lambda: json.loads(r.kubectl(
        "get", "pod", "-n", NS, "pull-check", "-o", "json")).get("status", {}).get(
        "phase") == "Succeeded", timeout=300)

    # both clients kept working: answers after the end, and no request ever refused
    r.streamer.enter("after")
    try:
        wait_until("requests answered after the rotation",
                   lambda: r.streamer.count("ok", "after") >= 5, timeout=120)
        seen = r.watch_outcomes()
        wait_until("the pod's watches answered after the rotation",
                   lambda: r.watch_outcomes()["ok"] >= seen["ok"] + 3, timeout=120)
    finally:
        seen = r.watch_outcomes()
        pod_phases, pod_refused = r.watch_report()
        print(f"\nrotate-ca: workstation requests "
              f"{dict(Counter(o for _, o, _ in r.streamer.results))}, by phase "
              f"{dict(Counter((p, o) for p, o, _ in r.streamer.results))}; pod watches "
              f"{dict(seen)}, by phase {dict(pod_phases)}, refused: {pod_refused}; "
              f"workstation's failed: "
              f"{[x for x in r.streamer.results if x[1] != 'ok'][:20]}")
    assert not [x for x in r.streamer.results if x[1] != "ok"], \
        [x for x in r.streamer.results if x[1] != "ok"][:10]
    assert set(seen) == {"ok"}, (seen, pod_refused)
    for phase in ("trust", "reissue", "rest"):
        assert r.streamer.count("ok", phase) > 0, phase
    r.kboot.kubectl(r.lab.name, "get", "nodes")
