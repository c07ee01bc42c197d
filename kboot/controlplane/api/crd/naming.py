"""Which of a CRD's names it may have: upstream's naming controller as a pure function.

A CRD's names are *accepted* one by one (``status.acceptedNames``): a requested name that is
already accepted for this CRD stays; a new one is taken only if no other resource of the same
group uses it — a built-in kind (``builtins``, e.g. the registry's kinds) or another CRD's
accepted names.  Any refusal makes ``NamesAccepted`` False with upstream's reason
(``PluralConflict``, ``SingularConflict``, ``ShortNamesConflict``, ``KindConflict``,
``ListKindConflict``) and message (``"widgets" is already in use``); otherwise it is True
(``NoConflicts``).  ``Established`` starts False (``NotAccepted``) and turns to ``Installing``
once the names are accepted; the serving layer sets it True when it serves the resource.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from kboot.controlplane.api.crd.paths import field_of, list_of
from kboot.controlplane.api.registry import ResourceKind

Obj = dict[str, Any]


@dataclass(frozen=True)
class Naming:
    """The outcome: names to write to ``status.acceptedNames`` and the two conditions."""

    accepted: Obj
    names_accepted: Obj
    established: Obj


def _used(crd: Obj, others: Iterable[Obj],
          builtins: Iterable[ResourceKind]) -> tuple[set[str], set[str]]:
    group = field_of(crd, "spec").get("group")
    own = field_of(crd, "metadata").get("name")
    resources: set[str] = set()
    kinds: set[str] = set()
    for rk in builtins:
        if rk.group == group:
            resources.update({rk.plural, rk.singular, *rk.short_names})
            kinds.update({rk.kind, f"{rk.kind}List"})
    for other in others:
        if field_of(other, "spec").get("group") != group or \
                field_of(other, "metadata").get("name") == own:
            continue
        names = field_of(field_of(other, "status"), "acceptedNames")
        resources.update(str(n) for n in (names.get("plural"), names.get("singular"), *list_of(
            names, "shortNames")) if n)
        kinds.update(str(n) for n in (names.get("kind"), names.get("listKind")) if n)
    return resources, kinds


def _fresh(requested: Any, accepted: Any, used: set[str]) -> str | None:
    """None when ``requested`` may be taken, else upstream's refusal."""
    if requested == accepted or requested not in used:
        return None
    return f'"{requested}" is already in use'


def calculate_names(crd: Obj, others: Iterable[Obj],
                    builtins: Iterable[ResourceKind]) -> Naming:
    """``status.acceptedNames`` and the ``NamesAccepted``/``Established`` conditions."""
    resources, kinds = _used(crd, others, builtins)
    requested = field_of(field_of(crd, "spec"), "names")
    accepted = field_of(field_of(crd, "status"), "acceptedNames")
    new: Obj = dict(accepted)
    problem: tuple[str, str] | None = None
    checks = (("plural", "PluralConflict", resources), ("singular", "SingularConflict", resources),
              ("kind", "KindConflict", kinds), ("listKind", "ListKindConflict", kinds))
    for field, reason, used in checks[:2]:
        problem = _take(requested, accepted, new, field, reason, used) or problem
    short_error = None
    for short in list_of(requested, "shortNames"):
        if short not in list_of(accepted, "shortNames") and short in resources:
            short_error = f'"{short}" is already in use'
    if short_error:
        problem = ("ShortNamesConflict", short_error)
    elif "shortNames" in requested:
        new["shortNames"] = list_of(requested, "shortNames")
    for field, reason, used in checks[2:]:
        problem = _take(requested, accepted, new, field, reason, used) or problem
    if "categories" in requested:
        new["categories"] = list_of(requested, "categories")
    if problem:
        names_accepted = {"type": "NamesAccepted", "status": "False", "reason": problem[0],
                          "message": problem[1]}
    else:
        names_accepted = {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
                          "message": "no conflicts found"}
    return Naming(new, names_accepted, _established(crd, accepted_ok=problem is None))


def _take(requested: Obj, accepted: Obj, new: Obj, field: str, reason: str,
          used: set[str]) -> tuple[str, str] | None:
    error = _fresh(requested.get(field), accepted.get(field), used)
    if error:
        return reason, error
    if field in requested:
        new[field] = requested[field]
    return None


def _established(crd: Obj, *, accepted_ok: bool) -> Obj:
    current = next((c for c in list_of(field_of(crd, "status"), "conditions")
                    if isinstance(c, dict) and c.get("type") == "Established"), None)
    condition = dict(current) if current else {
        "type": "Established", "status": "False", "reason": "NotAccepted",
        "message": "not all names are accepted"}
    if condition.get("status") != "True" and accepted_ok:
        condition = {"type": "Established", "status": "False", "reason": "Installing",
                     "message": "the initial names have been accepted"}
    return condition
