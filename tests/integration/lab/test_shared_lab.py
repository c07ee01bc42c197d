"""The ``lab`` fixture's 3 + 2 lab, checked in the group of modules that use it (after them:
tests/fixtures/lab.py orders the session by lab shape)."""

from __future__ import annotations

import pytest
import yaml

from kboot.lab import Lab
from tests.fixtures.lab import Shape
from tests.integration.lab.helpers import ssh

pytestmark = pytest.mark.lab
LABS = (Shape(3, 2),)


def test_shared_lab_fixture_has_the_default_topology(lab: Lab) -> None:
    """The 3 + 2 lab that ``kboot up`` end-to-end tests use."""
    doc = yaml.safe_load(lab.inventory_path.read_text())
    assert len(doc["groups"]["control_plane"]["hosts"]) == 3
    assert len(doc["groups"]["workers"]["hosts"]) == 2
    assert [s.state for s in lab.status()] == ["running"] * 5
    hostnames = {ssh(lab, n.name, "hostname")[1].strip() for n in lab.nodes}
    assert hostnames == {n.name for n in lab.nodes}
