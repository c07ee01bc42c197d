"""Streams into pods on a ``kboot up`` cluster with the real kubectl 1.32 (issue 18, all but
port-forward): attach with output and stdin, ``debug -it --target`` seeing the target's
processes, ``debug node/N`` in the host's namespaces, ``cp`` of 10 MB both ways, ``exec -it``
resize reaching ``stty size``; and refusals (a finished pod, a user without the verb, an invalid
ephemeral container) that leave the apiserver and kubelet serving."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from subprocess import CompletedProcess

import pytest
import yaml

from kboot import pki
from kboot.lab import Lab
from tests.e2e.conftest import KUBECTL, Kboot
from tests.fixtures.lab import LabFactory, Shape
from tests.fixtures.streams import in_pty, read_until, resize, stop

pytestmark = [pytest.mark.e2e, pytest.mark.lab]
LABS = (Shape(1, 1, "provisioned"),)
BB = "kboot.io/busybox:1.35"
NS = "streams"


@dataclass(frozen=True)
class Cluster:
    lab: Lab
    kboot: Kboot
    kubectl: Callable[..., CompletedProcess[str]]

    def argv(self, *args: str, kubeconfig: Path | None = None) -> list[str]:
        config = kubeconfig or self.kboot.kubeconfig(self.lab.name)
        return [KUBECTL, "--kubeconfig", str(config), "-n", NS, *args]

    def pod(self, name: str, script: str, **container: object) -> str:
        """A busybox pod running ``sh -c script``, Running; the node it runs on."""
        manifest = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NS},
                    "spec": {"terminationGracePeriodSeconds": 1, "containers": [
                        {"name": "c", "image": BB, "command": ["sh", "-c", script],
                         **container}]}}
        self.kubectl("apply", "-f", "-", input=json.dumps(manifest))
        self.kubectl("-n", NS, "wait", "--for=condition=Ready", f"pod/{name}", "--timeout=120s",
                     timeout=150)
        return self.kubectl("-n", NS, "get", "pod", name, "-o",
                            "jsonpath={.spec.nodeName}").stdout.strip()


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
def cluster(lab_factory: LabFactory, kboot: Kboot) -> Cluster:
    lab = lab_factory(1, 1, image="provisioned")
    kboot.up(lab.inventory_path)
    c = Cluster(lab, kboot, partial(_kubectl, kboot, lab.name))
    c.kubectl("create", "namespace", NS)
    return c


def test_attach_sees_output_and_sends_stdin(cluster: Cluster) -> None:
    cluster.pod("echoer", "echo ready; i=0; while read l; do echo got:$l; done; sleep 3600",
                stdin=True)
    cluster.pod("ticker", "i=0; while true; do echo tick-$i; i=$((i+1)); sleep 1; done")
    proc = subprocess.Popen(cluster.argv("attach", "ticker"), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    try:
        seen = read_until(proc, proc.stdout.fileno(), b"tick-")
    finally:
        stop(proc)
    assert b"tick-" in seen, seen.decode(errors="replace")
    proc = subprocess.Popen(cluster.argv("attach", "-i", "echoer"), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write(b"over-the-attach\n")
        proc.stdin.flush()
        out = read_until(proc, proc.stdout.fileno(), b"got:over-the-attach")
    finally:
        stop(proc)
    assert b"got:over-the-attach" in out, out.decode(errors="replace")
    run = cluster.kubectl("-n", NS, "run", "once", "-i", "--rm", "--restart=Never",
                          f"--image={BB}", "--", "sh", "-c", "read l; echo run-got:$l",
                          input="piped\n")
    assert "run-got:piped" in run.stdout, run.stdout + run.stderr


def test_exec_tty_resize_reaches_stty(cluster: Cluster) -> None:
    cluster.pod("tty", "sleep 3600")
    proc, master = in_pty(cluster.argv("exec", "-it", "tty", "--", "sh"), 31, 97,
                          env=cluster.kboot.env())
    try:
        os.write(master, b"stty size\n")
        out = read_until(proc, master, b"31 97")
        resize(proc, master, 45, 132)
        os.write(master, b"stty size\n")
        out += read_until(proc, master, b"45 132")
        os.write(master, b"exit\n")
    finally:
        stop(proc)
        os.close(master)
    assert b"31 97" in out and b"45 132" in out, out.decode(errors="replace")


def test_cp_round_trips_ten_megabytes(cluster: Cluster, tmp_path: Path) -> None:
    cluster.pod("files", "sleep 3600")
    src = tmp_path / "payload.bin"
    src.write_bytes(os.urandom(10 * 2**20))
    started = time.monotonic()
    cluster.kubectl("cp", str(src), f"{NS}/files:/tmp/payload.bin", timeout=300)
    back = tmp_path / "back.bin"
    cluster.kubectl("cp", f"{NS}/files:/tmp/payload.bin", str(back), timeout=300)
    print(f"cp 10 MB up and down: {time.monotonic() - started:.1f}s")
    assert hashlib.sha256(back.read_bytes()).digest() == hashlib.sha256(src.read_bytes()).digest()


def test_debug_target_lists_the_targets_processes(cluster: Cluster) -> None:
    cluster.pod("app", "exec sleep 3602")
    proc, master = in_pty(cluster.argv("debug", "-it", "app", f"--image={BB}", "--target=c",
                                       "--container=dbg"), 24, 80, env=cluster.kboot.env())
    try:
        read_until(proc, master, b"#")  # the debug shell's prompt
        os.write(master, b"ps\n")
        out = read_until(proc, master, b"sleep 3602")
        os.write(master, b"exit\n")
    finally:
        stop(proc)
        os.close(master)
    assert b"sleep 3602" in out, out.decode(errors="replace")
    pod = json.loads(cluster.kubectl("-n", NS, "get", "pod", "app", "-o", "json").stdout)
    assert [s["name"] for s in pod["status"]["ephemeralContainerStatuses"]] == ["dbg"]


def test_debug_node_runs_in_the_hosts_namespaces(cluster: Cluster) -> None:
    node = next(n.name for n in cluster.lab.nodes if n.role == "worker")
    res = cluster.kubectl("-n", NS, "debug", f"node/{node}", "-i", f"--image={BB}", "--",
                          "sh", "-c", "read l; hostname; cat /host/etc/hostname; "
                          "ps -o comm | grep -c containerd", input="go\n", timeout=240)
    lines = res.stdout.split()
    assert lines[-3] == lines[-2] == node, res.stdout + res.stderr  # host UTS, host's / at /host
    assert int(lines[-1]) >= 1, res.stdout  # the node's containerd: host PID namespace


def _bob(cluster: Cluster, tmp_path: Path) -> Path:
    """A kubeconfig for user bob, who may read pods in the namespace and nothing else."""
    home = cluster.kboot.home / "clusters" / cluster.lab.name
    ca = pki.load_pair(home / "pki", "ca")
    assert ca is not None
    pair = pki.issue(ca, pki.CertSpec("bob", client=True))
    admin = yaml.safe_load(cluster.kboot.kubeconfig(cluster.lab.name).read_text())
    config = pki.build_kubeconfig(
        cluster_name=cluster.lab.name, server=admin["clusters"][0]["cluster"]["server"],
        ca_pem=ca.cert_pem(), user_name="bob", client_cert_pem=pair.cert_pem(),
        client_key_pem=pair.key_pem())
    path = tmp_path / "bob.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    cluster.kubectl("-n", NS, "create", "role", "pod-reader", "--verb=get,list,watch",
                    "--resource=pods")
    cluster.kubectl("-n", NS, "create", "rolebinding", "bob-reads", "--role=pod-reader",
                    "--user=bob")
    return path


def test_refusals_are_clear_and_leave_everything_serving(cluster: Cluster,
                                                         tmp_path: Path) -> None:
    done = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "done", "namespace": NS},
            "spec": {"restartPolicy": "Never", "containers": [
                {"name": "c", "image": BB, "command": ["true"]}]}}
    cluster.kubectl("apply", "-f", "-", input=json.dumps(done))
    cluster.kubectl("-n", NS, "wait", "--for=jsonpath={.status.phase}=Succeeded", "pod/done",
                    "--timeout=120s", timeout=150)
    res = cluster.kubectl("-n", NS, "attach", "done", check=False)
    assert res.returncode != 0 and "completed pod" in res.stderr, res.stderr

    bob = _bob(cluster, tmp_path)
    cluster.pod("guarded", "sleep 3600")
    for args, resource in ((("exec", "guarded", "--", "true"), "pods/exec"),
                           (("attach", "guarded"), "pods/attach"),
                           (("debug", "guarded", f"--image={BB}"), "pods/ephemeralcontainers")):
        proc = subprocess.run(cluster.argv(*args, kubeconfig=bob), env=cluster.kboot.env(),
                              capture_output=True, text=True, timeout=60, check=False)
        assert proc.returncode != 0 and "forbidden" in proc.stderr, proc.stderr
        assert resource in proc.stderr, proc.stderr

    patch = {"spec": {"ephemeralContainers": [{"name": "bad", "image": BB,
                                               "ports": [{"containerPort": 80}],
                                               "resources": {"limits": {"cpu": "1"}}}]}}
    res = cluster.kubectl("-n", NS, "patch", "pod", "guarded", "--subresource=ephemeralcontainers",
                          "--type=strategic", "-p", json.dumps(patch), check=False)
    assert res.returncode != 0 and "Forbidden: cannot be set for an Ephemeral Container" in \
        res.stderr, res.stderr
    # still serving: a stream right after the refusals works
    out = cluster.kubectl("-n", NS, "exec", "guarded", "--", "echo", "still-serving").stdout
    assert out.strip() == "still-serving"
    metrics = cluster.kubectl("get", "--raw", "/metrics").stdout
    for resource in ("pods/attach", "pods/exec", "pods/ephemeralcontainers"):
        assert f'resource="{resource}"' in metrics
