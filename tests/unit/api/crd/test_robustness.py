"""Malformed input never raises: every library entry point answers with field errors (a user's
mistake must become a 422, never a 500)."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from kboot.controlplane.api.crd.columns import row_cells
from kboot.controlplane.api.crd.definition import validate_crd, validate_crd_update
from kboot.controlplane.api.crd.resource import ResourceSchema
from kboot.controlplane.api.crd.structural import schema_errors
from kboot.controlplane.api.crd.values import validate_value

KEYS = ["spec", "metadata", "name", "group", "names", "versions", "schema", "openAPIV3Schema",
        "type", "properties", "items", "required", "enum", "default", "subresources", "scale",
        "additionalPrinterColumns", "jsonPath", "conversion", "strategy", "webhook",
        "x-kubernetes-list-type", "x-kubernetes-list-map-keys", "x-kubernetes-validations",
        "rule", "additionalProperties", "anyOf", "allOf", "not", "pattern", "plural", "kind",
        "x-kubernetes-embedded-resource", "x-kubernetes-int-or-string", "storage", "served",
        "shortNames", "status", "storedVersions", "minimum", "maxLength", "format"]
SCALARS = st.none() | st.booleans() | st.integers(-3, 3) | st.floats(allow_nan=False) | \
    st.sampled_from(["", "object", "array", "string", "integer", "v1", ".spec.x", "map", "set",
                     "a.b", "self.x > 0", "[", "None", "Webhook"])
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.sampled_from(KEYS), inner, max_size=5), max_leaves=25)


@settings(max_examples=300, deadline=None)
@given(JSON)
def test_crd_validation_never_raises(body: Any) -> None:
    crd = body if isinstance(body, dict) else {"spec": body}
    assert isinstance(validate_crd(crd), list)
    assert isinstance(validate_crd_update(crd, copy.deepcopy(crd)), list)


@settings(max_examples=300, deadline=None)
@given(JSON, JSON)
def test_schema_checks_and_value_validation_never_raise(schema: Any, value: Any) -> None:
    assert isinstance(schema_errors(schema, "s"), list)
    if isinstance(schema, dict):
        assert isinstance(validate_value(schema, value), list)


@settings(max_examples=200, deadline=None)
@given(JSON)
def test_admitting_junk_never_raises(body: Any) -> None:
    rs = ResourceSchema({"type": "object", "properties": {"spec": {"type": "object",
                        "x-kubernetes-validations": [{"rule": "self.x > 0"}],
                        "properties": {"x": {"type": "integer"}}}}},
                        kind="Widget", namespaced=True)
    obj = body if isinstance(body, dict) else {"spec": body}
    result = rs.admit(obj, old=copy.deepcopy(obj))
    assert isinstance(result.errors, list)
    assert isinstance(row_cells(obj, [{"name": "x", "type": "integer", "jsonPath": ".spec.x"}],
                                __import__("datetime").datetime.now()), list)
