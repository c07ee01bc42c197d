"""Resource quantities: parsing, rendering, and their use in validation."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import pytest

from kboot.controlplane.api.defaults import apply_defaults
from kboot.controlplane.api.quantities import format_quantity, is_quantity, parse_quantity
from kboot.controlplane.api.validation import validate


@pytest.mark.parametrize(
    ("text", "value"),
    [("1", Fraction(1)), ("100m", Fraction(1, 10)), ("1.5", Fraction(3, 2)),
     ("1Gi", Fraction(2**30)), ("512Mi", Fraction(512 * 2**20)), ("2k", Fraction(2000)),
     ("1e3", Fraction(1000)), ("1E-3", Fraction(1, 1000)), ("250u", Fraction(1, 4000)),
     ("+3", Fraction(3)), ("-1", Fraction(-1)), (2, Fraction(2)), (0.5, Fraction(1, 2)),
     ("0.1Ki", Fraction(1024, 10)), (" 5 ", Fraction(5))],
)
def test_parse(text: Any, value: Fraction) -> None:
    assert parse_quantity(text) == value


@pytest.mark.parametrize("text", ["", "abc", "1Gb", "1..2", "1.2.3m", ".", "m", "1 Gi", "1Kii"])
def test_parse_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_quantity(text)
    assert not is_quantity(text)


def test_bool_and_none_are_not_quantities() -> None:
    assert not is_quantity(True)
    assert not is_quantity(None)


@pytest.mark.parametrize(
    ("value", "binary", "text"),
    [(Fraction(2), False, "2"), (Fraction(3, 2), False, "1500m"), (Fraction(2**30), True, "1Gi"),
     (Fraction(1, 4000), False, "250u"), (Fraction(3 * 2**20), True, "3Mi"),
     (Fraction(1000), True, "1000")],
)
def test_format(value: Fraction, binary: bool, text: str) -> None:
    assert format_quantity(value, binary=binary) == text
    assert parse_quantity(text) == value


def _pod(resources: dict[str, Any]) -> dict[str, Any]:
    return apply_defaults("Pod", {"metadata": {"name": "p", "namespace": "d"}, "spec": {
        "containers": [{"name": "c", "image": "x", "resources": resources}]}})


@pytest.mark.parametrize(
    ("resources", "errors"),
    [({"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"cpu": 1, "memory": "1Gi"}},
      []),
     ({"requests": {"cpu": "2"}, "limits": {"cpu": "1"}},
      ['spec.containers[0].resources.requests: Invalid value: "2": must be less than or equal '
       "to cpu limit of 1"]),
     ({"limits": {"memory": "-1"}},
      ['spec.containers[0].resources.limits[memory]: Invalid value: "-1": must be greater than '
       "or equal to 0"]),
     ({"limits": {"memory": "lots"}},
      ['spec.containers[0].resources.limits[memory]: Invalid value: "lots": quantities must '
       "match the regular expression"])],
)
def test_resource_validation(resources: dict[str, Any], errors: list[str]) -> None:
    got = [str(e) for e in validate("Pod", _pod(resources))]
    assert len(got) == len(errors), got
    for have, want in zip(got, errors, strict=True):
        assert have.startswith(want)
