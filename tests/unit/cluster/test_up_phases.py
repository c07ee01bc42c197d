"""``kboot up``'s sequencing: API phases run after their playbook phase, and an unreachable API
is one clear error naming the phase and the address, not a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from kboot.cluster import up as up_mod
from kboot.cluster.topology import Topology
from kboot.cluster.up import PhaseOutcome, up
from kboot.errors import ClusterError
from kboot.inventory import Connection, Group, Host, Inventory


def _inventory() -> Inventory:
    hosts = {"cp1": Host("cp1", Connection(address="10.0.0.11")),
             "w1": Host("w1", Connection(address="10.0.0.21"))}
    groups = {"control_plane": Group("control_plane", hosts=("cp1",)),
              "workers": Group("workers", hosts=("w1",))}
    return Inventory("inv.yaml", hosts, groups, cluster={"name": "t"})


@pytest.fixture
def no_bundle(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KBOOT_HOME", str(tmp_path))
    monkeypatch.setattr(up_mod, "prepare_bundle", lambda *_a, **_k: {
        "bundle_digest": "d", "bundle_base": "b", "bundle_tar": "/x.tar", "bundle_dir": "/b",
        "bundle_packages": [], "kboot_wheel": "/k.whl", "kboot_wheel_name": "k.whl"})


def test_api_phases_follow_their_playbook_phase(no_bundle: None) -> None:
    order: list[str] = []

    def runner(playbook: Path, inventory: Inventory, *, phase: str) -> PhaseOutcome:
        order.append(phase)
        return PhaseOutcome(ok=True)

    def step(name: str):  # type: ignore[no-untyped-def]
        return lambda topo, kubeconfig: order.append(name)

    up(_inventory(), runner=runner, on_phase=lambda p, s: None,
       api_steps={"join-token": step("join-token"), "addons": step("addons")},
       verify=step("verify"))
    assert order == ["preflight", "bundle", "pki", "etcd", "control-plane", "registry",
                     "loadbalancer", "join-token", "workers", "addons", "ingress", "verify"]


@pytest.mark.parametrize(("changed", "expected"), [(0, "verify-unchanged"), (1, "verify")])
def test_a_run_that_changed_no_host_verifies_with_the_unchanged_step(
        no_bundle: None, changed: int, expected: str) -> None:
    """A no-op re-run runs ``verify_unchanged`` (no smoke pod again); one changed task on any
    host, in any phase, brings back the full verify."""
    seen: list[str] = []

    def runner(playbook: Path, inventory: Inventory, *, phase: str) -> PhaseOutcome:
        return PhaseOutcome(ok=True, changed=changed if phase == "workers" else 0)

    up(_inventory(), runner=runner, on_phase=lambda p, s: None,
       verify=lambda topo, kc: seen.append("verify"),
       verify_unchanged=lambda topo, kc: seen.append("verify-unchanged"))
    assert seen == [expected]


def test_an_unreachable_api_is_a_clear_error(no_bundle: None) -> None:
    seen: list[tuple[str, str]] = []

    def unreachable(topo: Topology, kubeconfig: Path) -> None:
        raise ConnectionRefusedError(111, "Connect call failed ('10.0.0.11', 6443)")

    with pytest.raises(ClusterError) as err:
        up(_inventory(), runner=lambda *a, **k: PhaseOutcome(ok=True),
           on_phase=lambda p, s: seen.append((p, s)), api_steps={"join-token": unreachable})
    text = str(err.value)
    assert "phase join-token failed" in text and "https://10.0.0.11:6443" in text
    assert "ConnectionRefusedError" in text and "re-run `kboot up`" in text
    assert ("join-token", "failed") in seen and ("workers", "start") not in seen


def test_the_archive_without_debs_holds_wheels_images_and_manifest(tmp_path: Path) -> None:
    """cluster.package_source host: hosts install Debian packages from their own sources, so
    the pushed tar has no debs; both variants of one bundle live side by side."""
    import tarfile

    from kboot.bundle.build import BundleManifest
    for part, name in (("debs", "containerd_1.6_amd64.deb"), ("images", "pause.tar"),
                       ("wheels", "pyyaml-6-py3-none-any.whl"), ("wheels", "kboot-0.1-py3.whl")):
        (tmp_path / part).mkdir(exist_ok=True)
        (tmp_path / part / name).write_bytes(b"x")
    (tmp_path / "manifest.json").write_text("{}")
    manifest = BundleManifest(packages=["containerd"], debs={"containerd_1.6_amd64.deb": "a"})
    full = up_mod.bundle_archive(tmp_path, manifest)
    slim = up_mod.bundle_archive(tmp_path, manifest, debs=False)
    assert full != slim and full.exists() and slim.exists()
    assert slim.name == f"bundle-{manifest.base_digest}-nodebs.tar"
    with tarfile.open(slim) as tar:
        names = set(tar.getnames())
    assert not any(n.startswith("debs") for n in names)
    assert {"images/pause.tar", "manifest.json", "wheels/pyyaml-6-py3-none-any.whl"} <= names
    assert "wheels/kboot-0.1-py3.whl" not in names  # kboot's own wheel travels apart
    with tarfile.open(full) as tar:
        assert "debs/containerd_1.6_amd64.deb" in tar.getnames()


def test_every_phase_is_told_to_leave_restarts_to_the_round_after_the_load_balancers(
        no_bundle: None) -> None:
    told: dict[str, set[object]] = {}

    def runner(playbook: Path, inventory: Inventory, *, phase: str) -> PhaseOutcome:
        told[phase] = {h.vars.get("restarts_after_loadbalancer") for h in inventory.hosts.values()}
        return PhaseOutcome(ok=True)

    up(_inventory(), runner=runner, on_phase=lambda p, s: None)
    # pki.yaml then registers no restart_pending: its own rolling restart (for `kboot certs
    # renew`/`rotate-ca`, which run it without the variable) restarts nothing in `kboot up`
    assert told and all(v == {True} for v in told.values()), told
