"""The hops to a host: optional jump hosts (ProxyJump chain), then the host itself.

The inventory's settings come first; when ``ssh_config`` names an OpenSSH client config, the
matching ``Host`` block's ``HostName``, ``User``, ``Port``, ``IdentityFile`` and ``ProxyJump``
override them (jump hosts are looked up in the same file), as ``ssh`` itself would do.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

import paramiko

from kboot.errors import ConnectError
from kboot.transport.target import ConnectionSpec, JumpSpec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Hop:
    """One SSH server on the way (the last hop is the host)."""

    address: str
    port: int
    user: str
    key_file: str | None = None
    password: str | None = field(default=None, repr=False)

    @property
    def label(self) -> str:
        return f"{self.user}@{self.address}:{self.port}"


def parse_jump_spec(text: str, *, default_user: str) -> Hop:
    """``[user@]host[:port]`` (``[v6addr]:port`` allowed), as in ``ssh -J``."""
    user, _, rest = text.strip().rpartition("@")
    port = 22
    if rest.startswith("["):
        address, _, tail = rest[1:].partition("]")
        if tail.startswith(":"):
            port = int(tail[1:])
    elif rest.count(":") == 1:
        address, _, port_text = rest.partition(":")
        port = int(port_text)
    else:
        address = rest
    return Hop(address=address, port=port, user=user or default_user)


def _load_config(host: str, path: str) -> paramiko.SSHConfig:
    full = os.path.expanduser(path)
    try:
        return paramiko.SSHConfig.from_path(full)
    except OSError as exc:
        raise ConnectError(host, f"cannot read ssh_config {full}: {exc}") from exc


def _apply_config(hop: Hop, config: paramiko.SSHConfig | None) -> tuple[Hop, str | None]:
    """The hop with the config's settings applied, and the config's ProxyJump if any."""
    if config is None:
        return hop, None
    entry = config.lookup(hop.address)
    identity = entry.get("identityfile")
    key_file = identity[0] if identity else hop.key_file
    if "proxycommand" in entry and "proxyjump" not in entry:
        log.warning("ssh_config: ProxyCommand for %s is not supported (use ProxyJump or the "
                    "inventory's jump list); connecting directly", hop.address)
    proxy_jump = entry.get("proxyjump")
    if proxy_jump is not None and proxy_jump.lower() == "none":
        proxy_jump = None
    return (
        Hop(
            address=entry.get("hostname", hop.address),
            port=int(entry.get("port", hop.port)),
            user=entry.get("user", hop.user),
            key_file=key_file,
            password=hop.password,
        ),
        proxy_jump,
    )


def _jump_hop(jump: JumpSpec, conn: ConnectionSpec) -> Hop:
    return Hop(
        address=jump.address,
        port=jump.port,
        user=jump.user or conn.user,
        key_file=jump.key_file or conn.key_file,
    )


def resolve_route(host: str, conn: ConnectionSpec, *, password: str | None) -> list[Hop]:
    """Every hop from the workstation to ``host``, first jump host first."""
    config = _load_config(host, conn.ssh_config) if conn.ssh_config else None
    target, config_jump = _apply_config(
        Hop(conn.address, conn.port, conn.user, conn.key_file, password), config
    )
    if conn.jump:
        jumps = [_jump_hop(j, conn) for j in conn.jump]
    elif config_jump:
        jumps = [
            parse_jump_spec(part, default_user=target.user) for part in config_jump.split(",")
        ]
    else:
        jumps = []
    resolved = [_apply_config(j, config)[0] for j in jumps]
    resolved = [
        j if j.key_file else Hop(j.address, j.port, j.user, target.key_file) for j in resolved
    ]
    return [*resolved, target]
