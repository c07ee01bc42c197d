"""Removing a lab completely: from its state file, and by name prefix when that is missing or
stale (a crashed ``lab up``, a killed test session).

Order matters: processes first (so nothing holds mounts or namespaces), then cgroups, mounts,
namespaces and their veths, the bridge, the firewall rules, and last the state directory.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
from pathlib import Path

from kboot.lab import machine, network
from kboot.lab.rootfs import unmount
from kboot.lab.spec import NETNS_PREFIX, bridge_name, parse_node_name, veth_prefix
from kboot.lab.state import LabState

log = logging.getLogger(__name__)

NSPAWN_RUNTIME = Path("/run/systemd/nspawn/propagate")
NSPAWN_LOCKS = Path("/run/systemd/nspawn/locks")
INVENTORY_MARK = "# Written by `kboot lab up"


def leftover_netns(lab: str) -> list[str]:
    prefix = f"{NETNS_PREFIX}{lab}-"
    if not network.NETNS_DIR.is_dir():
        return []
    return sorted(p.name for p in network.NETNS_DIR.iterdir() if p.name.startswith(prefix))


def leftover_veths(lab: str) -> list[str]:
    prefix = veth_prefix(lab)
    return sorted(p.name for p in Path("/sys/class/net").iterdir() if p.name.startswith(prefix))


def node_names(lab: str, state: LabState | None) -> list[str]:
    """Every node name of ``lab`` the state or this machine's namespaces still know."""
    names = set(state.nodes) if state else set()
    names.update(ns[len(NETNS_PREFIX):] for ns in leftover_netns(lab))
    return sorted(n for n in names if (parsed := parse_node_name(n)) and parsed[0] == lab)


def stop_processes(lab: str, state: LabState | None) -> None:
    """SIGKILL every node of the lab: containers' init (taking their pid namespace down with
    it), their nspawn processes, and anything left in the nodes' cgroups."""
    nspawns = machine.machine_processes(f"{lab}-")
    for pid in nspawns:
        lead = machine.leader(machine.Proc(pid, machine.proc_start(pid) or -1))
        machine.kill_all([lead] if lead else [])
    machine.kill_all(nspawns)
    dirs = cgroup_dirs(lab, state)
    for _ in range(3):
        pids = machine.cgroup_pids(dirs)
        machine.kill_all(sorted(pids))
        if machine.wait_gone([*nspawns, *pids], timeout=10):
            break
    machine.remove_cgroups(dirs)


def cgroup_dirs(lab: str, state: LabState | None) -> list[Path]:
    dirs: set[Path] = set()
    if state:
        for record in state.nodes.values():
            dirs.update(Path(d) for d in record.cgroups)
    for name in node_names(lab, state):
        dirs.update(machine.node_cgroup_dirs(name))
    return sorted(dirs)


def remove_nspawn_lock(root: Path) -> None:
    """nspawn locks a node's root directory with a file named after its inode, and leaves it
    behind where /run is not a tmpfs. Call while the root is still mounted."""
    with contextlib.suppress(OSError):
        st = root.stat()
        (NSPAWN_LOCKS / f"inode-{st.st_dev}:{st.st_ino}").unlink()


def teardown(lab: str, state: LabState | None, state_dir: Path) -> None:
    """Remove everything of ``lab`` from this machine; safe to repeat."""
    stop_processes(lab, state)
    names = node_names(lab, state)
    for name in names:
        remove_nspawn_lock(state_dir / "nodes" / name / "root")
    unmount(state_dir)
    for name in names:
        with contextlib.suppress(OSError):
            shutil.rmtree(NSPAWN_RUNTIME / name)
    for ns in {f"{NETNS_PREFIX}{n}" for n in names} | set(leftover_netns(lab)):
        network.remove_netns(ns)
    for veth in leftover_veths(lab):
        network.remove_link(veth)
    bridge = state.spec.bridge if state else bridge_name(lab)
    network.remove_bridge(bridge)
    network.remove_host_firewall(lab)
    if state and state.inventory:
        inv = Path(state.inventory)
        with contextlib.suppress(OSError):
            if inv.read_text().startswith(INVENTORY_MARK):
                inv.unlink()
    shutil.rmtree(state_dir, ignore_errors=True)
    log.info("lab %s removed", lab)
