"""Request bodies decode to JSON values only (YAML-only types, NaN/Infinity/1e400)."""

from __future__ import annotations

from typing import Any

import pytest

from kboot.controlplane.apiserver.codec import decode
from kboot.controlplane.apiserver.errors import ApiError

YAML_CASES: list[tuple[str, Any]] = [
    ("a: 2024-01-01\n", {"a": "2024-01-01"}),
    ("a: 2001-12-14t21:59:43.10-05:00\n", {"a": "2001-12-14t21:59:43.10-05:00"}),
    ("1: x\ntrue: y\nnull: z\n1.5: w\n", {"1": "x", "true": "y", "null": "z", "1.5": "w"}),
    ("2024-01-01: x\n", {"2024-01-01": "x"}),
    ("a: !!binary aGVsbG8=\n", {"a": "aGVsbG8="}),
    ("a: !!set {x, 1}\n", {"a": {"x": None, "1": None}}),
    ("a: 1.5\n", {"a": 1.5}),
]


@pytest.mark.parametrize(("text", "value"), YAML_CASES)
def test_yaml_gives_json_values(text: str, value: Any) -> None:
    assert decode(text.encode(), "application/yaml").value == value


@pytest.mark.parametrize(("raw", "media"), [
    (b'{"a": 1e400}', "application/json"), (b'{"a": NaN}', "application/json"),
    (b'{"a": -Infinity}', "application/merge-patch+json"), (b"a: .inf\n", "application/yaml"),
    (b"a: .nan\n", "application/apply-patch+yaml"), (b"[1, 2]: x\n", "application/yaml"),
])
def test_values_json_cannot_hold_are_400(raw: bytes, media: str) -> None:
    with pytest.raises(ApiError) as info:
        decode(raw, media)
    assert info.value.code == 400 and info.value.reason == "BadRequest"
