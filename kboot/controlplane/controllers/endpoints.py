"""Endpoints and EndpointSlices from Services' selectors and their pods' readiness.

For each Service with a selector, the pods in its namespace that match and have an IP are its
endpoints; ports resolve ``targetPort`` (numbers, or names looked up in each pod's containers).
As upstream's two controllers:

- ``Endpoints`` (v1): a pod being deleted is left out; the others are ``addresses`` when ready,
  else ``notReadyAddresses``. With ``publishNotReadyAddresses`` every pod, terminating or not,
  is an address.
- the EndpointSlice ``<service>-kboot`` keeps a terminating pod, with the conditions
  ``serving`` = the pod's readiness, ``terminating`` = it is being deleted and ``ready`` =
  serving and not terminating (always true with ``publishNotReadyAddresses``), so kube-proxy
  can keep routing to a still-serving pod while nothing ready is left.
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


PortSet = tuple[tuple[str, int, str], ...]


def _members(service: Obj, pods: list[Obj]) -> list[tuple[PortSet, dict[str, Any], bool, bool]]:
    """(resolved port set, address, serving, terminating) of each matching pod with an IP that
    has not finished (upstream's ``ShouldPodBeInEndpoints``: a Succeeded or Failed pod's IP may
    already belong to another pod)."""
    out = []
    for pod in pods:
        status = pod.get("status") or {}
        if not status.get("podIP") or status.get("phase") in ("Succeeded", "Failed"):
            continue
        ports = []
        for sp in (service.get("spec") or {}).get("ports") or []:
            tp = _target_port(sp, pod)
            if tp is not None:
                ports.append((str(sp.get("name") or ""), tp, str(sp.get("protocol", "TCP"))))
        out.append((tuple(ports), _address(pod), podlib.is_ready(pod), is_deleting(pod)))
    return out


def _publish_not_ready(service: Obj) -> bool:
    return bool((service.get("spec") or {}).get("publishNotReadyAddresses"))


def _ports(port_set: PortSet) -> list[dict[str, Any]]:
    return [{"port": p, "protocol": proto, **({"name": n} if n else {})}
            for n, p, proto in port_set]


def compute_subsets(service: Obj, pods: list[Obj]) -> list[dict[str, Any]]:
    """Endpoints subsets grouped by resolved port set, addresses sorted by IP; terminating pods
    are left out unless the Service publishes not-ready addresses (then all are ready)."""
    publish = _publish_not_ready(service)
    groups: dict[PortSet, dict[str, list[Any]]] = {}
    for port_set, addr, serving, terminating in _members(service, pods):
        if terminating and not publish:
            continue
        group = groups.setdefault(port_set, {"ready": [], "notready": []})
        group["ready" if serving or publish else "notready"].append(addr)
    subsets = []
    for port_set, group in sorted(groups.items()):
        subset: dict[str, Any] = {"ports": _ports(port_set)}
        if group["ready"]:
            subset["addresses"] = sorted(group["ready"], key=lambda a: str(a["ip"]))
        if group["notready"]:
            subset["notReadyAddresses"] = sorted(group["notready"], key=lambda a: str(a["ip"]))
        subsets.append(subset)
    return subsets


def slice_for(service: Obj, pods: list[Obj]) -> Obj:
    """The Service's EndpointSlice: every matching pod with an IP, terminating ones included,
    with upstream's ready/serving/terminating conditions; sorted by IP."""
    md = service["metadata"]
    publish = _publish_not_ready(service)
    endpoints: list[dict[str, Any]] = []
    port_sets: set[PortSet] = set()
    for port_set, addr, serving, terminating in _members(service, pods):
        port_sets.add(port_set)
        ep: dict[str, Any] = {"addresses": [addr["ip"]], "targetRef": addr["targetRef"],
                              "conditions": {"ready": publish or (serving and not terminating),
                                             "serving": serving, "terminating": terminating}}
        if addr.get("nodeName"):
            ep["nodeName"] = addr["nodeName"]
        endpoints.append(ep)
    # one slice: the last port set (sorted), as the Endpoints' last subset
    ports = _ports(max(port_sets)) if port_sets else []
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": f"{md['name']}-kboot", "namespace": md["namespace"],
                         "labels": {SERVICE_NAME: md["name"],
                                    "endpointslice.kubernetes.io/managed-by":
                                        "endpointslice-controller.k8s.io"}},
            "addressType": "IPv4",
            "endpoints": sorted(endpoints, key=lambda e: str(e["addresses"][0])),
            "ports": ports}


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
        await self._write_endpoints(svc, compute_subsets(svc, pods))
        await self._write_slice(svc, pods)
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

    async def _write_slice(self, svc: Obj, pods: list[Obj]) -> None:
        body = slice_for(svc, pods)
        md = body["metadata"]
        current = self.slices.get(f"{md['namespace']}/{md['name']}")
        if current is None:
            await self.client.create("endpointslices", body)
            return
        if (current.get("endpoints") or []) != body["endpoints"] or \
                (current.get("ports") or []) != body["ports"]:
            md["resourceVersion"] = current["metadata"]["resourceVersion"]
            await self.client.replace("endpointslices", body)
