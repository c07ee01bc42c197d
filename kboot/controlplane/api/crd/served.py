"""Which kind a stored CRD serves, for everyone who must follow custom resources: the
apiserver (routing), the garbage collector and the namespace controller (upstream's use
discovery; ours read the CRDs, which is what discovery is built from).

A CRD serves its storage version under its *accepted* names (``status.acceptedNames``: a
name refused for a conflict is never served), once ``Established`` is True.
"""

from __future__ import annotations

from typing import Any

from kboot.controlplane.api.crd.openapi import resource_kind
from kboot.controlplane.api.crd.paths import field_of, list_of
from kboot.controlplane.api.crd.versions import storage_version
from kboot.controlplane.api.registry import ResourceKind

Obj = dict[str, Any]

CRD_KIND = ResourceKind("apiextensions.k8s.io", "v1", "CustomResourceDefinition",
                        "customresourcedefinitions", False, ("crd", "crds"),
                        ("api-extensions",), ("status",), field_selectors=("metadata.name",))
# field selectors every custom resource supports (upstream: metadata.name/namespace)
CUSTOM_FIELDS = ("metadata.name", "metadata.namespace")


def accepted_kind(crd: Obj, version: str) -> ResourceKind:
    """``crd``'s ``version`` as a kind under its accepted names."""
    accepted = field_of(field_of(crd, "status"), "acceptedNames")
    spec = field_of(crd, "spec")
    shown = {**crd, "spec": {**spec, "names": {**field_of(spec, "names"), **accepted}}}
    rk = resource_kind(shown, version)
    return ResourceKind(rk.group, rk.version, rk.kind, rk.plural, rk.namespaced,
                        rk.short_names, rk.categories, rk.subresources, storage=rk.storage,
                        field_selectors=CUSTOM_FIELDS, schema=rk.schema)


def established(crd: Obj) -> bool:
    return any(isinstance(c, dict) and c.get("type") == "Established" and
               c.get("status") == "True"
               for c in list_of(field_of(crd, "status"), "conditions"))


def served_kind(crd: Obj) -> ResourceKind | None:
    """The kind an established ``crd`` serves (its storage version), else None."""
    version = storage_version(crd)
    if version is None or not version.served or not established(crd):
        return None
    return accepted_kind(crd, version.name)
