"""``kboot reset``: remove what kboot installed from the hosts (``playbooks/reset.yaml``).

The workstation keeps the cluster's PKI unless asked to forget it, so the admin kubeconfig stays
valid for a cluster rebuilt on the same hosts; ``forget`` removes the state directory too.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from kboot.cluster.resources import playbooks_dir
from kboot.cluster.topology import state_dir, topology_from_inventory
from kboot.cluster.up import PhaseOutcome, PlaybookRunner
from kboot.cluster.vars import with_nodes_group
from kboot.errors import ClusterError
from kboot.inventory import Inventory


def reset(inventory: Inventory, *, runner: PlaybookRunner, forget: bool = False) -> Path:
    """Reset every node; returns the (kept or removed) workstation state directory."""
    topo = topology_from_inventory(inventory)
    outcome: PhaseOutcome = runner(playbooks_dir() / "reset.yaml",
                                   with_nodes_group(inventory, topo), phase="reset")
    if not outcome.ok:
        raise ClusterError("reset failed on some hosts (re-run `kboot reset`):\n  "
                           + "\n  ".join(outcome.failures))
    state = state_dir(topo.name)
    if forget and state.exists():
        shutil.rmtree(state)
    return state
