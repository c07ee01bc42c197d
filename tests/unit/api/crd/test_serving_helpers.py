"""What CRD serving calls besides admission: versions, printer columns, scale, OpenAPI."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from kboot.controlplane.api.crd import columns, jsonpath, openapi, scale, versions
from kboot.controlplane.api.openapi_v2 import openapi_v2_document

NOW = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)


def crd() -> dict[str, Any]:
    return {
        "metadata": {"name": "crontabs.stable.example.com"},
        "spec": {
            "group": "stable.example.com", "scope": "Namespaced",
            "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab",
                      "listKind": "CronTabList", "shortNames": ["ct"]},
            "versions": [
                {"name": "v1beta1", "served": True, "storage": False,
                 "schema": {"openAPIV3Schema": {"type": "object"}}},
                {"name": "v1", "served": True, "storage": True,
                 "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                     "spec": {"type": "object", "description": "Desired cron.",
                              "properties": {
                                  "cronSpec": {"type": "string", "nullable": True},
                                  "replicas": {"type": "integer"},
                                  "port": {"x-kubernetes-int-or-string": True,
                                           "anyOf": [{"type": "integer"},
                                                     {"type": "string"}]}}}}}},
                 "subresources": {"status": {}, "scale": {
                     "specReplicasPath": ".spec.replicas",
                     "statusReplicasPath": ".status.replicas",
                     "labelSelectorPath": ".status.selector"}},
                 "additionalPrinterColumns": [
                     {"name": "Spec", "type": "string", "jsonPath": ".spec.cronSpec"},
                     {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"},
                     {"name": "Ready", "type": "string",
                      "jsonPath": '.status.conditions[?(@.type=="Ready")].status'},
                     {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp",
                      "priority": 1}]},
                {"name": "v0", "served": False, "storage": False},
            ]}}


def test_served_and_storage_versions_and_conversion() -> None:
    assert [v.name for v in versions.served_versions(crd())] == ["v1", "v1beta1"]
    assert versions.storage_version(crd()).name == "v1"   # type: ignore[union-attr]
    v1 = versions.version_of(crd(), "v1")
    assert v1 is not None and v1.status_enabled and v1.scale is not None
    obj = {"apiVersion": "stable.example.com/v1", "kind": "CronTab", "spec": {"a": 1}}
    converted = versions.convert(obj, crd(), "v1beta1")
    assert converted == {**obj, "apiVersion": "stable.example.com/v1beta1"}
    assert obj["apiVersion"] == "stable.example.com/v1"   # a copy


@pytest.mark.parametrize(("names", "ordered"), [
    (["v1", "v2", "v1beta1", "v2alpha1", "v10"], ["v10", "v2", "v1", "v1beta1", "v2alpha1"]),
    (["v1alpha1", "v1alpha2", "foo"], ["v1alpha2", "v1alpha1", "foo"]),
])
def test_version_priority_matches_kubernetes(names: list[str], ordered: list[str]) -> None:
    assert sorted(names, key=versions.version_priority) == ordered


def test_printer_columns_and_cells() -> None:
    v1 = versions.version_of(crd(), "v1")
    assert v1 is not None
    defs = columns.table_columns(v1.columns)
    assert [c["name"] for c in defs] == ["Name", "Spec", "Replicas", "Ready", "Age"]
    assert defs[4]["priority"] == 1 and defs[2]["type"] == "integer"
    obj = {"metadata": {"name": "c1", "creationTimestamp": "2026-01-10T11:55:00Z"},
           "spec": {"cronSpec": "* * * * */5", "replicas": 2.0},
           "status": {"conditions": [{"type": "Synced", "status": "False"},
                                     {"type": "Ready", "status": "True"}]}}
    assert columns.row_cells(obj, v1.columns, NOW) == ["c1", "* * * * */5", 2, "True", "5m"]
    bare = {"metadata": {"name": "c2"}, "spec": {"replicas": "two"}}
    assert columns.row_cells(bare, v1.columns, NOW) == ["c2", None, None, None, None]
    # no columns declared: upstream's Age column
    assert columns.row_cells(obj, [], NOW) == ["c1", "5m"]
    assert [c["name"] for c in columns.table_columns([])] == ["Name", "Age"]


@pytest.mark.parametrize(("path", "expected"), [
    (".spec.a", [1]),
    (".spec['b.c']", [2]),
    (".spec.list[1]", [20]),
    (".spec.list[-1]", [30]),
    (".spec.list[*]", [10, 20, 30]),
    (".spec.objs[*].n", ["x", "y"]),
    ('.spec.objs[?(@.n=="y")].v', [2]),
    ('.spec.objs[?(@.n!="y")].v', [1]),
    (".spec.missing.deeper", []),
    ("{.spec.a}", [1]),
])
def test_jsonpath(path: str, expected: list[Any]) -> None:
    obj = {"spec": {"a": 1, "b.c": 2, "list": [10, 20, 30],
                    "objs": [{"n": "x", "v": 1}, {"n": "y", "v": 2}]}}
    assert jsonpath.find(obj, path) == expected


def test_scale_reads_and_writes_through_the_paths() -> None:
    v1 = versions.version_of(crd(), "v1")
    assert v1 is not None and v1.scale is not None
    obj = {"metadata": {"name": "c1", "namespace": "d", "resourceVersion": "7", "uid": "u"},
           "spec": {"replicas": 3}, "status": {"replicas": 2, "selector": "app=c"}}
    assert scale.scale_of(obj, v1.scale) == {
        "apiVersion": "autoscaling/v1", "kind": "Scale",
        "metadata": {"name": "c1", "namespace": "d", "uid": "u", "resourceVersion": "7"},
        "spec": {"replicas": 3}, "status": {"replicas": 2, "selector": "app=c"}}
    assert scale.scale_of({"metadata": {}}, v1.scale)["spec"] == {"replicas": 0}
    updated = scale.apply_scale({"metadata": {}}, v1.scale, 5)
    assert updated["spec"] == {"replicas": 5}
    assert [str(e) for e in scale.validate_scale({"spec": {"replicas": -1}})] == [
        "spec.replicas: Invalid value: -1: must be greater than or equal to 0"]


def test_openapi_v3_document_for_a_crd_group_version() -> None:
    doc = openapi.v3_document([crd()], "stable.example.com", "v1")
    assert doc is not None
    schemas = doc["components"]["schemas"]
    own = schemas["com.example.stable.v1.CronTab"]
    assert own["x-kubernetes-group-version-kind"] == [
        {"group": "stable.example.com", "version": "v1", "kind": "CronTab"}]
    assert own["properties"]["metadata"]["allOf"] == [
        {"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}]
    assert own["properties"]["spec"]["description"] == "Desired cron."
    assert "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta" in schemas
    assert "io.k8s.api.autoscaling.v1.Scale" in schemas
    base = "/apis/stable.example.com/v1/namespaces/{namespace}/crontabs"
    assert set(doc["paths"]) == {base, base + "/{name}", base + "/{name}/status",
                                 base + "/{name}/scale", "/apis/stable.example.com/v1/crontabs"}
    patch = doc["paths"][base + "/{name}"]["patch"]
    assert any(p["name"] == "fieldValidation" for p in patch["parameters"])
    assert patch["x-kubernetes-group-version-kind"]["kind"] == "CronTab"
    assert openapi.v3_document([crd()], "stable.example.com", "v0") is None


def test_openapi_v2_definitions_drop_what_swagger_2_cannot_say() -> None:
    defs = openapi.v2_definitions([crd()])
    assert set(defs) == {"com.example.stable.v1.CronTab", "com.example.stable.v1.CronTabList",
                         "com.example.stable.v1beta1.CronTab",
                         "com.example.stable.v1beta1.CronTabList"}
    spec = defs["com.example.stable.v1.CronTab"]["properties"]["spec"]["properties"]
    assert "nullable" not in spec["cronSpec"]
    assert "type" not in spec["port"] and "anyOf" not in spec["port"]
    doc = openapi_v2_document(defs)
    assert doc["definitions"]["com.example.stable.v1.CronTabList"]["properties"]["items"][
        "items"] == {"$ref": "#/definitions/com.example.stable.v1.CronTab"}


def test_replica_paths_must_hold_integers() -> None:
    spec = {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas",
            "labelSelectorPath": ".status.selector"}
    found = [str(e) for e in scale.replica_path_errors(
        {"spec": {"replicas": "two"}, "status": {"selector": {"app": "x"}}}, spec)]
    assert found == [
        ".spec.replicas: Invalid value: 0: .spec.replicas accessor error: two is of the type "
        "string, expected int64",
        '.status.selector: Invalid value: "": .status.selector accessor error: '
        "map[app:x] is of the type map[string]interface {}, expected string"]
    assert scale.replica_path_errors({"spec": {}}, spec) == []
