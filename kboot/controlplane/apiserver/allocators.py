"""Service ClusterIP and NodePort allocation (``--service-cluster-ip-range``,
``--service-node-port-range``), the ``healthCheckNodePort`` of ``type: LoadBalancer`` +
``externalTrafficPolicy: Local`` Services included (from the same range, as upstream).

Allocation is computed from the services watch cache plus a set of addresses handed out by this
process but not yet seen in the cache, so consecutive creates never collide. The first address
of the range belongs to the ``kubernetes`` Service. (Several apiservers allocating at the same
instant could still pick the same address; upstream serialises through a bitmap key — a known
simplification, recorded in docs/apiserver.md.)
"""

from __future__ import annotations

import copy
import ipaddress
import random

from kboot.controlplane.api.registry import ResourceKind
from kboot.controlplane.api.servicetraffic import drop_type_dependent, needs_health_check
from kboot.controlplane.apiserver.errors import JsonObj, StatusError, invalid
from kboot.controlplane.apiserver.watchcache import WatchCaches


def parse_port_range(text: str) -> tuple[int, int]:
    low, _, high = text.partition("-")
    return int(low), int(high or low)


class ServiceAllocators:
    def __init__(self, caches: WatchCaches, *, cidr: str, node_ports: str) -> None:
        self.caches = caches
        self.network = ipaddress.ip_network(cidr, strict=False)
        self.port_low, self.port_high = parse_port_range(node_ports)
        self.pending_ips: set[str] = set()
        self.pending_ports: set[int] = set()

    @property
    def first_ip(self) -> str:
        return str(self.network.network_address + 1)

    def _services(self) -> list[JsonObj]:
        from kboot.controlplane.api.registry import lookup
        kind = lookup("", "services")
        assert kind is not None
        return list(self.caches.peek(kind).objects.values())

    def _used(self) -> tuple[set[str], set[int]]:
        ips: set[str] = set()
        ports: set[int] = set()
        for svc in self._services():
            spec = svc.get("spec") or {}
            ips.update(spec.get("clusterIPs") or [spec.get("clusterIP") or ""])
            ports.update(p.get("nodePort", 0) for p in spec.get("ports") or [])
            ports.add(spec.get("healthCheckNodePort") or 0)
        # once the cache shows an allocation it is the authority (deletes free addresses)
        self.pending_ips -= ips
        self.pending_ports -= ports
        return ips | self.pending_ips, ports | self.pending_ports

    def _next_ip(self, used: set[str]) -> str:
        size = self.network.num_addresses - 2
        start = random.randrange(1, size) if size > 2 else 1
        for off in range(size):
            candidate = str(self.network.network_address + 1 + (start + off) % size)
            if candidate not in used and candidate != self.first_ip:
                return candidate
        raise invalid(_svc_kind(), "", [{"reason": "FieldValueInvalid", "field": "spec.clusterIP",
                                         "message": "range is full"}])

    def _check_ip(self, ip: str, used: set[str], name: str) -> None:
        try:
            ok = ipaddress.ip_address(ip) in self.network
        except ValueError:
            ok = False
        if not ok:
            raise invalid(_svc_kind(), name, [{"reason": "FieldValueInvalid",
                                               "field": "spec.clusterIP", "message":
                                               f'Invalid value: "{ip}": provided IP is not in '
                                               f"the valid range. The range of valid IPs is "
                                               f"{self.network}"}])
        if ip in used:
            raise invalid(_svc_kind(), name, [{"reason": "FieldValueInvalid",
                                               "field": "spec.clusterIPs", "message":
                                               f'Invalid value: ["{ip}"]: failed to allocate IP '
                                               f"{ip}: provided IP is already allocated"}])

    def admit(self, new: JsonObj, old: JsonObj | None) -> JsonObj:
        """A copy of the Service being written (``old``: None on create) with its ClusterIP
        and NodePorts assigned."""
        new = copy.deepcopy(new)
        spec = new.setdefault("spec", {})
        old_spec = (old or {}).get("spec") or {}
        used_ips, used_ports = self._used()
        name = new["metadata"].get("name", "")
        svc_type = spec.get("type", "ClusterIP")
        if svc_type != "ExternalName":
            self._assign_ip(spec, old_spec, used_ips, name)
        if svc_type in ("NodePort", "LoadBalancer"):
            self._check_ports(spec, old_spec, used_ports, name)
            # a healthCheckNodePort asked for is not handed out to a port of the same write
            self._assign_ports(spec, old_spec, used_ports | _asked_health_check(spec))
        if old is not None:
            drop_type_dependent(spec, old_spec)  # no longer needed: released with the write
        if needs_health_check(spec):
            try:
                self._assign_health_check(spec, old_spec, used_ports, name)
            except StatusError:
                self.release(new)  # the addresses handed out above go back
                raise
        return new

    def _port_problem(self, wanted: int, used: set[int]) -> str | None:
        if not self.port_low <= wanted <= self.port_high:
            return (f"provided port is not in the valid range. The range of valid ports is "
                    f"{self.port_low}-{self.port_high}")
        return "provided port is already allocated" if wanted in used else None

    def _free_port(self, used: set[int]) -> int | None:
        free = [p for p in range(self.port_low, self.port_high + 1) if p not in used]
        if not free:
            return None
        port = random.choice(free)
        used.add(port)
        self.pending_ports.add(port)
        return port

    def _assign_health_check(self, spec: JsonObj, old_spec: JsonObj, used: set[int],
                             name: str) -> None:
        """The Service's own port if it had one, else the one asked for if free, else any."""
        held = old_spec.get("healthCheckNodePort") if needs_health_check(old_spec) else None
        wanted = spec.get("healthCheckNodePort") or held
        own = {p.get("nodePort") for p in spec.get("ports") or []}  # this write's node ports
        if wanted and wanted == held:
            spec["healthCheckNodePort"] = held
        elif wanted:
            why = self._port_problem(wanted, used | own)
            if why:
                raise invalid(_svc_kind(), name, [{"reason": "FieldValueInvalid",
                                                   "field": "spec.healthCheckNodePort",
                                                   "message": f"Invalid value: {wanted}: {why}"}])
            used.add(wanted)
            self.pending_ports.add(wanted)
        else:
            port = self._free_port(used | own)
            if port is None:
                raise invalid(_svc_kind(), name, [{"reason": "FieldValueInvalid",
                                                   "field": "spec.healthCheckNodePort",
                                                   "message": "range is full"}])
            spec["healthCheckNodePort"] = port

    def _check_ports(self, spec: JsonObj, old_spec: JsonObj, used: set[int], name: str) -> None:
        """Requested nodePorts lie in ``--service-node-port-range`` and are free (a port this
        Service already held stays its own)."""
        held = {p.get("nodePort") for p in old_spec.get("ports") or []}
        for i, port in enumerate(spec.get("ports") or []):
            wanted = port.get("nodePort")
            if not wanted or wanted in held:
                continue
            why = self._port_problem(wanted, used)
            if why is None:
                continue
            raise invalid(_svc_kind(), name, [{"reason": "FieldValueInvalid",
                                               "field": f"spec.ports[{i}].nodePort",
                                               "message": f"Invalid value: {wanted}: {why}"}])

    def _assign_ip(self, spec: JsonObj, old_spec: JsonObj, used: set[str], name: str) -> None:
        if old_spec.get("clusterIP"):
            spec["clusterIP"] = old_spec["clusterIP"]
        elif spec.get("clusterIP") == "None":
            pass
        elif spec.get("clusterIP"):
            self._check_ip(spec["clusterIP"], used, name)
        else:
            spec["clusterIP"] = self._next_ip(used)
        spec["clusterIPs"] = [spec["clusterIP"]]
        spec.setdefault("ipFamilies", ["IPv4" if self.network.version == 4 else "IPv6"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        if spec["clusterIP"] != "None":
            self.pending_ips.add(spec["clusterIP"])

    def _assign_ports(self, spec: JsonObj, old_spec: JsonObj, used: set[int]) -> None:
        old_ports = {(p.get("port"), p.get("protocol", "TCP")): p.get("nodePort")
                     for p in old_spec.get("ports") or []}
        for port in spec.get("ports") or []:
            if port.get("nodePort"):
                continue
            kept = old_ports.get((port.get("port"), port.get("protocol", "TCP")))
            if kept:
                port["nodePort"] = kept
                continue
            free = self._free_port(used)
            if free is not None:
                port["nodePort"] = free

    def release(self, obj: JsonObj) -> None:
        """Forget the pending addresses of a Service that was not (or is no longer) stored."""
        spec = obj.get("spec") or {}
        self.pending_ips.discard(spec.get("clusterIP", ""))
        for port in spec.get("ports") or []:
            self.pending_ports.discard(port.get("nodePort", 0))
        self.pending_ports.discard(spec.get("healthCheckNodePort") or 0)


def _asked_health_check(spec: JsonObj) -> set[int]:
    asked = spec.get("healthCheckNodePort")
    return {asked} if asked and needs_health_check(spec) else set()


def _svc_kind() -> ResourceKind:
    from kboot.controlplane.api.registry import lookup
    kind = lookup("", "services")
    assert kind is not None
    return kind
