"""Selectors built from names escape them (upstream's ``OneTermEqualSelector``): whatever the
name holds, the parsed selector requires exactly that name and nothing else."""

from __future__ import annotations

import pytest

from kboot.controlplane.api.registry import lookup
from kboot.controlplane.api.selectors import FieldRequirement, field_equals, parse_field_selector


@pytest.mark.parametrize("value", ["w1", "a,b", "x\\", "a=b", "q!=z", "\\,metadata.name!=x",
                                   "trailing\\\\", ""])
def test_field_equals_round_trips(value: str) -> None:
    pods = lookup("", "pods")
    assert pods is not None
    parsed = parse_field_selector(pods, field_equals("spec.nodeName", value))
    assert parsed.requirements == (FieldRequirement("spec.nodeName", "=", value),)
