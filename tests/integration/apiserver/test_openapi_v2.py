"""``/openapi/v2`` with the real kubectl 1.32 and Helm: client-side validation of a kind nobody
serves names the kind instead of failing to download the OpenAPI document."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from kboot.controlplane.api.registry import KINDS
from tests.fixtures.apiserver import ApiServer
from tests.integration.apiserver.http import call

HELM = Path("/work/main/.venv/bin/helm")
UNKNOWN = """apiVersion: example.com/v1
kind: Gadget
metadata: {name: g, namespace: default}
spec: {size: 1}
"""


def test_kubectl_strict_validation_names_an_unknown_kind(apiserver_sqlite: ApiServer) -> None:
    proc = apiserver_sqlite.kubectl("apply", "--validate=strict", "-v=6", "-f", "-",
                                    input=UNKNOWN)
    assert proc.returncode != 0
    # kubectl fetched v2 (protobuf) and parsed it: the failure is about the kind itself
    assert "GET https://" in proc.stderr and "/openapi/v2" in proc.stderr
    assert "200 OK" in proc.stderr.split("/openapi/v2", 1)[1].splitlines()[0]
    assert 'no matches for kind "Gadget" in version "example.com/v1"' in proc.stderr
    assert "openapi" not in proc.stderr.split("/openapi/v2", 1)[1].split("error:", 1)[-1]


def test_kubectl_strict_validation_of_served_kinds_still_passes(
        apiserver_sqlite: ApiServer) -> None:
    manifest = ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: v2-check, namespace: default}"
                "\ndata: {a: b}\n")
    proc = apiserver_sqlite.kubectl("apply", "--validate=strict", "-f", "-", input=manifest)
    assert proc.returncode == 0, proc.stderr
    apiserver_sqlite.kubectl("delete", "configmap", "v2-check", "-n", "default")


def test_v2_json_covers_every_served_kind(apiserver_sqlite: ApiServer) -> None:
    reply = call(apiserver_sqlite, "GET", "/openapi/v2")
    assert reply.status == 200
    doc = reply.body if isinstance(reply.body, dict) else json.loads(reply.body)
    assert doc["swagger"] == "2.0"
    gvks = {(g["group"], g["version"], g["kind"])
            for d in doc["definitions"].values()
            for g in d.get("x-kubernetes-group-version-kind", ())}
    missing = [rk.kind for rk in KINDS if (rk.group, rk.version, rk.kind) not in gvks]
    assert missing == []
    refs = json.dumps(doc).count('"$ref": "#/definitions/') + json.dumps(doc).count(
        '"$ref":"#/definitions/')
    assert refs > 100


def test_helm_install_names_an_unknown_kind(apiserver_sqlite: ApiServer,
                                            tmp_path: Path) -> None:
    chart = tmp_path / "chart"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: gadget\nversion: 0.1.0\n")
    (chart / "templates" / "gadget.yaml").write_text(UNKNOWN.replace("namespace: default", ""))
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path),
           "KUBECONFIG": str(apiserver_sqlite.kubeconfig),
           "HELM_CACHE_HOME": str(tmp_path / "cache"),
           "HELM_CONFIG_HOME": str(tmp_path / "config"),
           "HELM_DATA_HOME": str(tmp_path / "data")}
    proc = subprocess.run([str(HELM), "install", "gadget", str(chart), "-n", "default"],
                          capture_output=True, text=True, env=env, timeout=120, check=False)
    assert proc.returncode != 0
    assert "failed to download openapi" not in proc.stderr
    assert 'no matches for kind "Gadget" in version "example.com/v1"' in proc.stderr


def test_kubectl_validates_a_list_of_objects(apiserver_sqlite: ApiServer) -> None:
    # a v1 List is validated client-side through /openapi/v2 (v3 has no "List" kind)
    manifest = """apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: listed-a, namespace: default}
  data: {a: b}
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: listed-b, namespace: default}
"""
    proc = apiserver_sqlite.kubectl("apply", "--validate=strict", "-f", "-", input=manifest)
    assert proc.returncode == 0, proc.stderr
    assert "listed-a created" in proc.stdout and "listed-b created" in proc.stdout
    apiserver_sqlite.kubectl("delete", "configmap", "listed-a", "listed-b", "-n", "default")
