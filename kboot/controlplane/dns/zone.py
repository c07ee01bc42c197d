"""Cluster DNS records from Services and Endpoints, and the pure query → answer function.

Names (upstream's DNS spec for Kubernetes, the parts pods use):

- ``<svc>.<ns>.svc.<domain>`` A → the cluster IP; for headless Services, every ready pod IP;
- ``<hostname>.<svc>.<ns>.svc.<domain>`` A → that endpoint's IP (headless, with hostname);
- ``_<port>._<proto>.<svc>.<ns>.svc.<domain>`` SRV → named ports;
- ``<d>.<c>.<b>.<a>.in-addr.arpa`` PTR → the Service name of a cluster IP.

A name that exists with no record of the asked type is NODATA (NOERROR, no answers), not
NXDOMAIN — resolvers ask A and AAAA together and must not give up on the A answer.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field

from kboot.controlplane.api.shapes import Obj
from kboot.controlplane.dns import wire

TTL = 5


@dataclass
class Zone:
    domain: str = "cluster.local"
    records: dict[str, list[wire.Record]] = field(default_factory=dict)

    def add(self, record: wire.Record) -> None:
        self.records.setdefault(record.name, []).append(record)


def _ready_addresses(endpoints: Obj | None) -> list[Obj]:
    out: list[Obj] = []
    for subset in (endpoints or {}).get("subsets") or []:
        out += subset.get("addresses") or []
    return out


def _ports(service: Obj, endpoints: Obj | None) -> list[tuple[str, str, int]]:
    """(name, protocol, port) of named ports; headless Services use the endpoint ports."""
    spec = service.get("spec") or {}
    if spec.get("clusterIP") == "None":
        ports = [p for s in (endpoints or {}).get("subsets") or [] for p in s.get("ports") or []]
    else:
        ports = spec.get("ports") or []
    return [(p["name"], p.get("protocol", "TCP"), int(p["port"])) for p in ports if p.get("name")]


def _reverse(ip: str) -> str:
    return ipaddress.ip_address(ip).reverse_pointer


def build_zone(services: Iterable[Obj], endpoints: Iterable[Obj], domain: str) -> Zone:
    zone = Zone(domain=domain.strip(".").lower())
    by_key = {(e["metadata"].get("namespace"), e["metadata"]["name"]): e for e in endpoints}
    for svc in services:
        meta, spec = svc["metadata"], svc.get("spec") or {}
        ns, name = meta.get("namespace", "default"), meta["name"]
        fqdn = f"{name}.{ns}.svc.{zone.domain}".lower()
        eps = by_key.get((ns, name))
        cluster_ip = spec.get("clusterIP") or ""
        if spec.get("type") == "ExternalName":
            continue
        if cluster_ip and cluster_ip != "None":
            zone.add(wire.a_record(fqdn, cluster_ip, TTL))
            zone.add(wire.ptr_record(_reverse(cluster_ip), fqdn, TTL))
        else:
            for addr in _ready_addresses(eps):
                zone.add(wire.a_record(fqdn, addr["ip"], TTL))
                if addr.get("hostname"):
                    zone.add(wire.a_record(f"{addr['hostname']}.{fqdn}".lower(), addr["ip"], TTL))
        zone.records.setdefault(fqdn, [])
        for pname, proto, port in _ports(svc, eps):
            zone.add(wire.srv_record(f"_{pname}._{proto.lower()}.{fqdn}".lower(), priority=0,
                                     weight=100, port=port, target=fqdn, ttl=TTL))
    return zone


def _exists(zone: Zone, name: str) -> bool:
    """True for names with records and for their ancestors inside the zone (empty non-terminals)."""
    if name in zone.records:
        return True
    suffix = "." + name
    return any(known.endswith(suffix) for known in zone.records)


def answer(zone: Zone, question: wire.Question) -> tuple[int, list[wire.Record],
                                                          list[wire.Record]]:
    """(rcode, answers, authority) for *question*; NXDOMAIN outside our zones (no forwarding)."""
    name = question.name
    in_zone = name == zone.domain or name.endswith("." + zone.domain)
    in_reverse = name.endswith(".in-addr.arpa")
    if not in_zone and not in_reverse:
        return wire.NXDOMAIN, [], []
    soa = [wire.soa_record(zone.domain, TTL)]
    if question.qclass != wire.CLASS_IN:
        return wire.NOTIMP, [], []
    if not _exists(zone, name) and name != zone.domain:
        return (wire.NXDOMAIN, [], soa) if in_zone else (wire.NXDOMAIN, [], [])
    records = zone.records.get(name, [])
    matching = [r for r in records if question.qtype in (r.rtype, wire.ANY)]
    if question.qtype == wire.SOA and name == zone.domain:
        return wire.NOERROR, soa, []
    return (wire.NOERROR, matching, []) if matching else (wire.NOERROR, [], soa)
