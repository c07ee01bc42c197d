"""``kboot up``: an HA cluster from bare hosts, as a sequence of idempotent phases.

Local preparation (bundle, PKI) happens on the workstation first; then each phase runs one
playbook of ``playbooks/up/`` over the hosts, and ``verify`` checks the result through the API.
A phase that fails stops the run (later phases build on it); re-running converges.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import tarfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from kboot.bundle import BundleManifest, build_bundle, default_bundle_dir, load_manifest
from kboot.bundle.build import PRESENT_PACKAGES, refresh_bundle
from kboot.cluster.addons import apply_addons
from kboot.cluster.imagepush import push_bundle_images
from kboot.cluster.jointoken import register_join_token_step
from kboot.cluster.pki import ensure_pki, renew_policy
from kboot.cluster.registry import (
    add_registry_files,
    ensure_credentials,
    registry_settings,
    registry_vars,
)
from kboot.cluster.resources import playbooks_dir
from kboot.cluster.rollout import ROLLING_GROUP
from kboot.cluster.topology import Topology, state_dir, topology_from_inventory
from kboot.cluster.vars import cluster_inventory, cluster_vars
from kboot.controlplane.client.errors import ApiError
from kboot.errors import ClusterError
from kboot.inventory import Group, Inventory

log = logging.getLogger(__name__)

PLAYBOOK_PHASES = ("preflight", "bundle", "pki", "etcd", "control-plane", "registry",
                   "loadbalancer", "workers", "ingress")
# API phases and the playbook phase each runs after: the join token must be known to the API
# before kubelets ask with it; addons need the nodes
API_PHASES_AFTER = {"loadbalancer": "join-token", "workers": "addons"}
# the bundle's images go into the cluster registry before any node pulls its sandbox image
REGISTRY_IMAGES_AFTER = "registry"
# the rolling restart of the nodes the loadbalancer phase's play leaves out (workers, drained)
WORKERS_AFTER = "loadbalancer"
PHASES = ("preflight", "bundle", "pki", "etcd-members", "etcd", "control-plane", "registry",
          "registry-images", "loadbalancer", "worker-restarts", "join-token", "workers", "addons",
          "ingress", "verify")

ApiStep = Callable[[Topology, Path], None]
# Before the etcd phase of a real run: etcd's member list brought in line with the inventory
# (stale members removed, new or wiped members joined as learners; kboot/cluster/membership.py),
# given the inventory with every host's ``up`` variables.
MembersStep = Callable[[Inventory, Topology], None]
# The rolling restart after the loadbalancer phase's play, for the nodes it leaves out (with
# drain: every worker, cordoned and drained first; kboot/cluster/drainroll.py)


class WorkersStep(Protocol):
    def rolling(self, topo: Topology) -> tuple[str, ...]:
        """The hosts of the play's group ``kboot_rolling`` (the others are this step's)."""

    def __call__(self, cinv: Inventory, topo: Topology, kubeconfig: Path) -> None: ...


@dataclass(frozen=True)
class PhaseOutcome:
    ok: bool
    changed: int = 0
    failures: tuple[str, ...] = ()  # one line per failed host: "host: task: message"
    # (host, task, loop item when a string, else "") of each changed result
    changed_tasks: tuple[tuple[str, str, str], ...] = ()


class PlaybookRunner(Protocol):
    """Runs one playbook over an inventory (the CLI wires the engine and its progress view)."""

    def __call__(self, playbook: Path, inventory: Inventory, *, phase: str) -> PhaseOutcome: ...


@dataclass
class UpReport:
    topology: Topology
    admin_kubeconfig: Path
    phases: list[tuple[str, PhaseOutcome, float]] = field(default_factory=list)

    @property
    def changed(self) -> int:
        return sum(o.changed for _, o, _ in self.phases)

    @property
    def changed_tasks(self) -> list[tuple[str, str, str]]:
        return [pair for _, o, _ in self.phases for pair in o.changed_tasks]


def standard_api_steps() -> dict[str, ApiStep]:
    """What a real (not --check) run does through the API between playbook phases."""
    return {"join-token": register_join_token_step, "addons": apply_addons}


PhaseCallback = Callable[[str, str], None]  # (phase, "start"|"ok"|"failed"|"skipped")


def archive_base(manifest: BundleManifest, *, debs: bool) -> str:
    """The name of a bundle's stable part on hosts: its digest, marked when without debs."""
    return manifest.base_digest if debs else f"{manifest.base_digest}-nodebs"


def bundle_archive(bundle_dir: Path, manifest: BundleManifest, *, debs: bool = True) -> Path:
    """One tar of the bundle's large, stable part (all but kboot's own wheel), named by its
    digest: built once, pushed once per host; a new kboot release only pushes its wheel.
    Without ``debs`` (hosts install Debian packages from their own apt sources) the tar holds
    only the wheels, the images and the manifest."""
    base = archive_base(manifest, debs=debs)
    archive = bundle_dir / f"bundle-{base}.tar"
    if not archive.exists():
        for old in bundle_dir.glob("bundle-*.tar"):
            if not old.name.startswith(f"bundle-{manifest.base_digest}"):
                old.unlink()
        tmp = archive.with_suffix(".tmp")
        with tarfile.open(tmp, "w") as tar:
            for part in ("debs", "images", "manifest.json") if debs else ("images",
                                                                          "manifest.json"):
                tar.add(bundle_dir / part, arcname=part)
            for wheel in sorted((bundle_dir / "wheels").glob("*.whl")):
                if not wheel.name.startswith("kboot-"):
                    tar.add(wheel, arcname=f"wheels/{wheel.name}")
        tmp.rename(archive)
    return archive


def prepare_bundle(bundle_dir: Path | None, *, rebuild: bool, debs: bool = True
                   ) -> dict[str, Any]:
    directory = bundle_dir or default_bundle_dir()
    if rebuild or not (directory / "manifest.json").exists():
        manifest = build_bundle(directory)
    else:
        manifest = refresh_bundle(directory, load_manifest(directory))
    archive = bundle_archive(directory, manifest, debs=debs)
    base = archive_base(manifest, debs=debs)
    return {
        "bundle_digest": manifest.digest,
        "bundle_base": base,
        "bundle_tar": str(archive),
        "bundle_dir": f"/var/lib/kboot/bundle/{base}",
        "bundle_packages": list(manifest.packages),
        "bundle_present_packages": list(PRESENT_PACKAGES),
        "kboot_wheel": str(directory / "wheels" / manifest.kboot_wheel),
        "kboot_wheel_name": manifest.kboot_wheel,
    }


def up(
    inventory: Inventory,
    *,
    runner: PlaybookRunner,
    on_phase: PhaseCallback,
    bundle_dir: Path | None = None,
    rebuild_bundle: bool = False,
    api_steps: Mapping[str, ApiStep] | None = None,
    verify: ApiStep | None = None,
    verify_unchanged: ApiStep | None = None,
    members: MembersStep | None = None,
    workers: WorkersStep | None = None,
) -> UpReport:
    """``api_steps`` maps API phase names (:data:`API_PHASES_AFTER`) to their steps; check
    mode passes none, nor ``members`` or ``workers``. ``verify_unchanged`` replaces ``verify``
    when no phase changed anything on a host (a no-op re-run: no smoke pod again)."""
    topo = topology_from_inventory(inventory)
    state = state_dir(topo.name)
    bundle = prepare_bundle(bundle_dir, rebuild=rebuild_bundle,
                            debs=topo.package_source == "bundle")
    pki = ensure_pki(state, topo, renew_policy(inventory.cluster))  # renews what expires soon
    registry = registry_settings(inventory)
    if registry.enabled:
        add_registry_files(pki, state, topo)
    defaults = {**cluster_vars(topo, bundle=bundle),
                **registry_vars(registry, topo, ensure_credentials(state)),
                # one rolling restart per run, the one loadbalancer.yaml imports: pki.yaml's
                # own (for `kboot certs renew`/`rotate-ca`) is left out (rolling-restart.yaml)
                "restarts_after_loadbalancer": True}
    cinv = cluster_inventory(inventory, topo, pki, defaults)
    if workers is not None:
        cinv = dataclasses.replace(cinv, groups={**cinv.groups, ROLLING_GROUP: Group(
            ROLLING_GROUP, workers.rolling(topo))})
    report = UpReport(topology=topo, admin_kubeconfig=pki.admin_kubeconfig)
    books = playbooks_dir() / "up"
    for phase in PLAYBOOK_PHASES:
        if phase == "etcd" and members is not None and topo.datastore == "etcd":
            _members_phase(members, cinv, report, on_phase)
        on_phase(phase, "start")
        start = time.monotonic()
        outcome = runner(books / f"{phase}.yaml", cinv, phase=phase)
        report.phases.append((phase, outcome, time.monotonic() - start))
        on_phase(phase, "ok" if outcome.ok else "failed")
        if not outcome.ok:
            raise ClusterError(
                f"phase {phase} failed; later phases were not run (re-run `kboot up` after "
                "fixing):\n  " + "\n  ".join(outcome.failures)
            )
        if phase == WORKERS_AFTER and workers is not None:
            _api_phase("worker-restarts", functools.partial(workers, cinv), report,
                       pki.admin_kubeconfig, on_phase)
        if phase == REGISTRY_IMAGES_AFTER and api_steps and registry.enabled:
            _api_phase("registry-images", functools.partial(
                _push_bundle_images, state=state, images=Path(bundle["bundle_tar"]).parent /
                "images"), report, pki.admin_kubeconfig, on_phase)
        step = API_PHASES_AFTER.get(phase, "")
        if api_steps and step in api_steps:
            _api_phase(step, api_steps[step], report, pki.admin_kubeconfig, on_phase)
    if verify is not None:
        check = verify_unchanged if verify_unchanged and not report.changed else verify
        _api_phase("verify", check, report, pki.admin_kubeconfig, on_phase)
    return report


def _members_phase(members: MembersStep, cinv: Inventory, report: UpReport,
                   on_phase: PhaseCallback) -> None:
    on_phase("etcd-members", "start")
    start = time.monotonic()
    try:
        members(cinv, report.topology)
    except ClusterError:
        on_phase("etcd-members", "failed")
        raise
    report.phases.append(("etcd-members", PhaseOutcome(ok=True), time.monotonic() - start))
    on_phase("etcd-members", "ok")


def _push_bundle_images(topo: Topology, _kubeconfig: Path, *, state: Path, images: Path
                        ) -> None:
    push_bundle_images(topo, state, images)


def _api_phase(name: str, step: ApiStep, report: UpReport, kubeconfig: Path,
               on_phase: PhaseCallback) -> None:
    on_phase(name, "start")
    start = time.monotonic()
    try:
        step(report.topology, kubeconfig)
    except ClusterError:  # already says what failed (the registry-images step)
        on_phase(name, "failed")
        raise
    except (ApiError, OSError, TimeoutError) as exc:  # aiohttp's connection errors are OSErrors
        on_phase(name, "failed")
        raise ClusterError(
            f"phase {name} failed: the API at {report.topology.api_server_url} answered "
            f"{type(exc).__name__}: {exc} (re-run `kboot up` once it is reachable)") from None
    report.phases.append((name, PhaseOutcome(ok=True), time.monotonic() - start))
    on_phase(name, "ok")
