"""Toleration matching, the one rule the scheduler, the DaemonSet and the node lifecycle
controllers share: upstream's behaviour table (k8s.io/api core/v1 ToleratesTaint, the rows for
the Exists and Equal operators) and properties that follow from its documented rules."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kboot.controlplane.api.shapes import Taint, Toleration
from kboot.controlplane.api.tolerations import (
    first_untolerated,
    matching,
    tolerated,
    tolerates,
    toleration_seconds,
)

NS, NE = "NoSchedule", "NoExecute"

# (description, toleration, taint, tolerated)
TABLE: list[tuple[str, dict[str, Any], dict[str, Any], bool]] = [
    ("same key and effect, Exists, taint without value",
     {"key": "foo", "operator": "Exists", "effect": NS}, {"key": "foo", "effect": NS}, True),
    ("same key and effect, Exists, taint with a value",
     {"key": "foo", "operator": "Exists", "effect": NS},
     {"key": "foo", "value": "bar", "effect": NS}, True),
    ("empty key with Exists matches every key",
     {"key": "", "operator": "Exists", "effect": NS},
     {"key": "foo", "value": "bar", "effect": NS}, True),
    ("same key, effect and value, Equal",
     {"key": "foo", "operator": "Equal", "value": "bar", "effect": NS},
     {"key": "foo", "value": "bar", "effect": NS}, True),
    ("same key and effect, different values, Equal",
     {"key": "foo", "operator": "Equal", "value": "value1", "effect": NS},
     {"key": "foo", "value": "value2", "effect": NS}, False),
    ("same key and value, different effects, Equal",
     {"key": "foo", "operator": "Equal", "value": "bar", "effect": NS},
     {"key": "foo", "value": "bar", "effect": NE}, False),
    # the rows below follow from the same rules; the three old copies disagreed on them
    ("no operator means Equal", {"key": "foo", "value": "bar"},
     {"key": "foo", "value": "bar", "effect": NE}, True),
    ("values are compared exactly", {"key": "foo", "value": "Bar"},
     {"key": "foo", "value": "bar", "effect": NS}, False),
    ("an absent value is the empty string", {"key": "foo", "value": ""},
     {"key": "foo", "effect": NS}, True),
    ("Equal with a value does not tolerate a taint without one", {"key": "foo", "value": "x"},
     {"key": "foo", "effect": NE}, False),
    ("empty effect matches every effect", {"key": "foo", "operator": "Exists"},
     {"key": "foo", "effect": "PreferNoSchedule"}, True),
    ("different keys", {"key": "foo", "operator": "Exists"}, {"key": "bar", "effect": NS},
     False),
    ("empty toleration with Exists tolerates everything", {"operator": "Exists"},
     {"key": "any", "value": "thing", "effect": NE}, True),
    ("an unknown operator tolerates nothing", {"key": "foo", "operator": "Gt", "value": "1"},
     {"key": "foo", "value": "2", "effect": NS}, False),
]


@pytest.mark.parametrize(("toleration", "taint", "expected"),
                         [row[1:] for row in TABLE], ids=[row[0] for row in TABLE])
def test_upstream_behaviour_table(toleration: Toleration, taint: Taint, expected: bool) -> None:
    assert tolerates(toleration, taint) is expected


_words = st.sampled_from(["", "a", "b", "node.kubernetes.io/unreachable"])
_effects = st.sampled_from(["", NS, "PreferNoSchedule", NE])


def _maybe(key: str, values: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """A dict with ``key`` absent or set, so absent-versus-empty is exercised."""
    return st.one_of(st.just({}), values.map(lambda v: {key: v}))


def _shape(*parts: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[Any]:
    return st.tuples(*parts).map(lambda ds: {k: v for d in ds for k, v in d.items()})


tolerations = _shape(_maybe("key", _words), _maybe("value", _words), _maybe("effect", _effects),
                     _maybe("operator", st.sampled_from(["", "Equal", "Exists"])))
taints = _shape(_maybe("key", _words), _maybe("value", _words), _maybe("effect", _effects))


@given(tolerations, taints)
def test_matches_the_documented_rules(toleration: Toleration, taint: Taint) -> None:
    """Effect, key, then value by operator, each empty/absent toleration field a wildcard
    (value only for Exists), absent taint fields the empty string."""
    effect_ok = toleration.get("effect", "") in ("", taint.get("effect", ""))
    key_ok = toleration.get("key", "") in ("", taint.get("key", ""))
    if toleration.get("operator") == "Exists":
        value_ok = True
    else:
        value_ok = toleration.get("value", "") == taint.get("value", "")
    assert tolerates(toleration, taint) is (effect_ok and key_ok and value_ok)


@given(tolerations, taints)
def test_widening_a_toleration_never_loses_a_taint(toleration: Toleration,
                                                  taint: Taint) -> None:
    if tolerates(toleration, taint):
        assert tolerates({**toleration, "effect": ""}, taint)
        assert tolerates({**toleration, "operator": "Exists"}, taint)
        assert tolerates({**toleration, "key": "", "operator": "Exists"}, taint)


@given(taints)
def test_the_empty_exists_toleration_tolerates_every_taint(taint: Taint) -> None:
    assert tolerates({"operator": "Exists"}, taint)


def test_first_untolerated_skips_soft_effects() -> None:
    taints: list[Taint] = [{"key": "soft", "effect": "PreferNoSchedule"},
                           {"key": "a", "effect": NS}, {"key": "b", "effect": NE}]
    assert first_untolerated(taints, []) == {"key": "a", "effect": NS}
    assert first_untolerated(taints, [{"key": "a", "operator": "Exists"}]) == taints[2]
    assert first_untolerated(taints, [{"operator": "Exists"}]) is None
    assert tolerated(taints[0], [{"key": "soft", "operator": "Exists"}])


def test_toleration_seconds_takes_the_smallest() -> None:
    taint: Taint = {"key": "node.kubernetes.io/unreachable", "effect": NE}
    tols: list[Toleration] = [
        {"operator": "Exists"},
        {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "tolerationSeconds": 300},
        {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "tolerationSeconds": 60},
        {"key": "other", "operator": "Exists", "tolerationSeconds": 1},
    ]
    assert toleration_seconds(matching(tols, taint)) == 60
    assert toleration_seconds(matching(tols[:1], taint)) is None
    assert toleration_seconds([{"tolerationSeconds": -5}]) == 0
