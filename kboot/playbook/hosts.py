"""Choosing a play's hosts: the inventory's Ansible pattern matcher, plus ``--limit``."""

from __future__ import annotations

from kboot.inventory import Inventory, select_hosts


def play_hosts(inventory: Inventory, pattern: str, limit: str | None) -> list[str]:
    """Hosts a play runs on: its ``hosts`` pattern, intersected with ``--limit``."""
    hosts = select_hosts(inventory, pattern)
    if limit:
        allowed = set(select_hosts(inventory, limit))
        hosts = [h for h in hosts if h in allowed]
    return hosts
