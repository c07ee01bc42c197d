"""RBAC policy rules as data: coverage (escalation prevention) and ClusterRole aggregation.

Pure functions over ``PolicyRule`` dicts (``apiGroups``, ``resources``, ``resourceNames``,
``nonResourceURLs``, ``verbs``), shared by the apiserver's authorizer and its escalation guard so
that both read a role the same way.

- :func:`uncovered` is upstream's ``Covers``: every rule a user wants to grant is broken down
  into atoms of one group, resource, verb (and resource name, or one non-resource URL with one
  verb); an atom is held when one of the user's own rules covers it — ``*`` verbs, groups and
  resources cover everything, ``*/sub`` covers that subresource of every resource, a rule
  without ``resourceNames`` covers every name, ``/path*`` covers every URL below it.
- :func:`describe_missing` renders what is not held the way upstream's 403 does
  (``{APIGroups:[""], Resources:["secrets"], Verbs:["get" "list"]}``, one per line, sorted).
- :func:`effective_rules` resolves ``aggregationRule``: an aggregated ClusterRole holds the
  rules of every ClusterRole its selectors match (transitively), which is what upstream's
  aggregation controller writes into it; evaluating it at read time keeps RBAC and the
  escalation checks exact without a controller.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from kboot.controlplane.api.errors import SelectorError
from kboot.controlplane.api.selectors import label_selector_from_dict

Rule = dict[str, Any]
ALL = "*"


def _strings(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def breakdown(rule: Mapping[str, Any]) -> list[Rule]:
    """``rule`` as atoms: one group/resource/verb[/name] each, or one URL with one verb."""
    verbs, names = _strings(rule.get("verbs")), _strings(rule.get("resourceNames"))
    atoms: list[Rule] = []
    for group in _strings(rule.get("apiGroups")):
        for resource in _strings(rule.get("resources")):
            for verb in verbs:
                base = {"apiGroups": [group], "resources": [resource], "verbs": [verb]}
                atoms.extend({**base, "resourceNames": [n]} for n in names)
                if not names:
                    atoms.append(base)
    for url in _strings(rule.get("nonResourceURLs")):
        atoms.extend({"nonResourceURLs": [url], "verbs": [verb]} for verb in verbs)
    return atoms


def _resources_cover(owned: list[str], wanted: list[str]) -> bool:
    if ALL in owned:
        return True
    for resource in wanted:
        if resource in owned:
            continue
        if "/" not in resource or "*/" + resource.split("/", 1)[1] not in owned:
            return False
    return True


def _url_covers(owner: str, path: str) -> bool:
    return owner == path or (owner.endswith("*") and path.startswith(owner.rstrip("*")))


def rule_covers(owner: Mapping[str, Any], atom: Mapping[str, Any]) -> bool:
    """Whether the user's rule ``owner`` grants everything the atom grants."""
    def covers(field: str) -> bool:
        owned, wanted = _strings(owner.get(field)), _strings(atom.get(field))
        return ALL in owned or all(w in owned for w in wanted)

    owned_urls = _strings(owner.get("nonResourceURLs"))
    owner_names = _strings(owner.get("resourceNames"))
    atom_names = _strings(atom.get("resourceNames"))
    names_ok = not owner_names or (bool(atom_names) and all(n in owner_names for n in atom_names))
    return (covers("verbs") and covers("apiGroups")
            and _resources_cover(_strings(owner.get("resources")),
                                 _strings(atom.get("resources")))
            and all(any(_url_covers(o, u) for o in owned_urls)
                    for u in _strings(atom.get("nonResourceURLs")))
            and names_ok)


def uncovered(owned: Iterable[Mapping[str, Any]], wanted: Iterable[Mapping[str, Any]]
              ) -> list[Rule]:
    """The atoms of ``wanted`` that no rule of ``owned`` covers (empty: nothing escalates)."""
    own = list(owned)
    return [atom for rule in wanted for atom in breakdown(rule)
            if not any(rule_covers(o, atom) for o in own)]


def _compact(atoms: list[Rule]) -> list[Rule]:
    """Atoms that differ only by verb folded into one rule (upstream's ``CompactRules``)."""
    simple: dict[tuple[str, str], Rule] = {}
    out: list[Rule] = []
    for atom in atoms:
        if set(atom) == {"apiGroups", "resources", "verbs"}:
            key = (atom["apiGroups"][0], atom["resources"][0])
            if key in simple:
                simple[key]["verbs"] = [*simple[key]["verbs"], *atom["verbs"]]
            else:
                simple[key] = {**atom, "verbs": list(atom["verbs"])}
        else:
            out.append(atom)
    return out + list(simple.values())


def _go_quoted(values: list[str]) -> str:
    return "[" + " ".join(json.dumps(v) for v in values) + "]"


def compact_string(rule: Mapping[str, Any]) -> str:
    """Upstream's ``CompactString``: ``{APIGroups:["apps"], Resources:["pods"], Verbs:["get"]}``."""
    parts = [f"{label}:{_go_quoted(_strings(rule.get(field)))}"
             for label, field in (("APIGroups", "apiGroups"), ("Resources", "resources"),
                                  ("NonResourceURLs", "nonResourceURLs"),
                                  ("ResourceNames", "resourceNames"), ("Verbs", "verbs"))
             if _strings(rule.get(field))]
    return "{" + ", ".join(parts) + "}"


def describe_missing(atoms: list[Rule]) -> str:
    """The missing permissions, one compact rule per line, sorted and without duplicates."""
    return "\n".join(sorted({compact_string(r) for r in _compact(atoms)}))


def _selects(role: Mapping[str, Any], selector: Any) -> bool:
    if not isinstance(selector, Mapping):
        return False
    try:
        parsed = label_selector_from_dict(selector)
    except (SelectorError, AttributeError, TypeError):
        return False
    labels = (role.get("metadata") or {}).get("labels") or {}
    return parsed.matches(labels if isinstance(labels, Mapping) else {})


def aggregation_selectors(role: Mapping[str, Any]) -> list[Any]:
    """The ``clusterRoleSelectors`` of an aggregated ClusterRole (empty: not aggregated)."""
    rule = role.get("aggregationRule")
    selectors = rule.get("clusterRoleSelectors") if isinstance(rule, Mapping) else None
    return list(selectors) if isinstance(selectors, list) else []


def effective_rules(name: str, cluster_roles: Mapping[str, Mapping[str, Any]]) -> list[Rule]:
    """The rules ClusterRole ``name`` grants: its own, or for an aggregated role the rules of
    every ClusterRole its selectors match, transitively, in name order without duplicates."""
    return _effective(name, cluster_roles, frozenset())


def _effective(name: str, roles: Mapping[str, Mapping[str, Any]], seen: frozenset[str]
               ) -> list[Rule]:
    role = roles.get(name)
    if role is None:
        return []
    selectors = aggregation_selectors(role)
    if not selectors:
        return [r for r in role.get("rules") or [] if isinstance(r, dict)]
    seen = seen | {name}
    out: list[Rule] = []
    for other in sorted(roles):
        if other in seen or not any(_selects(roles[other], s) for s in selectors):
            continue
        out.extend(r for r in _effective(other, roles, seen) if r not in out)
    return out
