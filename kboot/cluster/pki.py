"""The cluster's PKI on the workstation: generate what is missing, reuse what is still right.

Everything lives under the cluster's state directory (keys 0600). :func:`ensure_pki` returns,
per host, the files to push (``src`` on the workstation → ``dest`` on the host, ``mode``), which
the ``pki`` playbook copies with checksum-based tasks — so a re-run pushes nothing.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from kboot import pki
from kboot.cluster.jointoken import KUBECONFIG, STATE_FILE, ensure_join_token
from kboot.cluster.topology import Node, Topology

log = logging.getLogger(__name__)

HOST_PKI_DIR = "/etc/kboot/pki"
HOST_CONFIG_DIR = "/etc/kboot"
LOCAL_API = "https://127.0.0.1:6443"  # haproxy on every node


@dataclass(frozen=True)
class PushedFile:
    src: str
    dest: str
    mode: str = "0600"


@dataclass(frozen=True)
class PkiResult:
    files: dict[str, list[PushedFile]]  # host name -> files to push
    admin_kubeconfig: Path
    bootstrap_kubeconfig: Path  # the join token's kubeconfig, for nodes still to join
    changed: list[str]  # names of certificates (re)issued this run


@dataclass(frozen=True)
class RenewPolicy:
    """When ``kboot up`` reissues a still-valid leaf, and for how long new leaves are valid.

    From the inventory's ``cluster.certs`` (``renew_before_days``, ``leaf_days``); ``force``
    names leaves to reissue whatever their state (``kboot certs renew``)."""

    renew_before: datetime.timedelta = pki.RENEW_BEFORE
    leaf_days: int = pki.LEAF_DAYS
    force: frozenset[str] = frozenset()


def renew_policy(cluster: dict[str, object], force: Collection[str] = ()) -> RenewPolicy:
    """The policy of an inventory's ``cluster:`` section (already type-checked)."""
    certs = cluster.get("certs")
    settings = certs if isinstance(certs, dict) else {}
    before = settings.get("renew_before_days", pki.RENEW_BEFORE.days)
    days = settings.get("leaf_days", pki.LEAF_DAYS)
    return RenewPolicy(datetime.timedelta(days=float(before)), int(days), frozenset(force))


class _Builder:
    def __init__(self, root: Path, topo: Topology, policy: RenewPolicy) -> None:
        self.root = root
        self.topo = topo
        self.policy = policy
        self.changed: list[str] = []

    def ca(self, rel: str, cn: str) -> pki.CertKeyPair:
        directory, name = self._split(rel)
        pair = pki.load_pair(directory, name)
        if pair is None:
            pair = pki.new_ca(cn)
            pki.save_pair(pair, directory, name)
            self.changed.append(rel)
        return pair

    def leaf(self, rel: str, ca: pki.CertKeyPair, spec: pki.CertSpec) -> pki.CertKeyPair:
        directory, name = self._split(rel)
        spec = replace(spec, days=self.policy.leaf_days)
        pair = pki.load_pair(directory, name)
        if pair is not None:
            problem = ("renewal asked for" if rel in self.policy.force else pki.reuse_problem(
                pair.cert, spec, ca.cert, renew_before=self.policy.renew_before))
            if problem is None:
                return pair
            log.info("reissuing %s: %s", rel, problem)
        pair = pki.issue(ca, spec)
        pki.save_pair(pair, directory, name)
        self.changed.append(rel)
        return pair

    def kubeconfig(self, rel: str, ca_pem: bytes, user: pki.CertKeyPair, *,
                   server: str, user_name: str) -> Path:
        config = pki.build_kubeconfig(
            cluster_name=self.topo.name, server=server, ca_pem=ca_pem,
            user_name=user_name, client_cert_pem=user.cert_pem(), client_key_pem=user.key_pem(),
            context_name=f"{user_name}@{self.topo.name}",
        )
        return self._write(rel, pki.kubeconfig_yaml(config).encode())

    def token_kubeconfig(self, rel: str, token: str, *, user_name: str) -> Path:
        """A kubeconfig for the nodes naming the CA by the pushed bundle's path: the kubelet's
        own kubeconfig, made from it by TLS bootstrap, then follows a CA rotation."""
        config = pki.build_kubeconfig(cluster_name=self.topo.name, server=LOCAL_API,
                                      ca_pem=b"", user_name=user_name, token=token)
        config["clusters"][0]["cluster"] = {"server": LOCAL_API,
                                            "certificate-authority": f"{HOST_PKI_DIR}/ca.crt"}
        return self._write(rel, pki.kubeconfig_yaml(config).encode())

    def write(self, rel: str, data: bytes, mode: int = 0o600) -> Path:
        """``rel`` holding ``data``, rewritten only when it differs."""
        return self._write(rel, data, mode)

    def _write(self, rel: str, data: bytes, mode: int = 0o600) -> Path:
        path = self.root / rel
        if not path.exists() or path.read_bytes() != data:
            pki.write_atomic(path, data, mode=mode)
        return path

    def secret_file(self, rel: str, make: Callable[[], bytes | str]) -> Path:
        """A generated secret, created once and kept (rotation is an explicit operation)."""
        path = self.root / rel
        if not path.exists():
            data = make()
            pki.write_atomic(path, data if isinstance(data, bytes) else data.encode(), mode=0o600)
            self.changed.append(rel)
        return path

    def _split(self, rel: str) -> tuple[Path, str]:
        path = self.root / rel
        return path.parent, path.name


def _node_names(node: Node) -> tuple[str, ...]:
    return (node.name, "localhost")


ETCD_CA = "pki/etcd/ca"
CA = "pki/ca"
CAS = {CA: "kboot-ca", ETCD_CA: "kboot-etcd-ca"}
SA_KEY = "pki/sa.key"
# During a CA rotation (kboot.cluster.certsrotate) the next CAs and signing key wait under
# pki/next/, the previous ones (certificates and the public SA key only) under pki/old/.
NEXT_DIR = "pki/next"
OLD_DIR = "pki/old"
SA_PUBLIC = "pki/sa.pub"  # the old SA key's public half (under pki/old/ while it verifies)
# What the hosts trust, made from the above: the signing CA first (the controller-manager's CSR
# signer and the kubelet read the first certificate), then any other CA of a rotation.
TRUST = {CA: "trust/ca.crt", ETCD_CA: "trust/etcd-ca.crt"}
TRUST_SA = "trust/sa.pub"  # every ServiceAccount public key the apiservers accept


def rotation_rel(rel: str, where: str) -> str:
    """``rel`` (``pki/ca``, ``pki/sa.key``) in a rotation directory (``pki/next/ca``)."""
    return f"{where}/{rel.removeprefix('pki/')}"


def trust_bundle(root: Path, ca_rel: str) -> bytes:
    """The CA ``ca_rel`` first, then the same CA of a rotation (its next or its old one)."""
    parts = [(root / f"{ca_rel}.crt").read_bytes()]
    for where in (NEXT_DIR, OLD_DIR):
        other = root / f"{rotation_rel(ca_rel, where)}.crt"
        if other.exists():
            parts.append(other.read_bytes())
    return b"".join(p if p.endswith(b"\n") else p + b"\n" for p in parts)


def sa_public_keys(root: Path) -> bytes:
    """The signing key's public half, then the next key's and the old key's (a rotation)."""
    parts = [public_sa_key(root / SA_KEY)]
    nxt = root / rotation_rel(SA_KEY, NEXT_DIR)
    if nxt.exists():
        parts.append(public_sa_key(nxt))
    old = root / rotation_rel(SA_PUBLIC, OLD_DIR)
    if old.exists():
        parts.append(old.read_bytes())
    return b"".join(parts)
_USERS = (("scheduler", "system:kube-scheduler"),
          ("controller-manager", "system:kube-controller-manager"),
          ("proxy", "system:kube-proxy"),
          ("ingress", "system:kboot-ingress"))


def leaf_specs(topo: Topology) -> dict[str, tuple[str, pki.CertSpec]]:
    """Every leaf the workstation issues: its path under the state directory (without
    ``.crt``) → (its CA's path, what it must say). ``kboot up`` issues from this and
    ``kboot certs check`` compares what it finds on disk and on the hosts against it."""
    client = pki.CertSpec
    out = {
        "pki/apiserver-etcd-client": (ETCD_CA, client("kube-apiserver-etcd-client", client=True)),
        "pki/apiserver-kubelet-client": (CA, client("kube-apiserver-kubelet-client",
                                                    ("system:masters",), client=True)),
        "pki/admin": (CA, client("kubernetes-admin", ("system:masters",), client=True)),
    }
    out.update({f"pki/{user}": (CA, client(cn, client=True)) for user, cn in _USERS})
    for node in topo.nodes:
        out.update(node_specs(topo, node))
    return out


def node_specs(topo: Topology, node: Node) -> dict[str, tuple[str, pki.CertSpec]]:
    """The leaves issued for one node (under ``nodes/<name>/``). The kubelet's client
    certificate is not among them: the node asks for it with its own key through a CSR
    (kboot.cluster.jointoken)."""
    d = f"nodes/{node.name}"
    ips = (node.ip, "127.0.0.1")
    out: dict[str, tuple[str, pki.CertSpec]] = {}
    if node.etcd:
        both = pki.CertSpec(node.name, dns_names=_node_names(node), ip_addresses=ips,
                            server=True, client=True)
        out[f"{d}/etcd/server"] = (ETCD_CA, both)
        out[f"{d}/etcd/peer"] = (ETCD_CA, both)
    if node.control_plane:
        svc = "kubernetes.default.svc"
        dns = (*_node_names(node), "kubernetes", "kubernetes.default", svc,
               f"{svc}.{topo.cluster_domain}")
        api_ips = (*ips, topo.kubernetes_service_ip, *([topo.api_vip] if topo.api_vip else []))
        out[f"{d}/apiserver"] = (CA, pki.CertSpec("kube-apiserver", dns_names=dns,
                                                  ip_addresses=api_ips, server=True))
    out[f"{d}/kubelet-serving"] = (CA, pki.CertSpec(
        node.name, dns_names=(node.name,), ip_addresses=(node.ip,), server=True))
    return out


def ensure_pki(root: Path, topo: Topology, policy: RenewPolicy | None = None) -> PkiResult:
    """Create or refresh the cluster's PKI under ``root`` and say what each host receives."""
    b = _Builder(root, topo, policy or RenewPolicy())
    cas = {rel: b.ca(rel, cn) for rel, cn in CAS.items()}
    b.secret_file(SA_KEY, _sa_key_pem)
    ca_pem = b.write(TRUST[CA], trust_bundle(root, CA), 0o644).read_bytes()
    b.write(TRUST[ETCD_CA], trust_bundle(root, ETCD_CA), 0o644)
    b.write(TRUST_SA, sa_public_keys(root), 0o644)
    b.secret_file("encryption.yaml",
                  lambda: pki.encryption_key_file([("key1", pki.new_encryption_key())]))
    _static_tokens(root / "tokens.csv")
    leaves = {rel: b.leaf(rel, cas[ca_rel], spec) for rel, (ca_rel, spec) in
              leaf_specs(topo).items()}
    admin_kc = b.kubeconfig("kubeconfigs/admin.kubeconfig", ca_pem, leaves["pki/admin"],
                            server=topo.api_server_url, user_name="admin")
    for user, _cn in _USERS:
        b.kubeconfig(f"kubeconfigs/{user}.kubeconfig", ca_pem, leaves[f"pki/{user}"],
                     server=LOCAL_API, user_name=user)
    token, renewed = ensure_join_token(root)
    if renewed:
        b.changed.append(STATE_FILE)
    bootstrap_kc = b.token_kubeconfig(KUBECONFIG, token.token.value,
                                      user_name="kubelet-bootstrap")
    files = {node.name: pushed_files(root, topo, node) for node in topo.nodes}
    return PkiResult(files=files, admin_kubeconfig=admin_kc, bootstrap_kubeconfig=bootstrap_kc,
                     changed=b.changed)


def _static_tokens(path: Path) -> None:
    """The apiserver's token file. Nodes join with expiring bootstrap-token Secrets now; a
    never-expiring ``kubelet-bootstrap`` line left by an older kboot is dropped."""
    old = path.read_text() if path.exists() else None
    lines = [ln for ln in (old or "").splitlines(keepends=True) if ",kubelet-bootstrap," not in ln]
    new = "".join(lines) or "# token,user,uid,\"groups\" (kboot: none by default)\n"
    if new != old:
        pki.write_atomic(path, new.encode(), mode=0o600)


def _sa_key_pem() -> bytes:
    private_pem, _public_pem = pki.new_service_account_key()
    return private_pem


def pushed_files(root: Path, topo: Topology, node: Node) -> list[PushedFile]:
    P, C = HOST_PKI_DIR, HOST_CONFIG_DIR
    d = root / "nodes" / node.name
    out = [PushedFile(str(root / TRUST[CA]), f"{P}/ca.crt", "0644"),
           PushedFile(str(d / "kubelet-serving.crt"), f"{P}/kubelet.crt", "0644"),
           PushedFile(str(d / "kubelet-serving.key"), f"{P}/kubelet.key"),
           PushedFile(str(root / "kubeconfigs/proxy.kubeconfig"), f"{C}/proxy.kubeconfig")]
    if node.ingress:
        out.append(PushedFile(str(root / "kubeconfigs/ingress.kubeconfig"),
                              f"{C}/ingress.kubeconfig"))
    if node.etcd:
        out += [PushedFile(str(root / TRUST[ETCD_CA]), f"{P}/etcd/ca.crt", "0644")]
        for kind in ("server", "peer"):
            out += [PushedFile(str(d / f"etcd/{kind}.crt"), f"{P}/etcd/{kind}.crt", "0644"),
                    PushedFile(str(d / f"etcd/{kind}.key"), f"{P}/etcd/{kind}.key")]
    if node.control_plane:
        if not node.etcd:
            out.append(PushedFile(str(root / TRUST[ETCD_CA]), f"{P}/etcd/ca.crt", "0644"))
        for name in ("apiserver-etcd-client", "apiserver-kubelet-client"):
            out += [PushedFile(str(root / f"pki/{name}.crt"), f"{P}/{name}.crt", "0644"),
                    PushedFile(str(root / f"pki/{name}.key"), f"{P}/{name}.key")]
        out += [PushedFile(str(root / "pki/ca.key"), f"{P}/ca.key"),  # the CSR signer's
                PushedFile(str(d / "apiserver.crt"), f"{P}/apiserver.crt", "0644"),
                PushedFile(str(d / "apiserver.key"), f"{P}/apiserver.key"),
                PushedFile(str(root / SA_KEY), f"{P}/sa.key"),
                PushedFile(str(root / TRUST_SA), f"{P}/sa.pub", "0644"),
                PushedFile(str(root / "encryption.yaml"), f"{C}/encryption.yaml"),
                PushedFile(str(root / "tokens.csv"), f"{C}/tokens.csv")]
        for user in ("scheduler", "controller-manager"):
            out.append(PushedFile(str(root / f"kubeconfigs/{user}.kubeconfig"),
                                  f"{C}/{user}.kubeconfig"))
    return out


def public_sa_key(private_key: Path) -> bytes:
    """The public half (PEM) of the ServiceAccount signing key in ``private_key``."""
    key = serialization.load_pem_private_key(private_key.read_bytes(), password=None)
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
