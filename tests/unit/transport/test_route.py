"""Hops to a host: inventory jumps, ~/.ssh/config (HostName, User, Port, IdentityFile,
ProxyJump) and ``[user@]host[:port]`` parsing."""

from __future__ import annotations

from pathlib import Path

import pytest

from kboot.errors import ConnectError
from kboot.inventory import Connection, JumpHost
from kboot.transport.route import Hop, parse_jump_spec, resolve_route


@pytest.mark.parametrize(("text", "expected"), [
    ("bastion", Hop("bastion", 22, "me")),
    ("ops@bastion:2200", Hop("bastion", 2200, "ops")),
    ("[2001:db8::1]:23", Hop("2001:db8::1", 23, "me")),
    ("u@2001:db8::1", Hop("2001:db8::1", 22, "u")),
])
def test_parse_jump_spec(text: str, expected: Hop) -> None:
    assert parse_jump_spec(text, default_user="me") == expected


def test_inventory_jumps_inherit_user_and_key() -> None:
    c = Connection(address="10.0.0.5", user="deploy", key_file="/k",
                   jump=(JumpHost("b1", 2200), JumpHost("b2", user="ops", key_file="/k2")))
    route = resolve_route("h", c, password="pw")
    assert route == [Hop("b1", 2200, "deploy", "/k"), Hop("b2", 22, "ops", "/k2"),
                     Hop("10.0.0.5", 22, "deploy", "/k", "pw")]
    assert "pw" not in repr(route)


def test_ssh_config_overrides_and_proxyjump(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text(
        "Host box\n  HostName 10.9.0.1\n  User admin\n  Port 2022\n  IdentityFile /id_box\n"
        "  ProxyJump jump1,ops@10.8.0.2:2200\n"
        "Host jump1\n  HostName 10.8.0.1\n  User j\n")
    c = Connection(address="box", ssh_config=str(config))
    assert resolve_route("h", c, password=None) == [
        Hop("10.8.0.1", 22, "j", "/id_box"),
        Hop("10.8.0.2", 2200, "ops", "/id_box"),
        Hop("10.9.0.1", 2022, "admin", "/id_box"),
    ]


def test_ssh_config_unreadable(tmp_path: Path) -> None:
    c = Connection(address="box", ssh_config=str(tmp_path / "missing"))
    with pytest.raises(ConnectError, match="cannot read ssh_config"):
        resolve_route("h", c, password=None)
