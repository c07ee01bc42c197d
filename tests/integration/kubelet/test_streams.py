"""Every stream kubectl 1.32 opens into a pod, through the apiserver to a real kubelet and
containerd: attach (output and stdin), ``exec -it`` with resize, ``cp`` both ways, ``debug``
with an ephemeral container in the target's PID namespace, ``debug node/…``; and the errors
of a stopped pod, a user without the verb and an invalid ephemeral container."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.apiserver import KUBECTL
from tests.fixtures.streams import in_pty, read_until, resize, stop
from tests.integration.apiserver.http import call
from tests.integration.kubelet.cluster import BB, NODE_NAME, Cluster, one_node_cluster, pod
from tests.waiting import wait_until

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with one_node_cluster(slot=47) as c:  # own slot: the module runs beside other engineers'
        yield c


def _kubectl_cmd(cluster: Cluster, *args: str) -> list[str]:
    return [KUBECTL, "--kubeconfig", str(cluster.server.admin.kubeconfig), *args]


def test_attach_sees_output_and_sends_stdin(cluster: Cluster) -> None:
    cluster.apply(pod("echoer", "echo ready; while read l; do echo got:$l; done; sleep 3600",
                      container={"stdin": True}))
    cluster.wait_running("echoer")
    proc = subprocess.Popen(_kubectl_cmd(cluster, "attach", "-i", "echoer"),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write(b"hello-attach\n")
        proc.stdin.flush()
        out = read_until(proc, proc.stdout.fileno(), b"got:hello-attach")
    finally:
        stop(proc)
    assert b"got:hello-attach" in out, out.decode(errors="replace")


def test_attach_without_stdin_follows_output(cluster: Cluster) -> None:
    cluster.apply(pod("ticker", "i=0; while true; do echo tick-$i; i=$((i+1)); sleep 1; done"))
    cluster.wait_running("ticker")
    proc = subprocess.Popen(_kubectl_cmd(cluster, "attach", "ticker"),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    try:
        first = read_until(proc, proc.stdout.fileno(), b"tick-")
        out = read_until(proc, proc.stdout.fileno(), b"\n", timeout=30)
    finally:
        stop(proc)
    assert b"tick-" in first + out, (first + out).decode(errors="replace")


def test_run_interactive_attaches_and_removes(cluster: Cluster) -> None:
    res = cluster.kubectl("run", "oneshot", "-i", "--rm", "--restart=Never", f"--image={BB}",
                          "--overrides", json.dumps({"spec": {"nodeName": NODE_NAME}}),
                          "--", "sh", "-c", "read l; echo run-got:$l",
                          input="from-run\n", timeout=120)
    assert "run-got:from-run" in res.stdout, res.stdout + res.stderr
    gone = cluster.get("pod", "oneshot")
    assert gone is None or gone["metadata"].get("deletionTimestamp")


def test_exec_tty_resize_reaches_the_terminal(cluster: Cluster) -> None:
    cluster.apply(pod("tty-exec", "sleep 3600"))
    cluster.wait_running("tty-exec")
    proc, master = in_pty(_kubectl_cmd(cluster, "exec", "-it", "tty-exec", "--", "sh"), 33, 101)
    try:
        os.write(master, b"stty size\n")
        out = read_until(proc, master, b"33 101")
        resize(proc, master, 40, 120)
        os.write(master, b"stty size\n")
        out += read_until(proc, master, b"40 120")
        os.write(master, b"exit\n")
    finally:
        stop(proc)
        os.close(master)
    assert b"33 101" in out and b"40 120" in out, out.decode(errors="replace")


def test_cp_round_trips_ten_megabytes(cluster: Cluster, tmp_path: Path) -> None:
    cluster.apply(pod("cp-target", "sleep 3600"))
    cluster.wait_running("cp-target")
    src = tmp_path / "payload.bin"
    src.write_bytes(os.urandom(10 * 2**20))
    up = cluster.kubectl("cp", str(src), "default/cp-target:/tmp/payload.bin", timeout=180)
    assert up.returncode == 0, up.stderr
    back = tmp_path / "back.bin"
    down = cluster.kubectl("cp", "default/cp-target:/tmp/payload.bin", str(back), timeout=180)
    assert down.returncode == 0, down.stderr
    assert hashlib.sha256(back.read_bytes()).hexdigest() == \
        hashlib.sha256(src.read_bytes()).hexdigest()


def test_debug_target_lists_the_targets_processes(cluster: Cluster) -> None:
    cluster.apply(pod("debugee", "exec sleep 3601"))
    cluster.wait_running("debugee")
    # the shell waits for a line on stdin, which only the attach delivers: no output is
    # printed before kubectl is attached to see it
    res = cluster.kubectl("debug", "-i", "debugee", f"--image={BB}", "--target=c",
                          "--container=dbg", "--", "sh", "-c", "read l; ps", input="go\n",
                          timeout=120)
    assert "sleep 3601" in res.stdout, res.stdout + res.stderr
    obj = cluster.wait("pod", "debugee", lambda p: any(
        s.get("name") == "dbg" for s in p["status"].get("ephemeralContainerStatuses") or []))
    assert obj["spec"]["ephemeralContainers"][0]["targetContainerName"] == "c"
    assert obj["status"]["phase"] == "Running"


def test_debug_node_runs_in_the_hosts_namespaces(cluster: Cluster) -> None:
    res = cluster.kubectl("debug", f"node/{NODE_NAME}", "-i", f"--image={BB}", "--",
                          "sh", "-c", "read l; cat /host/etc/hostname; "
                          "ps -o comm | grep -c containerd", input="go\n", timeout=120)
    lines = res.stdout.split()
    assert socket.gethostname() in lines, res.stdout + res.stderr
    assert int(lines[-1]) >= 1  # the host's containerd is visible: host PID namespace
    cluster.kubectl("delete", "pods", "-l", "!app", "--wait=false")


def test_streams_into_a_finished_pod_are_refused(cluster: Cluster) -> None:
    cluster.apply(pod("done", "exit 0", restartPolicy="Never"))
    cluster.wait("pod", "done", lambda p: p["status"].get("phase") == "Succeeded")
    reply = call(cluster.server, "GET", "/api/v1/namespaces/default/pods/done/attach?stdout=1")
    assert reply.status == 400, reply.body
    assert "completed pod" in reply.body["message"]
    res = cluster.kubectl("attach", "done")
    assert res.returncode != 0 and "completed pod" in res.stderr, res.stderr
    assert call(cluster.server, "GET", "/healthz").status == 200


def test_a_user_without_the_verb_is_forbidden(cluster: Cluster) -> None:
    cluster.apply(pod("guarded", "sleep 3600"))
    cluster.wait_running("guarded")
    bob = cluster.server.identity("bob")
    for args in (("create", "role", "pod-reader", "--verb=get,list,watch", "--resource=pods"),
                 ("create", "rolebinding", "bob-reads", "--role=pod-reader", "--user=bob")):
        assert cluster.kubectl(*args).returncode == 0
    for args, resource in ((("exec", "guarded", "--", "true"), "pods/exec"),
                           (("attach", "guarded"), "pods/attach"),
                           (("debug", "guarded", f"--image={BB}"), "pods/ephemeralcontainers")):
        res = cluster.server.kubectl(*args, identity=bob)
        assert res.returncode != 0
        assert "forbidden" in res.stderr and resource in res.stderr, res.stderr


def test_invalid_ephemeral_containers_are_rejected(cluster: Cluster) -> None:
    cluster.apply(pod("strict", "sleep 3600"))
    cluster.wait_running("strict")
    path = "/api/v1/namespaces/default/pods/strict/ephemeralcontainers"
    bad = {"spec": {"ephemeralContainers": [{
        "name": "dbg", "image": BB, "ports": [{"containerPort": 80}],
        "resources": {"limits": {"cpu": "1"}}}]}}
    reply = call(cluster.server, "PATCH", path, bad,
                 content_type="application/strategic-merge-patch+json")
    assert reply.status == 422, reply.body
    fields = {c["field"] for c in reply.body["details"]["causes"]}
    assert fields == {"spec.ephemeralContainers[0].ports",
                      "spec.ephemeralContainers[0].resources"}
    clash = {"spec": {"ephemeralContainers": [{"name": "c", "image": BB}]}}
    reply = call(cluster.server, "PATCH", path, clash,
                 content_type="application/strategic-merge-patch+json")
    assert reply.status == 422 and "Duplicate value" in reply.body["message"]
    good = {"spec": {"ephemeralContainers": [{"name": "dbg", "image": BB,
                                              "command": ["sleep", "3600"]}]}}
    reply = call(cluster.server, "PATCH", path, good,
                 content_type="application/strategic-merge-patch+json")
    assert reply.status == 200 and reply.body["kind"] == "Pod", reply.body
    changed = json.loads(json.dumps(good))
    changed["spec"]["ephemeralContainers"][0]["command"] = ["true"]
    reply = call(cluster.server, "PUT", path, {**reply.body, "spec": {
        **reply.body["spec"], "ephemeralContainers": changed["spec"]["ephemeralContainers"]}})
    assert reply.status == 422 and "may not be changed" in reply.body["message"], reply.body
    cluster.wait("pod", "strict", lambda p: any(
        "running" in (s.get("state") or {})
        for s in p["status"].get("ephemeralContainerStatuses") or []))
    assert call(cluster.server, "GET", "/healthz").status == 200


def test_streams_are_counted_in_metrics(cluster: Cluster) -> None:
    text = call(cluster.server, "GET", "/metrics", accept="text/plain").body
    assert 'resource="pods/attach",verb="CREATE"' in text
    assert 'resource="pods/ephemeralcontainers",verb="PATCH"' in text


def test_python_client_stdin_in_text_frames_and_v5_half_close(cluster: Cluster) -> None:
    """The official Python client writes ``str`` stdin as websocket *text* frames (channel
    byte first) and half-closes stdin with v5's CLOSE frame: ``cat`` echoes, then exits 0."""
    from kubernetes import client, config
    from kubernetes.stream import stream
    from kubernetes.stream.ws_client import ERROR_CHANNEL

    cluster.apply(pod("catter", "sleep 3600"))
    cluster.wait_running("catter")
    api_client = config.new_client_from_config(  # type: ignore[no-untyped-call]
        config_file=str(cluster.server.admin.kubeconfig))
    core: Any = client.CoreV1Api(api_client)
    resp: Any = stream(core.connect_post_namespaced_pod_exec, "catter", "default",
                       command=["/bin/sh", "-c", "cat"], stderr=True, stdin=True, stdout=True,
                       tty=False, _preload_content=False)
    try:
        assert resp.subprotocol == "v5.channel.k8s.io"
        resp.write_stdin("as-text\n")
        assert resp.readline_stdout(timeout=10) == "as-text"
        resp.close_channel(0)
        status = wait_until("cat's exit status", lambda: resp.update(timeout=1) or
                            resp.read_channel(ERROR_CHANNEL), timeout=30, interval=0)
        assert json.loads(status)["status"] == "Success"
    finally:
        resp.close()
        api_client.close()
