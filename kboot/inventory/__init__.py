"""Hosts, groups, connection settings and variables; loaded from kboot YAML or Ansible inventories
and validated before any connection (errors name file, line, field and what was expected).

Public API: :func:`load_inventory`, :func:`select_hosts`, :func:`resolve_secrets` and the model
(:class:`Inventory`, :class:`Host`, :class:`Group`, :class:`Connection`, :class:`JumpHost`).
"""

from __future__ import annotations

from kboot.inventory.loader import load_inventory
from kboot.inventory.model import Connection, Group, Host, Inventory, JumpHost
from kboot.inventory.patterns import select_hosts
from kboot.inventory.secrets import HostSecrets, Secrets, resolve_secrets

__all__ = [
    "Connection",
    "Group",
    "Host",
    "HostSecrets",
    "Inventory",
    "JumpHost",
    "Secrets",
    "load_inventory",
    "resolve_secrets",
    "select_hosts",
]
