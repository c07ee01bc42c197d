"""Bulk file-stat gathering prints, per fact, exactly what the fact's own command prints."""

from __future__ import annotations

import grp
import hashlib
import os
import pwd
import tempfile
from pathlib import Path
from typing import Any

from kboot.facts.base import Fact
from kboot.facts.batch import gather_script, gathered_outputs, new_nonce, parse_gathered
from kboot.facts.bulk import bulk_facts
from kboot.facts.files import file_stat, parse_stat
from kboot.facts.system import sysctl
from tests.unit.facts.helpers import own_output, sh, tree


def test_bulk_outputs_equal_each_facts_own_command(tmp_path: Path) -> None:
    paths = tree(tmp_path)
    facts: list[Fact[Any]] = [file_stat(p) for p in paths]
    facts.insert(3, sysctl("kernel.ostype"))  # a non-bulk fact in between keeps its section
    assert len(bulk_facts(facts)) == len(paths) - 1  # all file stats but the backslash one
    nonce = new_nonce()
    script = gather_script(facts, nonce)
    assert script.count("sha256sum") == 2  # one bulk call + the backslash path's own command
    outputs = gathered_outputs(facts, sh(script), nonce)
    for fact in facts:
        assert outputs[fact.key] == own_output(fact.command), fact.key


def test_bulk_values_parse(tmp_path: Path) -> None:
    paths = tree(tmp_path)
    facts: list[Fact[Any]] = [file_stat(p) for p in paths]
    nonce = new_nonce()
    values = parse_gathered(facts, sh(gather_script(facts, nonce)), nonce)
    by_name = {Path(p).name: values[f"file:{p}"] for p in paths}
    assert by_name["file"].sha256 == hashlib.sha256(b"data\n").hexdigest()
    assert by_name["file"].size == 5
    assert by_name["empty"].sha256 == hashlib.sha256(b"").hexdigest()
    # hashed from stdin, a name sha256sum would escape still gives the bare digest
    assert by_name["back\\slash"].sha256 == hashlib.sha256(b"kept out of the bulk").hexdigest()
    assert by_name["dir"].type == "directory" and by_name["dir"].mode == 0o750
    assert by_name["dangling"].link_target == str(tmp_path / "nowhere")
    assert by_name["fifo"].type == "fifo" and by_name["fifo"].sha256 is None
    assert not by_name["missing"].exists
    assert by_name["a|b c"].size == 8


def test_a_single_file_fact_keeps_its_own_command() -> None:
    assert bulk_facts([file_stat("/etc/hostname"), sysctl("kernel.ostype")]) == []


def test_an_unreadable_file_has_no_sum_in_bulk_or_alone() -> None:
    with tempfile.TemporaryDirectory() as tmp:  # not under pytest's 0700 directory
        base = Path(tmp)
        base.chmod(0o755)
        (base / "secret").write_text("x")
        (base / "secret").chmod(0)
        (base / "open").write_text("y")
        facts: list[Fact[Any]] = [file_stat(str(base / "secret")), file_stat(str(base / "open"))]
        nonce = new_nonce()
        outputs = gathered_outputs(facts, sh(gather_script(facts, nonce), as_nobody=True), nonce)
        for fact in facts:
            assert outputs[fact.key] == own_output(fact.command, as_nobody=True), fact.key
    owner, group = pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name
    assert outputs[facts[0].key] == f"regular file|0|{owner}|{group}|1"
    assert parse_stat(outputs[facts[0].key]).sha256 is None
    assert parse_stat(outputs[facts[1].key]).sha256 == hashlib.sha256(b"y").hexdigest()
