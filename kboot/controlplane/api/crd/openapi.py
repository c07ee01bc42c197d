"""OpenAPI for custom resources: a CRD version's schema as its kind's OpenAPI schema, the
``/openapi/v3/apis/<group>/<version>`` document and the ``/openapi/v2`` definitions.

Upstream's builder (``apiextensions-apiserver/pkg/controller/openapi/builder``) names a custom
resource's schema after its reversed group (``com.example.stable.v1.CronTab`` for
``stable.example.com``, :func:`kboot.controlplane.api.openapi.schema_names`), replaces
``metadata`` by a reference to ObjectMeta, describes ``apiVersion``/``kind`` as every kind does
and tags the schema with ``x-kubernetes-group-version-kind``.  :func:`object_schema` is what a
CRD-backed strategy's ``openapi_schema()`` returns: the apiserver then builds the v3 document
(with the operations ``kubectl apply`` needs for server-side validation and the descriptions
``kubectl explain`` prints) and the v2 definitions from it, as for any run-time kind;
:func:`v3_document` and :func:`v2_definitions` do the same for a list of CRDs.
"""

from __future__ import annotations

import copy
from typing import Any

from kboot.controlplane.api import openapi, openapi_v2
from kboot.controlplane.api.crd.paths import field_of
from kboot.controlplane.api.crd.versions import versions
from kboot.controlplane.api.registry import ResourceKind

Obj = dict[str, Any]
_META = "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
_API_VERSION = ("APIVersion defines the versioned schema of this representation of an object. "
                "Servers should convert recognized schemas to the latest internal value, and may "
                "reject unrecognized values.")
_KIND = ("Kind is a string value representing the REST resource this object represents. "
         "Servers may infer this from the endpoint the client submits requests to.")
_METADATA = "Standard object's metadata."


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


def resource_kind(crd: Obj, version: str) -> ResourceKind:
    """The CRD version as a :class:`ResourceKind` (discovery, routing and documents use it)."""
    spec = field_of(crd, "spec")
    names = field_of(spec, "names")
    found = next((v for v in versions(crd) if v.name == version), None)
    subresources = tuple(sorted(k for k in (found.subresources if found else {})
                                if k in ("status", "scale")))
    return ResourceKind(group=str(spec.get("group", "")), version=version,
                        kind=str(names.get("kind", "")), plural=str(names.get("plural", "")),
                        namespaced=spec.get("scope") == "Namespaced",
                        short_names=_strings(names.get("shortNames")),
                        categories=_strings(names.get("categories")),
                        subresources=subresources,
                        storage=f"{spec.get('group', '')}/{names.get('plural', '')}",
                        schema=found.schema if found else None)


def object_schema(crd: Obj, version: str) -> Obj:
    """The OpenAPI 3 schema of the custom resource kind a CRD serves at ``version``."""
    found = next((v for v in versions(crd) if v.name == version), None)
    schema = copy.deepcopy(found.schema) if found and found.schema else {
        "type": "object", "x-kubernetes-preserve-unknown-fields": True}
    props: Obj = dict(field_of(schema, "properties"))
    props["apiVersion"] = {"type": "string", "description": _API_VERSION}
    props["kind"] = {"type": "string", "description": _KIND}
    props["metadata"] = {"allOf": [{"$ref": _META}], "description": _METADATA}
    schema["properties"] = props
    schema["type"] = "object"
    rk = resource_kind(crd, version)
    schema["x-kubernetes-group-version-kind"] = [
        {"group": rk.group, "version": version, "kind": rk.kind}]
    return schema


def _served(crds: list[Obj]) -> list[tuple[Obj, str]]:
    return [(crd, v.name) for crd in crds for v in versions(crd) if v.served]


def v3_document(crds: list[Obj], group: str, version: str) -> Obj | None:
    """The ``/openapi/v3/apis/<group>/<version>`` document of the CRDs serving it."""
    kinds = [(resource_kind(crd, name), object_schema(crd, name)) for crd, name in _served(crds)
             if name == version and field_of(crd, "spec").get("group") == group]
    return openapi.custom_document(kinds) if kinds else None


def v2_definitions(crds: list[Obj]) -> Obj:
    """``/openapi/v2`` definitions of every served version of ``crds`` (``extra`` for
    :func:`kboot.controlplane.api.openapi_v2.openapi_v2_document`)."""
    out: Obj = {}
    for crd, name in _served(crds):
        rk = resource_kind(crd, name)
        ref, list_ref = openapi.schema_names(rk)
        out[ref] = openapi_v2.from_v3(object_schema(crd, name))
        out[list_ref] = openapi_v2.list_definition(rk.group, rk.version, rk.kind, ref)
    return out
