"""A one-node test cluster: the apiserver fixture, a private containerd node, a real kubelet.

The kubelet runs as a subprocess in the host network namespace on 127.0.0.1 (so the apiserver
reaches its HTTPS port), with a serving certificate from the test CA and a
``system:node:<name>`` identity; the pods run in the node's network namespace, reachable from
the host through the route the harness adds. Used by the kubelet, proxy and DNS integration
tests and by the startup benchmark.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kboot.pki import CertSpec, issue, save_pair
from tests.fixtures.apiserver import ApiServer, start_apiserver
from tests.fixtures.etcd import free_port
from tests.integration.kubelet.harness import Node, build_test_images, containerd_node
from tests.waiting import wait_until

NODE_NAME = "kbt-node"
BB = "kboot.io/busybox:1.35"
Obj = dict[str, Any]


@dataclass
class Cluster:
    server: ApiServer
    node: Node
    kubelet: subprocess.Popen[bytes]
    kubelet_log: Path
    kubelet_args: list[str]

    def restart_kubelet(self) -> None:
        """Stop the kubelet (SIGTERM) and start it again with the same flags."""
        _stop(self.kubelet)
        with self.kubelet_log.open("ab") as out:
            self.kubelet = subprocess.Popen(self.kubelet_args, stdout=out,
                                            stderr=subprocess.STDOUT)

    def kubectl(self, *args: str, input: str | None = None,
                timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return self.server.kubectl(*args, input=input, timeout=timeout)

    def apply(self, obj: Obj) -> None:
        res = self.kubectl("apply", "-f", "-", input=json.dumps(obj))
        assert res.returncode == 0, res.stderr

    def get(self, kind: str, name: str, namespace: str = "default") -> Obj | None:
        res = self.kubectl("get", kind, name, "-n", namespace, "-o", "json")
        return json.loads(res.stdout) if res.returncode == 0 else None

    def wait(self, kind: str, name: str, check: Callable[[Obj], bool], *, timeout: float = 60,
             namespace: str = "default") -> Obj:
        last: list[Obj | None] = [None]

        def reached() -> Obj | None:
            obj = last[0] = self.get(kind, name, namespace)
            return obj if obj is not None and check(obj) else None

        return wait_until(f"{kind}/{name} to reach the condition", reached, timeout=timeout,
                          interval=0.25,
                          diagnose=lambda: f"{json.dumps((last[0] or {}).get('status'))[:1500]}"
                          f"\nkubelet log:\n{self.kubelet_log.read_text()[-3000:]}")

    def wait_running(self, name: str, timeout: float = 60) -> Obj:
        return self.wait("pod", name, lambda p: (p.get("status") or {}).get("phase")
                         == "Running", timeout=timeout)


def pod(name: str, command: str, **extra: Any) -> Obj:
    """A busybox pod on the test node running ``sh -c <command>``."""
    container = {"name": "c", "image": BB, "command": ["sh", "-c", command],
                 **extra.pop("container", {})}
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default", "labels": {"app": name}},
            "spec": {"nodeName": NODE_NAME, "terminationGracePeriodSeconds": 2,
                     "containers": [container], **extra}}


def _kubelet_args(server: ApiServer, node: Node, port: int, work: Path,
                  resync: float) -> list[str]:
    ident = server.identity(f"system:node:{NODE_NAME}", ("system:nodes",))
    pair = issue(server.ca, CertSpec(NODE_NAME, ip_addresses=("127.0.0.1",), server=True))
    cert, key = save_pair(pair, work, "kubelet-serving")
    return [
        sys.executable, "-c", "import sys; from kboot.controlplane.kubelet.main import main; "
        "sys.exit(main(sys.argv[1:]))",
        "--kubeconfig", str(ident.kubeconfig), "--node-name", NODE_NAME,
        "--node-ip", "127.0.0.1", "--address", "127.0.0.1", "--port", str(port),
        "--container-runtime-endpoint", node.endpoint, "--root-dir", str(work / "root"),
        "--pod-log-dir", str(node.log_dir), "--cgroup-root", node.cgroup_root,
        "--tls-cert-file", str(cert), "--tls-private-key-file", str(key),
        "--client-ca-file", str(server.ca_file), "--cluster-dns", node.host_ip,
        "--cni-conf-dir", "", "--no-manage-routes", "--local-path-dir", str(work / "lp"),
        "--backoff-initial", "1", "--resync", str(resync)]


def _publish_controller_objects(cluster: Cluster) -> None:
    """What kboot's controllers keep in every namespace and no controller runs here: the
    ``default`` ServiceAccount and the ``kube-root-ca.crt`` ConfigMap (the ServiceAccount
    admission's projected volume needs both)."""
    cluster.apply({"apiVersion": "v1", "kind": "ServiceAccount",
                   "metadata": {"name": "default", "namespace": "default"}})
    cluster.apply({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "kube-root-ca.crt", "namespace": "default"},
                   "data": {"ca.crt": cluster.server.ca_file.read_text()}})


@contextlib.contextmanager
def one_node_cluster(slot: int, *, resync: float = 1.0) -> Iterator[Cluster]:
    images = build_test_images(Path(tempfile.gettempdir()) / "kbt-cri-images")
    with start_apiserver("memory://") as server, containerd_node(slot, images) as node:
        work = node.workdir / "kubelet"
        work.mkdir()
        log = work / "kubelet.log"
        args = _kubelet_args(server, node, free_port(), work, resync)
        with log.open("wb") as out:
            proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
        cluster = Cluster(server, node, proc, log, args)
        try:
            cluster.wait("node", NODE_NAME, lambda n: bool(n.get("status")), timeout=30,
                         namespace="default")
            _publish_controller_objects(cluster)
            yield cluster
        finally:
            for kind in ("pods", "services"):
                cluster.kubectl("delete", kind, "--all", "--wait=false", "--grace-period=0")
            with contextlib.suppress(AssertionError):  # best effort: the node is torn down next
                wait_until("the kubelet to remove the pods' containers",
                           lambda: not cluster.node.ctr("-n", "k8s.io", "containers", "list",
                                                        "-q", check=False).stdout.strip(),
                           timeout=15, interval=0.2)
            _stop(cluster.kubelet)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)
    proc.kill()
    proc.wait()
