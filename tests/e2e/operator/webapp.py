"""The WebApp CRD the test operator serves, and a WebApp."""

from __future__ import annotations

from typing import Any

WEBAPP_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "webapps.apps.kboot.dev"},
    "spec": {"group": "apps.kboot.dev", "scope": "Namespaced",
             "names": {"plural": "webapps", "singular": "webapp", "kind": "WebApp",
                       "shortNames": ["wa"]},
             "versions": [{"name": "v1", "served": True, "storage": True,
                           "subresources": {"status": {}},
                           "additionalPrinterColumns": [
                               {"name": "Replicas", "type": "integer",
                                "jsonPath": ".spec.replicas"},
                               {"name": "Deployment", "type": "string",
                                "jsonPath": ".status.deployment"}],
                           "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                               "spec": {"type": "object", "required": ["image"], "properties": {
                                   "image": {"type": "string"},
                                   "replicas": {"type": "integer", "minimum": 0,
                                                "default": 1}}},
                               "status": {"type": "object", "properties": {
                                   "deployment": {"type": "string"}}}}}}}]},
}


def webapp(name: str, image: str, replicas: int = 1) -> dict[str, Any]:
    return {"apiVersion": "apps.kboot.dev/v1", "kind": "WebApp",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"image": image, "replicas": replicas}}
