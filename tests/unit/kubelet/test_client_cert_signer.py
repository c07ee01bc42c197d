"""The kubelet renews a client certificate the bundle's first CA (the signer) did not issue —
how ``kboot certs rotate-ca`` gets every node a certificate from the new CA."""

from __future__ import annotations

import base64
from pathlib import Path

import yaml

from kboot import pki
from kboot.controlplane.kubelet.tlsbootstrap import issued_by, signing_ca


def _kubeconfig(path: Path, cluster: dict[str, str]) -> Path:
    path.write_text(yaml.safe_dump({"clusters": [{"name": "c", "cluster": cluster}]}))
    return path


def test_signing_ca_is_the_first_of_the_bundle_file_or_data(tmp_path: Path) -> None:
    old, new = pki.new_ca("kboot-ca"), pki.new_ca("kboot-ca")  # same name, other key
    leaf = pki.issue(old, pki.CertSpec("system:node:w1", ("system:nodes",), client=True))
    (tmp_path / "ca.crt").write_bytes(old.cert_pem() + new.cert_pem())
    by_file = _kubeconfig(tmp_path / "a.kubeconfig", {"certificate-authority": "ca.crt"})
    assert signing_ca(by_file) == old.cert and issued_by(leaf.cert, signing_ca(by_file))
    (tmp_path / "ca.crt").write_bytes(new.cert_pem() + old.cert_pem())  # reissue stage
    assert signing_ca(by_file) == new.cert and not issued_by(leaf.cert, signing_ca(by_file))
    inline = _kubeconfig(tmp_path / "b.kubeconfig", {
        "certificate-authority-data": base64.b64encode(new.cert_pem()).decode()})
    assert not issued_by(leaf.cert, signing_ca(inline))
    no_ca = _kubeconfig(tmp_path / "c.kubeconfig", {"server": "https://x"})
    assert signing_ca(no_ca) is None and issued_by(leaf.cert, None)  # nothing to compare
