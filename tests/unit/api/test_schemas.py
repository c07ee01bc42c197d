"""The schema data: current with its generator, and carrying the facts the rules rely on."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from kboot.controlplane.api.registry import KINDS, ResourceKind
from kboot.controlplane.api.schemas import (
    definitions,
    kind_schema,
    list_semantics,
    resolve_kind,
    schema_at,
)

ROOT = Path(__file__).resolve().parents[3]


def test_committed_data_matches_the_generator() -> None:
    proc = subprocess.run([sys.executable, "tools/gen_schemas.py", "--check"], cwd=ROOT,
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, "schemas.json is stale: run tools/gen_schemas.py " + proc.stderr


def test_data_file_names_its_origin() -> None:
    text = (ROOT / "kboot/controlplane/api/schemas.json").read_text()
    assert "Apache License, Version 2.0" in json.loads(text)["_license"]


def test_runtime_does_not_import_the_client() -> None:
    code = ("import sys, kboot.controlplane.api.openapi, kboot.controlplane.api.apply, "
            "kboot.controlplane.api.validation, kboot.controlplane.api.tables; "
            "assert 'kubernetes' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


@pytest.mark.parametrize("kind", KINDS, ids=lambda rk: rk.kind)
def test_every_kind_has_a_schema_with_its_gvk(kind: ResourceKind) -> None:
    schema = kind_schema(kind)
    assert schema["x-kubernetes-group-version-kind"] == [
        {"group": kind.group, "kind": kind.kind, "version": kind.version}]
    assert {"apiVersion", "kind", "metadata"} <= set(schema["properties"])


@pytest.mark.parametrize(
    ("kind", "path", "list_type", "keys", "strategy", "merge_key"),
    [("Pod", ("spec", "containers"), "map", ("name",), "merge", "name"),
     ("Pod", ("spec", "volumes"), "map", ("name",), "merge,retainKeys", "name"),
     ("Pod", ("spec", "containers", "ports"), "map", ("containerPort", "protocol"), "merge",
      "containerPort"),
     ("Pod", ("spec", "containers", "env"), "map", ("name",), "merge", "name"),
     ("Pod", ("spec", "containers", "volumeMounts"), "map", ("mountPath",), "merge",
      "mountPath"),
     ("Pod", ("spec", "tolerations"), "atomic", (), "", ""),
     ("Pod", ("spec", "containers", "args"), "atomic", (), "", ""),
     ("Pod", ("metadata", "finalizers"), "set", (), "merge", ""),
     ("Pod", ("spec", "imagePullSecrets"), "map", ("name",), "merge", "name"),
     ("Service", ("spec", "ports"), "map", ("port", "protocol"), "merge", "port"),
     ("Deployment", ("spec", "template", "spec", "containers"), "map", ("name",), "merge",
      "name"),
     ("Deployment", ("status", "conditions"), "map", ("type",), "merge", "type"),
     ("Node", ("status", "addresses"), "map", ("type",), "merge", "type")],
)
def test_list_semantics(kind: str, path: tuple[str, ...], list_type: str,
                        keys: tuple[str, ...], strategy: str, merge_key: str) -> None:
    sem = list_semantics(schema_at(kind, path))
    assert (sem.list_type, sem.keys, sem.strategy, sem.merge_key) == (
        list_type, keys, strategy, merge_key)


def test_retain_keys_on_deployment_strategy() -> None:
    strategy = schema_at("Deployment", ("spec", "strategy"))
    assert strategy is not None and strategy["x-kubernetes-patch-strategy"] == "retainKeys"


def test_special_types() -> None:
    target = schema_at("Service", ("spec", "ports", "targetPort"))
    assert target is not None and target["$ref"].endswith("IntOrString")
    limits = schema_at("Pod", ("spec", "containers", "resources", "limits"))
    assert limits is not None and limits["additionalProperties"]["$ref"].endswith("Quantity")
    assert schema_at("Secret", ("data",))["additionalProperties"]["format"] == "byte"  # type: ignore[index]


def test_no_prerelease_types() -> None:
    assert not [n for n in definitions() if "alpha" in n or "beta" in n]


@pytest.mark.parametrize("ref", ["Pod", "v1/Pod", "apps/v1/Deployment", "Deployment"])
def test_resolve_kind(ref: str) -> None:
    assert resolve_kind(ref).kind in ("Pod", "Deployment")


def test_resolve_unknown_kind() -> None:
    with pytest.raises(KeyError):
        resolve_kind("Bogus")
    with pytest.raises(KeyError):
        resolve_kind("apps/v2/Deployment")
