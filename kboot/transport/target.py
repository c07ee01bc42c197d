"""What the transport needs to know about a host, as structural protocols.

``transport`` and ``inventory`` are independent leaf packages (an import contract), so the
transport does not import :class:`kboot.inventory.Host`; it accepts anything with the same shape.
The inventory's frozen dataclasses satisfy these protocols as they are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol


class JumpSpec(Protocol):
    @property
    def address(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def user(self) -> str | None: ...
    @property
    def key_file(self) -> str | None: ...


class ConnectionSpec(Protocol):
    @property
    def address(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def user(self) -> str: ...
    @property
    def key_file(self) -> str | None: ...
    @property
    def become(self) -> bool: ...
    @property
    def host_key_policy(self) -> str: ...
    @property
    def known_hosts(self) -> str: ...
    @property
    def ssh_config(self) -> str | None: ...
    @property
    def jump(self) -> Sequence[JumpSpec]: ...
    @property
    def connect_timeout(self) -> float: ...
    @property
    def connect_retries(self) -> int: ...
    @property
    def transport(self) -> str: ...


class HostSpec(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def connection(self) -> ConnectionSpec: ...


class HostSecretsSpec(Protocol):
    """A host's resolved passwords (never logged); ``None`` when not configured."""

    @property
    def password(self) -> str | None: ...
    @property
    def become_password(self) -> str | None: ...


SecretsSpec = Mapping[str, HostSecretsSpec]
