"""``load_inventory``: read a kboot YAML, Ansible YAML or Ansible INI inventory, validate it
completely before any connection, and return the resolved :class:`Inventory`.

Format detection: a YAML mapping with any of the kboot top-level keys (``hosts``, ``groups``,
``connection``, ``cluster``, ``vars``) and no ``all`` key is a kboot inventory; any other YAML
mapping is an Ansible YAML inventory; a file named ``*.ini``/``*.cfg``, or not named ``*.yaml``/
``*.yml`` and not a YAML mapping, is read as Ansible INI. Ansible inventories also take
``group_vars/`` and ``host_vars/`` beside them (:mod:`.varsdirs`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from kboot.errors import InventoryError, Location
from kboot.inventory.ansible import parse_ansible_yaml
from kboot.inventory.ansible_ini import parse_ansible_ini
from kboot.inventory.model import Inventory
from kboot.inventory.native import TOP_KEYS, parse_native
from kboot.inventory.problems import Problems
from kboot.inventory.raw import Format, RawInventory
from kboot.inventory.resolve import resolve
from kboot.inventory.varsdirs import apply_vars_dirs
from kboot.inventory.yamlsrc import LMap, load_yaml

log = logging.getLogger(__name__)


def detect_format(text: str, path: str) -> Format:
    if path.endswith((".ini", ".cfg")):
        return "ansible-ini"
    probe = Problems(path)
    doc = load_yaml(text, probe)
    if not isinstance(doc, LMap):
        if path.endswith((".yaml", ".yml")) or (doc is None and not probe.items):
            return "kboot"  # report the YAML problems (or emptiness) as such
        return "ansible-ini"
    if "all" not in doc and any(k in doc for k in TOP_KEYS):
        return "kboot"
    return "ansible-yaml"


def parse(text: str, source: str, problems: Problems) -> RawInventory:
    fmt = detect_format(text, source)
    log.debug("%s: reading as %s inventory", source, fmt)
    if fmt == "ansible-ini":
        return parse_ansible_ini(text, source, problems)
    doc = load_yaml(text, problems)
    if doc is None:
        if not problems.items:
            problems.add(None, None, "the inventory is empty; expected hosts and groups")
        return RawInventory(source, "kboot")
    if not isinstance(doc, LMap):
        problems.add(getattr(doc, "line", 1), None, "expected a mapping at the top level "
                     f"(hosts, groups, ...), got {type(doc).__name__}")
        return RawInventory(source, "kboot")
    if fmt == "kboot":
        return parse_native(doc, source, problems)
    return parse_ansible_yaml(doc, source, problems)


def load_inventory(path: str | Path, *, require_groups: Sequence[str] = ()) -> Inventory:
    """The inventory at ``path``; every problem found is raised at once as InventoryError,
    naming file:line, the field and what was expected. ``require_groups`` must have hosts."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InventoryError(f"cannot read the inventory: {exc}",
                             location=Location(source)) from exc
    problems = Problems(source)
    raw = parse(text, source, problems)
    if raw.format != "kboot":
        apply_vars_dirs(raw, Path(path), problems)
    return resolve(raw, problems, require_groups)
