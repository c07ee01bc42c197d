"""Discovery documents built from the kind registry: legacy (``APIVersions``, ``APIGroupList``,
``APIResourceList``) and aggregated (KEP-3352 ``APIGroupDiscoveryList``), reference §4.

kubectl 1.32 asks ``/api`` and ``/apis`` for the aggregated form and decides by the reply's
Content-Type; the Python dynamic client and older tools use the legacy documents. Both come from
the same registry entries, so they cannot disagree. The served kinds change at run time
(:class:`~.kinds.KindRegistry`), so each document is memoised per registry generation.
"""

from __future__ import annotations

from typing import Any

from kboot.controlplane.api.registry import ResourceKind
from kboot.controlplane.apiserver.kinds import KindRegistry

JsonObj = dict[str, Any]

# subresource → (group, version, kind, verbs) of what it answers with
_SUB: dict[str, tuple[str, str, str, tuple[str, ...]]] = {
    "status": ("", "", "", ("get", "patch", "update")),
    "approval": ("", "", "", ("get", "patch", "update")),
    "scale": ("autoscaling", "v1", "Scale", ("get", "patch", "update")),
    "binding": ("", "v1", "Binding", ("create",)),
    "eviction": ("policy", "v1", "Eviction", ("create",)),
    "log": ("", "", "", ("get",)),  # answers with the kind itself (upstream: pods/log → Pod)
    "exec": ("", "v1", "PodExecOptions", ("create", "get")),
    "attach": ("", "v1", "PodAttachOptions", ("create", "get")),
    "ephemeralcontainers": ("", "", "", ("get", "patch", "update")),
}


def groups(kinds: KindRegistry) -> list[tuple[str, str]]:
    """(group, version) pairs served, core first, in registry order."""
    seen: dict[tuple[str, str], None] = {}
    for k in kinds.served_kinds():
        seen[(k.group, k.version)] = None
    return list(seen)


def _sub_kind(kind: ResourceKind, sub: str) -> tuple[str, str, str, tuple[str, ...]]:
    group, version, name, verbs = _SUB.get(sub, ("", "", "", ("get",)))
    if not name:
        return kind.group, kind.version, kind.kind, verbs
    return group, version, name, verbs


def _legacy_resources(kind: ResourceKind) -> list[JsonObj]:
    main: JsonObj = {"name": kind.plural, "singularName": kind.singular,
                     "namespaced": kind.namespaced, "kind": kind.kind, "verbs": list(kind.verbs)}
    if kind.short_names:
        main["shortNames"] = list(kind.short_names)
    if kind.categories:
        main["categories"] = list(kind.categories)
    out = [main]
    for sub in kind.subresources:
        group, version, name, verbs = _sub_kind(kind, sub)
        entry: JsonObj = {"name": f"{kind.plural}/{sub}", "singularName": "",
                          "namespaced": kind.namespaced, "kind": name, "verbs": list(verbs)}
        if group != kind.group or version != kind.version:
            entry["group"], entry["version"] = group, version
        out.append(entry)
    return out


def resource_list(kinds: KindRegistry, group: str, version: str) -> JsonObj | None:
    def build() -> JsonObj | None:
        served = [k for k in kinds.served_kinds() if k.group == group and k.version == version]
        if not served:
            return None
        gv = f"{group}/{version}" if group else version
        return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv,
                "resources": [r for k in served for r in _legacy_resources(k)]}
    return kinds.memo(("discovery.resources", group, version), build)


def api_versions(server_address: str) -> JsonObj:
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0",
                                            "serverAddress": server_address}]}


def _api_group(kinds: KindRegistry, group: str) -> JsonObj:
    versions = [{"groupVersion": f"{group}/{v}", "version": v}
                for g, v in groups(kinds) if g == group]
    return {"name": group, "versions": versions, "preferredVersion": versions[0]}


def api_group_list(kinds: KindRegistry) -> JsonObj:
    def build() -> JsonObj:
        names = list(dict.fromkeys(g for g, _ in groups(kinds) if g))
        return {"kind": "APIGroupList", "apiVersion": "v1",
                "groups": [_api_group(kinds, g) for g in names]}
    return kinds.memo("discovery.groups", build)


def api_group(kinds: KindRegistry, group: str) -> JsonObj | None:
    if not any(g == group for g, _ in groups(kinds)) or not group:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_api_group(kinds, group)}


def _aggregated_resource(kind: ResourceKind) -> JsonObj:
    res: JsonObj = {
        "resource": kind.plural,
        "responseKind": {"group": kind.group, "version": kind.version, "kind": kind.kind},
        "scope": "Namespaced" if kind.namespaced else "Cluster",
        "singularResource": kind.singular,
        "verbs": list(kind.verbs),
    }
    if kind.short_names:
        res["shortNames"] = list(kind.short_names)
    if kind.categories:
        res["categories"] = list(kind.categories)
    subs = []
    for sub in kind.subresources:
        group, version, name, verbs = _sub_kind(kind, sub)
        subs.append({"subresource": sub,
                     "responseKind": {"group": group, "version": version, "kind": name},
                     "verbs": list(verbs)})
    if subs:
        res["subresources"] = subs
    return res


def aggregated(kinds: KindRegistry, core: bool, version: str = "v2") -> JsonObj:
    """``APIGroupDiscoveryList`` for ``/api`` (core=True) or ``/apis``."""
    return kinds.memo(("discovery.aggregated", core, version),
                      lambda: _aggregated(kinds, core, version))


def _aggregated(kinds: KindRegistry, core: bool, version: str) -> JsonObj:
    items = []
    names = list(dict.fromkeys(g for g, _ in groups(kinds) if (g == "") == core))
    for group in names:
        versions = []
        for g, v in groups(kinds):
            if g != group:
                continue
            served = [k for k in kinds.served_kinds() if k.group == g and k.version == v]
            versions.append({"version": v, "freshness": "Current",
                             "resources": [_aggregated_resource(k) for k in served]})
        items.append({"metadata": {"name": group, "creationTimestamp": None},
                      "versions": versions})
    return {"kind": "APIGroupDiscoveryList", "apiVersion": f"apidiscovery.k8s.io/{version}",
            "metadata": {}, "items": items}
