"""Ansible inventories (YAML form) and the ``ansible_*`` connection variables, so that kubespray
users can bring theirs. Connection settings come from each host's *resolved* variables (Ansible's
precedence), mapped by :func:`connection_from_vars`; ``kboot_<field>`` variables set any kboot
connection field. Plaintext passwords are refused, except ``{{ lookup('env', 'NAME') }}``,
which becomes ``password_env: NAME``.
"""

from __future__ import annotations

import re
import shlex
from typing import Any

from kboot.inventory.problems import Problems, Where
from kboot.inventory.raw import RawGroup, RawHost, RawInventory
from kboot.inventory.schema import CONNECTION, Bad, boolean, plain, port, seconds, text
from kboot.inventory.yamlsrc import LMap

GROUP_KEYS = ("hosts", "children", "vars")
ROOT_GROUPS = ("all", "ungrouped")

_SIMPLE: dict[str, str] = {
    "ansible_host": "address",
    "ansible_ssh_host": "address",
    "ansible_port": "port",
    "ansible_ssh_port": "port",
    "ansible_user": "user",
    "ansible_ssh_user": "user",
    "ansible_ssh_private_key_file": "key_file",
    "ansible_private_key_file": "key_file",
    "ansible_become": "become",
    "ansible_ssh_timeout": "connect_timeout",
    "ansible_timeout": "connect_timeout",
    "ansible_ssh_retries": "connect_retries",
}
_PASSWORDS = {
    "ansible_password": "password_env",
    "ansible_ssh_pass": "password_env",
    "ansible_ssh_password": "password_env",
    "ansible_become_password": "become_password_env",
    "ansible_become_pass": "become_password_env",
    "ansible_sudo_pass": "become_password_env",
}
_ENV_LOOKUP = re.compile(r"""^\{\{\s*lookup\(\s*['"]env['"]\s*,\s*['"](\w+)['"]\s*\)\s*\}\}$""")
_PROXY_W = re.compile(r"-W\s+\S+")


def _ssh_args_jump(value: str) -> str | None:
    """The ProxyJump chain in ``ansible_ssh_common_args`` (``-J``, ``-o ProxyJump=``, or a
    ``ProxyCommand="ssh -W %h:%p [-p N] user@bastion"``), or None."""
    args = shlex.split(value)
    for i, arg in enumerate(args):
        nxt = args[i + 1] if i + 1 < len(args) else ""
        if arg == "-J":
            return nxt
        option = nxt if arg == "-o" else (arg[2:] if arg.startswith("-o") else "")
        name, _, val = option.partition("=")
        if name.lower() == "proxyjump":
            return val
        if name.lower() == "proxycommand" and _PROXY_W.search(val):
            return _proxy_command_jump(val)
    return None


def _proxy_command_jump(command: str) -> str:
    words = shlex.split(command)
    port_ = words[words.index("-p") + 1] if "-p" in words else "22"
    skip = {"-W", "-p", "-i", "-o", "-l"}
    targets = [w for i, w in enumerate(words[1:], 1)
               if not w.startswith("-") and words[i - 1] not in skip]
    if not targets:
        raise Bad(f"cannot find the bastion in ProxyCommand {command!r}")
    return f"{targets[-1]}:{port_}"


def _one(var: str, value: Any) -> tuple[str, Any] | None:
    """The (field, value) that one ansible variable sets, or None if it sets none."""
    if var in _SIMPLE:
        field = _SIMPLE[var]
        checker = {"port": port, "become": boolean, "connect_timeout": seconds}.get(
            field, CONNECTION.get(field, text))
        return field, checker(value)
    if var in _PASSWORDS:
        match = _ENV_LOOKUP.match(str(value).strip())
        if not match:
            raise Bad(f"plaintext passwords are not read from inventories; use "
                      f"\"{{{{ lookup('env', 'NAME') }}}}\" or kboot_{_PASSWORDS[var]}: NAME")
        return _PASSWORDS[var], match.group(1)
    if var == "ansible_connection":
        kinds = {"ssh": "ssh", "paramiko": "ssh", "smart": "ssh", "local": "local"}
        if value not in kinds:
            raise Bad(f"expected ansible_connection ssh, paramiko, smart or local, got {value!r}")
        return "transport", kinds[value]
    if var in ("ansible_become_method", "ansible_become_user"):
        if value not in ("sudo", "root"):
            raise Bad(f"kboot becomes root through sudo only, got {value!r}")
        return None
    if var in ("ansible_ssh_common_args", "ansible_ssh_extra_args"):
        chain = _ssh_args_jump(str(value))
        return ("jump", CONNECTION["jump"](chain)) if chain else None
    if var.startswith("kboot_") and var[6:] in CONNECTION:
        return var[6:], CONNECTION[var[6:]](value)
    return None


def connection_from_vars(host: str, hostvars: dict[str, Any], lines: dict[str, Where],
                         problems: Problems) -> dict[str, Any]:
    """Connection settings of ``host`` from its resolved variables."""
    settings: dict[str, Any] = {"address": host}
    for var, value in hostvars.items():
        try:
            found = _one(var, value)
        except Bad as exc:
            problems.add(lines.get(var), f"{host}.{var}", str(exc))
            continue
        if found is not None:
            settings[found[0]] = found[1]
    return settings


class _YamlReader:
    def __init__(self, raw: RawInventory, problems: Problems) -> None:
        self.raw = raw
        self.problems = problems

    def group(self, name: str, body: Any, line: Where, parent: RawGroup | None) -> None:
        group = None if name in ROOT_GROUPS else self.raw.groups.setdefault(
            name, RawGroup(name, line))
        if parent is not None and group is not None:
            parent.add_child(name, line)
        if body is None:
            return
        if not isinstance(body, LMap):
            self.problems.add(line, name, f"expected a group mapping with {', '.join(GROUP_KEYS)}"
                              f", got {body!r}")
            return
        for key in body:
            if key not in GROUP_KEYS:
                self.problems.unknown_key(body.line_of(key), f"{name}.{key}", key, GROUP_KEYS)
        self.hosts(body.get("hosts"), body.line_of("hosts"), group, name)
        group_vars = body.get("vars")
        if isinstance(group_vars, LMap):
            target = self.raw.vars if group is None else group.vars
            lines = self.raw.var_lines if group is None else group.lines
            target.update(plain(group_vars))
            lines.update(group_vars.lines)
        elif group_vars is not None:
            self.problems.add(body.line_of("vars"), f"{name}.vars", "expected a mapping")
        children = body.get("children")
        if isinstance(children, LMap):
            for child, child_body in children.items():
                self.group(child, child_body, children.line_of(child), group)
        elif children is not None:
            self.problems.add(body.line_of("children"), f"{name}.children",
                              "expected a mapping of group names")

    def hosts(self, hosts: Any, line: Where, group: RawGroup | None, name: str) -> None:
        if hosts is None:
            return
        if not isinstance(hosts, LMap):
            self.problems.add(line, f"{name}.hosts", "expected a mapping of host names to "
                              f"variables (or null), got {hosts!r}")
            return
        for host, host_vars in hosts.items():
            h_line = hosts.line_of(host)
            entry = self.raw.hosts.setdefault(host, RawHost(host, h_line))
            if isinstance(host_vars, LMap):
                entry.vars.update(plain(host_vars))
                entry.lines.update(host_vars.lines)
            elif host_vars is not None:
                self.problems.add(h_line, f"{name}.hosts.{host}", "expected a mapping of host "
                                  f"variables or null, got {host_vars!r}")
            if group is not None:
                group.add_host(host, h_line)


def parse_ansible_yaml(doc: LMap, source: str, problems: Problems) -> RawInventory:
    raw = RawInventory(source, "ansible-yaml")
    reader = _YamlReader(raw, problems)
    for name, body in doc.items():
        reader.group(name, body, doc.line_of(name), None)
    return raw
