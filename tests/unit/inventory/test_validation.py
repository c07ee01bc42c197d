"""Every inventory validation error class: the message names file:line, the field and what was
expected, and all problems of a file are reported together."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from kboot.errors import InventoryError
from kboot.inventory import load_inventory


def load(tmp_path: Path, text: str, name: str = "inv.yaml", **kw: object) -> InventoryError:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    with pytest.raises(InventoryError) as info:
        load_inventory(path, **kw)  # type: ignore[arg-type]
    return info.value


CASES = [
    pytest.param(
        """
        hosts:
          a: {address: 10.0.0.1}
        grups: {}
        """,
        3, "grups", ["unknown key 'grups'", "did you mean 'groups'"], id="unknown-top-key"),
    pytest.param(
        """
        hosts:
          a: {address: 10.0.0.1, usr: x}
        """,
        2, "hosts.a.usr", ["unknown key 'usr'", "did you mean 'user'"], id="unknown-host-key"),
    pytest.param(
        """
        hosts:
          a:
            address: 10.0.0.1
            port: http
        """,
        4, "hosts.a.port", ["expected a port number 1-65535", "'http'"], id="bad-port-type"),
    pytest.param(
        """
        connection:
          port: 70000
        hosts:
          a: {}
        """,
        2, "connection.port", ["expected a port number 1-65535"], id="port-range"),
    pytest.param(
        """
        connection:
          become: maybe
        hosts: {a: {}}
        """,
        2, "connection.become", ["expected true or false"], id="bad-bool"),
    pytest.param(
        """
        connection:
          host_key_policy: off
        hosts: {a: {}}
        """,
        2, "connection.host_key_policy", ["expected one of accept-new, strict"],
        id="bad-choice"),
    pytest.param(
        """
        connection:
          connect_timeout: -1
        hosts: {a: {}}
        """,
        2, "connection.connect_timeout", ["expected a number of seconds > 0"], id="bad-timeout"),
    pytest.param(
        """
        hosts:
          a: {address: 10.0.0.1}
          a: {address: 10.0.0.2}
        """,
        3, "hosts.a", ["duplicate key 'a'", "first defined at line 2"], id="duplicate-host"),
    pytest.param(
        """
        hosts:
          a: {address: 10.0.0.1}
          b: {address: 10.0.0.1}
        """,
        3, "hosts.b.address", ["10.0.0.1:22 is also the address of host 'a'"],
        id="duplicate-address"),
    pytest.param(
        """
        hosts:
          a: {address: 10.0.0.1}
        groups:
          web: {hosts: [a, b]}
        """,
        4, "groups.web.hosts", ["unknown host 'b'", "expected a host defined"],
        id="unknown-group-host"),
    pytest.param(
        """
        hosts:
          a: {}
        groups:
          web: {hosts: [a], children: [dbs]}
          db: {}
        """,
        4, "groups.web.children", ["unknown group 'dbs'", "did you mean 'db'"],
        id="unknown-child"),
    pytest.param(
        """
        hosts:
          a: {}
        groups:
          x: {children: [y]}
          y: {children: [x]}
        """,
        5, "groups.y.children", ["cycle in group children: x -> y -> x"], id="cycle"),
    pytest.param(
        """
        cluster:
          pod_cidr: 10.244.0.0/33
        hosts: {a: {}}
        """,
        2, "cluster.pod_cidr", ["expected a CIDR network"], id="bad-cidr"),
    pytest.param(
        """
        cluster:
          service_cidr: 10.96.0.1/16
        hosts: {a: {}}
        """,
        2, "cluster.service_cidr", ["host bits set"], id="cidr-host-bits"),
    pytest.param(
        """
        cluster:
          package_source: internet
        hosts: {a: {}}
        """,
        2, "cluster.package_source", ["expected one of bundle, host"], id="bad-package-source"),
    pytest.param(
        """
        hosts:
          a: {password_env: "hunter2 secret"}
        """,
        2, "hosts.a.password_env", ["expected the NAME of an environment variable"],
        id="password-not-env-name"),
    pytest.param(
        """
        hosts:
          a: {taints: ["dedicated=db:Sometimes"]}
        """,
        2, "hosts.a.taints", ["expected a taint 'key=value:Effect'"], id="bad-taint"),
    pytest.param(
        """
        hosts:
          a: {jump: ["ops@bastion:notaport"]}
        """,
        2, "a.jump", ["expected a port number"], id="bad-jump-port"),
    pytest.param(
        """
        hosts:
          a: [10.0.0.1]
        """,
        2, "hosts.a", ["expected a mapping"], id="host-not-mapping"),
    pytest.param(
        """
        hosts:
          a: {address: 10.0.0.1
        """,
        None, None, ["invalid YAML"], id="yaml-syntax"),
]


@pytest.mark.parametrize(("text", "line", "field", "fragments"), CASES)
def test_error_names_file_line_field_and_expectation(
    tmp_path: Path, text: str, line: int | None, field: str | None, fragments: list[str]
) -> None:
    err = load(tmp_path, text)
    message = str(err)
    where = f"{tmp_path / 'inv.yaml'}:{line}" if line else str(tmp_path / "inv.yaml")
    assert message.startswith(where), message
    if field:
        assert f": {field}: " in message, message
    for fragment in fragments:
        assert fragment in message, message


def test_password_value_is_never_echoed(tmp_path: Path) -> None:
    err = load(tmp_path, 'hosts:\n  a: {password_env: "hunter2 secret"}\n')
    assert "hunter2" not in str(err)


def test_required_group_missing_or_empty(tmp_path: Path) -> None:
    err = load(tmp_path, """
        hosts: {a: {}}
        groups:
          workers: {}
        """, require_groups=["workers", "etcd"])
    message = str(err)
    assert "2 problems" in message
    assert f"{tmp_path / 'inv.yaml'}:3: groups.workers: required group 'workers' has no hosts" \
        in message
    assert "groups.etcd: required group 'etcd' is missing" in message


def test_all_problems_reported_together(tmp_path: Path) -> None:
    err = load(tmp_path, """
        connection: {port: 0}
        hosts:
          a: {usr: x}
          b: {become: perhaps}
        """)
    problems = err.problems  # type: ignore[attr-defined]
    assert [p.location.line for p in problems] == [1, 3, 4]
    assert str(err).startswith(f"{tmp_path / 'inv.yaml'}: 3 problems")


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match="cannot read the inventory"):
        load_inventory(tmp_path / "missing.yaml")


def test_empty_file(tmp_path: Path) -> None:
    err = load(tmp_path, "\n")
    assert "the inventory is empty" in str(err)


def test_top_level_not_a_mapping(tmp_path: Path) -> None:
    err = load(tmp_path, "- a\n- b\n")
    assert str(err).startswith(f"{tmp_path / 'inv.yaml'}:1: expected a mapping at the top level")
