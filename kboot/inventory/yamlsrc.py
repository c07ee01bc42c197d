"""YAML with line numbers: mappings and lists remember where each key and item was written, and
duplicate keys (which PyYAML silently overwrites) are reported instead of lost."""

from __future__ import annotations

from typing import Any

import yaml

from kboot.inventory.problems import Problems


class LMap(dict[str, Any]):
    """A mapping from YAML; ``line`` is where it starts, ``lines[key]`` where each key is."""

    def __init__(self, line: int) -> None:
        super().__init__()
        self.line = line
        self.lines: dict[str, int] = {}

    def line_of(self, key: str) -> int:
        return self.lines.get(key, self.line)


class LList(list[Any]):
    """A sequence from YAML; ``lines[i]`` is where item ``i`` is."""

    def __init__(self, line: int) -> None:
        super().__init__()
        self.line = line
        self.lines: list[int] = []


def line_of(value: Any, default: int | None = None) -> int | None:
    return getattr(value, "line", default)


class _Converter:
    def __init__(self, problems: Problems) -> None:
        self.problems = problems
        self.loader = yaml.SafeLoader("")

    def convert(self, node: yaml.Node, path: str = "") -> Any:
        line = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            self.loader.flatten_mapping(node)
            result = LMap(line)
            for key_node, value_node in node.value:
                key = self.convert(key_node, path)
                key_line = key_node.start_mark.line + 1
                if isinstance(key, LMap | LList):
                    self.problems.add(key_line, None, "expected a scalar mapping key")
                    continue
                key = "" if key is None else str(key)
                if key in result:
                    field = f"{path}.{key}" if path else key
                    self.problems.add(key_line, field, f"duplicate key {key!r} (first defined "
                                      f"at line {result.lines[key]})")
                    continue
                result[key] = self.convert(value_node, f"{path}.{key}" if path else key)
                result.lines[key] = key_line
            return result
        if isinstance(node, yaml.SequenceNode):
            items = LList(line)
            for i, item in enumerate(node.value):
                items.append(self.convert(item, f"{path}[{i}]"))
                items.lines.append(item.start_mark.line + 1)
            return items
        return self.loader.construct_object(node, deep=True)


def load_yaml(text: str, problems: Problems) -> Any:
    """The document's value (LMap/LList/scalars), or None after recording a syntax problem."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problems.add(line, None, f"invalid YAML: {exc.problem or exc}")
        return None
    except yaml.YAMLError as exc:
        problems.add(None, None, f"invalid YAML: {exc}")
        return None
    if node is None:
        return None
    return _Converter(problems).convert(node)
