"""Moving bytes to one host: run a command, put and get files. Knows nothing of tasks.

Implementations: :mod:`.ssh` (paramiko, one persistent connection per host), :mod:`.local`
(the workstation itself) and :mod:`.fake` (scripted results for unit tests, shipped in the package
so users can test their own playbooks). All satisfy :class:`.base.Transport`.
:func:`open_transport` picks one from a host's ``connection.transport``.
"""

from __future__ import annotations

from kboot.transport.base import RunResult, Transport
from kboot.transport.target import HostSecretsSpec, HostSpec, SecretsSpec

__all__ = ["RunResult", "Transport", "open_transport"]


def open_transport(host: HostSpec, *, secrets: SecretsSpec | None = None) -> Transport:
    """A transport for ``host`` (an :class:`kboot.inventory.Host`); SSH connects lazily, on
    first use. ``secrets`` is what :func:`kboot.inventory.resolve_secrets` returned."""
    from kboot.transport.local import LocalTransport
    from kboot.transport.ssh import SSHTransport

    found: HostSecretsSpec | None = (secrets or {}).get(host.name)
    password = found.password if found is not None else None
    become_password = found.become_password if found is not None else None
    if host.connection.transport == "local":
        return LocalTransport(host.name, become_password=become_password)
    return SSHTransport(host.name, host.connection, password=password,
                        become_password=become_password)
