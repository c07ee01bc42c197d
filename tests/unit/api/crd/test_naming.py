"""NamesAccepted as upstream's naming controller decides it."""

from __future__ import annotations

from typing import Any

from kboot.controlplane.api.crd.naming import calculate_names
from kboot.controlplane.api.registry import KINDS


def crd(group: str, plural: str, kind: str, *, short: tuple[str, ...] = (),
        accepted: dict[str, Any] | None = None) -> dict[str, Any]:
    names = {"plural": plural, "singular": plural.rstrip("s"), "kind": kind,
             "listKind": f"{kind}List", "shortNames": list(short), "categories": ["all"]}
    return {"metadata": {"name": f"{plural}.{group}"},
            "spec": {"group": group, "names": names},
            "status": {"acceptedNames": accepted or {}}}


def test_fresh_names_are_accepted() -> None:
    result = calculate_names(crd("example.com", "widgets", "Widget", short=("wd",)),
                             [], KINDS)
    assert result.names_accepted == {"type": "NamesAccepted", "status": "True",
                                     "reason": "NoConflicts", "message": "no conflicts found"}
    assert result.accepted["plural"] == "widgets" and result.accepted["shortNames"] == ["wd"]
    assert result.established["reason"] == "Installing"


def test_a_built_in_name_in_the_same_group_conflicts() -> None:
    result = calculate_names(crd("apps", "deployments", "Deployment"), [], KINDS)
    assert result.names_accepted["status"] == "False"
    assert result.names_accepted["reason"] == "ListKindConflict"   # the last failing check
    assert "plural" not in result.accepted and "kind" not in result.accepted
    assert result.established == {"type": "Established", "status": "False",
                                  "reason": "NotAccepted",
                                  "message": "not all names are accepted"}


def test_another_crds_accepted_names_conflict_but_other_groups_do_not() -> None:
    first = crd("example.com", "widgets", "Widget", short=("wd",),
                accepted={"plural": "widgets", "singular": "widget", "kind": "Widget",
                          "listKind": "WidgetList", "shortNames": ["wd"]})
    second = crd("example.com", "gadgets", "Gadget", short=("wd",))
    result = calculate_names(second, [first], KINDS)
    assert (result.names_accepted["reason"], result.names_accepted["message"]) == (
        "ShortNamesConflict", '"wd" is already in use')
    elsewhere = crd("other.io", "widgets", "Widget", short=("wd",))
    assert calculate_names(elsewhere, [first], KINDS).names_accepted["status"] == "True"


def test_names_already_accepted_stay_accepted() -> None:
    mine = crd("example.com", "widgets", "Widget",
               accepted={"plural": "widgets", "kind": "Widget"})
    clash = crd("example.com", "widgets", "Widget",
                accepted={"plural": "widgets", "kind": "Widget"})
    # the clash's plural and kind are in use, but this CRD holds them already
    result = calculate_names(mine, [clash, mine], KINDS)
    assert result.names_accepted["reason"] == "NoConflicts"
    assert result.accepted["plural"] == "widgets"
    # the newcomer asking for them is refused
    newcomer = crd("example.com", "things", "Widget")
    refused = calculate_names(newcomer, [mine], KINDS)
    assert refused.names_accepted["reason"] == "KindConflict"
    assert refused.names_accepted["message"] == '"Widget" is already in use'
    assert refused.accepted["plural"] == "things" and "kind" not in refused.accepted
