"""Discovery merged with the aggregated servers' group-versions (legacy ``/apis``,
``/apis/<group>`` and aggregated ``APIGroupDiscoveryList``).

The built-in documents come from :mod:`.discovery` unchanged; the group-versions of available
service-backed APIServices (their ``APIResourceList``, fetched by the availability check) are
appended. An unavailable APIService's group is left out until its server answers, so clients
never get a group whose resource list fails to load.
"""

from __future__ import annotations

import copy
from typing import Any

from kboot.controlplane.apiserver import discovery
from kboot.controlplane.apiserver.kinds import KindRegistry

JsonObj = dict[str, Any]
Cached = dict[tuple[str, str], JsonObj]


def _groups(cached: Cached) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for group, version in sorted(cached):
        out.setdefault(group, []).append(version)
    return out


def _group_entry(group: str, versions: list[str]) -> JsonObj:
    entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"name": group, "versions": entries, "preferredVersion": entries[0]}


def api_group_list(kinds: KindRegistry, cached: Cached) -> JsonObj:
    doc = copy.deepcopy(discovery.api_group_list(kinds))
    doc["groups"] += [_group_entry(g, vs) for g, vs in _groups(cached).items()]
    return doc


def api_group(kinds: KindRegistry, group: str, cached: Cached) -> JsonObj | None:
    base = discovery.api_group(kinds, group)
    if base is not None:
        return base
    versions = _groups(cached).get(group)
    if not versions:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group_entry(group, versions)}


def _aggregated_resources(resource_list: JsonObj, group: str, version: str) -> list[JsonObj]:
    main: dict[str, JsonObj] = {}
    subs: list[tuple[str, JsonObj]] = []
    for res in resource_list.get("resources") or []:
        name = str(res.get("name", ""))
        if "/" in name:
            subs.append((name, res))
            continue
        entry: JsonObj = {
            "resource": name,
            "responseKind": {"group": res.get("group", group),
                             "version": res.get("version", version), "kind": res.get("kind")},
            "scope": "Namespaced" if res.get("namespaced") else "Cluster",
            "singularResource": res.get("singularName") or name,
            "verbs": list(res.get("verbs") or []),
        }
        for key in ("shortNames", "categories"):
            if res.get(key):
                entry[key] = list(res[key])
        main[name] = entry
    for name, res in subs:
        parent, _, sub = name.partition("/")
        if parent in main:
            main[parent].setdefault("subresources", []).append({
                "subresource": sub,
                "responseKind": {"group": res.get("group", group),
                                 "version": res.get("version", version),
                                 "kind": res.get("kind")},
                "verbs": list(res.get("verbs") or [])})
    return list(main.values())


def aggregated(kinds: KindRegistry, version: str, cached: Cached) -> JsonObj:
    """``APIGroupDiscoveryList`` for ``/apis`` with the aggregated groups appended."""
    doc = copy.deepcopy(discovery.aggregated(kinds, False, version))
    for group, versions in _groups(cached).items():
        doc["items"].append({
            "metadata": {"name": group, "creationTimestamp": None},
            "versions": [{"version": v, "freshness": "Current",
                          "resources": _aggregated_resources(cached[(group, v)], group, v)}
                         for v in versions]})
    return doc
