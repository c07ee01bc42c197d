"""Every task, by the names Ansible users know (``ansible.builtin.`` prefix optional).

Importing this module registers the whole task library; ``lookup`` resolves a playbook's
module name to its :class:`~kboot.tasks.base.TaskDef`.
"""

from __future__ import annotations

from kboot.tasks import (  # noqa: F401 - imported for their registrations
    commands,
    content,
    control,
    files,
    packages,
    system,
    systemd,
    waits,
)
from kboot.tasks.base import REGISTRY, TaskDef

PREFIXES = ("ansible.builtin.", "ansible.legacy.", "ansible.posix.", "community.general.")


def canonical_name(name: str) -> str:
    for prefix in PREFIXES:
        if name.startswith(prefix):
            return name[len(prefix):]
    return name


def lookup(name: str) -> TaskDef | None:
    """The task a playbook's module name means, or ``None`` if kboot has no such task."""
    return REGISTRY.get(name) or REGISTRY.get(canonical_name(name))


def all_tasks() -> list[TaskDef]:
    """Each task once (aliases folded), sorted by name."""
    unique = {definition.name: definition for definition in REGISTRY.values()}
    return [unique[name] for name in sorted(unique)]
