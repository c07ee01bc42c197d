"""What a lab *is*, as pure data: its name, subnet, nodes, their addresses and host-side names.

Everything the lab creates on this machine is named from here, so that ``down`` (and the
clean-up after a crashed run) can find every piece again from the lab name alone: the bridge,
the network namespaces, the host ends of the veth pairs, the cgroups, the state directory.
Linux limits interface names to 15 characters, hence the short, hashed prefixes.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from kboot.errors import ConfigError

Role = Literal["control_plane", "worker"]

DEFAULT_NAME = "kboot"
DEFAULT_SUBNET = "10.77.0.0/24"
STATE_ROOT = Path("/var/lib/kboot/lab")
CACHE_ROOT = Path("/var/cache/kboot/lab")
CP_FIRST_HOST = 11  # control planes at .11, .12, …
WORKER_FIRST_HOST = 21  # workers at .21, .22, …
MAX_PER_ROLE = 9
POD_CIDR = "10.244.0.0/16"
SERVICE_CIDR = "10.96.0.0/16"
NETNS_PREFIX = "kblab-"
CGROUP_PREFIX = "kboot-lab-"
PARTITION_CHAIN = "KBOOT-PARTITION"
FIREWALL_COMMENT = "kboot-lab"

_NAME_RE = re.compile(r"^[a-z][a-z0-9]{0,19}$")
_NODE_RE = re.compile(r"^(?P<lab>[a-z][a-z0-9]*)-(?P<role>cp|w)(?P<index>[1-9])$")


def _short_hash(text: str, length: int = 6) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


@dataclass(frozen=True)
class NodeSpec:
    """One lab machine: its name (``<lab>-cp1``), role, index within the role and address."""

    lab: str
    role: Role
    index: int
    address: str
    prefixlen: int

    @property
    def name(self) -> str:
        return f"{self.lab}-{'cp' if self.role == 'control_plane' else 'w'}{self.index}"

    @property
    def short(self) -> str:
        """The name without the lab prefix (``cp1``, ``w2``)."""
        return self.name.split("-", 1)[1]

    @property
    def netns(self) -> str:
        return f"{NETNS_PREFIX}{self.name}"

    @property
    def host_veth(self) -> str:
        return f"{veth_prefix(self.lab)}{self.short}"

    @property
    def mac(self) -> str:
        """A fixed, locally administered MAC derived from the address (stable across restarts)."""
        octets = ipaddress.IPv4Address(self.address).packed
        return "02:6b:" + ":".join(f"{b:02x}" for b in octets)

    @property
    def cgroup(self) -> str:
        return f"{CGROUP_PREFIX}{self.name}"


def veth_prefix(lab: str) -> str:
    """``kb<hash>-``: the host-side veth names of one lab (≤ 15 characters with ``cp9``)."""
    return f"kb{_short_hash(lab)}-"


def bridge_name(lab: str) -> str:
    """``kblab-<name>``, hashed when the name would not fit Linux's 15-character limit."""
    name = f"kblab-{lab}"
    if len(name) <= 15:
        return name
    return f"kblab-{lab[:4]}{_short_hash(lab, 5)}"


def parse_node_name(name: str) -> tuple[str, Role, int] | None:
    """``kboot-cp2`` → (``kboot``, ``control_plane``, 2); None for names that are not lab nodes."""
    m = _NODE_RE.match(name)
    if m is None:
        return None
    role: Role = "control_plane" if m["role"] == "cp" else "worker"
    return m["lab"], role, int(m["index"])


@dataclass(frozen=True)
class LabSpec:
    """A lab's desired shape. Validated on construction."""

    name: str = DEFAULT_NAME
    control_planes: int = 3
    workers: int = 2
    subnet: str = DEFAULT_SUBNET

    def __post_init__(self) -> None:
        if not _NAME_RE.match(self.name):
            raise ConfigError(
                f"lab name {self.name!r}: expected a lower-case letter then up to 19 letters "
                "or digits (it prefixes machine and interface names)"
            )
        for field, count in (("control_planes", self.control_planes), ("workers", self.workers)):
            if not 0 <= count <= MAX_PER_ROLE:
                raise ConfigError(f"{field}: expected 0..{MAX_PER_ROLE}, got {count}")
        if self.control_planes + self.workers == 0:
            raise ConfigError("a lab needs at least one machine")
        net = self.network
        if net.prefixlen > 26:
            raise ConfigError(f"subnet {self.subnet}: expected /26 or larger (nodes use .11-.29)")

    @property
    def network(self) -> ipaddress.IPv4Network:
        try:
            return ipaddress.IPv4Network(self.subnet, strict=True)
        except ValueError as exc:
            raise ConfigError(f"subnet {self.subnet!r}: {exc}") from None

    @property
    def bridge(self) -> str:
        return bridge_name(self.name)

    @property
    def gateway(self) -> str:
        """The bridge's own address (``.1``): the nodes' default route."""
        return str(self.network.network_address + 1)

    def node(self, role: Role, index: int) -> NodeSpec:
        first = CP_FIRST_HOST if role == "control_plane" else WORKER_FIRST_HOST
        address = str(self.network.network_address + first + index - 1)
        return NodeSpec(self.name, role, index, address, self.network.prefixlen)

    @property
    def nodes(self) -> tuple[NodeSpec, ...]:
        cps = [self.node("control_plane", i) for i in range(1, self.control_planes + 1)]
        ws = [self.node("worker", i) for i in range(1, self.workers + 1)]
        return (*cps, *ws)

    def node_by_name(self, name: str) -> NodeSpec:
        """Look a node up by full (``kboot-cp1``) or short (``cp1``) name."""
        for node in self.nodes:
            if name in (node.name, node.short):
                return node
        known = ", ".join(n.name for n in self.nodes)
        raise ConfigError(f"lab {self.name!r} has no node {name!r} (nodes: {known})")
