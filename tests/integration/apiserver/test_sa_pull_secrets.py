"""ServiceAccount imagePullSecrets reach pods at creation (upstream's ServiceAccount admission),
so the kubelet only ever reads the pod spec."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.fixtures.apiserver import ApiServer

pytestmark = pytest.mark.integration


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
