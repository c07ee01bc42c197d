"""The /openapi/v3 documents: what kubectl's apply and explain look for, and self-consistency."""

from __future__ import annotations

from typing import Any

import pytest

from kboot.controlplane.api.openapi import (
    document_hash,
    openapi_document,
    openapi_document_bytes,
    openapi_root,
)
from kboot.controlplane.api.registry import KINDS, ResourceKind


def _gv_path(rk: ResourceKind) -> str:
    return f"apis/{rk.group}/{rk.version}" if rk.group else "api/v1"


def test_root_lists_every_group_version_with_its_hash() -> None:
    root = openapi_root()
    assert set(root["paths"]) == {_gv_path(rk) for rk in KINDS}
    for path, entry in root["paths"].items():
        assert entry["serverRelativeURL"] == f"/openapi/v3/{path}?hash={document_hash(path)}"
    assert openapi_root() == root  # stable


def test_unknown_group_version() -> None:
    assert openapi_document("apis/nope/v1") is None
    assert openapi_document_bytes("nope/v9") is None
    assert document_hash("apis/nope/v1") is None


def test_aliases_for_group_versions() -> None:
    assert openapi_document("v1") is openapi_document("api/v1")
    assert openapi_document_bytes("apps/v1") == openapi_document_bytes("/apis/apps/v1")


def _supports_field_validation(doc: dict[str, Any], gvk: dict[str, str]) -> bool:
    """kubectl's queryParamVerifierV3: the PATCH operations tagged with the GVK must list a
    fieldValidation query parameter (kubectl checks whichever it meets first)."""
    found = False
    for item in doc["paths"].values():
        op = item.get("patch")
        if op is None or op.get("x-kubernetes-group-version-kind") != gvk:
            continue
        found = True
        names = {(p["name"], p["in"]) for p in op["parameters"]}
        if ("fieldValidation", "query") not in names:
            return False
    return found


@pytest.mark.parametrize("rk", KINDS, ids=lambda rk: rk.kind)
def test_kubectl_apply_finds_field_validation(rk: ResourceKind) -> None:
    doc = openapi_document(_gv_path(rk))
    assert doc is not None
    gvk = {"group": rk.group, "version": rk.version, "kind": rk.kind}
    assert _supports_field_validation(doc, gvk)


@pytest.mark.parametrize("rk", KINDS, ids=lambda rk: rk.kind)
def test_kubectl_explain_finds_the_kind(rk: ResourceKind) -> None:
    doc = openapi_document(_gv_path(rk))
    assert doc is not None
    gvk = {"group": rk.group, "version": rk.version, "kind": rk.kind}
    hits = [name for name, schema in doc["components"]["schemas"].items()
            if gvk in schema.get("x-kubernetes-group-version-kind", [])]
    assert len(hits) == 1
    schema = doc["components"]["schemas"][hits[0]]
    assert schema["description"]
    assert "metadata" in schema["properties"]


def _refs(node: Any) -> list[str]:
    if isinstance(node, list):
        return [r for n in node for r in _refs(n)]
    if isinstance(node, dict):
        own = [node["$ref"]] if "$ref" in node else []
        return own + [r for v in node.values() for r in _refs(v)]
    return []


@pytest.mark.parametrize("path", sorted({_gv_path(rk) for rk in KINDS}))
def test_every_reference_resolves(path: str) -> None:
    doc = openapi_document(path)
    assert doc is not None
    schemas = doc["components"]["schemas"]
    refs = _refs(doc)
    assert refs
    for ref in refs:
        assert ref.startswith("#/components/schemas/")
        assert ref.removeprefix("#/components/schemas/") in schemas, ref


def test_pod_document_details() -> None:
    doc = openapi_document("api/v1")
    assert doc is not None
    schemas = doc["components"]["schemas"]
    containers = schemas["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"]
    assert containers["x-kubernetes-patch-merge-key"] == "name"
    assert containers["x-kubernetes-list-map-keys"] == ["name"]
    assert containers["items"] == {"$ref": "#/components/schemas/io.k8s.api.core.v1.Container"}
    spec = schemas["io.k8s.api.core.v1.Pod"]["properties"]["spec"]
    assert spec == {"$ref": "#/components/schemas/io.k8s.api.core.v1.PodSpec"}
    target = schemas["io.k8s.api.core.v1.ServicePort"]["properties"]["targetPort"]
    assert target["allOf"] == [  # a described reference is wrapped, as upstream does
        {"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.util.intstr.IntOrString"}]
    assert target["description"]
    assert "PodSpec" not in str(schemas["io.k8s.api.core.v1.Container"]["properties"]["name"])
    ops = doc["paths"]["/api/v1/namespaces/{namespace}/pods"]
    assert {p["name"] for p in ops["get"]["parameters"]} >= {
        "labelSelector", "fieldSelector", "limit", "continue", "watch", "resourceVersion"}
    assert ops["parameters"][0]["name"] == "namespace" and ops["parameters"][0]["required"]
    assert ops["delete"]["operationId"] == "deleteCollectionCoreV1NamespacedPod"
    assert ops["delete"]["x-kubernetes-action"] == "deletecollection"
    assert "/api/v1/pods" in doc["paths"]
    assert "/api/v1/namespaces/{namespace}/pods/{name}/status" in doc["paths"]
    assert "/api/v1/nodes/{name}" in doc["paths"]
    patch = doc["paths"]["/api/v1/namespaces/{namespace}/pods/{name}"]["patch"]
    assert set(patch["requestBody"]["content"]) == {
        "application/apply-patch+yaml", "application/json-patch+json",
        "application/merge-patch+json", "application/strategic-merge-patch+json"}
    ids = [op["operationId"] for item in doc["paths"].values() for key, op in item.items()
           if key != "parameters"]
    assert len(ids) == len(set(ids))


def test_scale_subresource_uses_autoscaling_scale() -> None:
    doc = openapi_document("apps/v1")
    assert doc is not None
    scale = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"]
    assert scale["patch"]["x-kubernetes-group-version-kind"]["kind"] == "Scale"
    assert "io.k8s.api.autoscaling.v1.Scale" in doc["components"]["schemas"]
