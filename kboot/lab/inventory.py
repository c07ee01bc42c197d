"""The files a lab hands to kboot: its inventory (kboot's native format) and ``known_hosts``.

The inventory is exactly what ``kboot run`` / ``kboot up`` take for real machines: root over SSH
with the lab's key, ``host_key_policy: strict`` against the known_hosts the lab wrote from the
host keys it generated before each node's first boot.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from kboot.lab.spec import POD_CIDR, SERVICE_CIDR, LabSpec, NodeSpec

VIP_HOST = 10

HEADER = """\
# Written by `kboot lab up --name {name}`: {count} lab machines (systemd-nspawn) on {subnet}.
# Use it unchanged:  kboot up {path}
# Removed by `kboot lab down --name {name}`.
"""


def inventory_document(
    spec: LabSpec, nodes: Sequence[NodeSpec], *, key_file: Path, known_hosts: Path
) -> dict[str, Any]:
    cps = [n.name for n in nodes if n.role == "control_plane"]
    workers = [n.name for n in nodes if n.role == "worker"]
    cluster: dict[str, Any] = {"name": spec.name, "pod_cidr": POD_CIDR,
                               "service_cidr": SERVICE_CIDR}
    if len(cps) > 1:  # several control planes: clients reach the API at a moving address
        cluster["api_vip"] = api_vip(spec)
    return {
        "cluster": cluster,
        "connection": {
            "user": "root",
            "port": 22,
            "key_file": str(key_file),
            "known_hosts": str(known_hosts),
            "host_key_policy": "strict",
        },
        "hosts": {n.name: {"address": n.address} for n in nodes},
        "groups": {
            "control_plane": {"hosts": cps},
            "etcd": {"children": ["control_plane"]},
            "workers": {"hosts": workers},
        },
        # lab machines are disposable: dpkg may skip its per-file syncs (faster installs)
        "vars": {"dpkg_unsafe_io": True},
    }


def api_vip(spec: LabSpec) -> str:
    """The lab's API virtual address: ``.10`` of its subnet (nodes use .11-.29, the bridge .1)."""
    return str(spec.network.network_address + VIP_HOST)


def render_inventory(
    spec: LabSpec, nodes: Sequence[NodeSpec], *, key_file: Path, known_hosts: Path, path: Path
) -> str:
    doc = inventory_document(spec, nodes, key_file=key_file, known_hosts=known_hosts)
    header = HEADER.format(name=spec.name, count=len(nodes), subnet=spec.subnet, path=path)
    return header + yaml.safe_dump(doc, sort_keys=False, default_flow_style=False)


def render_known_hosts(host_keys: Mapping[str, str]) -> str:
    """``address → "type base64"`` → OpenSSH known_hosts lines (sorted, one per address)."""
    return "".join(f"{addr} {key}\n" for addr, key in sorted(host_keys.items()) if key)
