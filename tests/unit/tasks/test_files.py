"""file, copy, template, lineinfile, stat, fetch: args + facts → commands."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from kboot.errors import PlaybookError
from kboot.facts.files import predicted_stat
from kboot.tasks.base import INLINE_LIMIT, LocalFile
from kboot.tasks.content import LineInFileArgs, edit_lines
from kboot.tasks.files import ModeError, parse_mode
from tests.unit.tasks.helpers import ABSENT, plan, scripts, stat

SHA_HI = hashlib.sha256(b"hi\n").hexdigest()


@pytest.mark.parametrize(("args", "current", "expected"), [
    ({"path": "/d", "state": "directory", "mode": "0750"}, ABSENT,
     ["mkdir -p -m 0750 -- /d"]),
    ({"path": "/d", "state": "directory", "mode": 0o750}, stat("directory", 0o750), []),
    ({"path": "/d", "state": "directory", "mode": "750"}, stat("directory", 0o755),
     ["chmod 0750 -- /d"]),
    ({"path": "/d", "state": "directory", "owner": "etcd"}, stat("directory"),
     ["chown etcd -- /d"]),
    ({"path": "/f", "owner": "a", "group": "b"}, stat(), ["chown a:b -- /f"]),
    ({"path": "/f", "state": "absent"}, stat(), ["rm -rf -- /f"]),
    ({"path": "/f", "state": "absent"}, ABSENT, []),
    ({"path": "/f", "state": "touch"}, ABSENT, ["touch -- /f"]),
    ({"path": "/f", "state": "touch"}, stat(), []),
    ({"path": "/l", "state": "link", "src": "/t"}, ABSENT, ["ln -sfn -- /t /l"]),
    ({"path": "/l", "state": "link", "src": "/t"}, stat("link", target="/t"), []),
    ({"dest": "/x y", "state": "directory"}, ABSENT, ["mkdir -p -- '/x y'"]),
])
def test_file(args: dict[str, object], current: object, expected: list[str]) -> None:
    assert scripts(plan("file", args, {f"file:{args.get('path', args.get('dest'))}": current})) \
        == expected


@pytest.mark.parametrize(("args", "current", "failure"), [
    ({"path": "/f"}, ABSENT, "is absent"),
    ({"path": "/f", "state": "directory"}, stat("file"), "not a directory"),
    ({"path": "/l", "state": "link", "src": "/t"}, stat("file"), "force"),
    ({"path": "/l", "state": "link"}, ABSENT, "needs src"),
])
def test_file_failures(args: dict[str, object], current: object, failure: str) -> None:
    result = plan("file", args, {f"file:{args['path']}": current})
    assert result.failed is not None and failure in result.failed
    assert not result.commands


def test_mode_parsing() -> None:
    assert parse_mode("0644") == 0o644 and parse_mode(0o600) == 0o600 and parse_mode(None) is None
    with pytest.raises(ModeError):
        parse_mode("u+x")


def test_copy_same_checksum_is_a_noop() -> None:
    result = plan("copy", {"dest": "/f", "content": "hi\n"}, {"file:/f": stat(sha256=SHA_HI)})
    assert result.commands == () and not result.changed


def test_copy_writes_when_different_and_carries_data() -> None:
    result = plan("copy", {"dest": "/f", "content": "hi\n", "mode": "0600"},
                  {"file:/f": stat(sha256="0" * 64, owner="etcd", group="etcd")})
    (command,) = result.commands
    assert command.data == b"hi\n"
    # 0600 comes from the creation mask (no chmod process); ownership is kept explicitly
    assert "umask 0177;" in command.script and "chmod" not in command.script
    assert "chown etcd:etcd" in command.script
    assert "mv -f -- \"$t\" /f" in command.script
    assert result.touches == ("/f",) and result.changed


def test_copy_new_file_defaults_to_0644_and_only_attrs_when_content_same() -> None:
    new = plan("copy", {"dest": "/f", "content": "x"}, {"file:/f": ABSENT})
    assert "umask 0133;" in new.commands[0].script and "chown" not in new.commands[0].script
    script = plan("copy", {"dest": "/f", "content": "x", "mode": "0755"},
                  {"file:/f": ABSENT}).commands[0].script
    assert "chmod 0755" in script and "umask" not in script  # x bits: the shell never sets them
    attrs = plan("copy", {"dest": "/f", "content": "hi\n", "mode": "0600"},
                 {"file:/f": stat(sha256=SHA_HI)})
    assert scripts(attrs) == ["chmod 0600 -- /f"]


def test_copy_force_false_keeps_existing_content() -> None:
    result = plan("copy", {"dest": "/f", "content": "new", "force": False},
                  {"file:/f": stat(sha256="0" * 64)})
    assert result.commands == ()


def test_copy_src_from_files_dir_and_diff(tmp_path: Path) -> None:
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "ca.pem").write_text("PEM\n")
    result = plan("copy", {"src": "ca.pem", "dest": "/etc/pki/"},
                  {"file:/etc/pki/ca.pem": ABSENT, "content:/etc/pki/ca.pem": None},
                  search=(tmp_path,), diff=True)
    assert result.commands[0].data == b"PEM\n"
    assert result.diff[0].before == "" and result.diff[0].after == "PEM\n"


def test_copy_needs_exactly_one_source() -> None:
    assert plan("copy", {"dest": "/f"}, {"file:/f": ABSENT}).failed


def test_template_renders_with_host_variables(tmp_path: Path) -> None:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "unit.j2").write_text("ExecStart=/bin/{{ binary }}\n")
    result = plan("template", {"src": "unit.j2", "dest": "/u"}, {"file:/u": ABSENT},
                  variables={"binary": "etcd"}, search=(tmp_path,))
    assert result.commands[0].data == b"ExecStart=/bin/etcd\n"
    same = hashlib.sha256(b"ExecStart=/bin/etcd\n").hexdigest()
    assert plan("template", {"src": "unit.j2", "dest": "/u"}, {"file:/u": stat(sha256=same)},
                variables={"binary": "etcd"}, search=(tmp_path,)).commands == ()


@pytest.mark.parametrize(("lines", "args", "expected"), [
    (["a", "b"], {"line": "c"}, ["a", "b", "c"]),
    (["a", "c"], {"line": "c"}, ["a", "c"]),
    (["x=1", "y=2"], {"line": "x=3", "regexp": "^x="}, ["x=3", "y=2"]),
    (["a", "b"], {"line": "z", "insertafter": "^a"}, ["a", "z", "b"]),
    (["a", "b"], {"line": "z", "insertbefore": "BOF"}, ["z", "a", "b"]),
    (["a", "b"], {"line": "z", "insertbefore": "^b"}, ["a", "z", "b"]),
    (["a", "#x", "b"], {"regexp": "^#", "state": "absent"}, ["a", "b"]),
    (["port=80"], {"regexp": r"^port=(\d+)", "line": r"port=\g<1>0", "backrefs": True},
     ["port=800"]),
    (["a"], {"regexp": "^zz(.*)", "line": r"\1", "backrefs": True}, ["a"]),
])
def test_edit_lines(lines: list[str], args: dict[str, object], expected: list[str]) -> None:
    assert edit_lines(lines, LineInFileArgs(path="/f", **args)) == expected  # type: ignore[arg-type]


def test_lineinfile_plans() -> None:
    present = hashlib.sha256(b"a\nb\n").hexdigest()
    facts = {"file:/f": stat(sha256=present), "content:/f": b"a\nb\n"}
    assert plan("lineinfile", {"path": "/f", "line": "b"}, facts).commands == ()
    change = plan("lineinfile", {"path": "/f", "line": "c"}, facts)
    assert change.commands[0].data == b"a\nb\nc\n"
    missing = plan("lineinfile", {"path": "/g", "line": "c"}, {"file:/g": ABSENT,
                                                                "content:/g": None})
    assert missing.failed and "create" in missing.failed
    created = plan("lineinfile", {"path": "/g", "line": "c", "create": True},
                   {"file:/g": ABSENT, "content:/g": None})
    assert created.commands[0].data == b"c\n"


def test_stat_registers_ansible_shape() -> None:
    result = plan("stat", {"path": "/f"}, {"file:/f": stat(mode=0o600, sha256="ab")})
    assert result.commands == ()
    assert result.result["stat"]["exists"] is True
    assert result.result["stat"]["mode"] == "0600" and result.result["stat"]["isreg"] is True


def test_fetch_skips_when_local_copy_matches(tmp_path: Path) -> None:
    local = tmp_path / "admin.conf"
    local.write_bytes(b"hi\n")
    args = {"src": "/etc/admin.conf", "dest": str(local), "flat": True}
    assert plan("fetch", args, {"file:/etc/admin.conf": stat(sha256=SHA_HI)}).fetch == ()
    changed = plan("fetch", args, {"file:/etc/admin.conf": stat(sha256="0" * 64)})
    assert changed.fetch[0].dest == str(local) and changed.changed
    nested = plan("fetch", {"src": "/etc/a", "dest": str(tmp_path)},
                  {"file:/etc/a": stat(sha256="0" * 64)})
    assert nested.fetch[0].dest == f"{tmp_path}/h1/etc/a"
    assert plan("fetch", args, {"file:/etc/admin.conf": ABSENT}).failed


def test_copy_of_a_big_src_plans_a_reference_and_predicts_only_its_stat(tmp_path: Path) -> None:
    (tmp_path / "files").mkdir()
    big = tmp_path / "files" / "big.bin"
    data = bytes(range(256)) * (INLINE_LIMIT // 256 + 1)
    big.write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    args = {"src": "big.bin", "dest": "/big", "mode": "0600"}
    result = plan("copy", args, {"file:/big": stat(sha256="0" * 64)}, search=(tmp_path,),
                  diff=True)  # no content fact: the diff of a big file needs only the stat
    (command,) = result.commands
    assert command.data is None
    assert command.source == LocalFile(big.resolve(), len(data), big.stat().st_mtime_ns, digest)
    assert [(f.key, out) for f, out in result.predicts] == [
        ("file:/big", predicted_stat(len(data), digest, mode=0o600, owner="root", group="root"))]
    assert result.diff[0].before == f"(not shown: 1 bytes, sha256 {'0' * 64})\n"
    assert result.diff[0].after == f"(not shown: {len(data)} bytes, sha256 {digest})\n"
    assert plan("copy", args, {"file:/big": stat(mode=0o600, sha256=digest)},
                search=(tmp_path,)).commands == ()
    big.write_bytes(data[:-1] + b"!")  # changed after planning: the upload refuses it
    with pytest.raises(PlaybookError, match="changed while kboot was using it"):
        command.source.open()
