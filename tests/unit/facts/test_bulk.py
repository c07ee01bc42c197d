"""Bulk file-stat gathering prints, per fact, exactly what the fact's own command prints."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

from kboot.facts.base import Fact
from kboot.facts.batch import gather_script, gathered_outputs, new_nonce, parse_gathered
from kboot.facts.bulk import bulk_facts
from kboot.facts.files import file_stat
from kboot.facts.system import sysctl


def _sh(script: str) -> str:
    return subprocess.run(["/bin/sh", "-s"], input=script.encode(), capture_output=True,
                          check=True).stdout.decode()


def _tree(tmp_path: Path) -> list[str]:
    (tmp_path / "file").write_text("data\n")
    (tmp_path / "empty").write_text("")
    (tmp_path / "dir").mkdir(mode=0o750)
    (tmp_path / "link").symlink_to(tmp_path / "file")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    (tmp_path / "dirlink").symlink_to(tmp_path / "dir")
    os.mkfifo(tmp_path / "fifo")  # must not be read (it would block)
    (tmp_path / "a|b c").write_text("odd name")
    (tmp_path / "back\\slash").write_text("kept out of the bulk")
    names = ["file", "empty", "dir", "link", "dangling", "dirlink", "fifo", "missing",
             "a|b c", "back\\slash", "dir/missing"]
    return [str(tmp_path / n) for n in names]


def test_bulk_outputs_equal_each_facts_own_command(tmp_path: Path) -> None:
    paths = _tree(tmp_path)
    facts: list[Fact[Any]] = [file_stat(p) for p in paths]
    facts.insert(3, sysctl("kernel.ostype"))  # a non-bulk fact in between keeps its section
    assert len(bulk_facts(facts)) == len(paths) - 1  # all file stats but the backslash one
    nonce = new_nonce()
    script = gather_script(facts, nonce)
    assert script.count("sha256sum") == 2  # one bulk call + the backslash path's own command
    outputs = gathered_outputs(facts, _sh(script), nonce)
    for fact in facts:
        own = _sh(f"( {fact.command}\n) </dev/null 2>/dev/null")
        assert outputs[fact.key] == own.rstrip("\n"), fact.key


def test_bulk_values_parse(tmp_path: Path) -> None:
    paths = _tree(tmp_path)
    facts: list[Fact[Any]] = [file_stat(p) for p in paths]
    nonce = new_nonce()
    values = parse_gathered(facts, _sh(gather_script(facts, nonce)), nonce)
    by_name = {Path(p).name: values[f"file:{p}"] for p in paths}
    assert by_name["file"].sha256 is not None and by_name["file"].size == 5
    assert by_name["dir"].type == "directory" and by_name["dir"].mode == 0o750
    assert by_name["dangling"].link_target == str(tmp_path / "nowhere")
    assert by_name["fifo"].type == "fifo" and by_name["fifo"].sha256 is None
    assert not by_name["missing"].exists
    assert by_name["a|b c"].size == 8


def test_a_single_file_fact_keeps_its_own_command() -> None:
    assert bulk_facts([file_stat("/etc/hostname"), sysctl("kernel.ostype")]) == []
