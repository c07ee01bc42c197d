"""A CRD's served versions other than the storage one, with the real kubectl: discovery lists
both, objects written in either version are stored in the storage version and read back in
the version asked for (get, list, watch, Table), each version prunes, defaults and validates
with its own schema, and a deprecated version warns."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.apiserver import KUBECTL, ApiServer
from tests.fixtures.webhook_server import WebhookServer

pytestmark = pytest.mark.integration

GROUP = "versions.kboot.dev"
CRD = f"widgets.{GROUP}"


def _schema(*, size_default: str, extra: str) -> dict[str, Any]:
    return {"type": "object", "properties": {"spec": {"type": "object", "properties": {
        "size": {"type": "string", "enum": ["S", "M", "L"], "default": size_default},
        "color": {"type": "string"},
        "tags": {"type": "array", "items": {"type": "string"}},
        extra: {"type": "integer", "minimum": 0}}}}}


def widget_crd() -> dict[str, Any]:
    """v1 (storage, ``count``), v1beta1 (served, deprecated, ``legacyCount``)."""
    v1 = {"name": "v1", "served": True, "storage": True,
          "schema": {"openAPIV3Schema": _schema(size_default="M", extra="count")},
          "additionalPrinterColumns": [{"name": "Size", "type": "string",
                                        "jsonPath": ".spec.size"}]}
    beta = {"name": "v1beta1", "served": True, "storage": False, "deprecated": True,
            "deprecationWarning": "widgets v1beta1 is going away; use v1",
            "schema": {"openAPIV3Schema": _schema(size_default="S", extra="legacyCount")},
            "additionalPrinterColumns": [{"name": "Color", "type": "string",
                                          "jsonPath": ".spec.color"}]}
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": CRD},
            "spec": {"group": GROUP, "scope": "Namespaced",
                     "names": {"plural": "widgets", "singular": "widget", "kind": "Widget",
                               "shortNames": ["wd"]},
                     "versions": [beta, v1]}}


def widget(name: str, version: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/{version}", "kind": "Widget",
            "metadata": {"name": name, "namespace": "default"}, "spec": spec}


def _ok(server: ApiServer, *args: str, input: str | None = None) -> str:
    done = server.kubectl(*args, input=input)
    assert done.returncode == 0, (args, done.stderr)
    return done.stdout


def _raw(server: ApiServer, path: str) -> Any:
    return json.loads(_ok(server, "get", "--raw", path))


def _establish(server: ApiServer, crd: dict[str, Any]) -> None:
    _ok(server, "apply", "-f", "-", input=json.dumps(crd))
    _ok(server, "wait", "--for=condition=Established", f"crd/{crd['metadata']['name']}",
        "--timeout=30s")


def test_every_served_version_is_served(apiserver: ApiServer) -> None:
    _establish(apiserver, widget_crd())
    group = _raw(apiserver, f"/apis/{GROUP}")
    assert [v["version"] for v in group["versions"]] == ["v1", "v1beta1"]
    assert group["preferredVersion"]["version"] == "v1"
    beta = _raw(apiserver, f"/apis/{GROUP}/v1beta1")
    assert [r["name"] for r in beta["resources"]] == ["widgets"]

    # written in v1beta1: its own default (size S), stored as v1, read in either version
    done = apiserver.kubectl("apply", "-f", "-",
                             input=json.dumps(widget("old", "v1beta1", legacyCount=3,
                                                     color="red")))
    assert done.returncode == 0, done.stderr
    assert "widgets v1beta1 is going away; use v1" in done.stderr  # the deprecation Warning
    as_v1 = _raw(apiserver, f"/apis/{GROUP}/v1/namespaces/default/widgets/old")
    assert as_v1["apiVersion"] == f"{GROUP}/v1"
    assert as_v1["spec"] == {"size": "S", "color": "red"}  # legacyCount is not a v1 field
    as_beta = json.loads(_ok(apiserver, "get", "widgets.v1beta1.versions.kboot.dev", "old",
                             "-o", "json"))
    assert as_beta["apiVersion"] == f"{GROUP}/v1beta1" and as_beta["spec"]["size"] == "S"

    # written in v1: v1's default; listed through v1beta1, every item is v1beta1
    _ok(apiserver, "apply", "-f", "-", input=json.dumps(widget("new", "v1", count=2)))
    listed = _raw(apiserver, f"/apis/{GROUP}/v1beta1/namespaces/default/widgets")
    assert listed["apiVersion"] == f"{GROUP}/v1beta1" and listed["kind"] == "WidgetList"
    assert {i["metadata"]["name"]: (i["apiVersion"], i["spec"]) for i in listed["items"]} == {
        "old": (f"{GROUP}/v1beta1", {"size": "S", "color": "red"}),
        "new": (f"{GROUP}/v1beta1", {"size": "M"})}  # count pruned by v1beta1's schema

    # each version validates with its own schema
    bad = apiserver.kubectl("apply", "-f", "-",
                            input=json.dumps(widget("bad", "v1beta1", legacyCount=-1)))
    assert bad.returncode != 0 and "spec.legacyCount" in bad.stderr, bad.stderr
    strict = apiserver.kubectl("create", "--validate=strict", "-f", "-",
                               input=json.dumps(widget("strict", "v1beta1", count=1)))
    assert strict.returncode != 0 and 'unknown field "spec.count"' in strict.stderr, \
        strict.stderr

    # updates through v1beta1: merge patch, apply again, and Tables with its own columns
    _ok(apiserver, "patch", "widgets.v1beta1.versions.kboot.dev", "old", "--type=merge",
        "-p", '{"spec":{"color":"blue"}}')
    _ok(apiserver, "apply", "-f", "-",
        input=json.dumps(widget("old", "v1beta1", color="green", tags=["a"])))
    stored = _raw(apiserver, f"/apis/{GROUP}/v1/namespaces/default/widgets/old")
    assert stored["spec"] == {"size": "S", "color": "green", "tags": ["a"]}
    table = _ok(apiserver, "get", "widgets.v1beta1.versions.kboot.dev").splitlines()
    assert table[0].split() == ["NAME", "COLOR"], table
    assert _ok(apiserver, "get", "wd").splitlines()[0].split() == ["NAME", "SIZE"]

    # a watch in v1beta1 delivers v1beta1 objects
    watch = subprocess.Popen(
        [KUBECTL, "--kubeconfig", str(apiserver.admin.kubeconfig), "get", "--raw",
         f"/apis/{GROUP}/v1beta1/namespaces/default/widgets?watch=true&"
         "fieldSelector=metadata.name%3Dnew"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={"HOME": str(apiserver.workdir / "home"), "PATH": "/usr/bin:/bin"})
    try:
        assert watch.stdout is not None and watch.stderr is not None
        line = watch.stdout.readline()
        assert line, watch.stderr.read()
        event = json.loads(line)
        assert event["type"] == "ADDED"
        assert event["object"]["apiVersion"] == f"{GROUP}/v1beta1"
        _ok(apiserver, "delete", "widgets.v1beta1.versions.kboot.dev", "new")
        types = []
        while not types or types[-1] != "DELETED":
            event = json.loads(watch.stdout.readline())
            assert event["object"]["apiVersion"] == f"{GROUP}/v1beta1", event
            types.append(event["type"])
    finally:
        watch.terminate()
        watch.wait(10)

    # the v1beta1 OpenAPI document exists (kubectl explain of the version)
    explained = _ok(apiserver, "explain", "widgets.spec", "--api-version", f"{GROUP}/v1beta1")
    assert "legacyCount" in explained


def test_conversion_webhook(apiserver: ApiServer, tmp_path: Path) -> None:
    """``conversion.strategy: Webhook``: writes are converted to the storage version and reads
    to the version asked for by a real HTTPS webhook (certificate from the test CA); a failing
    webhook is a 500 naming it."""
    hooks = WebhookServer(apiserver.ca, tmp_path).start()
    try:
        crd = widget_crd()
        crd["metadata"]["name"] = f"gadgets.{GROUP}"
        crd["spec"]["names"] = {"plural": "gadgets", "singular": "gadget", "kind": "Gadget"}
        crd["spec"]["conversion"] = {"strategy": "Webhook", "webhook": {
            "conversionReviewVersions": ["v1"], "clientConfig": hooks.client_config("/convert")}}
        _establish(apiserver, crd)
        gadget = {**widget("g", "v1beta1", legacyCount=4), "kind": "Gadget"}
        _ok(apiserver, "apply", "-f", "-", input=json.dumps(gadget))
        stored = _raw(apiserver, f"/apis/{GROUP}/v1/namespaces/default/gadgets/g")
        assert stored["apiVersion"] == f"{GROUP}/v1" and stored["spec"]["count"] == 4
        assert "legacyCount" not in stored["spec"]
        listed = _raw(apiserver, f"/apis/{GROUP}/v1beta1/namespaces/default/gadgets")
        assert [(i["apiVersion"], i["spec"].get("legacyCount")) for i in listed["items"]] == [
            (f"{GROUP}/v1beta1", 4)]
        reviewed = [r for r in hooks.reviews if r["path"] == "convert"]
        assert {r["desiredAPIVersion"] for r in reviewed} == {f"{GROUP}/v1",
                                                                f"{GROUP}/v1beta1"}

        crd["spec"]["conversion"]["webhook"]["clientConfig"] = hooks.client_config(
            "/convertfail")
        _ok(apiserver, "apply", "-f", "-", input=json.dumps(crd))

        def refused() -> str:
            done = apiserver.kubectl("get", "--raw",
                                     f"/apis/{GROUP}/v1beta1/namespaces/default/gadgets/g")
            return "" if done.returncode == 0 else done.stderr
        deadline = time.monotonic() + 30
        while not (message := refused()):
            assert time.monotonic() < deadline, "the CRD change never reached serving"
            time.sleep(0.2)
        assert "conversion webhook for" in message and "the test refuses" in message, message
        # the storage version needs no conversion: still served
        assert _raw(apiserver, f"/apis/{GROUP}/v1/namespaces/default/gadgets/g")["spec"] == {
            "count": 4, "size": "S"}  # v1beta1's default, from the write
    finally:
        hooks.stop()


def test_no_new_custom_resources_while_the_crd_terminates(apiserver: ApiServer) -> None:
    crd = widget_crd()
    crd["metadata"]["name"] = f"things.{GROUP}"
    crd["spec"]["names"] = {"plural": "things", "singular": "thing", "kind": "Thing"}
    _establish(apiserver, crd)
    held = {**widget("held", "v1"), "kind": "Thing"}
    held["metadata"]["finalizers"] = ["kboot.dev/hold"]
    _ok(apiserver, "apply", "-f", "-", input=json.dumps(held))
    _ok(apiserver, "delete", "crd", f"things.{GROUP}", "--wait=false")
    refused = apiserver.kubectl("create", "-f", "-",
                                input=json.dumps({**widget("late", "v1"), "kind": "Thing"}))
    assert refused.returncode != 0
    assert "create not allowed while custom resource definition is terminating" in \
        refused.stderr, refused.stderr
    # the held object can still be read and released; then the CRD goes
    _ok(apiserver, "patch", f"things.v1.{GROUP}", "held", "--type=merge",
        "-p", '{"metadata":{"finalizers":null}}')
    _ok(apiserver, "wait", "--for=delete", f"crd/things.{GROUP}", "--timeout=30s")


def test_server_side_apply_merges_by_the_schemas_list_types(apiserver: ApiServer) -> None:
    """Two managers apply one item each of a ``x-kubernetes-list-type: map`` list (keyed by
    ``name``) and of a ``set``: both items stay, each owned by its manager; an atomic list is
    replaced whole."""
    schema = {"type": "object", "properties": {"spec": {"type": "object", "properties": {
        "ports": {"type": "array", "x-kubernetes-list-type": "map",
                  "x-kubernetes-list-map-keys": ["name"],
                  "items": {"type": "object", "required": ["name"], "properties": {
                      "name": {"type": "string"}, "port": {"type": "integer"}}}},
        "tags": {"type": "array", "x-kubernetes-list-type": "set",
                 "items": {"type": "string"}},
        "args": {"type": "array", "items": {"type": "string"}}}}}}
    crd = widget_crd()
    crd["metadata"]["name"] = f"boxes.{GROUP}"
    crd["spec"]["names"] = {"plural": "boxes", "singular": "box", "kind": "Box"}
    crd["spec"]["versions"] = [{"name": "v1", "served": True, "storage": True,
                                "schema": {"openAPIV3Schema": schema}}]
    _establish(apiserver, crd)

    def apply(manager: str, **spec: Any) -> None:
        box = {**widget("b", "v1", **spec), "kind": "Box"}
        _ok(apiserver, "apply", "--server-side", f"--field-manager={manager}", "-f", "-",
            input=json.dumps(box))

    apply("first", ports=[{"name": "http", "port": 80}], tags=["a"], args=["x"])
    apply("second", ports=[{"name": "https", "port": 443}], tags=["b"])
    box = _raw(apiserver, f"/apis/{GROUP}/v1/namespaces/default/boxes/b")
    assert box["spec"]["ports"] == [{"name": "http", "port": 80},
                                    {"name": "https", "port": 443}]
    assert sorted(box["spec"]["tags"]) == ["a", "b"] and box["spec"]["args"] == ["x"]
    owners = {m["manager"]: json.dumps(m["fieldsV1"]) for m in box["metadata"]["managedFields"]}
    assert 'k:{\\"name\\":\\"https\\"}' in owners["second"]
    assert 'k:{\\"name\\":\\"http\\"}' in owners["first"]
    # the first manager drops its port: only its own item goes
    apply("first", tags=["a"], args=["y"])
    box = _raw(apiserver, f"/apis/{GROUP}/v1/namespaces/default/boxes/b")
    assert box["spec"]["ports"] == [{"name": "https", "port": 443}]
    assert box["spec"]["args"] == ["y"]
