"""Generate ``kboot/controlplane/api/schemas.json`` from the official ``kubernetes`` Python client.

The client's generated models carry every API type's fields (``openapi_types``,
``attribute_map``), descriptions and required fields (pydantic ``model_fields``). We walk the
types reachable from the kinds in :mod:`kboot.controlplane.api.registry`, convert them into
OpenAPI v3 schemas named like upstream (``io.k8s.api.core.v1.Pod``), and add the list and
patch semantics that the client does not carry from the hand-written :data:`LIST_SEMANTICS`
table (upstream ``patchStrategy``/``listType`` struct tags).

The runtime never imports ``kubernetes``: it reads the committed data file.

Run: ``.venv/bin/python tools/gen_schemas.py`` (add ``--check`` to verify the file is current).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

import kubernetes.client.models as models

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from kboot.controlplane.api.registry import KINDS

OUT = Path(__file__).resolve().parent.parent / "kboot/controlplane/api/schemas.json"

META = "io.k8s.apimachinery.pkg.apis.meta.v1."
QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
GROUP_PACKAGES = {
    "": "io.k8s.api.core.v1.",
    "apps": "io.k8s.api.apps.v1.",
    "batch": "io.k8s.api.batch.v1.",
    "networking.k8s.io": "io.k8s.api.networking.v1.",
    "discovery.k8s.io": "io.k8s.api.discovery.v1.",
    "coordination.k8s.io": "io.k8s.api.coordination.v1.",
    "rbac.authorization.k8s.io": "io.k8s.api.rbac.v1.",
    "certificates.k8s.io": "io.k8s.api.certificates.v1.",
    "autoscaling": "io.k8s.api.autoscaling.v1.",
    "autoscaling/v2": "io.k8s.api.autoscaling.v2.",
    "apiregistration.k8s.io": "io.k8s.kube-aggregator.pkg.apis.apiregistration.v1.",
    "policy": "io.k8s.api.policy.v1.",
    "admissionregistration.k8s.io": "io.k8s.api.admissionregistration.v1.",
    "scheduling.k8s.io": "io.k8s.api.scheduling.v1.",
    "events.k8s.io": "io.k8s.api.events.v1.",
    "storage.k8s.io": "io.k8s.api.storage.v1.",
}
PREFIX_PACKAGES = {
    "CoreV1": "", "DiscoveryV1": "discovery.k8s.io", "RbacV1": "rbac.authorization.k8s.io",
    "AdmissionregistrationV1": "admissionregistration.k8s.io",
    "ApiregistrationV1": "apiregistration.k8s.io",
    "EventsV1": "events.k8s.io",
}
META_TYPES = {
    "ObjectMeta", "ListMeta", "LabelSelector", "LabelSelectorRequirement", "OwnerReference",
    "ManagedFieldsEntry", "Condition", "Status", "StatusDetails", "StatusCause", "DeleteOptions",
    "Preconditions", "WatchEvent", "ShardInfo",
}
# Types the apiserver's operations take or return besides the kinds: (class, group, GVK kind).
EXTRA_ROOTS = (
    ("V1Status", "", "Status"), ("V1DeleteOptions", "", ""), ("V1WatchEvent", "", ""),
    ("V1Scale", "autoscaling", "Scale"), ("V1Binding", "", "Binding"),
    ("V1Eviction", "policy", "Eviction"),
)
# Fields the client types as "object" but upstream types as IntOrString.
INT_OR_STRING_FIELDS = {"targetPort", "maxSurge", "maxUnavailable", "port", "partition",
                        "minAvailable"}
# string maps whose values are resource quantities (upstream: map[ResourceName]Quantity).
QUANTITY_MAPS = {
    "limits", "requests", "capacity", "allocatable", "hard", "used", "allocatedResources",
}

# (type, field) -> list semantics (upstream struct tags): patch strategy and merge key (SMP),
# list type and map keys (SSA); see _list_extensions.
def _merge(key: str, *keys: str, strategy: str = "merge", list_type: str = "map") -> dict[str, Any]:
    """A list merged by ``key`` in SMP and keyed by ``keys`` (default ``key``) in SSA."""
    out: dict[str, Any] = {"strategy": strategy, "key": key, "list": list_type}
    if list_type == "map":
        out["keys"] = list(keys or (key,))
    return out


_ATOMIC: dict[str, Any] = {"list": "atomic"}
_SET: dict[str, Any] = {"strategy": "merge", "list": "set"}
_BY_TYPE = _merge("type")
LIST_SEMANTICS: dict[tuple[str, str], dict[str, Any]] = {
    ("ObjectMeta", "finalizers"): _SET,
    ("ObjectMeta", "ownerReferences"): _merge("uid"),
    ("ObjectMeta", "managedFields"): _ATOMIC,
    ("PodSpec", "volumes"): _merge("name", strategy="merge,retainKeys"),
    ("PodSpec", "containers"): _merge("name"),
    ("PodSpec", "initContainers"): _merge("name"),
    ("PodSpec", "ephemeralContainers"): _merge("name"),
    ("PodSpec", "imagePullSecrets"): _merge("name"),
    ("PodSpec", "hostAliases"): _merge("ip"),
    ("PodSpec", "topologySpreadConstraints"): _merge("topologyKey", "topologyKey",
                                                     "whenUnsatisfiable"),
    ("PodSpec", "schedulingGates"): _merge("name"),
    ("PodSpec", "resourceClaims"): _merge("name", strategy="merge,retainKeys"),
    ("PodSpec", "tolerations"): _ATOMIC,
    ("PodSpec", "readinessGates"): _ATOMIC,
    ("Container", "ports"): _merge("containerPort", "containerPort", "protocol"),
    ("Container", "env"): _merge("name"),
    ("Container", "volumeMounts"): _merge("mountPath"),
    ("Container", "volumeDevices"): _merge("devicePath"),
    ("Container", "envFrom"): _ATOMIC,
    ("Container", "args"): _ATOMIC,
    ("Container", "command"): _ATOMIC,
    ("PodStatus", "conditions"): _BY_TYPE,
    ("PodStatus", "podIPs"): _merge("ip"),
    ("PodStatus", "hostIPs"): _merge("ip"),
    ("NodeStatus", "conditions"): _BY_TYPE,
    ("CertificateSigningRequestStatus", "conditions"): _BY_TYPE,
    ("NodeStatus", "addresses"): _BY_TYPE,
    ("NodeSpec", "podCIDRs"): _SET,
    ("NodeSpec", "taints"): _ATOMIC,
    ("ServiceSpec", "ports"): _merge("port", "port", "protocol"),
    ("ServiceSpec", "clusterIPs"): _ATOMIC,
    ("ServiceSpec", "ipFamilies"): _ATOMIC,
    ("ServiceStatus", "conditions"): _BY_TYPE,
    ("NamespaceStatus", "conditions"): _BY_TYPE,
    ("APIServiceStatus", "conditions"): _BY_TYPE,
    ("HorizontalPodAutoscalerStatus", "conditions"): _BY_TYPE,
    ("HorizontalPodAutoscalerSpec", "metrics"): _ATOMIC,
    ("PersistentVolumeClaimStatus", "conditions"): _BY_TYPE,
    ("DeploymentStatus", "conditions"): _BY_TYPE,
    ("ReplicaSetStatus", "conditions"): _BY_TYPE,
    ("StatefulSetStatus", "conditions"): _BY_TYPE,
    ("DaemonSetStatus", "conditions"): _BY_TYPE,
    ("JobStatus", "conditions"): _merge("type", list_type="atomic"),
    ("Endpoints", "subsets"): _ATOMIC,
    ("IngressSpec", "rules"): _ATOMIC,
    ("IngressSpec", "tls"): _ATOMIC,
    ("Role", "rules"): _ATOMIC,
    ("ClusterRole", "rules"): _ATOMIC,
    ("RoleBinding", "subjects"): _ATOMIC,
    ("ClusterRoleBinding", "subjects"): _ATOMIC,
    ("ValidatingWebhookConfiguration", "webhooks"): _merge("name"),
    ("MutatingWebhookConfiguration", "webhooks"): _merge("name"),
}
# (type, field) -> patch strategy on a non-list field.
RETAIN_KEYS: set[tuple[str, str]] = {("DeploymentSpec", "strategy")}


_ALPHA = re.compile(r"V\d+(alpha|beta)\d+")


def _split_class(name: str) -> tuple[str | None, str]:
    """Class name -> (group if encoded in the name, bare type name)."""
    for prefix, group in PREFIX_PACKAGES.items():
        if name.startswith(prefix):
            return group, name[len(prefix):]
    return None, re.sub(r"^V\d+", "", name)


class Generator:
    def __init__(self) -> None:
        self.defs: dict[str, dict[str, Any]] = {}
        self.names: dict[str, str] = {}  # class name -> definition name

    def definition_name(self, cls_name: str, group: str) -> str:
        if cls_name in self.names:
            return self.names[cls_name]
        own_group, bare = _split_class(cls_name)
        package = own_group if own_group is not None else group
        if cls_name.startswith("V2") and f"{package}/v2" in GROUP_PACKAGES:
            package += "/v2"  # autoscaling/v2 types live beside autoscaling/v1's Scale
        name = META + bare if bare in META_TYPES else GROUP_PACKAGES[package] + bare
        self.names[cls_name] = name
        return name

    def add(self, cls_name: str, group: str) -> str:
        name = self.definition_name(cls_name, group)
        if name in self.defs:
            return name
        cls = getattr(models, cls_name)
        self.defs[name] = {}  # placeholder against recursion
        _, bare = _split_class(cls_name)
        props: dict[str, Any] = {}
        required: list[str] = []
        by_json = {f.serialization_alias or a: f for a, f in cls.model_fields.items()}
        for attr, json_name in cls.attribute_map.items():
            field = by_json[json_name]
            if _ALPHA.search(cls.openapi_types[attr]):
                continue  # pre-release types: not served by a 1.32 apiserver
            schema = self.type_schema(cls.openapi_types[attr], json_name, group)
            schema.update(_list_extensions(bare, json_name, schema))
            if (bare, json_name) in RETAIN_KEYS:
                schema["x-kubernetes-patch-strategy"] = "retainKeys"
            if field.description:
                schema["description"] = field.description
            props[json_name] = schema
            if field.is_required():
                required.append(json_name)
        doc = " ".join((cls.__doc__ or "").split("Attributes:")[0].split())
        out: dict[str, Any] = {"description": doc, "type": "object", "properties": props}
        if required:
            out["required"] = sorted(required)
        self.defs[name] = out
        return name

    def type_schema(self, t: str, field: str, group: str) -> dict[str, Any]:
        simple = {
            "str": {"type": "string"}, "int": {"type": "integer", "format": "int64"},
            "bool": {"type": "boolean"}, "float": {"type": "number", "format": "double"},
            "datetime": {"type": "string", "format": "date-time"},
            "bytes": {"type": "string", "format": "byte"},
        }
        if t in simple:
            return dict(simple[t])
        if t == "object":
            if field in INT_OR_STRING_FIELDS:
                return {"$ref": INT_OR_STRING}
            return {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
        if t.startswith("List["):
            return {"type": "array", "items": self.type_schema(t[5:-1], "", group)}
        if t.startswith("Dict[str, "):
            inner = t[len("Dict[str, "):-1]
            if inner == "str" and field in QUANTITY_MAPS:
                return {"type": "object", "additionalProperties": {"$ref": QUANTITY}}
            return {"type": "object", "additionalProperties": self.type_schema(inner, "", group)}
        return {"$ref": self.add(t, group)}


def _list_extensions(bare: str, field: str, schema: dict[str, Any]) -> dict[str, Any]:
    sem = LIST_SEMANTICS.get((bare, field))
    if schema.get("type") != "array" or sem is None:
        return {}
    ext: dict[str, Any] = {}
    if "strategy" in sem:
        ext["x-kubernetes-patch-strategy"] = sem["strategy"]
    if "key" in sem:
        ext["x-kubernetes-patch-merge-key"] = sem["key"]
    ext["x-kubernetes-list-type"] = sem["list"]
    if "keys" in sem:
        ext["x-kubernetes-list-map-keys"] = sem["keys"]
    return ext


def _kind_class(group: str, version: str, kind: str) -> str:
    if kind == "Event":
        return "EventsV1Event" if group == "events.k8s.io" else "CoreV1Event"
    return f"{version.capitalize()}{kind}"


def _root(gen: Generator, cls_name: str, group: str, kind: str, version: str = "v1") -> str:
    name = gen.add(cls_name, group)
    if kind:
        gen.defs[name]["x-kubernetes-group-version-kind"] = [
            {"group": group, "kind": kind, "version": version}
        ]
    return name


def generate() -> dict[str, Any]:
    gen = Generator()
    kinds: dict[str, str] = {}
    lists: dict[str, str] = {}
    for rk in sorted(KINDS, key=lambda k: k.group != ""):  # core first: shared types are core
        cls_name = _kind_class(rk.group, rk.version, rk.kind)
        kinds[f"{rk.api_version}/{rk.kind}"] = _root(gen, cls_name, rk.group, rk.kind,
                                                     rk.version)
        lists[f"{rk.api_version}/{rk.kind}"] = _root(gen, cls_name + "List", rk.group,
                                                     rk.kind + "List", rk.version)
    extras = {kind or _split_class(cls_name)[1]: _root(gen, cls_name, group, kind)
              for cls_name, group, kind in EXTRA_ROOTS}
    used = {(bare, f) for bare, f in LIST_SEMANTICS} | RETAIN_KEYS
    seen = {(_split_class_def(d), p) for d, s in gen.defs.items() for p in s["properties"]}
    missing = used - seen
    if missing:
        raise SystemExit(f"LIST_SEMANTICS names unknown fields: {sorted(missing)}")
    gen.defs[QUANTITY] = {
        "description": "Quantity is a fixed-point representation of a number, e.g. 100m, 1Gi, 2.",
        "type": "string", "format": "quantity",
    }
    gen.defs[INT_OR_STRING] = {
        "description": "IntOrString is a type that can hold an int32 or a string.",
        "type": "string", "format": "int-or-string",
    }
    return {
        "_license": "Derived from the Kubernetes API type definitions (kubernetes/kubernetes and "
                    "the kubernetes-client/python models), Copyright The Kubernetes Authors, "
                    "licensed under the Apache License, Version 2.0. Generated by "
                    "tools/gen_schemas.py; do not edit by hand.",
        "kinds": kinds,
        "lists": lists,
        "extras": extras,
        "definitions": dict(sorted(gen.defs.items())),
    }


def _split_class_def(defname: str) -> str:
    return defname.rsplit(".", 1)[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the file is out of date")
    args = parser.parse_args()
    text = json.dumps(generate(), indent=0, sort_keys=False, separators=(",", ":")) + "\n"
    if args.check:
        return 0 if OUT.read_text() == text else 1
    OUT.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
