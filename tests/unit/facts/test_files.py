"""File facts' commands on real files: the predicted stat of a written file, and absence tests."""

from __future__ import annotations

import grp
import hashlib
import os
import pwd
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kboot.facts.base import ABSENT, Fact
from kboot.facts.files import directory, file_content, file_stat, predicted_stat
from tests.unit.facts.helpers import own_output, sh, tree


@pytest.mark.parametrize(("data", "mode"), [
    (b"hello\n", 0o640),
    (b"", 0o600),
    (bytes(range(256)) * 3, 0o4755),
])
def test_predicted_stat_is_what_the_command_prints(tmp_path: Path, data: bytes,
                                                   mode: int) -> None:
    path = tmp_path / "written"
    path.write_bytes(data)
    path.chmod(mode)
    owner, group = pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name
    predicted = predicted_stat(len(data), hashlib.sha256(data).hexdigest(), mode=mode,
                               owner=owner, group=group)
    assert own_output(file_stat(str(path)).command) == predicted


@pytest.mark.parametrize("make", [file_stat, file_content, directory])
def test_absent_test_holds_exactly_when_the_command_prints_absent(
        tmp_path: Path, make: Callable[[str], Fact[Any]]) -> None:
    seen = set()
    for path in tree(tmp_path):
        fact = make(path)
        assert "$(" not in fact.absent_test
        absent = own_output(fact.command) == ABSENT
        holds = sh(f"if {fact.absent_test}; then echo yes; fi") == "yes\n"
        assert holds is absent, path
        seen.add(absent)
    assert seen == {True, False}
