"""``kboot status``: one view of a cluster's health, gathered in parallel.

- nodes from the API (Ready, roles, version, address);
- each host's kboot units (``systemctl is-active``), one round trip per host through the engine;
  the first reachable etcd member also answers ``etcdctl member list`` and ``endpoint status``
  in that same round trip;
- scheduler and controller-manager leaders (their Leases in kube-system);
- the workstation PKI's certificates, soonest expiry first, and each node's kubelet client
  certificate (issued on the node through a CSR, so read there with ``openssl`` in the same
  round trip).

Gathering (:func:`gather_status`) and judging (:func:`build_report`, pure) are separate, so the
judgement is tested on canned data. A part that cannot be gathered becomes a problem in the
report; the rest is still shown.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import datetime
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kboot.cluster.etcdmembers import json_value, parse_members, stale_members
from kboot.cluster.exec import HostOutput, run_on_hosts
from kboot.cluster.pki import HOST_PKI_DIR
from kboot.cluster.topology import Node, Topology, state_dir
from kboot.controlplane.client.config import ClientConfig, load_kubeconfig
from kboot.controlplane.client.errors import ApiError
from kboot.controlplane.client.rest import Client
from kboot.controlplane.client.sync import SyncClient, node_ready
from kboot.inventory import Inventory
from kboot.pki import CertInfo, scan_certs
from kboot.playbook.state import TransportFactory

log = logging.getLogger(__name__)

CERT_WARN_DAYS = 30
LEASES = ("kube-scheduler", "kube-controller-manager")
MARK = "KBOOT-SECTION "
KUBELET_CERT = "/var/lib/kboot/kubelet/pki/kubelet-client-current.pem"


def expected_units(node: Node) -> tuple[str, ...]:
    units: list[str] = []
    if node.etcd:
        units.append("kboot-etcd")
    if node.control_plane:
        units += ["kboot-apiserver", "kboot-scheduler", "kboot-controller-manager"]
    units += ["haproxy", "containerd", "kboot-kubelet", "kboot-proxy", "kboot-dns"]
    if node.ingress:
        units.append("kboot-ingress")
    return tuple(units)


def _etcdctl(topo: Topology, node: Node) -> str:
    p = f"{HOST_PKI_DIR}/etcd"
    endpoints = ",".join(f"https://{n.ip}:2379" for n in topo.etcd_members)
    return (f"ETCDCTL_API=3 etcdctl --endpoints={endpoints} --cacert={p}/ca.crt "
            f"--cert={p}/server.crt --key={p}/server.key --command-timeout=5s -w json")


def host_command(topo: Topology, node: Node, *, with_etcd: bool) -> str:
    """The one shell line a host runs for ``kboot status``; sections are marked for parsing."""
    units = " ".join(expected_units(node))
    line = f"echo '{MARK}units'; systemctl is-active {units};"
    line += f" echo '{MARK}kubelet-cert'; openssl x509 -noout -enddate -in {KUBELET_CERT} 2>&1;"
    if with_etcd:
        etcdctl = _etcdctl(topo, node)
        line += (f" echo '{MARK}members'; {etcdctl} member list 2>&1;"
                 f" echo '{MARK}endpoints'; {etcdctl} endpoint status 2>&1;")
    return line + " exit 0"


def split_sections(text: str) -> dict[str, str]:
    sections: dict[str, list[str]] = {}
    current = ""
    for line in text.splitlines():
        if line.startswith(MARK):
            current = line[len(MARK):].strip()
            sections[current] = []
        elif current:
            sections[current].append(line)
    return {k: "\n".join(v) for k, v in sections.items()}


@dataclass(frozen=True)
class NodeRow:
    name: str
    ready: bool
    roles: str
    version: str
    ip: str


@dataclass(frozen=True)
class HostHealth:
    host: str
    reachable: bool
    units: Mapping[str, str]  # unit -> is-active state
    message: str = ""


@dataclass(frozen=True)
class EtcdMember:
    name: str
    id: str
    client_urls: tuple[str, ...]
    leader: bool
    healthy: bool


@dataclass(frozen=True)
class CertRow:
    path: str
    subject: str
    not_after: datetime.datetime | None
    days_left: int | None
    problem: str = ""


@dataclass(frozen=True)
class StatusReport:
    cluster: str
    nodes: tuple[NodeRow, ...]
    hosts: tuple[HostHealth, ...]
    etcd: tuple[EtcdMember, ...]
    leaders: Mapping[str, str]
    certs: tuple[CertRow, ...]
    problems: tuple[str, ...] = field(default=())
    store: str = "etcd"  # the apiserver's store: "etcd", or "sqlite" (embedded, no members)

    @property
    def healthy(self) -> bool:
        return not self.problems


def node_rows(items: Sequence[Mapping[str, Any]]) -> tuple[NodeRow, ...]:
    rows = []
    for n in items:
        meta, status = n.get("metadata") or {}, n.get("status") or {}
        roles = sorted(k.split("/", 1)[1] for k in (meta.get("labels") or {})
                       if k.startswith("node-role.kubernetes.io/"))
        ip = next((a.get("address", "") for a in status.get("addresses") or []
                   if a.get("type") == "InternalIP"), "")
        rows.append(NodeRow(str(meta.get("name", "")), node_ready(dict(n)),
                            ",".join(roles) or "<none>",
                            str((status.get("nodeInfo") or {}).get("kubeletVersion", "")), ip))
    return tuple(sorted(rows, key=lambda r: r.name))


def parse_units(units: Sequence[str], text: str) -> dict[str, str]:
    states = [s.strip() for s in text.splitlines() if s.strip()]
    return {u: (states[i] if i < len(states) else "unknown") for i, u in enumerate(units)}


def parse_etcd(members_text: str, endpoints_text: str) -> tuple[EtcdMember, ...]:
    """Members from ``member list -w json``, marked leader/healthy from ``endpoint status``."""
    members = (json_value(members_text, dict) or {}).get("members") or []
    statuses = json_value(endpoints_text, list)
    leader, answered = 0, set()
    for st in statuses if isinstance(statuses, list) else []:
        header = (st.get("Status") or {}).get("header") or {}
        leader = int((st.get("Status") or {}).get("leader") or leader)
        answered.add(int(header.get("member_id") or 0))
    return tuple(EtcdMember(name=str(m.get("name", "")), id=f"{int(m.get('ID', 0)):x}",
                            client_urls=tuple(m.get("clientURLs") or ()),
                            leader=int(m.get("ID", 0)) == leader,
                            healthy=int(m.get("ID", 0)) in answered)
                 for m in members)


def cert_rows(found: Sequence[tuple[Path, CertInfo | str]], root: Path, *,
              now: datetime.datetime) -> tuple[CertRow, ...]:
    rows = []
    for path, info in found:
        rel = str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
        if isinstance(info, str):
            rows.append(CertRow(rel, "", None, None, info))
        else:
            rows.append(CertRow(rel, info.common_name, info.not_after,
                                info.remaining(now).days))
    return tuple(rows)


def kubelet_cert_rows(topo: Topology, outputs: Mapping[str, HostOutput], *,
                      now: datetime.datetime) -> tuple[CertRow, ...]:
    """Each reachable node's kubelet client certificate, from ``openssl x509 -enddate``."""
    rows = []
    for node in topo.nodes:
        out = outputs.get(node.name)
        text = split_sections(out.stdout).get("kubelet-cert") if out else None
        if out is None or out.status == "unreachable" or text is None:
            continue
        path = f"{node.name}:{KUBELET_CERT}"
        found = re.search(r"^notAfter=(.+)$", text, re.M)
        if found is None:
            rows.append(CertRow(path, "", None, None, "missing (the node has not joined)"))
            continue
        not_after = datetime.datetime.strptime(found.group(1).strip(), "%b %d %H:%M:%S %Y GMT"
                                               ).replace(tzinfo=datetime.UTC)
        rows.append(CertRow(path, f"system:node:{node.name}", not_after,
                            (not_after - now).days))
    return tuple(rows)


@dataclass(frozen=True)
class Gathered:
    """Raw inputs of a report, as gathered (or canned by tests)."""

    nodes: Sequence[Mapping[str, Any]] | None  # None: the API did not answer
    api_error: str
    outputs: Mapping[str, HostOutput]
    etcd_host: str | None
    leases: Mapping[str, str]
    certs: Sequence[tuple[Path, CertInfo | str]]
    cert_root: Path


def build_report(topo: Topology, g: Gathered, *, now: datetime.datetime | None = None,
                 warn_days: float = CERT_WARN_DAYS) -> StatusReport:
    """Judge the gathered data: every problem is named, nothing is dropped."""
    now = now or datetime.datetime.now(datetime.UTC)
    problems: list[str] = []
    nodes = node_rows(g.nodes or ())
    if g.nodes is None:
        problems.append(f"API: {g.api_error or 'no answer'}")
    problems += _node_problems(topo, nodes) if g.nodes is not None else []
    hosts = tuple(_host_health(n, g.outputs.get(n.name)) for n in topo.nodes)
    for h in hosts:
        if not h.reachable:
            problems.append(f"{h.host}: unreachable ({h.message})")
        problems += [f"{h.host}: {u} is {s}" for u, s in h.units.items() if s != "active"]
    etcd = _etcd(g)
    if topo.etcd_members:  # none with the embedded store (cluster.datastore sqlite)
        problems += _etcd_problems(topo, etcd, g.etcd_host) + _membership_problems(topo, g)
    for lease in LEASES:
        if not g.leases.get(lease) and g.nodes is not None:
            problems.append(f"{lease}: no leader")
    certs = tuple(sorted(  # unreadable or missing first, then soonest expiry first
        cert_rows(g.certs, g.cert_root, now=now) + kubelet_cert_rows(topo, g.outputs, now=now),
        key=lambda c: (c.days_left is not None, c.days_left or 0)))
    for c in certs:
        if c.problem:
            problems.append(f"certificate {c.path}: {c.problem}")
        elif c.days_left is not None and c.days_left < 0:
            problems.append(f"certificate {c.path} has EXPIRED (kboot certs renew)")
        elif c.days_left is not None and c.days_left < warn_days:
            problems.append(f"certificate {c.path} expires in {c.days_left} days (`kboot up` "
                            "renews it, or `kboot certs renew`; the kubelet's renews itself)")
    return StatusReport(topo.name, nodes, hosts, etcd, dict(g.leases), certs, tuple(problems),
                        store=topo.datastore)


def _node_problems(topo: Topology, nodes: Sequence[NodeRow]) -> list[str]:
    seen = {n.name: n for n in nodes}
    out = [f"node {n.name}: not registered" for n in topo.nodes if n.name not in seen]
    return out + [f"node {n.name}: not Ready" for n in nodes if not n.ready]


def _host_health(node: Node, out: HostOutput | None) -> HostHealth:
    if out is None or out.status == "unreachable":
        return HostHealth(node.name, False, {}, out.message if out else "not contacted")
    units = parse_units(expected_units(node), split_sections(out.stdout).get("units", ""))
    return HostHealth(node.name, True, units)


def _etcd(g: Gathered) -> tuple[EtcdMember, ...]:
    if g.etcd_host is None or g.etcd_host not in g.outputs:
        return ()
    sections = split_sections(g.outputs[g.etcd_host].stdout)
    return parse_etcd(sections.get("members", ""), sections.get("endpoints", ""))


def _etcd_problems(topo: Topology, etcd: Sequence[EtcdMember], host: str | None) -> list[str]:
    if not etcd:
        return [f"etcd: no member list (asked {host or 'no reachable member'})"]
    out = [f"etcd member {m.name or m.id}: not answering" for m in etcd if not m.healthy]
    if not any(m.leader for m in etcd):
        out.append("etcd: no leader")
    if len(etcd) != len(topo.etcd_members):
        out.append(f"etcd: {len(etcd)} members, inventory has {len(topo.etcd_members)}")
    return out


def _membership_problems(topo: Topology, g: Gathered) -> list[str]:
    """Members the inventory does not account for (not in it, or added and never started) and
    learners not yet promoted: what ``kboot up`` fixes."""
    if g.etcd_host is None or g.etcd_host not in g.outputs:
        return []
    members = parse_members(split_sections(g.outputs[g.etcd_host].stdout).get("members", ""))
    stale = stale_members(topo, members or ())
    out = [f"etcd member {s.member.label}: stale ({s.why}); `kboot up` removes it"
           for s in stale]
    gone = {s.member.id for s in stale}
    return out + [f"etcd member {m.label}: a learner not yet promoted; `kboot up` promotes it"
                  for m in members or () if m.learner and m.id not in gone]


def _api_once(config: ClientConfig) -> tuple[list[dict[str, Any]], dict[str, str]]:
    with SyncClient(lambda: Client(config)) as api:
        nodes = api.list("nodes")
        leases = {}
        for name in LEASES:
            lease = api.get_or_none("leases", name, namespace="kube-system")
            leases[name] = str(((lease or {}).get("spec") or {}).get("holderIdentity") or "")
        return nodes, leases


def _api_state(kubeconfig: Path, topo: Topology
               ) -> tuple[list[dict[str, Any]] | None, dict[str, str], str]:
    """Nodes and leader Leases through the kubeconfig's server, else through each control
    plane's own apiserver (their certificates carry the node addresses)."""
    config = load_kubeconfig(kubeconfig)
    servers = [config.server] + [u for u in (f"https://{n.ip}:6443" for n in topo.control_planes)
                                 if u != config.server]
    first_error = ""
    for server in servers:
        try:
            nodes, leases = _api_once(dataclasses.replace(config, server=server))
            return nodes, leases, ""
        except (ApiError, OSError, TimeoutError) as err:
            log.info("status: API at %s: %s", server, err)
            first_error = first_error or f"{server}: {err or type(err).__name__}"
    return None, {}, first_error


def _host_outputs(inventory: Inventory, topo: Topology, *,
                  transports_factory: TransportFactory | None,
                  forks: int) -> tuple[dict[str, HostOutput], str | None]:
    """Every host's units in one round trip; etcd asked on its first member, or on another
    reachable member in a second (small) round trip."""
    etcd_host = topo.etcd_members[0].name if topo.etcd_members else None
    commands = {n.name: host_command(topo, n, with_etcd=n.name == etcd_host) for n in topo.nodes}
    outputs = run_on_hosts(inventory, commands, become=True,
                           transports_factory=transports_factory, forks=forks)
    if etcd_host and outputs[etcd_host].status == "unreachable":
        other = next((n for n in topo.etcd_members if outputs[n.name].status != "unreachable"),
                     None)
        if other is not None:
            outputs.update(run_on_hosts(inventory, {other.name: host_command(
                topo, other, with_etcd=True)}, become=True, transports_factory=transports_factory))
        etcd_host = other.name if other else None
    return outputs, etcd_host


def gather_status(inventory: Inventory, topo: Topology, *, kubeconfig: Path | None = None,
                  transports_factory: TransportFactory | None = None,
                  forks: int = 20, warn_days: float = CERT_WARN_DAYS) -> StatusReport:
    """Hosts (over SSH) and the API (over HTTPS) are asked at the same time."""
    root = state_dir(topo.name)
    kubeconfig = kubeconfig or root / "kubeconfigs" / "admin.kubeconfig"
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="kboot-status") as pool:
        api = (pool.submit(_api_state, kubeconfig, topo) if kubeconfig.exists() else None)
        outputs, etcd_host = _host_outputs(inventory, topo, transports_factory=transports_factory,
                                           forks=forks)
        nodes, leases, api_error = (api.result() if api is not None
                                    else (None, {}, f"no admin kubeconfig at {kubeconfig}"))
    certs = scan_certs(root) if root.is_dir() else []
    return build_report(topo, Gathered(nodes, api_error, outputs, etcd_host, leases, certs,
                                       root), warn_days=warn_days)


def report_dict(report: StatusReport) -> dict[str, Any]:
    """The report as JSON-ready data (``kboot status -o json``)."""
    def cert(c: CertRow) -> dict[str, Any]:
        return {"path": c.path, "subject": c.subject, "daysLeft": c.days_left,
                "notAfter": c.not_after.isoformat() if c.not_after else None,
                "problem": c.problem}
    return {
        "cluster": report.cluster, "healthy": report.healthy, "store": report.store,
        "nodes": [vars(n) for n in report.nodes],
        "hosts": [{"host": h.host, "reachable": h.reachable, "units": dict(h.units),
                   "message": h.message} for h in report.hosts],
        "etcd": [{**vars(m), "client_urls": list(m.client_urls)} for m in report.etcd],
        "leaders": dict(report.leaders),
        "certificates": [cert(c) for c in report.certs],
        "problems": list(report.problems),
    }


