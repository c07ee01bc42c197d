"""``kboot certs rotate-ca``: which stages a run does, and what each stage leaves in the state
directory (trust bundles, signing CA and key, old material), including resumed runs."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import yaml
from cryptography import x509

from kboot.cluster import certsrotate as rot
from kboot.cluster.certsrotate import Rotation, plan
from kboot.cluster.pki import TRUST_SA, ensure_pki
from kboot.cluster.topology import Node, Topology
from kboot.controlplane.apiserver.tokens import load_public_keys
from kboot.errors import UserError
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

