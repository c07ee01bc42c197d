"""kboot's PKI: CAs, leaf certificates, keys, tokens, kubeconfigs and the encryption key file.

A leaf package (no inventory, transport or templating): pure functions over ``cryptography``
objects plus atomic file writes, so ``kboot up``'s pki phase, the test fixtures and the
benchmarks all build the same material the same way.
"""

from __future__ import annotations

from kboot.pki.certs import CA_DAYS, LEAF_DAYS, CertKeyPair, CertSpec, issue, new_ca
from kboot.pki.checks import (
    RENEW_BEFORE,
    CertInfo,
    cert_info,
    reuse_problem,
    scan_certs,
    signed_by,
)
from kboot.pki.encryption_key import encryption_key_file, new_encryption_key, rotated
from kboot.pki.files import load_pair, pair_paths, save_pair, write_atomic
from kboot.pki.keys import KeyType, new_private_key, new_service_account_key
from kboot.pki.kubeconfig import build_kubeconfig, kubeconfig_yaml
from kboot.pki.tokens import (
    BootstrapToken,
    new_bootstrap_token,
    new_secret_token,
    parse_bootstrap_token,
)

__all__ = [
    "CA_DAYS",
    "LEAF_DAYS",
    "RENEW_BEFORE",
    "BootstrapToken",
    "CertInfo",
    "CertKeyPair",
    "CertSpec",
    "KeyType",
    "build_kubeconfig",
    "cert_info",
    "encryption_key_file",
    "issue",
    "kubeconfig_yaml",
    "load_pair",
    "new_bootstrap_token",
    "new_ca",
    "new_encryption_key",
    "new_private_key",
    "new_secret_token",
    "new_service_account_key",
    "pair_paths",
    "parse_bootstrap_token",
    "reuse_problem",
    "rotated",
    "save_pair",
    "scan_certs",
    "signed_by",
    "write_atomic",
]
