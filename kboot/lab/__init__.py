"""Local lab machines: systemd-nspawn nodes with their own network namespace, an address on a
lab bridge, an overlay root on a cached Debian 12 image, systemd and sshd; fault injection
(stop, start, kill, partition, heal); and the inventory that ``kboot up`` takes unchanged.

Public API::

    Lab(name="kboot", *, control_planes=3, workers=2, subnet=None, image=None,
        inventory_path=None)                  # subnet/image None: the lab's own, or defaults
                                              # (10.77.0.0/24, "plain") for a new lab
    Lab.up(*, timeout=120.0) -> Path          # converge; returns the inventory path
    Lab.down() -> None                        # remove everything (idempotent, crash-safe)
    Lab.status() -> list[NodeStatus]
    Lab.exec(node, argv, *, input=None, timeout=120, check=False) -> RunResult
    Lab.put(node, data, path, *, mode=0o644) -> None
    Lab.stop(node) / Lab.start(node) / Lab.kill(node)
    Lab.partition(node, from_nodes=None) / Lab.heal()
    Lab.nodes, Lab.node(name), Lab.inventory_path, Lab.key_file, Lab.known_hosts
    Lab.existing_node(name) -> NodeSpec       # full or short name, in the lab as it exists
    Lab.existing_nodes() -> tuple[NodeSpec, ...]
    lab_names(state_root=STATE_ROOT) -> list[str]   # the labs on this machine
"""

from __future__ import annotations

from kboot.lab.lab import Lab, NodeStatus, lab_names
from kboot.lab.spec import LabSpec, NodeSpec

__all__ = ["Lab", "LabSpec", "NodeSpec", "NodeStatus", "lab_names"]
