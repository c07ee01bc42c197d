"""``kboot certs rotate-ca``: replace the cluster CA, the etcd CA and the ServiceAccount signing
key in three stages, with rolling restarts and without restarting pods.

1. ``trust`` — new CAs and a new signing key are made under ``pki/next/``; every host trusts
   old and new (the pushed bundles ``/etc/kboot/pki/ca.crt`` and ``etcd/ca.crt``, the
   kubeconfigs' CA data and so the ``kube-root-ca.crt`` ConfigMaps, the apiservers'
   ``sa.pub`` with both public keys). Nothing is signed by the new CA yet.
2. ``reissue`` — first waits (``--pods-timeout``) until every ``kube-root-ca.crt`` ConfigMap and
   every running pod's projected ``ca.crt`` on every node hold the new CA (the kubelets copy
   the ConfigMap into the pods on their next sync): a pod that re-reads its CA file must trust
   the new CA before any apiserver serves a certificate from it. Then the new CA and key become
   the signing ones (the old certificates, and the old
   key's public half, move to ``pki/old/``); every leaf is re-issued (``ensure_pki`` reissues
   any leaf its CA did not sign), kubeconfigs and the admin kubeconfig rewritten; each kubelet,
   restarted, sees its client certificate is not from the bundle's first CA and asks for a new
   one through a CSR, and requests its pods' projected tokens anew. The kubelets the rolling
   restart reached before the last control plane's apiserver (every control plane but the
   last) may have got them from an apiserver still signing with the old key, so once every
   apiserver signs with the new key they restart once more: at the end of ``reissue`` every
   pod's projected token is from the new key. Hosts still trust both CAs and both keys.
3. ``finish`` — the old CAs leave every bundle; the old ServiceAccount key keeps verifying until
   the tokens it signed have expired (``reissue`` + the grace period, default one hour: the
   kubelets request fresh projected tokens when they restart and every 80 % of a token's life),
   so ``finish`` run earlier removes the CAs and leaves the key for a later ``finish``.

Each stage is a local change of the state directory (idempotent: it looks at which files exist)
followed by ``up``'s ``pki`` playbook (push by checksum, node-by-node restarts); the stages done
are recorded in ``pki/rotation.json``, so an interrupted run is resumed by running the command
again. :func:`plan` decides what a run does and is pure.
"""

from __future__ import annotations

import datetime
import json
import shutil
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from cryptography import x509

from kboot import pki
from kboot.cluster.certscheck import KUBELET_CLIENT, check_certs
from kboot.cluster.exec import run_on_hosts
from kboot.cluster.pki import (
    CA,
    CAS,
    NEXT_DIR,
    OLD_DIR,
    SA_KEY,
    SA_PUBLIC,
    ensure_pki,
    public_sa_key,
    renew_policy,
    rotation_rel,
)
from kboot.cluster.registry import add_registry_files, registry_settings
from kboot.cluster.resources import playbooks_dir
from kboot.cluster.rollout import rolling_order
from kboot.cluster.status import MARK, split_sections
from kboot.cluster.topology import Topology, state_dir
from kboot.cluster.up import PhaseCallback, PlaybookRunner
from kboot.cluster.vars import cluster_inventory, cluster_vars
from kboot.controlplane.client.api import Obj
from kboot.controlplane.client.errors import ApiError
from kboot.controlplane.client.sync import SyncClient
from kboot.errors import ClusterError, UserError
from kboot.inventory import Inventory
from kboot.playbook.state import TransportFactory

STAGES = ("trust", "reissue", "finish")
STATE_FILE = "pki/rotation.json"
DEFAULT_SA_GRACE = datetime.timedelta(hours=1)  # the default TokenRequest lifetime
ROOT_CA_CONFIGMAP = "kube-root-ca.crt"
# the kubelet's pod volumes (kboot.controlplane.kubelet.volumes): a ServiceAccount token volume
# is projected, its ca.crt copied from the namespace's kube-root-ca.crt
PROJECTED_CAS = "/var/lib/kboot/kubelet/pods/*/volumes/kubernetes.io~projected/*/ca.crt"
ApiFactory = Callable[[], AbstractContextManager[SyncClient]]


@dataclass(frozen=True)
class Rotation:
    """A rotation under way: the stages done, and when (epoch seconds) ``reissue`` finished —
    from then on new tokens are signed by the new key, the old key's last ones expire within
    the grace period."""

    done: tuple[str, ...] = ()
    reissued_at: float | None = None


def load_rotation(root: Path) -> Rotation | None:
    path = root / STATE_FILE
    if not path.exists():
        return None
    try:
        doc = json.loads(path.read_text())
        done = tuple(s for s in doc.get("done", []) if s in STAGES)
        at = doc.get("reissuedAt")
        return Rotation(done, float(at) if at is not None else None)
    except (ValueError, TypeError, AttributeError) as err:
        raise ClusterError(f"{path}: unreadable CA rotation state ({err}); it records which "
                           "stages of `kboot certs rotate-ca` are done") from err


def save_rotation(root: Path, rotation: Rotation | None) -> None:
    path = root / STATE_FILE
    if rotation is None:
        path.unlink(missing_ok=True)
        return
    doc = {"done": list(rotation.done), "reissuedAt": rotation.reissued_at}
    pki.write_atomic(path, (json.dumps(doc, indent=2) + "\n").encode(), mode=0o600)


def plan(rotation: Rotation | None, stage: str | None) -> list[str]:
    """The stages this run carries out: ``stage`` alone (a done one again is fine, as long as
    no later one is done), else every stage not done yet. A new rotation starts at ``trust``."""
    done = rotation.done if rotation else ()
    remaining = [s for s in STAGES if s not in done] or ["finish"]  # an SA key still pending
    if stage is None:
        return remaining
    if stage not in STAGES:
        raise UserError(f"no stage {stage!r}; the stages are " + ", ".join(STAGES))
    index = STAGES.index(stage)
    later_done = [s for s in STAGES[index + 1:] if s in done]
    if later_done:
        raise UserError(f"stage {stage} cannot run again: {later_done[0]} is already done "
                        f"(next: {remaining[0]})")
    missing = [s for s in STAGES[:index] if s not in done]
    if missing:
        raise UserError(f"stage {stage} needs stage {missing[0]} first "
                        f"(`kboot certs rotate-ca INVENTORY --stage {missing[0]}`)")
    return [stage]


def _ca_paths(root: Path, rel: str, where: str) -> tuple[Path, Path]:
    base = root / rotation_rel(rel, where)
    return base.with_name(base.name + ".crt"), base.with_name(base.name + ".key")


def prepare_trust(root: Path) -> list[str]:
    """New CAs and signing key under ``pki/next/`` unless there already (a resumed run)."""
    made = []
    for rel, cn in CAS.items():
        crt, key = _ca_paths(root, rel, NEXT_DIR)
        if not (crt.exists() and key.exists()):
            pki.save_pair(pki.new_ca(cn), crt.parent, crt.stem)
            made.append(rotation_rel(rel, NEXT_DIR))
    sa_next = root / rotation_rel(SA_KEY, NEXT_DIR)
    if not sa_next.exists():
        private_pem, _public = pki.new_service_account_key()
        pki.write_atomic(sa_next, private_pem, mode=0o600)
        made.append(rotation_rel(SA_KEY, NEXT_DIR))
    return made


def promote(root: Path) -> list[str]:
    """The next CAs and key become the signing ones; the previous certificates (and the old
    key's public half) move to ``pki/old/``. Safe to repeat after an interruption at any
    point: each step looks at which files exist."""
    moved = []
    for rel in CAS:
        nxt_crt, nxt_key = _ca_paths(root, rel, NEXT_DIR)
        old_crt, _ = _ca_paths(root, rel, OLD_DIR)
        cur_crt, cur_key = root / f"{rel}.crt", root / f"{rel}.key"
        if not (nxt_crt.exists() or nxt_key.exists()):
            continue
        if not old_crt.exists():
            old_crt.parent.mkdir(parents=True, exist_ok=True)
            pki.write_atomic(old_crt, cur_crt.read_bytes(), mode=0o644)
        if nxt_key.exists():  # key first: a half-done promotion is finished by the next run
            nxt_key.replace(cur_key)
        if nxt_crt.exists():
            nxt_crt.replace(cur_crt)
        moved.append(rel)
    sa_next, sa_old = root / rotation_rel(SA_KEY, NEXT_DIR), root / rotation_rel(SA_PUBLIC,
                                                                                  OLD_DIR)
    if sa_next.exists():
        if not sa_old.exists():
            pki.write_atomic(sa_old, public_sa_key(root / SA_KEY), mode=0o644)
        sa_next.replace(root / SA_KEY)
        moved.append(SA_KEY)
    return moved


def drop_old(root: Path, *, keep_sa_key: bool) -> list[str]:
    """The old CAs (and, unless kept, the old ServiceAccount key) gone from the state
    directory, so from every bundle the next push makes."""
    removed = []
    for rel in CAS:
        crt, _ = _ca_paths(root, rel, OLD_DIR)
        if crt.exists():
            crt.unlink()
            removed.append(rotation_rel(rel, OLD_DIR))
    sa_old = root / rotation_rel(SA_PUBLIC, OLD_DIR)
    if sa_old.exists() and not keep_sa_key:
        sa_old.unlink()
        removed.append(rotation_rel(SA_PUBLIC, OLD_DIR))
    old = root / OLD_DIR
    if old.is_dir() and not any(p.is_file() for p in old.rglob("*")):
        shutil.rmtree(old)
    nxt = root / NEXT_DIR
    if nxt.is_dir() and not any(p.is_file() for p in nxt.rglob("*")):
        shutil.rmtree(nxt)
    return removed


@dataclass(frozen=True)
class StageResult:
    stage: str
    changed_files: tuple[str, ...]  # state-directory files made, moved or removed
    reissued: tuple[str, ...]  # leaves re-issued
    note: str = ""


@dataclass
class RotateOptions:
    stage: str | None = None
    sa_grace: datetime.timedelta = DEFAULT_SA_GRACE
    kubelet_timeout: float = 600.0
    pods_timeout: float = 180.0
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    progress: Callable[[str], None] = lambda line: None


def rotate_ca(inventory: Inventory, topo: Topology, *, runner: PlaybookRunner,
              on_phase: PhaseCallback, transports_factory: TransportFactory | None,
              options: RotateOptions, api: ApiFactory | None = None) -> list[StageResult]:
    """``api`` opens a client of the cluster (default: the admin kubeconfig as it is when the
    client is needed — the rotation rewrites it)."""
    root = state_dir(topo.name)
    if not (root / f"{CA}.crt").exists():
        raise ClusterError(f"no PKI for cluster {topo.name} in {root}: nothing to rotate "
                           "(was it brought up from this workstation? `kboot up` creates it)")
    rotation = load_rotation(root)
    results = []
    for stage in plan(rotation, options.stage):
        on_phase(stage, "start")
        rotation = rotation or Rotation()
        note = ""
        if stage == "trust":
            changed = prepare_trust(root)
        elif stage == "reissue":
            _wait_for_pods_ca(inventory, topo, root, transports_factory, options,
                              api or (lambda: SyncClient.from_kubeconfig(
                                  root / "kubeconfigs" / "admin.kubeconfig")))
            changed = promote(root)
        else:
            until = (rotation.reissued_at or 0.0) + options.sa_grace.total_seconds()
            keep = options.clock() < until
            changed = drop_old(root, keep_sa_key=keep)
            if keep:
                at = datetime.datetime.fromtimestamp(until, datetime.UTC)
                note = (f"the old ServiceAccount key keeps verifying until {at:%Y-%m-%d %H:%M} "
                        "UTC (tokens it signed expire by then); run `kboot certs rotate-ca "
                        "--stage finish` again after that to remove it")
        reissued = _push(inventory, topo, root, runner)
        if stage == "reissue":
            _wait_for_kubelets(inventory, topo, root, transports_factory, options)
            _renew_early_tokens(inventory, topo, transports_factory, options)
            rotation = Rotation(("trust", "reissue"), options.clock())
        elif stage == "finish":
            rotation = rotation if note else None  # done once the old key is gone too
        else:
            rotation = Rotation(("trust",))
        save_rotation(root, rotation)
        on_phase(stage, "ok")
        results.append(StageResult(stage, tuple(changed), tuple(reissued), note))
    return results


def _push(inventory: Inventory, topo: Topology, root: Path,
          runner: PlaybookRunner) -> list[str]:
    result = ensure_pki(root, topo, renew_policy(inventory.cluster))
    if registry_settings(inventory).enabled:  # its serving certificate is from the CA too
        add_registry_files(result, root, topo)
    cinv = cluster_inventory(inventory, topo, result, cluster_vars(topo, bundle={}))
    outcome = runner(playbooks_dir() / "up" / "pki.yaml", cinv, phase="pki")
    if not outcome.ok:
        raise ClusterError("pushing the certificates failed (the workstation holds them and "
                           "the stage is not recorded as done; re-run `kboot certs "
                           "rotate-ca`):\n  " + "\n  ".join(outcome.failures))
    return list(result.changed)


def _wait_for_kubelets(inventory: Inventory, topo: Topology, root: Path,
                       transports_factory: TransportFactory | None,
                       options: RotateOptions) -> None:
    """Until every node's kubelet client certificate comes from the new CA (each restarted
    kubelet asks for one through a CSR)."""
    deadline = options.clock() + options.kubelet_timeout
    while True:
        report = check_certs(inventory, topo, root, threshold=datetime.timedelta(0),
                             transports_factory=transports_factory)
        stale = sorted(f.where for f in report.findings
                       if f.path == KUBELET_CLIENT and f.signer != CA)
        stale += sorted(report.unreachable)
        if not stale:
            return
        if options.clock() > deadline:
            raise ClusterError("kubelet client certificates not re-issued by the new CA within "
                               f"{options.kubelet_timeout:.0f} s on: " + ", ".join(stale)
                               + " (is the controller-manager running? re-run `kboot certs "
                               "rotate-ca --stage reissue`)")
        options.sleep(5)


def early_kubelets(topo: Topology) -> list[str]:
    """The nodes whose kubelet the rolling restart restarts before the last control plane's
    apiserver (:func:`~kboot.cluster.rollout.rolling_order`: every control plane but the last).
    Such a kubelet, back up, requests its pods' projected ServiceAccount tokens through its node's
    load balancer, possibly from an apiserver not restarted yet — still signing with the old key
    — and keeps that token for 80 % of its life (48 min of the default hour)."""
    order = rolling_order(topo)
    control_planes = {n.name for n in topo.nodes if n.control_plane}
    last = max((i for i, name in enumerate(order) if name in control_planes), default=0)
    return list(order[:last])


def _renew_early_tokens(inventory: Inventory, topo: Topology,
                        transports_factory: TransportFactory | None,
                        options: RotateOptions) -> None:
    """Once every apiserver signs with the new key, the kubelets restarted before the last one
    (:func:`early_kubelets`) restart again, node by node: a restarted kubelet requests every
    projected token anew, so every pod's token is from the new key when ``reissue`` ends (and
    not only within 48 min; pods on control planes: schedulable ones, or a cluster without
    workers). Pods keep running."""
    nodes = early_kubelets(topo)
    if nodes:
        options.progress("restarting the kubelets of " + ", ".join(nodes) + " again: they "
                         "requested their pods' tokens before every apiserver signed with the "
                         "new key")
    for node in nodes:
        out = run_on_hosts(inventory, {node: "systemctl try-restart kboot-kubelet.service"},
                           become=True, transports_factory=transports_factory)[node]
        if not out.ok:
            why = out.message or out.stderr.strip() or out.status
            raise ClusterError(
                f"restarting the kubelet on {node} failed ({why}): its pods' tokens may still "
                "be from the old key (the "
                "kubelet renews them within 48 min); re-run `kboot certs rotate-ca INVENTORY "
                "--stage reissue`")


def _new_ca(root: Path) -> x509.Certificate:
    """The CA ``reissue`` makes the signing one (already so in a resumed, promoted run)."""
    nxt, _ = _ca_paths(root, CA, NEXT_DIR)
    return x509.load_pem_x509_certificate((nxt if nxt.exists() else root / f"{CA}.crt")
                                          .read_bytes())


def _trusts(pem: str, ca: x509.Certificate) -> bool:
    try:
        return ca in x509.load_pem_x509_certificates(pem.encode())
    except ValueError:
        return False


def projected_cas_command() -> str:
    """One shell line printing every pod's projected ``ca.crt`` on a node, each after a
    marker line naming its path."""
    return (f"for f in {PROJECTED_CAS}; do [ -e \"$f\" ] || continue; echo \"{MARK}$f\"; "
            "cat \"$f\"; done; exit 0")


def pods_lagging(ca: x509.Certificate, configmaps: list[Obj], pods: list[Obj],
                 files: dict[str, dict[str, str] | str]) -> list[str]:
    """What does not trust ``ca`` yet: ``kube-root-ca.crt`` ConfigMaps, running pods whose
    projected ``ca.crt`` (``files``: node → {path: PEM}, or why the node was not read) lacks
    it, and nodes that could not be read while running pods."""
    lagging = []
    for cm in configmaps:
        meta, data = cm.get("metadata") or {}, cm.get("data") or {}
        if not _trusts(data.get("ca.crt", ""), ca):
            lagging.append(f"configmap {meta.get('namespace')}/{ROOT_CA_CONFIGMAP}")
    unread: dict[str, str] = {}
    for pod in pods:
        meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
        status = pod.get("status") or {}
        if status.get("phase") != "Running" or meta.get("deletionTimestamp"):
            continue
        node, uid = spec.get("nodeName", ""), meta.get("uid", "")
        found = files.get(node)
        if found is None:
            continue  # not a node of the inventory
        if isinstance(found, str):
            unread[node] = found
            continue
        stale = [path for path, pem in found.items()
                 if f"/pods/{uid}/" in path and not _trusts(pem, ca)]
        if stale:
            lagging.append(f"pod {meta.get('namespace')}/{meta.get('name')} on {node}")
    lagging += [f"node {node} ({why})" for node, why in sorted(unread.items())]
    return lagging


def _first(items: list[str], n: int) -> str:
    """The first ``n`` items, and how many more there are."""
    more = f" and {len(items) - n} more" if len(items) > n else ""
    return ", ".join(items[:n]) + more


def _wait_for_pods_ca(inventory: Inventory, topo: Topology, root: Path,
                      transports_factory: TransportFactory | None, options: RotateOptions,
                      api: ApiFactory) -> None:
    """Until every ``kube-root-ca.crt`` ConfigMap and every running pod's projected
    ``ca.crt`` hold the new CA: ``trust`` put it in the ConfigMaps (the controller-manager
    copies the kubeconfig's bundle), each kubelet copies it into its pods on its next sync. A
    pod that re-reads its CA file and still holds only the old CA would refuse an apiserver
    serving a certificate of the new CA, so ``reissue`` starts only after this."""
    ca = _new_ca(root)
    deadline = options.clock() + options.pods_timeout
    command = projected_cas_command()
    options.progress("waiting for every pod's projected ca.crt to hold the new CA "
                     f"(up to {options.pods_timeout:.0f} s)")
    while True:
        try:
            with api() as client:
                configmaps = client.list("configmaps",
                                         field_selector=f"metadata.name={ROOT_CA_CONFIGMAP}")
                pods = client.list("pods")
        except (ApiError, aiohttp.ClientError, OSError, TimeoutError) as err:
            configmaps, pods = [], []
            unreachable = f"the API ({err or type(err).__name__})"
        else:
            unreachable = ""
        outputs = run_on_hosts(inventory, {n.name: command for n in topo.nodes}, become=True,
                               transports_factory=transports_factory)
        files: dict[str, dict[str, str] | str] = {
            node: split_sections(out.stdout) if out.ok
            else (out.message or out.stderr.strip() or out.status)
            for node, out in outputs.items()}
        lagging = ([unreachable] if unreachable else []) + pods_lagging(ca, configmaps, pods,
                                                                        files)
        if not lagging:
            options.progress("every pod's projected ca.crt holds the new CA")
            return
        if options.clock() > deadline:
            shown = _first(lagging, 10)
            raise ClusterError(
                f"the new CA did not reach every pod within {options.pods_timeout:.0f} s "
                f"(the stage reissue is not started): {shown}. The kubelets copy "
                f"{ROOT_CA_CONFIGMAP} into the pods on their next sync; check the "
                "controller-manager and these nodes' kubelets, then resume with `kboot certs "
                "rotate-ca INVENTORY --stage reissue` (or a longer --pods-timeout)")
        options.progress(f"waiting for the new CA in: {_first(lagging, 5)}")
        options.sleep(5)
