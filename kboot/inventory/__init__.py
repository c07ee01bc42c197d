"""Hosts, groups, connection settings and variables; loaded from kboot YAML or Ansible inventories
and validated before any connection (errors name file, line, field and what was expected)."""

from __future__ import annotations

from kboot.inventory.model import Connection, Group, Host, Inventory, JumpHost

__all__ = ["Connection", "Group", "Host", "Inventory", "JumpHost"]
