"""File facts' commands on real files: the predicted stat of a written file."""

from __future__ import annotations

import grp
import os
import pwd
from pathlib import Path

import pytest

from kboot.facts.files import file_stat, predicted_stat
from tests.unit.facts.helpers import own_output


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
    assert own_output(file_stat(str(path)).command) == predicted_stat(data, mode, owner, group)
