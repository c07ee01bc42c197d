"""A tiny operator on the official Kubernetes Python client's watch loop: for every ``WebApp``
(``apps.kboot.dev/v1``) it creates a Deployment owned by it (``ownerReferences`` with
``controller: true``), so deleting the WebApp garbage-collects the Deployment; it writes
``status.deployment`` through the status subresource.

Runs in a pod (in-cluster config) or, for tests, on a host with ``KUBECONFIG`` set.
Deliberately written the way such operators are written in the wild: list+watch with
``kubernetes.watch.Watch().stream`` and a resourceVersion to resume from.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException

GROUP, VERSION, PLURAL = "apps.kboot.dev", "v1", "webapps"
log = logging.getLogger("webapp-operator")


def deployment_for(app: dict[str, Any]) -> dict[str, Any]:
    meta, spec = app["metadata"], app.get("spec") or {}
    name = f"{meta['name']}-web"
    labels = {"app.kubernetes.io/name": name, "app.kubernetes.io/managed-by": "webapp-operator"}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": meta["namespace"], "labels": labels,
                     "ownerReferences": [{"apiVersion": f"{GROUP}/{VERSION}", "kind": "WebApp",
                                          "name": meta["name"], "uid": meta["uid"],
                                          "controller": True, "blockOwnerDeletion": True}]},
        "spec": {"replicas": int(spec.get("replicas", 1)),
                 "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels}, "spec": {
                     "terminationGracePeriodSeconds": 1,
                     "containers": [{"name": "web", "image": spec.get("image", "busybox"),
                                     "command": ["sh", "-c", "sleep 3600"]}]}}},
    }


def reconcile(apps: Any, custom: Any, app: dict[str, Any]) -> None:
    wanted = deployment_for(app)
    ns, name = wanted["metadata"]["namespace"], wanted["metadata"]["name"]
    try:
        apps.create_namespaced_deployment(ns, wanted)
        log.info("created deployment %s/%s", ns, name)
    except ApiException as exc:
        if exc.status != 409:
            raise
        apps.patch_namespaced_deployment(name, ns, {"spec": {"replicas":
                                                             wanted["spec"]["replicas"]}})
    custom.patch_namespaced_custom_object_status(
        GROUP, VERSION, ns, PLURAL, app["metadata"]["name"], {"status": {"deployment": name}})


def run() -> None:
    if os.environ.get("KUBECONFIG"):
        config.load_kube_config()  # type: ignore[no-untyped-call]
    else:
        config.load_incluster_config()  # type: ignore[no-untyped-call]
    custom, apps = client.CustomObjectsApi(), client.AppsV1Api()
    resource_version = ""
    while True:
        if not resource_version:
            listed: Any = custom.list_cluster_custom_object(GROUP, VERSION, PLURAL)
            for app in listed["items"]:
                reconcile(apps, custom, app)
            resource_version = listed["metadata"]["resourceVersion"]
        try:
            events = watch.Watch().stream(  # type: ignore[no-untyped-call]
                custom.list_cluster_custom_object, GROUP, VERSION, PLURAL,
                resource_version=resource_version, timeout_seconds=60)
            for event in events:
                app = event["object"]
                resource_version = app["metadata"]["resourceVersion"]
                if event["type"] in ("ADDED", "MODIFIED") and \
                        not app["metadata"].get("deletionTimestamp"):
                    reconcile(apps, custom, app)
        except ApiException as exc:
            if exc.status != 410:
                raise
            resource_version = ""  # expired: list again


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, stream=sys.stdout,
                        format="%(asctime)s %(levelname)s %(message)s")
    run()
