"""Acceptance: the real kubectl 1.32 against kboot-apiserver (SQLite and etcd backends)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.fixtures.apiserver import KUBECTL, ApiServer
from tests.integration.apiserver.manifests import app_manifest

pytestmark = pytest.mark.integration


def ok(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, f"kubectl failed ({proc.returncode}): {proc.stderr}"
    return proc.stdout


def test_contexts_and_namespaces(server: ApiServer) -> None:
    assert "kboot-test" in ok(server.kubectl("config", "get-contexts"))
    out = ok(server.kubectl("get", "namespaces"))
    assert out.splitlines()[0].split()[:2] == ["NAME", "STATUS"]
    names = {line.split()[0] for line in out.splitlines()[1:]}
    assert {"default", "kube-system", "kube-public", "kube-node-lease"} <= names


def test_apply_client_side_then_update_then_server_side(server: ApiServer, ns: str) -> None:
    out = ok(server.kubectl("apply", "-f", "-", input=app_manifest(ns)))
    assert f"namespace/{ns} created" in out and "deployment.apps/web created" in out
    out = ok(server.kubectl("apply", "-f", "-", input=app_manifest(ns, replicas=3, color="red")))
    assert "deployment.apps/web configured" in out and "service/web unchanged" in out
    deploy = json.loads(ok(server.kubectl("get", "deploy", "web", "-n", ns, "-o", "json")))
    assert deploy["spec"]["replicas"] == 3
    assert deploy["metadata"]["generation"] == 2
    env = deploy["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env == [{"name": "COLOR", "value": "red"}]
    out = ok(server.kubectl("apply", "--server-side", "--force-conflicts", "-f", "-",
                            input=app_manifest(ns, replicas=4, color="green")))
    assert "deployment.apps/web serverside-applied" in out
    cm = json.loads(ok(server.kubectl("get", "cm", "settings", "-n", ns, "-o", "json",
                                        "--show-managed-fields")))
    assert cm["data"] == {"color": "green"}
    managers = {m["manager"] for m in cm["metadata"]["managedFields"]}
    assert "kubectl" in managers


def test_get_output_formats(server: ApiServer, ns: str) -> None:
    ok(server.kubectl("apply", "-f", "-", input=app_manifest(ns)))
    wide = ok(server.kubectl("get", "pods", "-n", ns, "-o", "wide"))
    assert wide.split()[:9] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE",
                                "NOMINATED", "NODE"]
    assert "solo" in wide and "0/2" in wide and "Pending" in wide
    pod = yaml.safe_load(ok(server.kubectl("get", "pod", "solo", "-n", ns, "-o", "yaml")))
    assert pod["metadata"]["uid"] and pod["spec"]["restartPolicy"] == "Always"
    listed = json.loads(ok(server.kubectl("get", "pods", "-n", ns, "-o", "json")))
    assert [p["metadata"]["name"] for p in listed["items"]] == ["solo"]
    names = ok(server.kubectl("get", "pods", "-n", ns, "-o",
                              "jsonpath={.items[*].spec.containers[*].name}"))
    assert names.split() == ["main", "sidecar"]
    svc = ok(server.kubectl("get", "svc", "web", "-n", ns))
    assert "ClusterIP" in svc and "80/TCP" in svc


def test_get_watch_receives_event(server: ApiServer, ns: str) -> None:
    ok(server.kubectl("apply", "-f", "-", input=app_manifest(ns)))
    home = server.workdir / "home"
    watcher = subprocess.Popen([KUBECTL, "--kubeconfig", str(server.kubeconfig), "get", "cm",
                                "-n", ns, "-w", "--request-timeout=0"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={"PATH": os.environ["PATH"], "HOME": str(home)})
    try:
        assert watcher.stdout is not None
        first = watcher.stdout.readline()
        assert first.split()[:2] == ["NAME", "DATA"]
        assert watcher.stdout.readline().split()[0] == "settings"
        ok(server.kubectl("create", "-n", ns, "-f", "-", input=yaml.safe_dump(
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "late"},
             "data": {"x": "1"}})))
        assert watcher.stdout.readline().split()[:2] == ["late", "1"]
    finally:
        watcher.kill()
        watcher.communicate()


def test_describe_patch_label_annotate_scale(server: ApiServer, ns: str) -> None:
    ok(server.kubectl("apply", "-f", "-", input=app_manifest(ns)))
    described = ok(server.kubectl("describe", "pod", "solo", "-n", ns))
    assert "Name:" in described and "busybox:1.36" in described and "sidecar:" in described
    assert "deployment.apps/web scaled" in ok(
        server.kubectl("scale", "-n", ns, "deployment/web", "--replicas=5"))
    ok(server.kubectl("label", "-n", ns, "pod/solo", "tier=backend"))
    ok(server.kubectl("annotate", "-n", ns, "pod/solo", "note=hello"))
    ok(server.kubectl("patch", "-n", ns, "cm/settings", "-p", '{"data":{"size":"L"}}'))
    ok(server.kubectl("patch", "-n", ns, "cm/settings", "--type=merge", "-p",
                      '{"data":{"shape":"round"}}'))
    ok(server.kubectl("patch", "-n", ns, "cm/settings", "--type=json", "-p",
                      '[{"op":"remove","path":"/data/color"}]'))
    ok(server.kubectl("patch", "-n", ns, "deploy/web", "-p", json.dumps(
        {"spec": {"template": {"spec": {"containers": [{"name": "nginx", "image": "nginx:2"}]}}}})))
    deploy = json.loads(ok(server.kubectl("get", "deploy/web", "-n", ns, "-o", "json")))
    assert deploy["spec"]["replicas"] == 5
    container = deploy["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "nginx:2" and container["ports"][0]["containerPort"] == 80
    pod = json.loads(ok(server.kubectl("get", "pod/solo", "-n", ns, "-o", "json")))
    assert pod["metadata"]["labels"] == {"app": "solo", "tier": "backend"}
    assert pod["metadata"]["annotations"]["note"] == "hello"
    cm = json.loads(ok(server.kubectl("get", "cm/settings", "-n", ns, "-o", "json")))
    assert cm["data"] == {"size": "L", "shape": "round"}
    assert ok(server.kubectl("get", "pods", "-n", ns, "-l", "tier=backend", "-o", "name")
              ).strip() == "pod/solo"


def test_delete_wait(server: ApiServer, ns: str) -> None:
    ok(server.kubectl("apply", "-f", "-", input=app_manifest(ns)))
    # kubectl's own timeout bounds a hang: --wait must return once the object is gone
    assert 'pod "solo" deleted' in ok(server.kubectl("delete", "-n", ns, "pod/solo", "--wait",
                                                     "--timeout=120s"))
    ok(server.kubectl("delete", "-n", ns, "deployment/web", "--wait", "--timeout=120s"))
    gone = server.kubectl("get", "pod/solo", "-n", ns)
    assert gone.returncode == 1 and "NotFound" in gone.stderr


def test_diff_is_dry_run(server: ApiServer, ns: str) -> None:
    ok(server.kubectl("apply", "-f", "-", input=app_manifest(ns)))
    proc = server.kubectl("diff", "-f", "-", input=app_manifest(ns, replicas=7))
    assert proc.returncode == 1, proc.stderr
    assert "-  replicas: 2" in proc.stdout and "+  replicas: 7" in proc.stdout
    deploy = json.loads(ok(server.kubectl("get", "deploy/web", "-n", ns, "-o", "json")))
    assert deploy["spec"]["replicas"] == 2


def test_edit_with_editor_script(server: ApiServer, ns: str, tmp_path: Path) -> None:
    ok(server.kubectl("apply", "-f", "-", input=app_manifest(ns)))
    editor = tmp_path / "editor.sh"
    editor.write_text("#!/bin/sh\nsed -i 's/color: blue/color: purple/' \"$1\"\n")
    editor.chmod(0o755)
    ok(server.kubectl("edit", "-n", ns, "cm/settings", env={"KUBE_EDITOR": str(editor)}))
    cm = json.loads(ok(server.kubectl("get", "cm/settings", "-n", ns, "-o", "json")))
    assert cm["data"]["color"] == "purple"


def test_explain(server: ApiServer) -> None:
    out = ok(server.kubectl("explain", "deployment.spec.replicas"))
    assert "replicas" in out and "integer" in out


def test_create_generators_send_protobuf(server: ApiServer, ns: str) -> None:
    """``kubectl create <generator>`` and ``drain`` send protobuf bodies (no JSON fallback)."""
    ok(server.kubectl("create", "namespace", ns))
    k = ["-n", ns]
    ok(server.kubectl("create", "configmap", "c1", "--from-literal=a=b", *k))
    ok(server.kubectl("create", "secret", "generic", "s1", "--from-literal=pw=x", *k))
    ok(server.kubectl("create", "serviceaccount", "robot", *k))
    ok(server.kubectl("create", "deployment", "d1", "--image=nginx:1", "--replicas=0",
                      "--port=80", *k))
    ok(server.kubectl("create", "service", "clusterip", "svc1", "--tcp=80:8080", *k))
    ok(server.kubectl("create", "job", "j1", "--image=busybox", *k, "--", "echo", "hi"))
    ok(server.kubectl("create", "role", "r1", "--verb=get", "--resource=pods", *k))
    ok(server.kubectl("create", "rolebinding", "rb1", "--role=r1", "--user=u1", *k))
    secret = json.loads(ok(server.kubectl("get", "secret", "s1", "-o", "json", *k)))
    assert secret["data"] == {"pw": "eA=="} and secret["type"] == "Opaque"
    deploy = json.loads(ok(server.kubectl("get", "deploy", "d1", "-o", "json", *k)))
    assert deploy["spec"]["replicas"] == 0  # a pointer field: zero is kept
    assert deploy["spec"]["template"]["spec"]["containers"][0]["ports"] == [
        {"containerPort": 80, "protocol": "TCP"}]
    svc = json.loads(ok(server.kubectl("get", "svc", "svc1", "-o", "json", *k)))
    assert svc["spec"]["ports"][0]["targetPort"] == 8080
    job = json.loads(ok(server.kubectl("get", "job", "j1", "-o", "json", *k)))
    assert job["spec"]["template"]["spec"]["containers"][0]["command"] == ["echo", "hi"]
    rb = json.loads(ok(server.kubectl("get", "rolebinding", "rb1", "-o", "json", *k)))
    assert rb["roleRef"]["name"] == "r1" and rb["subjects"][0]["name"] == "u1"


def test_drain_evicts_through_protobuf(server: ApiServer, ns: str) -> None:
    node = f"{ns}-node"
    ok(server.kubectl("create", "namespace", ns))
    ok(server.kubectl("create", "-f", "-", input=json.dumps(
        {"apiVersion": "v1", "kind": "Node", "metadata": {"name": node}})))
    ok(server.kubectl("create", "-n", ns, "-f", "-", input=json.dumps(
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
         "spec": {"nodeName": node, "containers": [{"name": "c", "image": "busybox"}]}})))
    ok(server.kubectl("drain", node, "--force", "--grace-period=0", "--timeout=20s"))
    gone = server.kubectl("get", "pod", "p", "-n", ns)
    assert gone.returncode == 1 and "NotFound" in gone.stderr
    assert json.loads(ok(server.kubectl("get", "node", node, "-o", "json")))["spec"][
        "unschedulable"] is True
