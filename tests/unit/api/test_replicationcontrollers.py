"""ReplicationController defaults and validation (upstream's rules for its map selector)."""

from __future__ import annotations

from kboot.controlplane.api.defaults import apply_defaults
from kboot.controlplane.api.validation import validate


def _rc(**spec: object) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "ReplicationController",
            "metadata": {"name": "r", "namespace": "n"},
            "spec": {"template": {"metadata": {"labels": {"app": "r"}},
                                  "spec": {"containers": [{"name": "c", "image": "i"}]}},
                     **spec}}


def test_selector_labels_and_replicas_default_from_the_template() -> None:
    out = apply_defaults("ReplicationController", _rc())
    assert out["spec"]["selector"] == {"app": "r"}
    assert out["metadata"]["labels"] == {"app": "r"}
    assert out["spec"]["replicas"] == 1
    assert out["spec"]["template"]["spec"]["restartPolicy"] == "Always"  # pod template defaults
    given = apply_defaults("ReplicationController", _rc(selector={"app": "r"}, replicas=0))
    assert given["spec"]["replicas"] == 0


def test_validation_needs_a_matching_selector_and_allows_changing_it() -> None:
    assert validate("ReplicationController", _rc(selector={"app": "r"})) == []
    fields = [e.field for e in validate("ReplicationController", _rc(selector={"app": "x"}))]
    assert fields == ["spec.template.metadata.labels"]
    assert [e.field for e in validate("ReplicationController", _rc())] == ["spec.selector"]
    negative = validate("ReplicationController", _rc(selector={"app": "r"}, replicas=-1))
    assert [e.field for e in negative] == ["spec.replicas"]
    changed = _rc(selector={"app": "r", "tier": "x"})
    changed["spec"]["template"]["metadata"]["labels"]["tier"] = "x"  # type: ignore[index]
    assert validate("ReplicationController", changed, old=_rc(selector={"app": "r"})) == []
