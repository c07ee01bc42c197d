"""Manifest loading with file:line errors, kind names, and the jsonpath subset."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from kboot.cluster.manifests import jsonpath, load_manifests, parse_manifests, resolve_kind
from kboot.errors import UserError

TWO = """\
apiVersion: v1
kind: Namespace
metadata: {name: demo}
---
# a comment
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: demo
"""


def test_documents_keep_their_lines() -> None:
    ms = parse_manifests(TWO, "app.yaml")
    assert [(m.kind.kind, m.name, m.line) for m in ms] == [("Namespace", "demo", 1),
                                                           ("Deployment", "web", 6)]
    assert ms[1].namespace == "demo" and ms[1].where == "app.yaml:6"


@pytest.mark.parametrize(("text", "line", "words"), [
    ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a\n  data: [\n", 4, "invalid YAML"),
    ("apiVersion: v1\nkind: Foo\nmetadata: {name: a}\n", 1, "unknown kind Foo"),
    ("a: 1\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {}\n", 1, "missing apiVersion"),
    ("apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n---\nkind: Pod\napiVersion: v1\n"
     "metadata: {}\n", 5, "metadata.name"),
    ("- 1\n- 2\n", 1, "mapping"),
])
def test_errors_name_file_and_line(text: str, line: int, words: str) -> None:
    with pytest.raises(UserError) as exc:
        parse_manifests(text, "bad.yaml")
    assert f"bad.yaml:{line}" in str(exc.value) and words in str(exc.value)


def test_directories_stdin_and_lists(tmp_path: Path) -> None:
    (tmp_path / "b.yaml").write_text(TWO)
    (tmp_path / "a.yml").write_text("apiVersion: v1\nkind: List\nitems:\n"
                                    "- {apiVersion: v1, kind: ConfigMap, metadata: {name: c}}\n")
    (tmp_path / "notes.txt").write_text("not a manifest")
    names = [m.name for m in load_manifests([str(tmp_path)])]
    assert names == ["c", "demo", "web"]
    piped = load_manifests(["-"], stdin=io.StringIO(TWO))
    assert piped[0].source == "<stdin>"
    with pytest.raises(UserError, match="no such file"):
        load_manifests([str(tmp_path / "missing.yaml")])


@pytest.mark.parametrize(("name", "kind"), [("po", "Pod"), ("pods", "Pod"), ("Pod", "Pod"),
                                            ("deploy", "Deployment"),
                                            ("deployments.apps", "Deployment"),
                                            ("svc", "Service"), ("no", "Node")])
def test_resolve_kind(name: str, kind: str) -> None:
    assert resolve_kind(name).kind == kind


def test_resolve_unknown_kind() -> None:
    with pytest.raises(UserError, match="foos"):
        resolve_kind("foos")


DATA = {"kind": "List", "items": [
    {"metadata": {"name": "a", "labels": {"app.kubernetes.io/name": "x"}},
     "status": {"podIP": "10.0.0.1", "ready": True}},
    {"metadata": {"name": "b"}, "status": {"podIP": "10.0.0.2"}},
]}


@pytest.mark.parametrize(("template", "out"), [
    ("{.kind}", "List"),
    ("{.items[*].metadata.name}", "a b"),
    ("{.items[1].status.podIP}", "10.0.0.2"),
    ("{.items[-1].metadata.name}", "b"),
    ("{.items[0].status.ready}", "true"),
    ('{.items[0].metadata.labels.app\\.kubernetes\\.io/name}', "x"),
    ("{.items[0].metadata.labels}", '{"app.kubernetes.io/name": "x"}'),
    ('names: {.items[*].metadata.name}{"\\n"}', "names: a b\n"),
    (".kind", "List"),
    ("{.missing}", ""),
    ("{$.items[0].metadata.name}", "a"),
])
def test_jsonpath(template: str, out: str) -> None:
    assert jsonpath(template, DATA) == out


def test_jsonpath_rejects_what_it_does_not_support() -> None:
    with pytest.raises(UserError, match="jsonpath"):
        jsonpath("{.items[?(@.x)]}", DATA)
