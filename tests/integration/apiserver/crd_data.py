"""A multi-version CustomResourceDefinition used by the CRD serving tests: a structural schema
with defaults, enums, a pattern and a CEL rule, shortNames, a category, printer columns (one
only in ``-o wide``), and status and scale subresources."""

from __future__ import annotations

import copy
from typing import Any

GROUP = "stable.kboot.dev"
CRD_NAME = f"crontabs.{GROUP}"

_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "required": ["cronSpec"],
            "x-kubernetes-validations": [{"rule": "self.replicas <= 10",
                                          "message": "at most 10 replicas"}],
            "properties": {
                "cronSpec": {"type": "string", "pattern": r"^(\S+ ){4}\S+$"},
                "image": {"type": "string", "default": "busybox"},
                "replicas": {"type": "integer", "minimum": 0, "default": 1},
                "mode": {"type": "string", "enum": ["Daily", "Hourly"]},
            },
        },
        "status": {"type": "object", "properties": {
            "replicas": {"type": "integer"}, "labelSelector": {"type": "string"},
            "phase": {"type": "string"}}},
    },
}

_COLUMNS = [
    {"name": "Spec", "type": "string", "jsonPath": ".spec.cronSpec"},
    {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"},
    {"name": "Image", "type": "string", "jsonPath": ".spec.image", "priority": 1},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]

_SUBRESOURCES = {"status": {}, "scale": {"specReplicasPath": ".spec.replicas",
                                         "statusReplicasPath": ".status.replicas",
                                         "labelSelectorPath": ".status.labelSelector"}}


def crontab_crd(scope: str = "Namespaced") -> dict[str, Any]:
    """``crontabs.stable.kboot.dev``: v1 (storage) and v1beta1 (served; an older shape: no
    CEL rule, no scale, fewer columns — per-version settings may not all be identical)."""
    old_schema = copy.deepcopy(_SCHEMA)
    del old_schema["properties"]["spec"]["x-kubernetes-validations"]
    v1beta1 = {"name": "v1beta1", "served": True, "storage": False,
               "schema": {"openAPIV3Schema": old_schema}, "subresources": {"status": {}},
               "additionalPrinterColumns": copy.deepcopy(_COLUMNS[:1])}
    v1 = {"name": "v1", "served": True, "storage": True,
          "schema": {"openAPIV3Schema": copy.deepcopy(_SCHEMA)},
          "subresources": copy.deepcopy(_SUBRESOURCES),
          "additionalPrinterColumns": copy.deepcopy(_COLUMNS)}
    return {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": CRD_NAME},
        "spec": {"group": GROUP, "scope": scope,
                 "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab",
                           "listKind": "CronTabList", "shortNames": ["ct"],
                           "categories": ["all", "kbootdemo"]},
                 "versions": [v1, v1beta1]},
    }


def crontab(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/v1", "kind": "CronTab", "metadata": {"name": name},
            "spec": {"cronSpec": "* * * * */5", **spec}}
