"""The node's pod network: the CNI conflist on its podCIDR and host-gw routes to other nodes.

The kubelet writes ``10-kboot.conflist`` (bridge ``cni0`` + host-local IPAM on ``spec.podCIDR``
+ portmap + loopback; the same document as ``templates/cni/10-kboot.conflist.j2``, which a unit
test keeps in step) once the controller-manager has given the Node a podCIDR; containerd picks
the file up and reports NetworkReady. Routes to every other node's podCIDR via its InternalIP
are tagged with routing protocol ``kboot`` (number 199) so the kubelet can find and prune its
own routes without touching anyone else's.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from kboot.controlplane.api.shapes import Obj

log = logging.getLogger(__name__)
CONFLIST_NAME = "10-kboot.conflist"
ROUTE_PROTO = "199"


def conflist(pod_cidr: str, *, bridge: str = "cni0",
             ipam_dir: str = "/var/lib/cni/networks") -> Obj:
    return {
        "cniVersion": "0.4.0",
        "name": "kboot",
        "plugins": [
            {"type": "bridge", "bridge": bridge, "isGateway": True, "ipMasq": False,
             "hairpinMode": True,
             "ipam": {"type": "host-local", "ranges": [[{"subnet": pod_cidr}]],
                      "routes": [{"dst": "0.0.0.0/0"}], "dataDir": ipam_dir}},
            {"type": "portmap", "capabilities": {"portMappings": True}, "snat": True},
            {"type": "loopback"},
        ],
    }


def write_conflist(conf_dir: str, pod_cidr: str) -> bool:
    """Write the conflist if it differs; True when the file changed."""
    path = Path(conf_dir) / CONFLIST_NAME
    text = json.dumps(conflist(pod_cidr), indent=2) + "\n"
    if path.is_file() and path.read_text() == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
    log.info("wrote CNI config %s for podCIDR %s", path, pod_cidr)
    return True


def internal_ip(node: Obj) -> str:
    for addr in (node.get("status") or {}).get("addresses") or []:
        if addr.get("type") == "InternalIP":
            return str(addr["address"])
    return ""


def desired_routes(nodes: Iterable[Obj], own: str) -> dict[str, str]:
    """podCIDR → next hop (InternalIP) for every other node that has both."""
    out = {}
    for node in nodes:
        name = node["metadata"]["name"]
        cidr, via = (node.get("spec") or {}).get("podCIDR"), internal_ip(node)
        if name != own and cidr and via:
            out[cidr] = via
    return out


def route_commands(current: Mapping[str, str], desired: Mapping[str, str]) -> list[list[str]]:
    """``ip route`` commands that turn *current* (our tagged routes) into *desired*."""
    cmds = [["ip", "route", "replace", cidr, "via", via, "proto", ROUTE_PROTO]
            for cidr, via in sorted(desired.items()) if current.get(cidr) != via]
    cmds += [["ip", "route", "del", cidr, "proto", ROUTE_PROTO]
             for cidr in sorted(current) if cidr not in desired]
    return cmds


def parse_routes(text: str) -> dict[str, str]:
    """Output of ``ip route show proto 199`` → podCIDR → next hop."""
    out = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[1] == "via":
            out[parts[0]] = parts[2]
    return out


async def _run(cmd: list[str]) -> str:
    proc = await asyncio.create_subprocess_exec(*cmd, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    if proc.returncode:
        log.warning("%s: %s", " ".join(cmd), err.decode(errors="replace").strip())
    return out.decode()


async def sync_routes(nodes: Iterable[Obj], own: str, *, prefix: Sequence[str] = ()) -> None:
    """Make our tagged routes match the Nodes (commands run under *prefix*, e.g. nsenter)."""
    pre = list(prefix)
    current = parse_routes(await _run([*pre, "ip", "route", "show", "proto", ROUTE_PROTO]))
    for cmd in route_commands(current, desired_routes(nodes, own)):
        await _run([*pre, *cmd])
