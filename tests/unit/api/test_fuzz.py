"""Property tests: the rules never crash on arbitrary input (the apiserver turns a crash into a
5xx), and a few algebraic laws of patches and selectors hold."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kboot.controlplane.api.apply import record_update, server_side_apply
from kboot.controlplane.api.defaults import apply_defaults
from kboot.controlplane.api.errors import ApiRuleError
from kboot.controlplane.api.patch import json_merge_patch, strategic_merge_patch
from kboot.controlplane.api.registry import KINDS
from kboot.controlplane.api.schemas import Schema, deref, kind_schema
from kboot.controlplane.api.selectors import parse_label_selector
from kboot.controlplane.api.tables import printer_for, to_table
from kboot.controlplane.api.validation import unknown_fields, validate

SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-3, 70000),
                    st.text("ab-/.:_ 0Z", max_size=6))
ANY_JSON = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text("abk", max_size=3), inner, max_size=3)),
    max_leaves=8)


def _from_schema(schema: Schema | None, depth: int) -> st.SearchStrategy[Any]:
    """Mostly well-typed values following the schema, sometimes anything at all."""
    if schema is None or depth > 5:
        return ANY_JSON
    target = deref(schema)
    kind = target.get("type")
    if kind == "object" and target.get("properties"):
        props = target["properties"]
        keys = sorted(props)
        field = st.sampled_from(keys).flatmap(
            lambda k: st.tuples(st.just(k), _from_schema(props[k], depth + 1)))
        typed = st.lists(field, max_size=4).map(dict)
        return st.one_of(typed, typed, ANY_JSON)
    if kind == "array":
        return st.one_of(st.lists(_from_schema(target.get("items"), depth + 1), max_size=2),
                         ANY_JSON)
    return st.one_of(SCALARS, st.text("abcxyz019-", min_size=1, max_size=8))


KIND_NAMES = [k.kind for k in KINDS]


@pytest.mark.parametrize("kind", KIND_NAMES)
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_rules_never_crash(kind: str, data: st.DataObject) -> None:
    obj = data.draw(_from_schema(kind_schema(kind), 0).filter(lambda v: isinstance(v, dict)))
    before = copy.deepcopy(obj)
    defaulted = apply_defaults(kind, obj)
    assert obj == before
    errors = validate(kind, defaulted)
    assert all(e.field is not None for e in errors)
    validate(kind, defaulted, old=apply_defaults(kind, {}))
    unknown_fields(kind, obj)
    if not errors:  # stored objects are valid: their printers must work without the fallback
        printer_for(kind).cells(defaulted, _NOW)
    to_table(kind, [obj])
    record_update(kind, None, obj, manager="m", api_version="v1", now=_NOW)
    try:
        server_side_apply(kind, defaulted, obj, manager="m", api_version="v1", now=_NOW)
        strategic_merge_patch(kind, defaulted, obj)
    except ApiRuleError:
        pass


_NOW = __import__("datetime").datetime(2024, 1, 1, tzinfo=__import__("datetime").UTC)


@settings(max_examples=200, deadline=None)
@given(doc=ANY_JSON, patch=ANY_JSON)
def test_merge_patch_is_idempotent(doc: Any, patch: Any) -> None:
    once = json_merge_patch(doc, patch)
    assert json_merge_patch(once, patch) == once


NO_LISTS = st.recursive(st.one_of(st.booleans(), st.integers(), st.text("xyz", max_size=3)),
                        lambda inner: st.dictionaries(st.sampled_from(["data", "a", "b"]), inner,
                                                      max_size=3), max_leaves=8)


@settings(max_examples=200, deadline=None)
@given(doc=st.dictionaries(st.sampled_from(["data", "a"]), NO_LISTS, max_size=3),
       patch=st.dictionaries(st.sampled_from(["data", "a"]),
                             st.one_of(st.none(), NO_LISTS), max_size=3))
def test_strategic_merge_without_lists_is_merge_patch(doc: dict[str, Any],
                                                      patch: dict[str, Any]) -> None:
    assert strategic_merge_patch("ConfigMap", doc, patch) == json_merge_patch(doc, patch)


LABEL_KEYS = st.sampled_from(["app", "tier", "example.com/role", "x"])
LABEL_VALUES = st.sampled_from(["", "web", "db", "v1.2", "a_b"])


@settings(max_examples=200, deadline=None)
@given(labels=st.dictionaries(LABEL_KEYS, LABEL_VALUES, max_size=4),
       reqs=st.lists(st.tuples(LABEL_KEYS, st.sampled_from(["=", "!=", "in", "notin", "", "!"]),
                               st.lists(LABEL_VALUES, min_size=1, max_size=2)), max_size=3))
def test_label_selector_string_round_trip(labels: dict[str, str],
                                          reqs: list[tuple[str, str, list[str]]]) -> None:
    parts = []
    for key, op, values in reqs:
        if op in ("in", "notin"):  # "a in ()" is rejected, as upstream does
            parts.append(f"{key} {op} ({','.join(v for v in values if v) or 'web'})")
        elif op == "!":
            parts.append(f"!{key}")
        elif op == "":
            parts.append(key)
        else:
            parts.append(f"{key}{op}{values[0]}")
    selector = parse_label_selector(",".join(parts))
    again = parse_label_selector(str(selector))
    assert again.matches(labels) == selector.matches(labels)
