"""Joining nodes with bootstrap tokens (kubelet TLS bootstrap), the workstation's part.

``kboot up`` keeps one join token per cluster in the state directory (``join-token.json``,
0600) and renews it when it has less than :data:`MIN_LEFT` to live. The token reaches the API as
a ``kube-system/bootstrap-token-<id>`` Secret with that expiration (the token cleaner deletes it
afterwards) and the nodes as ``bootstrap-kubelet.kubeconfig`` — only nodes that have no client
certificate yet receive it, and their kubelet removes it once its CSR was issued. A node's own
key never leaves the node.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from kboot import pki
from kboot.cluster.topology import Topology, state_dir
from kboot.controlplane.api import bootstraptokens
from kboot.controlplane.client.sync import SyncClient

TTL = timedelta(hours=24)  # kubeadm's default
MIN_LEFT = timedelta(hours=1)  # long enough for any node of this run to join
STATE_FILE = "join-token.json"
KUBECONFIG = "kubeconfigs/bootstrap-kubelet.kubeconfig"


@dataclass(frozen=True)
class JoinToken:
    token: pki.BootstrapToken
    expires: datetime

    def __repr__(self) -> str:
        return f"JoinToken(id={self.token.id!r}, expires={self.expires.isoformat()})"


def _load(path: Path) -> JoinToken | None:
    try:
        doc = json.loads(path.read_text())
        return JoinToken(pki.parse_bootstrap_token(doc["token"]),
                         datetime.fromisoformat(doc["expires"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def ensure_join_token(root: Path, *, now: datetime | None = None) -> tuple[JoinToken, bool]:
    """The cluster's current join token, renewed if missing or expiring; (token, renewed)."""
    now = now or datetime.now(UTC)
    path = root / STATE_FILE
    current = _load(path)
    if current is not None and current.expires - now >= MIN_LEFT:
        return current, False
    fresh = JoinToken(pki.new_bootstrap_token(), (now + TTL).replace(microsecond=0))
    data = json.dumps({"token": fresh.token.value, "expires": fresh.expires.isoformat()})
    pki.write_atomic(path, data.encode(), mode=0o600)
    return fresh, True


def token_secret(token: JoinToken, cluster: str) -> dict[str, object]:
    return bootstraptokens.token_secret(
        token.token.id, token.token.secret, expires=token.expires,
        description=f"kboot up: nodes joining cluster {cluster}")


def register_join_token_step(topo: Topology, admin_kubeconfig: Path) -> None:
    """The ``join-token`` phase of ``kboot up``."""
    register_join_token(state_dir(topo.name), topo.name, admin_kubeconfig)


def register_join_token(root: Path, cluster: str, admin_kubeconfig: Path) -> bool:
    """Make the API know the current join token (create its Secret if absent); True if
    created. Idempotent: the Secret's content follows from the state file."""
    token = _load(root / STATE_FILE)
    if token is None:
        raise FileNotFoundError(root / STATE_FILE)
    name = bootstraptokens.secret_name(token.token.id)
    with SyncClient.from_kubeconfig(admin_kubeconfig) as api:
        if api.get_or_none("secrets", name, namespace=bootstraptokens.NAMESPACE) is not None:
            return False
        api.create("secrets", token_secret(token, cluster))
        return True
