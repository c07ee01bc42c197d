"""Decode bounds and YAML → JSON conversion, as data (the server-level checks are in
tests/integration/apiserver/test_decode_limits.py)."""

from __future__ import annotations

import json

import pytest

from kboot.controlplane.apiserver import codec, yamlbody
from kboot.controlplane.apiserver.decodelimits import (
    MAX_DEPTH,
    DecodeLimitError,
    allowed_alias_ratio,
    check_depth,
)
from kboot.controlplane.apiserver.errors import StatusError


@pytest.mark.parametrize("decoded,ratio", [
    (1_000, 0.99), (400_000, 0.99), (2_200_000, 0.545), (4_000_000, 0.10), (9_000_000, 0.10)])
def test_alias_ratio_is_go_yamls(decoded: int, ratio: float) -> None:
    assert allowed_alias_ratio(decoded) == pytest.approx(ratio)


def _bomb(levels: int, fan: int) -> bytes:
    lines = ["a0: &a0 [" + ", ".join(["x"] * fan) + "]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * fan) + "]" for i in range(1, levels)]
    return "\n".join(lines).encode()


def test_bombs_fail_and_modest_aliasing_passes() -> None:
    with pytest.raises(DecodeLimitError, match="excessive aliasing"):
        yamlbody.load(_bomb(9, 10))
    value, _ = yamlbody.load(_bomb(3, 5))  # 125 leaves, under go-yaml's 1,000-node floor
    assert len(json.dumps(value["a2"])) > 100
    assert value["a1"][0] is not value["a1"][1]  # copied apart, not shared


@pytest.mark.parametrize("depth,ok", [(MAX_DEPTH, True), (MAX_DEPTH + 1, False)])
def test_depth_limit_is_exact_for_json_and_yaml(depth: int, ok: bool) -> None:
    nested: object = []
    for _ in range(depth - 1):
        nested = [nested]
    if ok:
        check_depth(nested)
    else:
        with pytest.raises(DecodeLimitError):
            check_depth(nested)
    text = ("[" * depth + "]" * depth).encode()
    for media in ("application/json", "application/yaml"):
        if ok:
            assert codec.decode(text, media).value == nested
        else:
            with pytest.raises(StatusError, match="nested too deeply"):
                codec.decode(text, media)
    block = "".join("  " * i + "- \n" for i in range(depth - 1)) + "  " * (depth - 1) + "- 1\n"
    if ok:
        yamlbody.load(block.encode())
    else:
        with pytest.raises(DecodeLimitError):
            yamlbody.load(block.encode())


def test_an_alias_cannot_build_depth_the_text_does_not_show() -> None:
    lines = ["a0: &a0 [x]"] + [f"a{i}: &a{i} [[[[[[[[[[*a{i - 1}]]]]]]]]]]" for i in range(1, 12)]
    with pytest.raises(DecodeLimitError, match="nested too deeply"):
        yamlbody.load("\n".join(lines).encode())


@pytest.mark.parametrize("text,expected", [
    ("{1: a, -2: b, true: c, false: d, 1.5: e, 0.0001: f, 1e-05: g}",
     {"1": "a", "-2": "b", "true": "c", "false": "d", "1.5": "e", "0.0001": "f", "1e-05": "g"}),
    ("{1000000.0: a, 123456.0: b, 0.1: c}", {"1e+06": "a", "123456": "b", "0.1": "c"}),
    ("{name: 2024-01-01, t: 2001-12-14 21:59:43.10 -5}",
     {"name": "2024-01-01", "t": "2001-12-14 21:59:43.10 -5"}),
    ('{"a": NaN, "b": 1e3}', {"a": "NaN", "b": 1000.0}),  # JSON-looking YAML: YAML decides
])
def test_yaml_values_are_what_sigs_k8s_io_yaml_gives(text: str, expected: object) -> None:
    assert codec.decode(text.encode(), "application/yaml").value == expected


@pytest.mark.parametrize("text,words", [
    ("{null: a}", "unsupported map key of type null"),
    ("{[a]: b}", "unsupported map key of type list"),
    ("{a: .nan}", "cannot be represented in JSON"),
    ("{a: !!set {b}}", "not supported"),
    ("&a [*a]", "recursive alias"),
    ("[1]\n---\n[2]\n", "single document"),
])
def test_yaml_without_json_form_is_a_400(text: str, words: str) -> None:
    with pytest.raises(StatusError, match=words) as err:
        codec.decode(text.encode(), "application/yaml")
    assert err.value.code == 400


def test_worker_outcome_carries_value_or_message() -> None:
    ok = yamlbody.load_as_json(b"a: {1: x}\na: 2\n")
    assert json.loads(ok.json) == {"a": 2} and ok.duplicates == ["a"] and not ok.error
    bad = yamlbody.load_as_json(_bomb(9, 10))
    assert bad.error == "document contains excessive aliasing" and not bad.json


def test_status_body_fields_in_upstreams_order() -> None:
    body = codec.status_response(StatusError(404, "NotFound", "x", details={"name": "n"})).body
    assert isinstance(body, bytes) and body.endswith(b"}\n")
    assert list(json.loads(body)) == ["kind", "apiVersion", "metadata", "status", "message",
                                      "reason", "details", "code"]


def test_few_aliases_of_a_long_string_are_a_text_bomb() -> None:
    text = "x" * (1024 * 1024)
    with pytest.raises(DecodeLimitError, match="characters of text"):
        yamlbody.load(("a: &s " + text + "\nb: [" + ", ".join(["*s"] * 10) + "]\n").encode())
    value, _ = yamlbody.load(("a: &s " + text + "\nb: [*s, *s]\n").encode())  # honest reuse
    assert value["b"] == [text, text]
