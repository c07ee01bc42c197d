"""StorageClass rules: the default class, validation and immutability, resize admission,
claim states, the local-path paths and the ``kubectl get sc`` row."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from kboot.controlplane.api import storageclasses as s
from kboot.controlplane.api.tables import to_table
from kboot.controlplane.api.validation import validate

Obj = dict[str, Any]


def sc(name: str, *, default: bool = False, created: str = "2026-01-01T00:00:00Z",
       **fields: Any) -> Obj:
    meta: Obj = {"name": name, "creationTimestamp": created}
    if default:
        meta["annotations"] = {s.IS_DEFAULT: "true"}
    return {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": meta,
            "provisioner": "kboot.io/local-path", **fields}


def test_the_default_class_is_the_newest_default_then_by_name() -> None:
    assert s.default_class([sc("a"), sc("b")]) is None
    assert s.default_class([sc("a"), sc("b", default=True)]) == "b"
    assert s.default_class([sc("old", default=True),
                            sc("new", default=True, created="2026-02-01T00:00:00Z")]) == "new"
    assert s.default_class([sc("y", default=True), sc("x", default=True)]) == "x"
    beta = sc("beta")
    beta["metadata"]["annotations"] = {s.IS_DEFAULT_BETA: "true"}
    assert s.default_class([beta]) == "beta"


def _messages(obj: Obj, old: Obj | None = None) -> list[str]:
    return [str(e) for e in validate("StorageClass", obj, old=old)]


def test_validation_requires_a_provisioner_and_known_enums() -> None:
    bad = sc("x", reclaimPolicy="Recycle", volumeBindingMode="Later")
    del bad["provisioner"]
    text = " ".join(_messages(bad))
    assert "provisioner: Required value" in text
    assert "reclaimPolicy: Unsupported value" in text
    assert "volumeBindingMode: Unsupported value" in text
    assert _messages(s.local_path_class()) == []


@pytest.mark.parametrize(("field", "value", "expected"), [
    ("provisioner", "other.io/x", "updates to provisioner are forbidden"),
    ("parameters", {"a": "b"}, "updates to parameters are forbidden"),
    ("reclaimPolicy", "Retain", "updates to reclaimPolicy are forbidden"),
    ("volumeBindingMode", "Immediate", "field is immutable"),
])
def test_updates_of_immutable_fields_are_refused(field: str, value: Any, expected: str) -> None:
    old = s.local_path_class()
    new = {**old, field: value}
    assert any(expected in m for m in _messages(new, old))


def test_expansion_may_change_the_flag() -> None:
    old = s.local_path_class()
    assert _messages({**old, "allowVolumeExpansion": False}, old) == []


def claim(size: str, *, volume: str = "pv", capacity: str = "1Gi") -> Obj:
    return {"metadata": {"name": "c", "namespace": "ns", "uid": "u1"},
            "spec": {"storageClassName": "local-path", "volumeName": volume,
                     "resources": {"requests": {"storage": size}}},
            "status": {"capacity": {"storage": capacity}}}


def test_resize_rules() -> None:
    expandable, fixed = s.local_path_class(), {**s.local_path_class(),
                                               "allowVolumeExpansion": False}
    assert s.resize_error(claim("2Gi"), claim("1Gi"), expandable) is None
    assert s.resize_error(claim("1Gi"), claim("1Gi"), fixed) is None  # no change
    assert "must support resize" in str(s.resize_error(claim("2Gi"), claim("1Gi"), fixed))
    assert "must support resize" in str(s.resize_error(claim("2Gi"), claim("1Gi"), None))
    assert "less than" in str(s.resize_error(claim("500Mi"), claim("1Gi"), expandable))
    assert "bound claims" in str(s.resize_error(claim("2Gi", volume=""),
                                               claim("1Gi", volume=""), expandable))


def test_claim_states() -> None:
    classes = {"local-path": s.local_path_class(),
               "fast": {**s.local_path_class(), "volumeBindingMode": "Immediate"}}
    unbound = claim("1Gi", volume="")
    assert s.claim_state(claim("1Gi"), classes) is s.ClaimState.BOUND
    assert s.claim_state(unbound, classes) is s.ClaimState.PROVISION
    unbound["spec"]["storageClassName"] = "fast"
    assert s.claim_state(unbound, classes) is s.ClaimState.WAITING
    unbound["spec"]["storageClassName"] = ""
    assert s.claim_state(unbound, classes) is s.ClaimState.WAITING
    unbound["spec"]["storageClassName"] = "nope"
    assert s.claim_state(unbound, classes) is s.ClaimState.NO_CLASS


def test_local_path_directories_and_what_may_be_removed() -> None:
    path = s.local_path_dir("/var/lib/kboot/local-path", claim("1Gi"))
    assert path == "/var/lib/kboot/local-path/pvc-u1_ns_c"
    assert s.under_base(path, "/var/lib/kboot/local-path")
    assert s.under_base(path, "/var/lib/kboot/local-path/")
    for other in ("/var/lib/kboot/local-path", "/etc", "/var/lib/kboot/local-path/../pvc-x",
                  "/var/lib/kboot/local-path/data", "/var/lib/kboot/local-path/pvc-a/b"):
        assert not s.under_base(other, "/var/lib/kboot/local-path"), other


def test_pinned_node_reads_only_a_single_hostname() -> None:
    def pv(*terms: Obj) -> Obj:
        return {"spec": {"nodeAffinity": {"required": {"nodeSelectorTerms": list(terms)}}}}

    one = {"matchExpressions": [{"key": s.HOSTNAME, "operator": "In", "values": ["n1"]}]}
    two = {"matchExpressions": [{"key": s.HOSTNAME, "operator": "In", "values": ["a", "b"]}]}
    assert s.pinned_node(pv(one)) == "n1"
    assert s.pinned_node(pv(two)) is None
    assert s.pinned_node(pv(one, one)) is None
    assert s.pinned_node({"spec": {}}) is None


def test_kubectl_get_sc_row() -> None:
    now = datetime(2026, 1, 1, 0, 5, tzinfo=UTC)
    table = to_table("StorageClass", [{**s.local_path_class(), "metadata": {
        **s.local_path_class()["metadata"], "creationTimestamp": "2026-01-01T00:00:00Z"}},
        sc("plain")], now=now)
    names = [c["name"] for c in table["columnDefinitions"]]
    assert names == ["Name", "Provisioner", "ReclaimPolicy", "VolumeBindingMode",
                     "AllowVolumeExpansion", "Age"]
    assert table["rows"][0]["cells"] == ["local-path (default)", "kboot.io/local-path",
                                         "Delete", "WaitForFirstConsumer", True, "5m"]
    assert table["rows"][1]["cells"][:5] == ["plain", "kboot.io/local-path", "Delete",
                                             "Immediate", False]
