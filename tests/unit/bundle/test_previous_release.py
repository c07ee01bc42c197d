"""``releases.toml`` and the previous release the upgrade e2e test installs
(tests/fixtures/release.py): recorded, older than this version, really that version at its
commit in this repository's history; a missing commit is an error that says how to get it."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from kboot import __version__
from tests.fixtures.release import (
    ROOT,
    Release,
    ReleaseMissing,
    export,
    previous_release,
    releases,
    resolve,
)


def test_the_current_version_is_newer_than_every_recorded_release() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["version"] == __version__
    recorded = releases()
    assert recorded and all(r.version != __version__ for r in recorded)
    assert previous_release() == recorded[-1]


def test_the_recorded_commit_is_that_release(tmp_path: Path) -> None:
    """The exported tree of the recorded commit says the recorded version (a CI clone has the
    whole history; without it this fails with ReleaseMissing's message, never skips)."""
    release = previous_release()
    tree = export(release, tmp_path / "old", paths=("pyproject.toml", "kboot/cli/main.py"))
    project = tomllib.loads((tree / "pyproject.toml").read_text())["project"]
    assert project["version"] == release.version
    assert (tree / "kboot" / "cli" / "main.py").is_file()


def test_a_release_missing_from_the_history_is_an_error_naming_it(tmp_path: Path) -> None:
    ghost = Release("0.0.1", "0" * 40, "v0.0.1")
    with pytest.raises(ReleaseMissing, match=r"kboot 0\.0\.1 \(commit 0{40}, tag v0\.0\.1\) "
                                             r"is not in the history.*git fetch --unshallow"):
        resolve(ghost)
    with pytest.raises(ReleaseMissing):
        export(ghost, tmp_path / "ghost")
    assert not (tmp_path / "ghost").exists()


def test_no_older_release_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "releases.toml"
    path.write_text('[[release]]\nversion = "0.2.0"\ncommit = "abc"\n')
    with pytest.raises(ReleaseMissing, match=r"no release older than the current version 0\.2\.0"):
        previous_release("0.2.0", path)
    assert previous_release("0.10.0", path).version == "0.2.0"  # numeric, not text, order
