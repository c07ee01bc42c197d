"""ServiceAccount admission through the real apiserver and kubectl: a plain pod gets the
``kube-api-access-*`` volume and its read-only mount, an opted-out pod does not, and a pod
naming a ServiceAccount that does not exist is refused with upstream's message."""

from __future__ import annotations

import json
import subprocess

import pytest
import yaml

from tests.fixtures.apiserver import ApiServer

pytestmark = pytest.mark.integration

MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"


def ok(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, f"kubectl failed ({proc.returncode}): {proc.stderr}"
    return proc.stdout


def _pod(ns: str, name: str, **spec: object) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "Pod",
                       "metadata": {"name": name, "namespace": ns},
                       "spec": {"containers": [{"name": "c", "image": "busybox"}], **spec}})


def test_pods_get_the_api_access_volume(apiserver_sqlite: ApiServer) -> None:
    server, ns = apiserver_sqlite, "sa-admission"
    ok(server.kubectl("create", "namespace", ns))
    ok(server.kubectl("create", "serviceaccount", "runner", "-n", ns))
    ok(server.kubectl("apply", "-f", "-", input=_pod(ns, "plain", serviceAccountName="runner")))
    ok(server.kubectl("apply", "-f", "-", input=_pod(
        ns, "quiet", serviceAccountName="runner", automountServiceAccountToken=False)))
    spec = yaml.safe_load(ok(server.kubectl("get", "pod", "plain", "-n", ns, "-o", "yaml")))["spec"]
    (volume,) = spec["volumes"]
    assert volume["name"].startswith("kube-api-access-")
    assert volume["projected"]["sources"][0]["serviceAccountToken"] == {
        "expirationSeconds": 3607, "path": "token"}
    assert spec["containers"][0]["volumeMounts"] == [
        {"name": volume["name"], "readOnly": True, "mountPath": MOUNT_PATH}]
    quiet = yaml.safe_load(ok(server.kubectl("get", "pod", "quiet", "-n", ns, "-o", "yaml")))
    assert "volumes" not in quiet["spec"]
    refused = server.kubectl("apply", "-f", "-", input=_pod(ns, "lost", serviceAccountName="ghost"))
    assert refused.returncode != 0
    assert (f'error looking up service account {ns}/ghost: serviceaccount "ghost" not found'
            in refused.stderr)
    ok(server.kubectl("delete", "namespace", ns, "--wait=false"))
