"""Kubernetes manifests and objects for ``kboot get|apply|delete`` (users without kubectl).

- :func:`load_manifests`: multi-document YAML (files, directories, stdin) into objects, each
  remembering its file and line, with errors that name both;
- :func:`resolve_kind`: what a user types (``po``, ``pods``, ``Deployment``, ``deploy.apps``)
  to a served kind;
- :func:`jsonpath`: the useful subset of kubectl's ``-o jsonpath=`` (``{.a.b}``,
  ``{.items[*].metadata.name}``, ``{.items[0]}``, literal text and ``{"\\n"}``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import yaml

from kboot.controlplane.api.registry import KINDS, ResourceKind, for_api_version
from kboot.errors import Location, UserError

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")


@dataclass(frozen=True)
class Manifest:
    obj: dict[str, Any]
    kind: ResourceKind
    source: str
    line: int

    @property
    def name(self) -> str:
        return str(self.obj["metadata"]["name"])

    @property
    def namespace(self) -> str | None:
        ns = self.obj["metadata"].get("namespace")
        return str(ns) if ns else None

    @property
    def where(self) -> str:
        return f"{self.source}:{self.line}"


def _documents(text: str, source: str) -> Iterator[tuple[Any, int]]:
    try:
        for node in yaml.compose_all(text, Loader=yaml.SafeLoader):
            if node is None:
                continue
            loader = yaml.SafeLoader("")
            yield loader.construct_document(node), node.start_mark.line + 1
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise UserError(f"invalid YAML: {exc.problem or exc.context}",
                        location=Location(source, mark.line + 1 if mark else None)) from None
    except yaml.YAMLError as exc:
        raise UserError(f"invalid YAML: {exc}", location=Location(source)) from None


def _manifest(doc: Any, source: str, line: int) -> Manifest:
    loc = Location(source, line)
    if not isinstance(doc, dict):
        raise UserError("a manifest must be a mapping with apiVersion, kind and metadata",
                        location=loc)
    for key in ("apiVersion", "kind"):
        if not isinstance(doc.get(key), str) or not doc[key]:
            raise UserError(f"missing {key}", location=loc, field=key)
    meta = doc.get("metadata")
    if not isinstance(meta, dict) or not meta.get("name"):
        raise UserError("missing metadata.name", location=loc, field="metadata.name")
    kind = for_api_version(doc["apiVersion"], doc["kind"])
    if kind is None or kind.version != doc["apiVersion"].rpartition("/")[2]:
        raise UserError(f"unknown kind {doc['kind']} in {doc['apiVersion']} "
                        "(see `kubectl api-resources`)", location=loc, field="kind")
    return Manifest(doc, kind, source, line)


def parse_manifests(text: str, source: str) -> list[Manifest]:
    """Every object in a YAML/JSON text; ``kind: List`` documents are expanded."""
    out: list[Manifest] = []
    for doc, line in _documents(text, source):
        if isinstance(doc, dict) and doc.get("kind") == "List" and "items" in doc:
            out += [_manifest(item, source, line) for item in doc.get("items") or []]
        else:
            out.append(_manifest(doc, source, line))
    return out


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.suffix in MANIFEST_SUFFIXES and p.is_file())
    if not path.exists():
        raise UserError(f"{path}: no such file or directory")
    return [path]


def load_manifests(sources: list[str], *, stdin: TextIO | None = None) -> list[Manifest]:
    """Objects from files, directories (their ``*.yaml|yml|json``, sorted) and ``-`` (stdin)."""
    out: list[Manifest] = []
    for source in sources:
        if source == "-":
            if stdin is None:
                raise UserError("-f -: no standard input")
            out += parse_manifests(stdin.read(), "<stdin>")
            continue
        for path in _files(Path(source)):
            try:
                text = path.read_text()
            except (OSError, UnicodeDecodeError) as exc:
                raise UserError(f"cannot read: {exc}", location=Location(str(path))) from None
            out += parse_manifests(text, str(path))
    if not out:
        raise UserError(f"no objects found in {', '.join(sources)}")
    return out


def resolve_kind(name: str) -> ResourceKind:
    """A kind from a plural, singular, short name or Kind, optionally ``.group``-qualified."""
    wanted, _, group = name.lower().partition(".")
    for kind in KINDS:
        names = {kind.plural, kind.kind.lower(), *kind.short_names}
        if wanted in names and (not group or kind.group == group
                                or kind.group.startswith(group + ".")):
            return kind
    raise UserError(f'the server doesn\'t have a resource type "{name}"')


# -- jsonpath ---------------------------------------------------------------------------------

_TOKEN = re.compile(r"\{((?:[^{}\"]|\"(?:[^\"\\]|\\.)*\")*)\}")
_STEP = re.compile(r"\.((?:[^.\[\\]|\\.)+)|\[(\*|-?\d+|'[^']*'|\"[^\"]*\")\]|\.\*")


def _steps(expr: str) -> list[str | int | None]:
    """Path steps: a key, an index, or None for a wildcard."""
    expr = expr.strip()
    if expr.startswith("$"):
        expr = expr[1:]
    steps: list[str | int | None] = []
    pos = 0
    while pos < len(expr):
        m = _STEP.match(expr, pos)
        if m is None:
            raise UserError(f"jsonpath: cannot parse {expr[pos:]!r} in {{{expr}}} "
                            "(supported: .key, [N], [*])")
        key, index = m.group(1), m.group(2)
        if key is not None:
            steps.append(key.replace("\\.", "."))
        elif index is None or index == "*":
            steps.append(None)
        elif index[0] in "'\"":
            steps.append(index[1:-1])
        else:
            steps.append(int(index))
        pos = m.end()
    return steps


def _walk(values: list[Any], step: str | int | None) -> list[Any]:
    out: list[Any] = []
    for v in values:
        if step is None:
            out += list(v.values()) if isinstance(v, dict) else list(v) if isinstance(
                v, list) else []
        elif isinstance(step, int):
            if isinstance(v, list) and -len(v) <= step < len(v):
                out.append(v[step])
        elif isinstance(v, dict) and step in v:
            out.append(v[step])
    return out


def _text(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value)
    if isinstance(value, bool):
        return str(value).lower()
    return "" if value is None else str(value)


def jsonpath(template: str, data: Any) -> str:
    """Render a kubectl-style jsonpath template against ``data``."""
    out: list[str] = []
    pos = 0
    template = template.strip()
    if "{" not in template:
        template = "{" + template + "}"
    for m in _TOKEN.finditer(template):
        out.append(template[pos:m.start()])
        expr = m.group(1).strip()
        if expr.startswith('"') and expr.endswith('"'):
            out.append(json.loads(expr))
        else:
            values = [data]
            for step in _steps(expr):
                values = _walk(values, step)
            out.append(" ".join(_text(v) for v in values))
        pos = m.end()
    out.append(template[pos:])
    return "".join(out)
