"""``kboot certs rotate-ca``: which stages a run does, and what each stage leaves in the state
directory (trust bundles, signing CA and key, old material), including resumed runs."""

from __future__ import annotations

import base64
import datetime
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from kboot.cluster import certsrotate as rot
from kboot.cluster.certscheck import CheckReport
from kboot.cluster.certsrotate import Rotation, plan
from kboot.cluster.exec import HostOutput
from kboot.cluster.pki import TRUST_SA, ensure_pki
from kboot.cluster.status import MARK
from kboot.cluster.topology import Node, Topology, state_dir
from kboot.cluster.up import PhaseOutcome
from kboot.controlplane.apiserver.tokens import load_public_keys
from kboot.errors import ClusterError, UserError
from kboot.inventory import Connection, Group, Host, Inventory
from kboot.pki import signed_by

CP = Node("cp1", "10.0.0.11", control_plane=True, etcd=True, worker=False)
W = Node("w1", "10.0.0.21", control_plane=False, etcd=False, worker=True)
TOPO = Topology("t", (CP, W), "10.244.0.0/16", "10.96.0.0/16", "cluster.local", None, False)


@pytest.mark.parametrize(("rotation", "stage", "want"), [
    (None, None, ["trust", "reissue", "finish"]),
    (None, "trust", ["trust"]),
    (Rotation(("trust",)), None, ["reissue", "finish"]),
    (Rotation(("trust",)), "trust", ["trust"]),  # again after an interruption: converges
    (Rotation(("trust",)), "reissue", ["reissue"]),
    (Rotation(("trust", "reissue"), 5.0), None, ["finish"]),
    (Rotation(("trust", "reissue"), 5.0), "reissue", ["reissue"]),
    (Rotation(("trust", "reissue"), 5.0), "finish", ["finish"]),
])
def test_plan(rotation: Rotation | None, stage: str | None, want: list[str]) -> None:
    assert plan(rotation, stage) == want


@pytest.mark.parametrize(("rotation", "stage", "message"), [
    (None, "reissue", "needs stage trust first"),
    (None, "finish", "needs stage trust first"),
    (Rotation(("trust",)), "finish", "needs stage reissue first"),
    (Rotation(("trust", "reissue")), "trust", "reissue is already done"),
    (None, "everything", "no stage 'everything'"),
])
def test_plan_refuses(rotation: Rotation | None, stage: str, message: str) -> None:
    with pytest.raises(UserError, match=message):
        plan(rotation, stage)


def test_state_round_trip_and_bad_file(tmp_path: Path) -> None:
    assert rot.load_rotation(tmp_path) is None
    rot.save_rotation(tmp_path, Rotation(("trust",), 12.5))
    assert rot.load_rotation(tmp_path) == Rotation(("trust",), 12.5)
    rot.save_rotation(tmp_path, None)
    assert rot.load_rotation(tmp_path) is None
    (tmp_path / rot.STATE_FILE).write_text("{not json")
    with pytest.raises(Exception, match="unreadable CA rotation state"):
        rot.load_rotation(tmp_path)


def _bundle(path: Path) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(path.read_bytes())


def _pushed(root: Path, node: str, dest: str) -> Path:
    result = ensure_pki(root, TOPO)
    return Path(next(f.src for f in result.files[node] if f.dest == dest))


def _kubeconfig_cas(path: Path) -> list[x509.Certificate]:
    doc = yaml.safe_load(path.read_text())
    data = doc["clusters"][0]["cluster"]["certificate-authority-data"]
    return x509.load_pem_x509_certificates(base64.b64decode(data))


def _sa_keys(root: Path) -> list[object]:
    return [k.public_numbers() for k in load_public_keys((root / TRUST_SA).read_bytes())]


def test_stages_on_the_state_directory(tmp_path: Path) -> None:
    root = tmp_path
    ensure_pki(root, TOPO)
    old_ca = _bundle(root / "pki/ca.crt")[0]
    old_etcd = _bundle(root / "pki/etcd/ca.crt")[0]
    old_sa = _sa_keys(root)
    old_apiserver = _bundle(root / "nodes/cp1/apiserver.crt")[0]
    assert _bundle(_pushed(root, "w1", "/etc/kboot/pki/ca.crt")) == [old_ca]

    # trust: both CAs everywhere, the old one first (it still signs), nothing re-issued
    made = rot.prepare_trust(root)
    assert made == ["pki/next/ca", "pki/next/etcd/ca", "pki/next/sa.key"]
    assert rot.prepare_trust(root) == []  # a resumed run makes nothing new
    result = ensure_pki(root, TOPO)
    assert not [c for c in result.changed if c.startswith("nodes/")]
    new_ca = _bundle(root / "pki/next/ca.crt")[0]
    assert _bundle(_pushed(root, "w1", "/etc/kboot/pki/ca.crt")) == [old_ca, new_ca]
    assert _bundle(_pushed(root, "cp1", "/etc/kboot/pki/etcd/ca.crt"))[0] == old_etcd
    assert len(_bundle(_pushed(root, "cp1", "/etc/kboot/pki/etcd/ca.crt"))) == 2
    assert _kubeconfig_cas(result.admin_kubeconfig) == [old_ca, new_ca]
    assert _kubeconfig_cas(root / "kubeconfigs/proxy.kubeconfig") == [old_ca, new_ca]
    assert _sa_keys(root)[0] == old_sa[0] and len(_sa_keys(root)) == 2

    # reissue: the new CA signs (first in every bundle), every leaf re-issued, old still trusted
    assert rot.promote(root) == ["pki/ca", "pki/etcd/ca", "pki/sa.key"]
    assert rot.promote(root) == []
    result = ensure_pki(root, TOPO)
    assert _bundle(root / "pki/ca.crt") == [new_ca]
    assert _bundle(root / "pki/old/ca.crt") == [old_ca]
    apiserver = _bundle(root / "nodes/cp1/apiserver.crt")[0]
    assert apiserver != old_apiserver and signed_by(apiserver, new_ca)
    for leaf in ("nodes/w1/kubelet-serving", "pki/admin", "pki/scheduler"):
        assert f"{leaf}" in result.changed
    assert signed_by(_bundle(root / "nodes/cp1/etcd/peer.crt")[0],
                     _bundle(root / "pki/etcd/ca.crt")[0])
    assert _bundle(_pushed(root, "w1", "/etc/kboot/pki/ca.crt")) == [new_ca, old_ca]
    assert _kubeconfig_cas(result.admin_kubeconfig) == [new_ca, old_ca]
    keys = _sa_keys(root)
    assert len(keys) == 2 and keys[1] == old_sa[0] and keys[0] != old_sa[0]

    # finish, the old key kept (its tokens still valid): only the CAs leave
    assert rot.drop_old(root, keep_sa_key=True) == ["pki/old/ca", "pki/old/etcd/ca"]
    ensure_pki(root, TOPO)
    assert _bundle(_pushed(root, "w1", "/etc/kboot/pki/ca.crt")) == [new_ca]
    assert len(_bundle(_pushed(root, "cp1", "/etc/kboot/pki/etcd/ca.crt"))) == 1
    assert len(_sa_keys(root)) == 2
    # finish again after the grace period: the old key goes too, nothing old is left
    assert rot.drop_old(root, keep_sa_key=False) == ["pki/old/sa.pub"]
    result = ensure_pki(root, TOPO)
    assert _sa_keys(root) == keys[:1]
    assert _kubeconfig_cas(result.admin_kubeconfig) == [new_ca]
    assert not (root / "pki/old").exists() and not (root / "pki/next").exists()


def test_interrupted_promotion_is_finished_by_the_next_run(tmp_path: Path) -> None:
    ensure_pki(tmp_path, TOPO)
    old_ca = (tmp_path / "pki/ca.crt").read_bytes()
    rot.prepare_trust(tmp_path)
    new_ca = (tmp_path / "pki/next/ca.crt").read_bytes()
    # as if stopped after the old copy and the key move, before the certificate move
    (tmp_path / "pki/old").mkdir()
    (tmp_path / "pki/old/ca.crt").write_bytes(old_ca)
    (tmp_path / "pki/next/ca.key").replace(tmp_path / "pki/ca.key")
    assert "pki/ca" in rot.promote(tmp_path)
    assert (tmp_path / "pki/ca.crt").read_bytes() == new_ca
    assert (tmp_path / "pki/old/ca.crt").read_bytes() == old_ca
    ca = x509.load_pem_x509_certificate(new_ca)
    leaf = ensure_pki(tmp_path, TOPO)
    assert signed_by(_bundle(tmp_path / "pki/admin.crt")[0], ca), leaf.changed



# -- the command's sequencing over a fake runner ------------------------------------------------

def _inventory() -> Inventory:
    hosts = {"cp1": Host("cp1", Connection(address="10.0.0.11")),
             "w1": Host("w1", Connection(address="10.0.0.21"))}
    groups = {"control_plane": Group("control_plane", hosts=("cp1",)),
              "workers": Group("workers", hosts=("w1",))}
    return Inventory("inv.yaml", hosts, groups, cluster={"name": "t", "registry": False})


POD_CA = "/var/lib/kboot/kubelet/pods/u1/volumes/kubernetes.io~projected/token/ca.crt"


@dataclass
class Fake:
    """A runner that fails the pushes it is told to, a wall clock, and a cluster whose
    ``kube-root-ca.crt`` ConfigMap and pod ``rotca/watcher`` (on w1) hold the CA bundle last
    pushed — the pod's file only ``pod_lag`` sleeps later (a kubelet not synced yet)."""

    fail_at: set[int] = field(default_factory=set)
    pushes: list[list[str]] = field(default_factory=list)  # the CA bundle pushed, per run
    now: float = 1_000_000.0
    bundle: str = ""  # the CA bundle the last push carried (PEM)
    pod_lag: int = 0  # sleeps until the pod's projected ca.crt catches up
    pod_ca: str = ""
    progress: list[str] = field(default_factory=list)
    restarts: list[tuple[str, str]] = field(default_factory=list)  # (host, command), in order

    def runner(self, playbook: Path, inventory: Inventory, *, phase: str) -> PhaseOutcome:
        files = inventory.hosts["w1"].vars["pki_files"]
        ca = next(f["src"] for f in files if f["dest"] == "/etc/kboot/pki/ca.crt")
        self.pushes.append([c.fingerprint(hashes.SHA256()).hex()[:8]
                            for c in _bundle(Path(ca))])
        if len(self.pushes) in self.fail_at:
            return PhaseOutcome(ok=False, failures=["cp1: copy failed"])
        self.bundle = Path(ca).read_text()
        self.pod_ca = self.pod_ca if self.pod_lag else self.bundle
        return PhaseOutcome(ok=True)

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.pod_lag = max(0, self.pod_lag - 1)
        if not self.pod_lag:
            self.pod_ca = self.bundle

    def options(self, **kw: object) -> rot.RotateOptions:
        return rot.RotateOptions(clock=lambda: self.now, sleep=self.sleep,  # type: ignore[arg-type]
                                 progress=self.progress.append, **kw)

    # the API and the nodes, as the wait for the pods' CA reads them
    def __enter__(self) -> Fake:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def list(self, ref: str, **kw: object) -> list[dict[str, object]]:
        if ref == "configmaps":
            return [{"metadata": {"name": "kube-root-ca.crt", "namespace": "rotca"},
                     "data": {"ca.crt": self.bundle}}]
        return [{"metadata": {"name": "watcher", "namespace": "rotca", "uid": "u1"},
                 "spec": {"nodeName": "w1"}, "status": {"phase": "Running"}},
                {"metadata": {"name": "done", "namespace": "rotca", "uid": "u2"},
                 "spec": {"nodeName": "w1"}, "status": {"phase": "Succeeded"}}]

    def run_on_hosts(self, inventory: Inventory, commands: dict[str, str],
                     **kw: object) -> dict[str, HostOutput]:
        if all("try-restart" in c for c in commands.values()):
            self.restarts += commands.items()
            return {h: HostOutput(h, 0, "", "", "ok") for h in commands}
        stale = POD_CA.replace("/u1/", "/u2/")  # a finished pod's file is never refreshed
        out = f"{MARK}{POD_CA}\n{self.pod_ca}{MARK}{stale}\nold\n"
        return {h: HostOutput(h, 0, out if h == "w1" else "", "", "ok") for h in commands}


@pytest.fixture
def home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("KBOOT_HOME", str(tmp_path))
    root = state_dir("t")
    ensure_pki(root, TOPO)
    # every kubelet already holds a client certificate of the current CA
    monkeypatch.setattr(rot, "check_certs", lambda *a, **k: CheckReport("t", 0, ()))
    return root


def _run(fake: Fake, **kw: object) -> list[rot.StageResult]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(rot, "run_on_hosts", fake.run_on_hosts)
        return rot.rotate_ca(_inventory(), TOPO, runner=fake.runner,
                             on_phase=lambda s, st: None, transports_factory=None,
                             options=fake.options(**kw), api=lambda: fake)


def test_full_rotation_pushes_both_then_the_new_ca(home: Path) -> None:
    old = _bundle(home / "pki/ca.crt")[0].fingerprint(hashes.SHA256()).hex()[:8]
    fake = Fake()
    results = _run(fake, sa_grace=datetime.timedelta(0))
    assert fake.restarts == []  # one control plane: no kubelet restarted before its apiserver
    assert [r.stage for r in results] == ["trust", "reissue", "finish"]
    new = _bundle(home / "pki/ca.crt")[0].fingerprint(hashes.SHA256()).hex()[:8]
    assert fake.pushes == [[old, new], [new, old], [new]]
    assert results[1].reissued and not results[0].reissued
    assert rot.load_rotation(home) is None and not results[-1].note


def test_interrupted_stage_is_not_recorded_and_a_rerun_converges(home: Path) -> None:
    fake = Fake(fail_at={2})
    with pytest.raises(ClusterError, match="stage is not recorded"):
        _run(fake)
    assert rot.load_rotation(home) == Rotation(("trust",))
    assert (home / "pki/old/ca.crt").exists()  # promoted before the push failed
    results = _run(fake, sa_grace=datetime.timedelta(0))
    assert [r.stage for r in results] == ["reissue", "finish"]
    assert fake.pushes[2] == fake.pushes[1] and len(fake.pushes[-1]) == 1
    assert rot.load_rotation(home) is None


def test_finish_keeps_the_old_key_until_the_grace_has_passed(home: Path) -> None:
    fake = Fake()
    results = _run(fake)  # the default grace: an hour after reissue
    assert "keeps verifying until" in results[-1].note
    assert rot.load_rotation(home) == Rotation(("trust", "reissue"), fake.now)
    assert len(load_public_keys((home / TRUST_SA).read_bytes())) == 2
    assert len(fake.pushes[-1]) == 1  # the old CA is gone already
    fake.now += 3601
    results = _run(fake)
    assert [r.stage for r in results] == ["finish"] and not results[0].note
    assert results[0].changed_files == ("pki/old/sa.pub",)
    assert len(load_public_keys((home / TRUST_SA).read_bytes())) == 1
    assert rot.load_rotation(home) is None


def test_reissue_waits_for_every_pods_projected_ca(home: Path) -> None:
    fake = Fake(pod_lag=3)  # the pod's kubelet refreshes its ca.crt three polls late
    results = _run(fake, sa_grace=datetime.timedelta(0))
    assert [r.stage for r in results] == ["trust", "reissue", "finish"]
    waits = [line for line in fake.progress if line.startswith("waiting for the new CA in")]
    assert waits == ["waiting for the new CA in: pod rotca/watcher on w1"] * 3
    assert fake.progress[-1 - 3 - 1].startswith("waiting for every pod's projected ca.crt")
    assert "every pod's projected ca.crt holds the new CA" in fake.progress


def test_reissue_not_started_while_a_pod_lacks_the_new_ca(home: Path) -> None:
    fake = Fake(pod_lag=1000)
    with pytest.raises(ClusterError) as err:
        _run(fake, pods_timeout=60)
    assert "pod rotca/watcher on w1" in str(err.value)
    assert "configmap" not in str(err.value) and "done" not in str(err.value)
    assert "--stage reissue" in str(err.value) and "within 60 s" in str(err.value)
    # trust done, reissue not begun: nothing promoted, one push only
    assert rot.load_rotation(home) == Rotation(("trust",))
    assert not (home / "pki/old").exists() and (home / "pki/next/ca.crt").exists()
    assert len(fake.pushes) == 1
    fake.pod_lag = 0
    results = _run(fake, stage="reissue")  # resumed: the pod caught up
    assert [r.stage for r in results] == ["reissue"] and (home / "pki/old/ca.crt").exists()


def test_pods_lagging_reads_configmaps_pods_and_unreachable_nodes(home: Path) -> None:
    old = _bundle(home / "pki/ca.crt")[0]
    pem = (home / "pki/ca.crt").read_text()
    cms: list[dict[str, object]] = [
        {"metadata": {"namespace": "a"}, "data": {"ca.crt": pem}},
        {"metadata": {"namespace": "b"}, "data": {"ca.crt": "garbage"}},
        {"metadata": {"namespace": "c"}}]
    pods: list[dict[str, object]] = [
        {"metadata": {"name": "p", "namespace": "a", "uid": "u1"}, "spec": {"nodeName": "cp1"},
         "status": {"phase": "Running"}},
        {"metadata": {"name": "q", "namespace": "a", "uid": "u1"}, "spec": {"nodeName": "w1"},
         "status": {"phase": "Running"}}]
    files: dict[str, dict[str, str] | str] = {"cp1": {POD_CA: "not a PEM"}, "w1": "ssh: refused"}
    assert rot.pods_lagging(old, cms, pods, files) == [
        "configmap b/kube-root-ca.crt", "configmap c/kube-root-ca.crt", "pod a/p on cp1",
        "node w1 (ssh: refused)"]
    assert rot.pods_lagging(old, cms[:1], pods[:1], {"cp1": {POD_CA: pem}}) == []


def test_early_kubelets_are_the_control_planes_before_the_last() -> None:
    cps = [Node(f"cp{i}", f"10.0.0.1{i}", control_plane=True, etcd=True, worker=False)
           for i in (1, 2, 3)]
    etcd = Node("e1", "10.0.0.31", control_plane=False, etcd=True, worker=False)
    topo = Topology("t", (W, cps[0], etcd, cps[1], cps[2]), "10.244.0.0/16", "10.96.0.0/16",
                    "cluster.local", None, False)
    assert rot.early_kubelets(topo) == ["cp1", "cp2"]
    assert rot.early_kubelets(TOPO) == []


def test_reissue_restarts_the_early_kubelets_again_once_every_apiserver_is_new(
        home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rot, "early_kubelets", lambda topo: ["cp1"])
    fake = Fake()
    results = _run(fake, stage="trust")
    assert fake.restarts == []
    results = _run(fake, stage="reissue")
    assert [r.stage for r in results] == ["reissue"]
    assert fake.restarts == [("cp1", "systemctl try-restart kboot-kubelet.service")]
    assert any(line.startswith("restarting the kubelets of cp1 again") for line in fake.progress)


def test_a_failed_kubelet_restart_leaves_reissue_to_be_run_again(
        home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rot, "early_kubelets", lambda topo: ["cp1"])
    fake = Fake()
    _run(fake, stage="trust")

    def failing(inventory: Inventory, commands: dict[str, str],
                **kw: object) -> dict[str, HostOutput]:
        if all("try-restart" in c for c in commands.values()):
            return {h: HostOutput(h, 1, "", "Job failed", "failed") for h in commands}
        return Fake.run_on_hosts(fake, inventory, commands)

    monkeypatch.setattr(fake, "run_on_hosts", failing)
    with pytest.raises(ClusterError, match=r"restarting the kubelet on cp1 failed \(Job failed\)"):
        _run(fake, stage="reissue")
    assert rot.load_rotation(home) == Rotation(("trust",))
