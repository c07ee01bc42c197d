"""Ansible inventories in INI form: ``[group]`` host lines (``name key=value …``, ``name:port``,
ranges ``web[01:03]``), ``[group:vars]`` and ``[group:children]``. As in Ansible, values on host
lines are Python literals when they parse as such, values in ``:vars`` sections are strings."""

from __future__ import annotations

import ast
import re
import shlex
import string
from typing import Any

from kboot.inventory.problems import Problems
from kboot.inventory.raw import RawGroup, RawHost, RawInventory

_SECTION = re.compile(r"^\[([^\]:\s]+)(?::(vars|children))?\]$")
_RANGE = re.compile(r"^(.*?)\[([0-9a-zA-Z]+):([0-9a-zA-Z]+)(?::(\d+))?\](.*)$")
ROOT_GROUPS = ("all", "ungrouped")


def expand_range(pattern: str) -> list[str]:
    """``web[01:03]`` → web01, web02, web03; ``db-[a:c]`` → db-a, db-b, db-c (nested ok)."""
    match = _RANGE.match(pattern)
    if not match:
        return [pattern]
    head, start, end, step_text, rest = match.groups()
    step = int(step_text or 1)
    if start.isdigit() and end.isdigit():
        width = len(start) if start.startswith("0") else 0
        items = [str(i).zfill(width) for i in range(int(start), int(end) + 1, step)]
    elif len(start) == len(end) == 1 and start in string.ascii_letters:
        items = [chr(c) for c in range(ord(start), ord(end) + 1, step)]
    else:
        raise ValueError(f"bad host range [{start}:{end}]")
    return [f"{head}{item}{tail}" for item in items for tail in expand_range(rest)]


def _literal(value: str) -> Any:
    try:
        result = ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return value
    return result if isinstance(result, int | float | bool | list | dict | tuple) else value


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


class _IniReader:
    def __init__(self, raw: RawInventory, problems: Problems) -> None:
        self.raw = raw
        self.problems = problems
        self.group: str = "ungrouped"
        self.kind: str = "hosts"

    def group_of(self, name: str, line: int) -> RawGroup | None:
        if name in ROOT_GROUPS:
            return None
        return self.raw.groups.setdefault(name, RawGroup(name, line))

    def line(self, text: str, lineno: int) -> None:
        if text.startswith("["):
            match = _SECTION.match(text)
            if not match:
                self.problems.add(lineno, None, f"malformed section header {text!r}; expected "
                                  "[group], [group:vars] or [group:children]")
                self.kind = "skip"
                return
            self.group, self.kind = match.group(1), match.group(2) or "hosts"
            self.group_of(self.group, lineno)
            return
        {"hosts": self.host_line, "vars": self.var_line, "children": self.child_line}.get(
            self.kind, lambda _t, _n: None)(text, lineno)

    def host_line(self, text: str, lineno: int) -> None:
        try:
            words = shlex.split(text, comments=True)
        except ValueError as exc:
            self.problems.add(lineno, None, f"cannot split host line: {exc}")
            return
        name, host_vars = words[0], {}
        for word in words[1:]:
            key, eq, value = word.partition("=")
            if not eq or not key:
                self.problems.add(lineno, name, f"expected key=value after the host name, "
                                  f"got {word!r}")
                continue
            host_vars[key] = _literal(value)
        if re.match(r"^[^:\[\]]+:\d+$", name):
            name, port_text = name.rsplit(":", 1)
            host_vars["ansible_port"] = int(port_text)
        try:
            names = expand_range(name)
        except ValueError as exc:
            self.problems.add(lineno, name, str(exc))
            return
        group = self.group_of(self.group, lineno)
        for host in names:
            entry = self.raw.hosts.setdefault(host, RawHost(host, lineno))
            entry.vars.update(host_vars)
            entry.lines.update(dict.fromkeys(host_vars, lineno))
            if group is not None:
                group.add_host(host, lineno)

    def var_line(self, text: str, lineno: int) -> None:
        key, eq, value = text.partition("=")
        if not eq or not key.strip():
            self.problems.add(lineno, f"{self.group}:vars", f"expected key=value, got {text!r}")
            return
        group = self.group_of(self.group, lineno)
        target = self.raw.vars if group is None else group.vars
        lines = self.raw.var_lines if group is None else group.lines
        target[key.strip()] = _unquote(value.strip())
        lines[key.strip()] = lineno

    def child_line(self, text: str, lineno: int) -> None:
        child = text.split()[0]
        if len(text.split()) > 1:
            self.problems.add(lineno, f"{self.group}:children", f"expected one group name per "
                              f"line, got {text!r}")
        parent = self.group_of(self.group, lineno)
        if parent is not None and child not in ROOT_GROUPS:
            parent.add_child(child, lineno)


def parse_ansible_ini(text: str, source: str, problems: Problems) -> RawInventory:
    raw = RawInventory(source, "ansible-ini")
    reader = _IniReader(raw, problems)
    for lineno, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if stripped and not stripped.startswith(("#", ";")):
            reader.line(stripped, lineno)
    return raw
