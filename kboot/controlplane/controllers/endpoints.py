"""Endpoints and EndpointSlices from Services' selectors and their pods' readiness.

For each Service with a selector: pods in its namespace that match, have an IP and are not
being deleted become addresses (ready) or notReadyAddresses; ports resolve ``targetPort``
(numbers, or names looked up in each pod's containers). One EndpointSlice
``<service>-kboot`` mirrors the same data for consumers that read slices.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from kboot.controlplane.api.shapes import Obj
from kboot.controlplane.client.controller import DONE, Result
from kboot.controlplane.client.errors import NotFound
from kboot.controlplane.client.informer import Handlers
from kboot.controlplane.client.meta import is_deleting, labels, selector_matches, split_key
from kboot.controlplane.controllers import pods as podlib
from kboot.controlplane.controllers.base import Controller, ControllerContext

log = logging.getLogger(__name__)
SERVICE_NAME = "kubernetes.io/service-name"


def _target_port(port: dict[str, Any], pod: Obj) -> int | None:
    target = port.get("targetPort", port.get("port"))
    if isinstance(target, int) or (isinstance(target, str) and target.isdigit()):
        return int(target)
    for c in (pod.get("spec") or {}).get("containers") or []:
        for p in c.get("ports") or []:
            if p.get("name") == target:
                return int(p["containerPort"])
    return None


def _address(pod: Obj) -> dict[str, Any]:
    md = pod["metadata"]
    addr: dict[str, Any] = {"ip": pod["status"]["podIP"],
                            "targetRef": {"kind": "Pod", "namespace": md["namespace"],
                                          "name": md["name"], "uid": md["uid"]}}
    node = (pod.get("spec") or {}).get("nodeName")
    if node:
        addr["nodeName"] = node
    return addr


def compute_subsets(service: Obj, pods: list[Obj]) -> list[dict[str, Any]]:
    """Subsets grouped by resolved port set, addresses sorted by IP."""
    groups: dict[tuple[tuple[str, int, str], ...], dict[str, list[Any]]] = {}
    for pod in pods:
        if not (pod.get("status") or {}).get("podIP") or is_deleting(pod):
            continue
        ports = []
        for sp in (service.get("spec") or {}).get("ports") or []:
            tp = _target_port(sp, pod)
            if tp is not None:
                ports.append((str(sp.get("name") or ""), tp, str(sp.get("protocol", "TCP"))))
        group = groups.setdefault(tuple(ports), {"ready": [], "notready": []})
        group["ready" if podlib.is_ready(pod) else "notready"].append(_address(pod))
    subsets = []
    for port_set, group in sorted(groups.items()):
        subset: dict[str, Any] = {"ports": [{"port": p, "protocol": proto,
                                             **({"name": n} if n else {})}
                                            for n, p, proto in port_set]}
        if group["ready"]:
            subset["addresses"] = sorted(group["ready"], key=lambda a: str(a["ip"]))
        if group["notready"]:
            subset["notReadyAddresses"] = sorted(group["notready"], key=lambda a: str(a["ip"]))
        subsets.append(subset)
    return subsets


def slice_for(service: Obj, subsets: list[dict[str, Any]]) -> Obj:
    md = service["metadata"]
    endpoints, ports = [], []
    for subset in subsets:
        ports = subset["ports"]
        for ready, key in ((True, "addresses"), (False, "notReadyAddresses")):
            for a in subset.get(key) or []:
                ep: dict[str, Any] = {"addresses": [a["ip"]], "targetRef": a["targetRef"],
                                      "conditions": {"ready": ready, "serving": ready,
                                                     "terminating": False}}
                if a.get("nodeName"):
                    ep["nodeName"] = a["nodeName"]
                endpoints.append(ep)
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": f"{md['name']}-kboot", "namespace": md["namespace"],
                         "labels": {SERVICE_NAME: md["name"],
                                    "endpointslice.kubernetes.io/managed-by":
                                        "endpointslice-controller.k8s.io"}},
            "addressType": "IPv4", "endpoints": endpoints, "ports": ports}


class EndpointsController(Controller):
    name = "endpoints"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.services = self.informer("services")
        self.pods = self.informer("pods")
        self.endpoints = self.informer("endpoints")
        self.slices = self.informer("endpointslices")
        self.services.add_handlers(Handlers(on_add=self.enqueue,
                                            on_update=lambda _o, n: self.enqueue(n),
                                            on_delete=self.enqueue))
        self.pods.add_handlers(Handlers(on_add=self._pod, on_update=self._pod_update,
                                        on_delete=self._pod))

    def _pod_update(self, old: Obj, new: Obj) -> None:
        self._pod(new)
        if labels(old) != labels(new):
            self._pod(old)

    def _pod(self, pod: Obj) -> None:
        ns = pod["metadata"]["namespace"]
        for svc in self.services.by_index("namespace", ns):
            sel = (svc.get("spec") or {}).get("selector")
            if sel and selector_matches({"matchLabels": sel}, labels(pod)):
                self.enqueue(svc)

    async def reconcile(self, key: str) -> Result:
        ns, name = split_key(key)
        svc = self.services.get(key)
        if svc is None:
            for ref, obj_name in (("endpoints", name), ("endpointslices", f"{name}-kboot")):
                with contextlib.suppress(NotFound):
                    await self.client.delete(ref, obj_name, namespace=ns)
            return DONE
        selector = (svc.get("spec") or {}).get("selector")
        if not selector:
            return DONE
        pods = [p for p in self.pods.by_index("namespace", ns or "")
                if selector_matches({"matchLabels": selector}, labels(p))]
        subsets = compute_subsets(svc, pods)
        await self._write_endpoints(svc, subsets)
        await self._write_slice(svc, subsets)
        return DONE

    async def _write_endpoints(self, svc: Obj, subsets: list[dict[str, Any]]) -> None:
        md = svc["metadata"]
        current = self.endpoints.get(f"{md['namespace']}/{md['name']}")
        body: Obj = {"apiVersion": "v1", "kind": "Endpoints",
                     "metadata": {"name": md["name"], "namespace": md["namespace"],
                                  "labels": dict(md.get("labels") or {})},
                     "subsets": subsets}
        if current is None:
            await self.client.create("endpoints", body)
        elif (current.get("subsets") or []) != subsets:
            body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
            await self.client.replace("endpoints", body)

    async def _write_slice(self, svc: Obj, subsets: list[dict[str, Any]]) -> None:
        body = slice_for(svc, subsets)
        md = body["metadata"]
        current = self.slices.get(f"{md['namespace']}/{md['name']}")
        if current is None:
            await self.client.create("endpointslices", body)
            return
        if (current.get("endpoints") or []) != body["endpoints"] or \
                (current.get("ports") or []) != body["ports"]:
            md["resourceVersion"] = current["metadata"]["resourceVersion"]
            await self.client.replace("endpointslices", body)
