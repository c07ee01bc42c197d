"""``kboot certs renew``: re-issue leaves with the same CA, push them, restart node by node.

Re-issuing is :func:`kboot.cluster.pki.ensure_pki` with the chosen leaves forced (so names,
SANs and validity come from the one place ``kboot up`` uses too), and pushing is ``up``'s own
``pki`` playbook: its handler records the restarts, and ``rolling-restart.yaml`` restarts one
node at a time, waiting for that node's etcd member to be healthy and its apiserver ready
before the next — the API never goes down as a whole.

The kubelets' client certificates are not renewed here: each kubelet asks for a new one
through a CSR before 80 % of its lifetime (``--rotate-certificates``), with a key that never
leaves its node.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kboot.cluster.pki import ensure_pki, leaf_specs, renew_policy
from kboot.cluster.resources import playbooks_dir
from kboot.cluster.topology import Topology, state_dir
from kboot.cluster.up import PhaseCallback, PlaybookRunner
from kboot.cluster.vars import cluster_inventory, cluster_vars
from kboot.errors import ClusterError, UserError
from kboot.inventory import Inventory
from kboot.inventory.problems import suggest


@dataclass(frozen=True)
class RenewReport:
    renewed: tuple[str, ...]  # leaves re-issued (paths under the state directory)
    changed_tasks: int


def select_leaves(topo: Topology, names: Sequence[str], *, everything: bool) -> list[str]:
    """The leaves ``names`` mean: a full path (``nodes/cp1/apiserver``), or a short name
    matching every node's (``apiserver``, ``etcd/peer``, ``admin``)."""
    known = list(leaf_specs(topo))
    if everything:
        return known
    if not names:
        raise UserError("name the certificates to renew (e.g. apiserver, etcd/server, "
                        "nodes/cp1/kubelet-serving, admin) or pass --all")
    chosen: list[str] = []
    for name in names:
        name = name.removesuffix(".crt").strip("/")
        hits = [rel for rel in known if rel == name or rel.endswith(f"/{name}")]
        if not hits:
            short = sorted({rel.rsplit("/", 1)[-1] for rel in known} | set(known))
            if name in ("kubelet-client", "kubelet"):
                raise UserError("kubelet client certificates are renewed by each kubelet "
                                "itself (a CSR before 80 % of their lifetime); use "
                                "kubelet-serving for the kubelet's serving certificate")
            raise UserError(f"no certificate {name!r}{suggest(name, short)}; expected one of: "
                            + ", ".join(short))
        chosen += [h for h in hits if h not in chosen]
    return chosen


def renew(inventory: Inventory, topo: Topology, leaves: Sequence[str], *,
          runner: PlaybookRunner, on_phase: PhaseCallback) -> RenewReport:
    state = state_dir(topo.name)
    if not (state / "pki" / "ca.crt").exists():
        raise ClusterError(f"no PKI for cluster {topo.name} in {state}: nothing to renew "
                           "(was it brought up from this workstation? `kboot up` creates it)")
    result = ensure_pki(state, topo, renew_policy(inventory.cluster, force=leaves))
    cinv = cluster_inventory(inventory, topo, result, cluster_vars(topo, bundle={}))
    on_phase("push-and-restart", "start")
    outcome = runner(playbooks_dir() / "up" / "pki.yaml", cinv, phase="pki")
    on_phase("push-and-restart", "ok" if outcome.ok else "failed")
    if not outcome.ok:
        raise ClusterError("pushing the renewed certificates failed (the workstation holds "
                           "them; re-run `kboot certs renew` or `kboot up`):\n  "
                           + "\n  ".join(outcome.failures))
    return RenewReport(tuple(r for r in result.changed if r in leaves), outcome.changed)
