"""Upstream's ServiceAccount admission through the real apiserver and kubectl: the account's
imagePullSecrets reach pods at creation (so the kubelet only ever reads the pod spec), a plain
pod gets the ``kube-api-access-*`` volume and its read-only mount, an opted-out pod does not,
and a pod naming a ServiceAccount that does not exist is refused with upstream's message."""

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


def test_service_account_pull_secrets_are_copied_into_pods(apiserver_sqlite: ApiServer) -> None:
    server, ns = apiserver_sqlite, "sa-pull-secrets"
    ok(server.kubectl("create", "namespace", ns))
    ok(server.kubectl("apply", "-f", "-", input=json.dumps({
        "apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {"name": "builder", "namespace": ns},
        "imagePullSecrets": [{"name": "regcred"}]})))
    ok(server.kubectl("apply", "-f", "-", input=_pod(ns, "uses-sa",
                                                     serviceAccountName="builder")))
    ok(server.kubectl("apply", "-f", "-", input=_pod(
        ns, "own", serviceAccountName="builder", imagePullSecrets=[{"name": "mine"}])))
    ok(server.kubectl("apply", "-f", "-", input=_pod(ns, "plain")))
    got = {name: json.loads(ok(server.kubectl("get", "pod", name, "-n", ns, "-o", "json")))
           ["spec"].get("imagePullSecrets") for name in ("uses-sa", "own", "plain")}
    assert got == {"uses-sa": [{"name": "regcred"}], "own": [{"name": "mine"}], "plain": None}
    ok(server.kubectl("delete", "namespace", ns, "--wait=false"))


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
