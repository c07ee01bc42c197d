"""kubeconfig files: one cluster, one user, one context, in the shape kubectl reads.

Credentials are embedded (``*-data`` fields, base64) so a kubeconfig is one self-contained file;
write it with :func:`kboot.pki.files.write_atomic` and mode 0600 since it holds a key or token.
"""

from __future__ import annotations

import base64
from typing import Any

import yaml


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def build_kubeconfig(
    *,
    cluster_name: str,
    server: str,
    ca_pem: bytes,
    user_name: str,
    client_cert_pem: bytes | None = None,
    client_key_pem: bytes | None = None,
    token: str | None = None,
    context_name: str | None = None,
    namespace: str | None = None,
) -> dict[str, Any]:
    """A kubeconfig dict authenticating with a client certificate or a bearer token."""
    if (client_cert_pem is None) != (client_key_pem is None):
        raise ValueError("a client certificate needs its key (and the key its certificate)")
    if client_cert_pem is None and token is None:
        raise ValueError("a kubeconfig user needs a client certificate or a token")
    user: dict[str, str] = {}
    if client_cert_pem is not None and client_key_pem is not None:
        user["client-certificate-data"] = _b64(client_cert_pem)
        user["client-key-data"] = _b64(client_key_pem)
    if token is not None:
        user["token"] = token
    context_name = context_name or f"{user_name}@{cluster_name}"
    context: dict[str, str] = {"cluster": cluster_name, "user": user_name}
    if namespace:
        context["namespace"] = namespace
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [
            {
                "name": cluster_name,
                "cluster": {"server": server, "certificate-authority-data": _b64(ca_pem)},
            }
        ],
        "users": [{"name": user_name, "user": user}],
        "contexts": [{"name": context_name, "context": context}],
        "current-context": context_name,
    }


def kubeconfig_yaml(config: dict[str, Any]) -> str:
    return yaml.safe_dump(config, sort_keys=False, default_flow_style=False)
