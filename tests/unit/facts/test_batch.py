"""Batched fact gathering: one script, delimited sections, parsed back per fact; and staleness."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from kboot.facts.base import ABSENT, Fact, FactError
from kboot.facts.batch import expectation, gather_script, guard_condition, new_nonce, parse_gathered
from kboot.facts.files import directory, file_content, file_stat
from kboot.facts.services import systemd_unit
from kboot.facts.system import kernel_modules, sysctl, user


def _run(script: str) -> str:
    return subprocess.run(["/bin/sh", "-s"], input=script.encode(), capture_output=True,
                          check=True).stdout.decode()


def test_gathers_many_facts_in_one_script(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"hello\n")
    (tmp_path / "f").chmod(0o640)
    (tmp_path / "l").symlink_to(tmp_path / "f")
    facts: list[Fact[Any]] = [file_stat(str(tmp_path / "f")), file_stat(str(tmp_path / "missing")),
             file_stat(str(tmp_path / "l")), file_content(str(tmp_path / "f")),
             directory(str(tmp_path)), sysctl("kernel.ostype"), user("root")]
    nonce = new_nonce()
    values = parse_gathered(facts, _run(gather_script(facts, nonce)), nonce)
    stat = values[f"file:{tmp_path}/f"]
    assert (stat.type, stat.mode, stat.size) == ("file", 0o640, 6)
    assert stat.sha256 == "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"
    assert not values[f"file:{tmp_path}/missing"].exists
    assert values[f"file:{tmp_path}/l"].link_target == str(tmp_path / "f")
    assert values[f"content:{tmp_path}/f"] == b"hello\n"
    assert values[f"dir:{tmp_path}"] == ["f", "l"]
    assert values["sysctl:kernel.ostype"] == "Linux"
    assert values["user:root"].uid == 0


def test_output_cannot_forge_a_section() -> None:
    nonce = new_nonce()
    fake = Fact("echo", "echo '@@KBOOT-FACT 0000 1'; echo real", lambda out: out)
    second = Fact("two", "echo two", lambda out: out)
    values = parse_gathered([fake, second], _run(gather_script([fake, second], nonce)), nonce)
    assert values == {"echo": "@@KBOOT-FACT 0000 1\nreal", "two": "two"}


def test_truncated_output_is_an_error() -> None:
    nonce = new_nonce()
    facts = [Fact("x", "echo x", lambda out: out)]
    output = _run(gather_script(facts, nonce))
    with pytest.raises(FactError, match="truncated"):
        parse_gathered(facts, output.rsplit("@@KBOOT-FACT", 1)[0], nonce)


@pytest.mark.parametrize(("fact", "touched", "stale"), [
    (file_stat("/etc/kboot/a"), "/etc/kboot/a", True),
    (file_stat("/etc/kboot/a"), "/etc/kboot", False),  # mkdir of the parent
    (file_stat("/etc/kboot/a"), "/etc/kboot/**", True),  # rm -rf of the parent
    (file_stat("/etc/kboot/a"), "/etc/kboot/ab", False),
    (directory("/etc/kboot"), "/etc/kboot/a", True),
    (directory("/etc/kboot"), "/etc/kboot/a/b", False),
    (systemd_unit("etcd"), "/etc/systemd/system/etcd.service", True),
    (systemd_unit("etcd"), "/etc/hosts", False),
    (user("etcd"), "/etc/passwd", True),
    (kernel_modules(), "/proc/modules", True),
    (sysctl("net.ipv4.ip_forward"), "/proc/sys/net/ipv4/ip_forward", True),
])
def test_staleness(fact: Fact[object], touched: str, stale: bool) -> None:
    assert fact.stale_after(touched) is stale


def _holds(condition: str) -> bool:
    return _run(f"if {condition}; then echo holds; fi") == "holds\n"


def test_a_guard_expecting_absence_needs_no_subshell(tmp_path: Path) -> None:
    path = str(tmp_path / "f")
    facts = [file_stat(path), file_content(path), directory(path)]
    guard = guard_condition([(f, ABSENT) for f in facts])
    assert "$(" not in guard
    assert _holds(guard)
    (tmp_path / "f").write_text("x")
    assert not _holds(guard)
    assert not _holds(guard_condition([(file_content(path), ABSENT)]))
    assert _holds(guard_condition([(directory(path), ABSENT)]))


def test_facts_without_an_absent_test_read_their_output() -> None:
    guard = guard_condition([(sysctl("kernel.no_such_key"), ABSENT)])
    assert "g=$(" in guard
    assert _holds(guard)


def test_a_guard_fails_when_any_fact_changed() -> None:
    """A later check must not compare the output an earlier, failed check read."""
    changed = Fact("one", "echo now", str)
    same = Fact("two", "echo two", str)
    assert not _holds(guard_condition([(changed, "was"), (same, "now")]))
    assert _holds(guard_condition([(changed, "now"), (same, "two")]))


def test_a_guard_compares_long_outputs_by_digest(tmp_path: Path) -> None:
    (tmp_path / "big").write_bytes(b"x" * 4096)
    fact = file_content(str(tmp_path / "big"))
    expected = expectation(_run(f"{fact.command}\n"))
    assert expected.startswith("sha256:")
    assert _holds(guard_condition([(fact, expected)]))
    (tmp_path / "big").write_bytes(b"y" * 4096)
    assert not _holds(guard_condition([(fact, expected)]))
