"""The cluster's PKI on the workstation: generate what is missing, reuse what is still right.

Everything lives under the cluster's state directory (keys 0600). :func:`ensure_pki` returns,
per host, the files to push (``src`` on the workstation → ``dest`` on the host, ``mode``), which
the ``pki`` playbook copies with checksum-based tasks — so a re-run pushes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
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


class _Builder:
    def __init__(self, root: Path, topo: Topology) -> None:
        self.root = root
        self.topo = topo
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
        pair = pki.load_pair(directory, name)
        if pair is not None:
            problem = pki.reuse_problem(pair.cert, spec, ca.cert)
            if problem is None:
                return pair
            log.info("reissuing %s: %s", rel, problem)
        pair = pki.issue(ca, spec)
        pki.save_pair(pair, directory, name)
        self.changed.append(rel)
        return pair

    def kubeconfig(self, rel: str, ca: pki.CertKeyPair, user: pki.CertKeyPair, *,
                   server: str, user_name: str) -> Path:
        config = pki.build_kubeconfig(
            cluster_name=self.topo.name, server=server, ca_pem=ca.cert_pem(),
            user_name=user_name, client_cert_pem=user.cert_pem(), client_key_pem=user.key_pem(),
            context_name=f"{user_name}@{self.topo.name}",
        )
        return self._write(rel, pki.kubeconfig_yaml(config).encode())

    def token_kubeconfig(self, rel: str, ca: pki.CertKeyPair, token: str, *,
                         user_name: str) -> Path:
        config = pki.build_kubeconfig(cluster_name=self.topo.name, server=LOCAL_API,
                                      ca_pem=ca.cert_pem(), user_name=user_name, token=token)
        return self._write(rel, pki.kubeconfig_yaml(config).encode())

    def _write(self, rel: str, data: bytes) -> Path:
        path = self.root / rel
        if not path.exists() or path.read_bytes() != data:
            pki.write_atomic(path, data, mode=0o600)
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


def ensure_pki(root: Path, topo: Topology) -> PkiResult:
    """Create or refresh the cluster's PKI under ``root`` and say what each host receives."""
    b = _Builder(root, topo)
    ca = b.ca("pki/ca", "kboot-ca")
    etcd_ca = b.ca("pki/etcd/ca", "kboot-etcd-ca")
    b.secret_file("pki/sa.key", _sa_key_pem)
    b.secret_file("encryption.yaml",
                  lambda: pki.encryption_key_file([("key1", pki.new_encryption_key())]))
    _static_tokens(root / "tokens.csv")
    client = pki.CertSpec
    b.leaf("pki/apiserver-etcd-client", etcd_ca, client("kube-apiserver-etcd-client", client=True))
    b.leaf("pki/apiserver-kubelet-client", ca,
           client("kube-apiserver-kubelet-client", ("system:masters",), client=True))
    admin = b.leaf("pki/admin", ca, client("kubernetes-admin", ("system:masters",), client=True))
    admin_kc = b.kubeconfig("kubeconfigs/admin.kubeconfig", ca, admin,
                            server=topo.api_server_url, user_name="admin")
    for user, cn in (("scheduler", "system:kube-scheduler"),
                     ("controller-manager", "system:kube-controller-manager"),
                     ("proxy", "system:kube-proxy"),
                     ("ingress", "system:kboot-ingress")):
        pair = b.leaf(f"pki/{user}", ca, client(cn, client=True))
        b.kubeconfig(f"kubeconfigs/{user}.kubeconfig", ca, pair, server=LOCAL_API, user_name=user)
    for node in topo.nodes:
        _node_pki(b, ca, etcd_ca, node)
    token, renewed = ensure_join_token(root)
    if renewed:
        b.changed.append(STATE_FILE)
    bootstrap_kc = b.token_kubeconfig(KUBECONFIG, ca, token.token.value,
                                      user_name="kubelet-bootstrap")
    files = {node.name: _pushed(root, topo, node) for node in topo.nodes}
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


def _node_pki(b: _Builder, ca: pki.CertKeyPair, etcd_ca: pki.CertKeyPair, node: Node) -> None:
    topo = b.topo
    d = f"nodes/{node.name}"
    ips = (node.ip, "127.0.0.1")
    if node.etcd:
        both = pki.CertSpec(node.name, dns_names=_node_names(node), ip_addresses=ips,
                            server=True, client=True)
        b.leaf(f"{d}/etcd/server", etcd_ca, both)
        b.leaf(f"{d}/etcd/peer", etcd_ca, both)
    if node.control_plane:
        svc = "kubernetes.default.svc"
        dns = (*_node_names(node), "kubernetes", "kubernetes.default", svc,
               f"{svc}.{topo.cluster_domain}")
        api_ips = (*ips, topo.kubernetes_service_ip, *([topo.api_vip] if topo.api_vip else []))
        b.leaf(f"{d}/apiserver", ca, pki.CertSpec("kube-apiserver", dns_names=dns,
                                                  ip_addresses=api_ips, server=True))
    b.leaf(f"{d}/kubelet-serving", ca, pki.CertSpec(
        node.name, dns_names=(node.name,), ip_addresses=(node.ip,), server=True))
    # the kubelet's client certificate is not made here: the node asks for it with its own
    # key through a CSR (kboot.cluster.jointoken)


def _sa_key_pem() -> bytes:
    private_pem, _public_pem = pki.new_service_account_key()
    return private_pem


def _pushed(root: Path, topo: Topology, node: Node) -> list[PushedFile]:
    P, C = HOST_PKI_DIR, HOST_CONFIG_DIR
    d = root / "nodes" / node.name
    out = [PushedFile(str(root / "pki/ca.crt"), f"{P}/ca.crt", "0644"),
           PushedFile(str(d / "kubelet-serving.crt"), f"{P}/kubelet.crt", "0644"),
           PushedFile(str(d / "kubelet-serving.key"), f"{P}/kubelet.key"),
           PushedFile(str(root / "kubeconfigs/proxy.kubeconfig"), f"{C}/proxy.kubeconfig")]
    if node.ingress:
        out.append(PushedFile(str(root / "kubeconfigs/ingress.kubeconfig"),
                              f"{C}/ingress.kubeconfig"))
    if node.etcd:
        out += [PushedFile(str(root / "pki/etcd/ca.crt"), f"{P}/etcd/ca.crt", "0644")]
        for kind in ("server", "peer"):
            out += [PushedFile(str(d / f"etcd/{kind}.crt"), f"{P}/etcd/{kind}.crt", "0644"),
                    PushedFile(str(d / f"etcd/{kind}.key"), f"{P}/etcd/{kind}.key")]
    if node.control_plane:
        if not node.etcd:
            out.append(PushedFile(str(root / "pki/etcd/ca.crt"), f"{P}/etcd/ca.crt", "0644"))
        for name in ("apiserver-etcd-client", "apiserver-kubelet-client"):
            out += [PushedFile(str(root / f"pki/{name}.crt"), f"{P}/{name}.crt", "0644"),
                    PushedFile(str(root / f"pki/{name}.key"), f"{P}/{name}.key")]
        out += [PushedFile(str(root / "pki/ca.key"), f"{P}/ca.key"),  # the CSR signer's
                PushedFile(str(d / "apiserver.crt"), f"{P}/apiserver.crt", "0644"),
                PushedFile(str(d / "apiserver.key"), f"{P}/apiserver.key"),
                PushedFile(str(root / "pki/sa.key"), f"{P}/sa.key"),
                PushedFile(str(root / "encryption.yaml"), f"{C}/encryption.yaml"),
                PushedFile(str(root / "tokens.csv"), f"{C}/tokens.csv")]
        for user in ("scheduler", "controller-manager"):
            out.append(PushedFile(str(root / f"kubeconfigs/{user}.kubeconfig"),
                                  f"{C}/{user}.kubeconfig"))
    return out


def public_sa_key(root: Path) -> bytes:
    key = serialization.load_pem_private_key((root / "pki/sa.key").read_bytes(), password=None)
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
