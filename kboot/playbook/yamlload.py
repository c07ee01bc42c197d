"""YAML loading that remembers where each mapping and key came from, for file:line errors.

Mappings load as :class:`LineDict` (a ``dict`` with ``line`` and per-key ``key_lines``), lists
as :class:`LineList` (a ``list`` with ``line``). Everything else is plain Python data, so the
rest of kboot treats the result as ordinary YAML.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from kboot.errors import Location, PlaybookError


class LineDict(dict[str, Any]):
    """A mapping that knows its own line and each key's line (1-based)."""

    line: int = 0
    key_lines: dict[str, int]

    def line_of(self, key: str) -> int:
        return self.key_lines.get(key, self.line)


class LineList(list[Any]):
    line: int = 0


class _Loader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    result = LineDict()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str | int | float | bool) and key is not None:
            raise yaml.constructor.ConstructorError(
                None, None, f"unhashable key {key!r}", key_node.start_mark)
        name = str(key) if not isinstance(key, str) else key
        result[name] = loader.construct_object(value_node, deep=True)
        result.key_lines[name] = key_node.start_mark.line + 1
    return result


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> LineList:
    result = LineList(loader.construct_object(child, deep=True) for child in node.value)
    result.line = node.start_mark.line + 1
    return result


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def load_yaml_text(text: str, source: str) -> Any:
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark is not None else None
        raise PlaybookError(f"invalid YAML: {exc.problem}",
                            location=Location(source, line)) from exc
    except yaml.YAMLError as exc:
        raise PlaybookError(f"invalid YAML: {exc}", location=Location(source)) from exc


def load_yaml(path: str | Path) -> Any:
    """Load a YAML file with line information (errors name the file and line)."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise PlaybookError(f"cannot read: {exc.strerror}", location=Location(str(path))) from exc
    return load_yaml_text(text, str(path))


def line_of(node: Any, key: str | None = None) -> int | None:
    """The line of ``node`` (or of ``key`` inside it), if it was loaded by this module."""
    if isinstance(node, LineDict):
        return node.line_of(key) if key is not None else node.line
    if isinstance(node, LineList):
        return node.line
    return None
