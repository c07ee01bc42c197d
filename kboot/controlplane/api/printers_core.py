"""Table printers for core/v1 and networking kinds, mirroring upstream's
``pkg/printers/internalversion`` (column names, order, wide columns and cell text)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kboot.controlplane.api.printers_base import (
    AGE,
    NAME,
    NONE,
    Obj,
    Printer,
    age,
    column,
    join_or_none,
    maps,
    meta,
    parse_time,
    selector_text,
    since,
    strings,
    sub,
)


def _wide(name: str, type_: str = "string") -> dict[str, Any]:
    return column(name, type_, priority=1)


# -------------------------------------------------------------------------------------- pods


@dataclass
class _PodTally:
    """What kubectl's printPod accumulates over a pod's container statuses."""

    reason: str
    ready: int = 0
    restarts: int = 0
    last: datetime | None = None
    sidecar_restarts: int = 0
    sidecar_last: datetime | None = None


def _sidecars(pod: Obj) -> set[str]:
    """Names of restartable init containers (``restartPolicy: Always``)."""
    return {str(c.get("name")) for c in maps(sub(pod, "spec", "initContainers"))
            if c.get("restartPolicy") == "Always"}


def _terminated_text(term: Any, prefix: str = "") -> str:
    if term.get("reason"):
        return prefix + str(term["reason"])
    if term.get("signal"):
        return f"{prefix}Signal:{term['signal']}"
    return f"{prefix}ExitCode:{term.get('exitCode')}"


def _init_status(pod: Obj, tally: _PodTally) -> bool:
    """Walk the init containers like kubectl; True while the pod is still initializing."""
    sidecars = _sidecars(pod)
    inits = maps(sub(pod, "spec", "initContainers"))
    for i, cs in enumerate(maps(sub(pod, "status", "initContainerStatuses"))):
        count = int(cs.get("restartCount") or 0)
        finished = sub(cs, "lastState", "terminated", "finishedAt")
        tally.restarts += count
        tally.last = _later(tally.last, finished)
        sidecar = cs.get("name") in sidecars
        if sidecar:
            tally.sidecar_restarts += count
            tally.sidecar_last = _later(tally.sidecar_last, finished)
        term, wait = sub(cs, "state", "terminated"), sub(cs, "state", "waiting")
        if term is not None and term.get("exitCode") == 0:
            continue
        if sidecar and cs.get("started"):
            tally.ready += 1 if cs.get("ready") else 0
            continue
        if term is not None:
            tally.reason = _terminated_text(term, "Init:")
        elif wait is not None and wait.get("reason") and wait["reason"] != "PodInitializing":
            tally.reason = f"Init:{wait['reason']}"
        else:
            tally.reason = f"Init:{i}/{len(inits)}"
        return True
    return False


def _later(current: datetime | None, timestamp: Any) -> datetime | None:
    when = parse_time(timestamp)
    if when is None or (current is not None and current >= when):
        return current
    return when


def _condition_true(obj: Obj, kind: str) -> bool:
    return any(c.get("type") == kind and c.get("status") == "True"
               for c in maps(sub(obj, "status", "conditions")))


def _containers_status(pod: Obj, tally: _PodTally) -> None:
    tally.restarts, tally.last = tally.sidecar_restarts, tally.sidecar_last
    running = False
    for cs in reversed(maps(sub(pod, "status", "containerStatuses"))):
        tally.restarts += int(cs.get("restartCount") or 0)
        tally.last = _later(tally.last, sub(cs, "lastState", "terminated", "finishedAt"))
        wait, term = sub(cs, "state", "waiting"), sub(cs, "state", "terminated")
        if wait is not None and wait.get("reason"):
            tally.reason = str(wait["reason"])
        elif term is not None:
            tally.reason = _terminated_text(term)
        elif cs.get("ready") and sub(cs, "state", "running") is not None:
            running = True
            tally.ready += 1
    if tally.reason == "Completed" and running:
        tally.reason = "Running" if _condition_true(pod, "Ready") else "NotReady"


def pod_status(pod: Obj) -> tuple[str, int, int, datetime | None]:
    """kubectl's STATUS column: (reason, ready containers, restarts, last restart time)."""
    phase = sub(pod, "status", "phase") or ""
    tally = _PodTally(sub(pod, "status", "reason") or phase)
    for cond in maps(sub(pod, "status", "conditions")):
        if cond.get("type") == "PodScheduled" and cond.get("reason") == "SchedulingGated":
            tally.reason = "SchedulingGated"
    initializing = _init_status(pod, tally)
    if not initializing or _condition_true(pod, "Initialized"):
        _containers_status(pod, tally)
    if meta(pod).get("deletionTimestamp"):
        if sub(pod, "status", "reason") == "NodeLost":
            tally.reason = "Unknown"
        elif phase not in ("Succeeded", "Failed"):
            tally.reason = "Terminating"
    return tally.reason, tally.ready, tally.restarts, tally.last


def _pod_cells(pod: Obj, now: datetime) -> list[Any]:
    reason, ready, restarts, last = pod_status(pod)
    total = len(maps(sub(pod, "spec", "containers"))) + len(_sidecars(pod))
    restart_text = str(restarts)
    if last is not None:
        restart_text = f"{restarts} ({since(last.isoformat(), now)} ago)"
    gates = maps(sub(pod, "spec", "readinessGates"))
    gate_text = NONE
    if gates:
        true = {c.get("type") for c in maps(sub(pod, "status", "conditions"))
                if c.get("status") == "True"}
        gate_text = f"{sum(g.get('conditionType') in true for g in gates)}/{len(gates)}"
    return [f"{ready}/{total}", reason, restart_text, age(pod, now),
            sub(pod, "status", "podIP") or NONE, sub(pod, "spec", "nodeName") or NONE,
            sub(pod, "status", "nominatedNodeName") or NONE, gate_text]


POD = Printer(
    (NAME, column("Ready", description="The aggregate readiness state of this pod for accepting "
                                       "traffic."),
     column("Status", description="The aggregate status of the containers in this pod."),
     column("Restarts", description="The number of times the containers in this pod have been "
                                    "restarted and when the last container in this pod has "
                                    "restarted."),
     AGE, _wide("IP"), _wide("Node"), _wide("Nominated Node"), _wide("Readiness Gates")),
    _pod_cells,
)

# ---------------------------------------------------------------------------------- services


def _external_ip(svc: Obj) -> str:
    kind = sub(svc, "spec", "type") or "ClusterIP"
    external = [str(ip) for ip in sub(svc, "spec", "externalIPs") or ()]
    if kind in ("ClusterIP", "NodePort"):
        return join_or_none(external)
    if kind == "ExternalName":
        return str(sub(svc, "spec", "externalName") or NONE)
    lb = [i.get("ip") or i.get("hostname") or "" for i in
          maps(sub(svc, "status", "loadBalancer", "ingress"))]
    return ",".join(lb + external) if lb or external else "<pending>"


def _ports(svc: Obj) -> str:
    parts = []
    for p in maps(sub(svc, "spec", "ports")):
        node = f":{p['nodePort']}" if p.get("nodePort") else ""
        parts.append(f"{p.get('port')}{node}/{p.get('protocol', 'TCP')}")
    return join_or_none(parts)


SERVICE = Printer(
    (NAME, column("Type"), column("Cluster-IP"), column("External-IP"), column("Port(s)"), AGE,
     _wide("Selector")),
    lambda s, now: [sub(s, "spec", "type") or "ClusterIP", sub(s, "spec", "clusterIP") or NONE,
                    _external_ip(s), _ports(s), age(s, now),
                    selector_text(sub(s, "spec", "selector"))],
)


def _endpoint_list(addresses: list[str]) -> str:
    if not addresses:
        return NONE
    text = ",".join(addresses[:3])
    return text + (f" + {len(addresses) - 3} more..." if len(addresses) > 3 else "")


def _endpoints(ep: Obj) -> str:
    out = []
    for subset in maps(ep.get("subsets")):
        ports = subset.get("ports") or [{}]
        for addr in maps(subset.get("addresses")):
            out += [f"{addr.get('ip')}:{p['port']}" if p.get("port") else str(addr.get("ip"))
                    for p in ports]
    return _endpoint_list(out)


ENDPOINTS = Printer((NAME, column("Endpoints"), AGE),
                    lambda ep, now: [_endpoints(ep), age(ep, now)])

ENDPOINT_SLICE = Printer(
    (NAME, column("AddressType"), column("Ports"), column("Endpoints"), AGE),
    lambda es, now: [
        es.get("addressType", ""),
        join_or_none([str(p.get("port")) for p in maps(es.get("ports")) if p.get("port")]),
        _endpoint_list([a for e in maps(es.get("endpoints")) for a in strings(e.get("addresses"))]),
        age(es, now)],
)

# ------------------------------------------------------------------------------------- nodes


def _node_status(node: Obj) -> str:
    ready = [c for c in maps(sub(node, "status", "conditions")) if c.get("type") == "Ready"]
    status = "Unknown"
    if ready:
        status = {"True": "Ready", "False": "NotReady"}.get(str(ready[0].get("status")), "Unknown")
    if sub(node, "spec", "unschedulable"):
        status += ",SchedulingDisabled"
    return status


def _roles(node: Obj) -> str:
    roles = set()
    for key, value in (meta(node).get("labels") or {}).items():
        if key.startswith("node-role.kubernetes.io/"):
            roles.add(key.split("/", 1)[1])
        elif key == "kubernetes.io/role" and value:
            roles.add(value)
    return join_or_none(sorted(r for r in roles if r))


def _address(node: Obj, kind: str) -> str:
    found = [a.get("address", "") for a in maps(sub(node, "status", "addresses"))
             if a.get("type") == kind]
    return found[0] if found else NONE


NODE = Printer(
    (NAME, column("Status"), column("Roles"), AGE, column("Version"), _wide("Internal-IP"),
     _wide("External-IP"), _wide("OS-Image"), _wide("Kernel-Version"),
     _wide("Container-Runtime")),
    lambda n, now: [_node_status(n), _roles(n), age(n, now),
                    sub(n, "status", "nodeInfo", "kubeletVersion") or "",
                    _address(n, "InternalIP"), _address(n, "ExternalIP"),
                    sub(n, "status", "nodeInfo", "osImage") or "<unknown>",
                    sub(n, "status", "nodeInfo", "kernelVersion") or "<unknown>",
                    sub(n, "status", "nodeInfo", "containerRuntimeVersion") or "<unknown>"],
)

NAMESPACE = Printer((NAME, column("Status"), AGE),
                    lambda ns, now: [sub(ns, "status", "phase") or "", age(ns, now)])
CONFIG_MAP = Printer(
    (NAME, column("Data", "integer"), AGE),
    lambda cm, now: [len(cm.get("data") or {}) + len(cm.get("binaryData") or {}), age(cm, now)],
)
SECRET = Printer(
    (NAME, column("Type"), column("Data", "integer"), AGE),
    lambda s, now: [s.get("type", ""), len(s.get("data") or {}), age(s, now)],
)
SERVICE_ACCOUNT = Printer((NAME, column("Secrets", "integer"), AGE),
                          lambda sa, now: [len(sa.get("secrets") or []), age(sa, now)])
LEASE = Printer((NAME, column("Holder"), AGE),
                lambda le, now: [sub(le, "spec", "holderIdentity") or "", age(le, now)])


def _event_cells(ev: Obj, now: datetime) -> list[Any]:
    last = (ev.get("lastTimestamp") or sub(ev, "series", "lastObservedTime")
            or ev.get("eventTime"))
    first = ev.get("firstTimestamp") or ev.get("eventTime")
    obj = ev.get("involvedObject") or {}
    source = sub(ev, "source", "component") or ev.get("reportingComponent") or ""
    host = sub(ev, "source", "host")
    return [since(last, now), ev.get("type", ""), ev.get("reason", ""),
            f"{str(obj.get('kind', '')).lower()}/{obj.get('name', '')}",
            obj.get("fieldPath", ""), f"{source}, {host}" if host else source,
            (ev.get("message") or "").strip(), since(first, now), int(ev.get("count") or 1),
            meta(ev).get("name", "")]


EVENT_PRINTER = Printer(
    (column("Last Seen"), column("Type"), column("Reason"), column("Object"),
     _wide("Subobject"), _wide("Source"), column("Message"), _wide("First Seen"),
     _wide("Count", "integer"), {**NAME, "priority": 1}),
    _event_cells,
)

_MODES = {"ReadWriteOnce": "RWO", "ReadOnlyMany": "ROX", "ReadWriteMany": "RWX",
          "ReadWriteOncePod": "RWOP"}


def _modes(spec: Any) -> str:
    return ",".join(_MODES.get(m, m) for m in strings(sub(spec, "accessModes")))


def _pv_cells(pv: Obj, now: datetime) -> list[Any]:
    claim = sub(pv, "spec", "claimRef") or {}
    return [sub(pv, "spec", "capacity", "storage") or "", _modes(pv.get("spec")),
            sub(pv, "spec", "persistentVolumeReclaimPolicy") or "",
            sub(pv, "status", "phase") or "",
            f"{claim['namespace']}/{claim['name']}" if claim.get("name") else "",
            sub(pv, "spec", "storageClassName") or "",
            sub(pv, "spec", "volumeAttributesClassName") or NONE,
            sub(pv, "status", "reason") or "", age(pv, now),
            sub(pv, "spec", "volumeMode") or "<unset>"]


PV = Printer(
    (NAME, column("Capacity"), column("Access Modes"), column("Reclaim Policy"),
     column("Status"), column("Claim"), column("StorageClass"), column("VolumeAttributesClass"),
     column("Reason"), AGE, _wide("VolumeMode")),
    _pv_cells,
)
PVC = Printer(
    (NAME, column("Status"), column("Volume"), column("Capacity"), column("Access Modes"),
     column("StorageClass"), column("VolumeAttributesClass"), AGE, _wide("VolumeMode")),
    lambda c, now: [sub(c, "status", "phase") or "", sub(c, "spec", "volumeName") or "",
                    sub(c, "status", "capacity", "storage") or "", _modes(c.get("status")),
                    sub(c, "spec", "storageClassName") or "",
                    sub(c, "spec", "volumeAttributesClassName") or NONE, age(c, now),
                    sub(c, "spec", "volumeMode") or "<unset>"],
)


def _ingress_cells(ing: Obj, now: datetime) -> list[Any]:
    rules = maps(sub(ing, "spec", "rules"))
    hosts = [str(r["host"]) for r in rules if r.get("host")]
    lb = [str(i.get("ip") or i.get("hostname") or "") for i in
          maps(sub(ing, "status", "loadBalancer", "ingress"))]
    return [sub(ing, "spec", "ingressClassName") or NONE, ",".join(hosts) or "*", ",".join(lb),
            "80, 443" if sub(ing, "spec", "tls") else "80", age(ing, now)]


INGRESS = Printer(
    (NAME, column("Class"), column("Hosts"), column("Address"), column("Ports"), AGE),
    _ingress_cells,
)
INGRESS_CLASS = Printer(
    (NAME, column("Controller"), column("Parameters"), AGE),
    lambda ic, now: [sub(ic, "spec", "controller") or "",
                     (f"{sub(ic, 'spec', 'parameters', 'kind')}/"
                      f"{sub(ic, 'spec', 'parameters', 'name')}")
                     if sub(ic, "spec", "parameters") else NONE, age(ic, now)],
)

CORE_PRINTERS: dict[str, Printer] = {
    "Pod": POD, "Service": SERVICE, "Endpoints": ENDPOINTS, "EndpointSlice": ENDPOINT_SLICE,
    "Node": NODE, "Namespace": NAMESPACE, "ConfigMap": CONFIG_MAP, "Secret": SECRET,
    "ServiceAccount": SERVICE_ACCOUNT, "Lease": LEASE, "Event": EVENT_PRINTER,
    "PersistentVolume": PV, "PersistentVolumeClaim": PVC, "Ingress": INGRESS,
    "IngressClass": INGRESS_CLASS,
}
