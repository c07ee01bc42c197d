"""``kboot restore``: put a cluster's store back to a ``kboot backup`` archive.

:func:`plan_restore` validates before anything is touched (the CLI asks for confirmation in
between): the archive is a kboot backup of *this* cluster (same name, same CA as the
workstation state), of the store kind the cluster runs on (an etcd snapshot cannot become the
embedded store's database, nor the other way), with the same Secrets encryption key — else
restored Secrets could not be read. Then :func:`restore` runs the steps of ``playbooks/restore/``:

preflight (every node reachable, room for the restore; changes nothing) → stop (apiservers,
scheduler, controller-manager; then etcd on every member) → the store step, ``etcd`` (the same
snapshot restored on every member into a fresh data dir, swapped in, started, healthy) or
``sqlite`` (the database copy pushed and renamed over the embedded store's database, see
:mod:`kboot.cluster.sqlitesnap`) → control-plane (encryption key pushed, started, ``/readyz``)
→ nodes (kubelet, proxy, dns and ingress restarted so they re-list the restored store) → verify
(through the API) → cleanup (the pre-restore ``.bak`` data removed). Each step is idempotent and
a re-run starts over from the first step, so a run interrupted anywhere converges when re-run.

**Onto new hosts** (the inventory's store hosts differ from the backup's in names or addresses,
:func:`kboot.cluster.newhosts.moved`): an ``install`` step first runs ``kboot up`` on the
inventory with the backup's keys (the workstation state, taken from the archive when the
workstation has none): the CA, ServiceAccount and encryption keys stay, every host certificate
is issued for the new names and addresses; the etcd step then restores the snapshot with the new
members' ``--initial-cluster``. Always, after the control plane is back, the ``forget`` step
removes what the snapshot remembers of hosts not in the inventory (their Node objects, pods and
Leases; the ``kubernetes`` endpoints list the inventory's control planes), and again before
verify.
"""

from __future__ import annotations

import datetime
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kboot.cluster.archive import Archive, Manifest, open_archive
from kboot.cluster.etcdsnap import (
    base_vars,
    etcdctl,
    host_data_dir,
    ops_inventory,
    restore_token,
    snapshot_restore_command,
)
from kboot.cluster.newhosts import check_networks, forget_vanished, moved, store_hosts
from kboot.cluster.resources import playbooks_dir
from kboot.cluster.sqlitesnap import DB_NAME, cleanup_paths, db_path, swap_script
from kboot.cluster.topology import Topology, state_dir, topology_from_inventory
from kboot.cluster.up import ApiStep, PhaseOutcome, PlaybookRunner, standard_api_steps, up
from kboot.controlplane.client.errors import ApiError
from kboot.errors import ClusterError, ConfigError
from kboot.inventory import Inventory

STEPS = ("preflight", "stop", "etcd", "control-plane", "forget", "nodes", "verify", "cleanup")
INSTALL = "install"  # first, onto new hosts: ``kboot up`` with the backup's keys
API_STEPS = ("forget", "verify")  # run through the API, not as playbooks
KEY_FILES = ("pki/ca.crt", "encryption.yaml")  # must be the same in archive and state

PhaseCallback = Callable[[str, str], None]  # (step, "start"|"ok"|"failed")


@dataclass(frozen=True)
class RestorePlan:
    inventory: Inventory
    topology: Topology
    archive: Archive
    state: Path
    restore_state: bool  # the workstation has no state for the cluster: taken from the archive
    notes: tuple[str, ...] = ()
    new_hosts: bool = False  # the store's hosts differ from the backup's: install first
    bundle_dir: Path | None = None  # for the install step (as ``kboot up --bundle``)


def steps(store: str, *, new_hosts: bool = False) -> tuple[str, ...]:
    """The restore steps for a store kind; each but ``install`` and :data:`API_STEPS` is
    ``playbooks/restore/<step>``."""
    first = (INSTALL,) if new_hosts else ()
    return first + tuple(store if step == "etcd" else step for step in STEPS)


def check_cluster(manifest: Manifest, topo: Topology, *, archive: Path, inventory: str) -> None:
    if manifest.cluster != topo.name:
        raise ConfigError(
            f"{archive} is a backup of cluster {manifest.cluster!r}, but {inventory} describes "
            f"cluster {topo.name!r}; refusing to restore another cluster's data (to restore it "
            f"onto other hosts, set cluster.name: {manifest.cluster} in their inventory)")
    if manifest.store != topo.datastore:
        raise ConfigError(
            f"{archive} is a backup of the {_store_name(manifest.store)}, but cluster "
            f"{topo.name!r} runs on the {_store_name(topo.datastore)} (cluster.datastore in "
            f"{inventory}); a backup restores only onto the same kind of store")
    if topo.datastore == "etcd" and not topo.etcd_members:
        raise ConfigError(f"{inventory}: cluster {topo.name!r} has no etcd members")


def _store_name(store: str) -> str:
    return {"etcd": "etcd store", "sqlite": "embedded sqlite store"}.get(store, f"{store} store")


def member_notes(manifest: Manifest, topo: Topology) -> tuple[str, ...]:
    if not moved(manifest, topo):
        return ()
    then = ", ".join(sorted(f"{m.name}={m.address}" for m in manifest.members))
    names = ", ".join(sorted(f"{n.name}={n.ip}" for n in store_hosts(topo)))
    what = ("the control plane" if topo.datastore == "sqlite" else "the etcd members")
    return (f"new hosts: {what} differ from the backup's ({then}); the cluster is installed on "
            f"the inventory's hosts with the backup's CA and keys (certificates re-issued for "
            f"the new names and addresses), then the store is restored onto {names}; Node "
            "objects of hosts not in the inventory are deleted and their pods rescheduled",)


def check_keys(archive: Archive, state: Path) -> bool:
    """True when the workstation lacks the cluster's state (it is then taken from the archive);
    ConfigError when the state belongs to another incarnation of the cluster."""
    for rel in KEY_FILES:
        if rel not in archive.state_files:
            raise ConfigError(f"{archive.path}: the archive lacks {rel} (not written by "
                              "`kboot backup`?)")
    if not all((state / rel).is_file() for rel in KEY_FILES):
        return True
    for rel, what in zip(KEY_FILES, ("cluster CA", "Secrets encryption key"), strict=True):
        if archive.read_state_file(rel) != (state / rel).read_bytes():
            raise ConfigError(
                f"{archive.path}: its {what} ({rel}) differs from the workstation's at {state}:"
                " the backup is of an earlier cluster of the same name; to bring that one back,"
                f" move {state} aside (restore then uses the archive's keys) and run `kboot up`"
                " after the restore")
    return False


def plan_restore(inventory: Inventory, archive_path: Path, *,
                 bundle_dir: Path | None = None) -> RestorePlan:
    topo = topology_from_inventory(inventory)
    archive = open_archive(archive_path)
    check_cluster(archive.manifest, topo, archive=archive_path, inventory=inventory.source)
    new_hosts = moved(archive.manifest, topo)
    if new_hosts:
        check_networks(archive.manifest, topo, archive=archive_path, inventory=inventory.source)
    state = state_dir(topo.name)
    restore_state = check_keys(archive, state)
    notes = member_notes(archive.manifest, topo)
    if restore_state:
        notes += (f"no workstation state at {state}: it is taken from the archive",)
    return RestorePlan(inventory, topo, archive, state, restore_state, notes,
                       new_hosts=new_hosts, bundle_dir=bundle_dir)


def restore_inventory(plan: RestorePlan, *, snapshot: Path, stamp: str) -> Inventory:
    """The inventory the restore playbooks run on: per-member restore command lines (etcd), the
    swap script (sqlite)."""
    topo, inv = plan.topology, plan.inventory
    token = restore_token(topo.name, stamp)
    snap = f"{base_vars()['restore_dir']}/etcd.db"
    per_host: dict[str, dict[str, Any]] = {n.name: {
        "etcd_restore_command": snapshot_restore_command(
            snap, node=n, members=topo.etcd_members, token=token,
            data_dir=f"{host_data_dir(inv, n)}.restore")} for n in topo.etcd_members}
    pushed = f"{base_vars()['restore_dir']}/{DB_NAME}"
    defaults = {**base_vars(), "etcdctl_local": etcdctl(),
                "sqlite_db": db_path(), "sqlite_pushed": pushed,
                "sqlite_swap_script": swap_script(pushed),
                "sqlite_cleanup_paths": [*cleanup_paths(), base_vars()["restore_dir"]],
                "restore_snapshot_src": str(snapshot),
                "restore_snapshot_sha256": plan.archive.manifest.snapshot_sha256,
                "restore_snapshot_size": plan.archive.manifest.snapshot_size,
                "restore_state_dir": str(plan.state)}
    return ops_inventory(inv, topo, defaults=defaults, per_host=per_host)


def restore(plan: RestorePlan, *, runner: PlaybookRunner, on_phase: PhaseCallback,
            verify: ApiStep | None, forget: ApiStep | None = None,
            now: datetime.datetime | None = None) -> None:
    """``forget`` is the API step that removes the hosts not in the inventory
    (:func:`kboot.cluster.newhosts.forget_vanished` when None)."""
    now = now or datetime.datetime.now(datetime.UTC)
    if plan.restore_state:
        plan.archive.extract_state(plan.state)
    books = playbooks_dir() / "restore"
    kubeconfig = plan.state / "kubeconfigs" / "admin.kubeconfig"
    store = plan.topology.datastore
    with tempfile.TemporaryDirectory(prefix="kboot-restore-") as tmp:
        snapshot = plan.archive.extract_snapshot(Path(tmp) / "store.db")
        inv = restore_inventory(plan, snapshot=snapshot, stamp=now.strftime("%Y%m%d%H%M%S"))
        for step in steps(store, new_hosts=plan.new_hosts):
            on_phase(step, "start")
            if step == INSTALL:
                _install(plan, runner, on_phase)
            elif step == "forget":
                _forget(forget, plan.topology, kubeconfig, store)
            elif step == "verify":
                # again: a pod bound to a vanished node before its Node object was deleted
                _forget(forget, plan.topology, kubeconfig, store)
                if verify is not None:
                    _verify(verify, plan.topology, kubeconfig)
            if step == INSTALL or step in API_STEPS:
                on_phase(step, "ok")
                continue
            outcome = runner(books / f"{step}.yaml", inv, phase=step)
            on_phase(step, "ok" if outcome.ok else "failed")
            if not outcome.ok:
                raise ClusterError(_failed(step, outcome, store))


def _install(plan: RestorePlan, runner: PlaybookRunner, on_phase: PhaseCallback) -> None:
    """``kboot up`` on the new hosts with the backup's keys: an empty cluster of the same name
    and CA whose store the next steps replace; up's PKI step issues each host's certificates
    for its name and address."""
    def sub(phase: str, status: str) -> None:
        on_phase(f"{INSTALL}: {phase}", status)
    try:
        up(plan.inventory, runner=runner, on_phase=sub, bundle_dir=plan.bundle_dir,
           api_steps=standard_api_steps(), verify=None)
    except ClusterError as err:
        raise ClusterError(f"restore step {INSTALL} (kboot up on the new hosts) failed; nothing "
                           f"was restored yet, re-run `kboot restore` to converge: {err}") from None


def _forget(forget: ApiStep | None, topo: Topology, kubeconfig: Path, store: str) -> None:
    try:
        if forget is None:
            forget_vanished(topo, kubeconfig)
        else:
            forget(topo, kubeconfig)
    except (ApiError, OSError, TimeoutError) as exc:
        raise ClusterError(
            f"restore step forget failed: the API at {topo.api_server_url} answered "
            f"{type(exc).__name__}: {exc}; {_kept(store)}; re-run `kboot restore` to converge"
        ) from None


def _kept(store: str) -> str:
    if store == "sqlite":
        return f"the pre-restore database is kept as {db_path()}.bak"
    return "each member's pre-restore etcd data is kept in <data dir>.bak"


def _verify(verify: ApiStep, topo: Topology, kubeconfig: Path) -> None:
    try:
        verify(topo, kubeconfig)
    except ClusterError as err:
        raise ClusterError(f"the store is restored but the cluster did not verify: {err}; "
                           f"{_kept(topo.datastore)}") from None


def _failed(step: str, outcome: PhaseOutcome, store: str) -> str:
    if step == "preflight":
        return "restore preflight failed; nothing was changed:\n  " + "\n  ".join(outcome.failures)
    kept = "" if step in ("stop", "cleanup") else f"; {_kept(store)}"
    return (f"restore step {step} failed{kept}; re-run `kboot restore` to converge:\n  "
            + "\n  ".join(outcome.failures))
