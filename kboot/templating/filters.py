"""Ansible-compatible jinja2 filters and tests, so playbooks written for Ansible render unchanged.

Only pure, data-shaping filters live here; nothing that reads files or the network.
"""

from __future__ import annotations

import base64
import hashlib
import json
import ntpath
import os.path
import re
import shlex
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import yaml
from jinja2 import Undefined
from jinja2.exceptions import FilterArgumentError


def _default(value: Any, default_value: Any = "", boolean: bool = False) -> Any:
    if isinstance(value, Undefined) or (boolean and not value):
        return default_value
    return value


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value.strip().lower() in ("yes", "on", "1", "true", "y", "t")
    if isinstance(value, int | float):
        return value == 1
    return False


def _to_yaml(value: Any, indent: int = 2) -> str:
    return yaml.safe_dump(value, default_flow_style=False, indent=indent, sort_keys=False)


def _to_nice_json(value: Any, indent: int = 4) -> str:
    return json.dumps(value, indent=indent, sort_keys=True)


def _b64encode(value: Any, encoding: str = "utf-8") -> str:
    data = value if isinstance(value, bytes) else str(value).encode(encoding)
    return base64.b64encode(data).decode("ascii")


def _b64decode(value: str, encoding: str = "utf-8") -> str:
    return base64.b64decode(value).decode(encoding)


def _regex_replace(value: Any, pattern: str, replacement: str = "",
                   ignorecase: bool = False) -> str:
    flags = re.IGNORECASE if ignorecase else 0
    return re.sub(pattern, replacement, str(value), flags=flags)


def _regex_search(value: Any, pattern: str, ignorecase: bool = False) -> str | None:
    match = re.search(pattern, str(value), re.IGNORECASE if ignorecase else 0)
    return match.group(0) if match else None


def _ternary(value: Any, true_val: Any, false_val: Any, none_val: Any = None) -> Any:
    if value is None and none_val is not None:
        return none_val
    return true_val if value else false_val


def _combine(*dicts: Mapping[str, Any], recursive: bool = False) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for d in dicts:
        for key, val in d.items():
            if recursive and isinstance(val, Mapping) and isinstance(result.get(key), Mapping):
                result[key] = _combine(result[key], val, recursive=True)
            else:
                result[key] = val
    return result


def _dict2items(value: Mapping[str, Any], key_name: str = "key", value_name: str = "value") -> list[
    dict[str, Any]
]:
    return [{key_name: k, value_name: v} for k, v in value.items()]


def _items2dict(value: Iterable[Mapping[str, Any]], key_name: str = "key",
                value_name: str = "value") -> dict[Any, Any]:
    return {item[key_name]: item[value_name] for item in value}


def _hash(value: Any, algorithm: str = "sha1") -> str:
    return hashlib.new(algorithm, str(value).encode()).hexdigest()


def _mandatory(value: Any, msg: str | None = None) -> Any:
    if isinstance(value, Undefined):
        raise FilterArgumentError(msg or "mandatory variable is not defined")
    return value


def _flatten(value: Iterable[Any], levels: int | None = None) -> list[Any]:
    out: list[Any] = []
    for item in value:
        if isinstance(item, list | tuple) and (levels is None or levels > 0):
            out.extend(_flatten(item, None if levels is None else levels - 1))
        else:
            out.append(item)
    return out


def _extract(item: Any, container: Any, morekeys: Any = None) -> Any:
    value = container[item]
    keys = [] if morekeys is None else morekeys if isinstance(morekeys, list) else [morekeys]
    for key in keys:
        value = value[key]
    return value


def _unique_list(values: Iterable[Any]) -> list[Any]:
    out: list[Any] = []
    for value in values:
        if value not in out:
            out.append(value)
    return out


FILTERS: dict[str, Callable[..., Any]] = {
    "extract": _extract,
    "union": lambda a, b: _unique_list([*a, *b]),
    "intersect": lambda a, b: _unique_list([x for x in a if x in b]),
    "difference": lambda a, b: _unique_list([x for x in a if x not in b]),
    "symmetric_difference": lambda a, b: _unique_list(
        [x for x in a if x not in b] + [x for x in b if x not in a]),
    "zip": lambda *lists: [list(t) for t in zip(*lists, strict=False)],
    "regex_findall": lambda v, p: re.findall(p, str(v)),
    "default": _default,
    "d": _default,
    "bool": _to_bool,
    "to_json": json.dumps,
    "to_nice_json": _to_nice_json,
    "from_json": json.loads,
    "to_yaml": _to_yaml,
    "to_nice_yaml": _to_yaml,
    "from_yaml": yaml.safe_load,
    "b64encode": _b64encode,
    "b64decode": _b64decode,
    "regex_replace": _regex_replace,
    "regex_search": _regex_search,
    "ternary": _ternary,
    "combine": _combine,
    "dict2items": _dict2items,
    "items2dict": _items2dict,
    "hash": _hash,
    "checksum": lambda v: _hash(v, "sha1"),
    "mandatory": _mandatory,
    "flatten": _flatten,
    "basename": os.path.basename,
    "dirname": os.path.dirname,
    "win_basename": ntpath.basename,
    "quote": lambda v: shlex.quote(str(v)),
    "split": lambda v, sep=None, maxsplit=-1: str(v).split(sep, maxsplit),
    "type_debug": lambda v: type(v).__name__,
}


def _result_flag(name: str) -> Callable[[Any], bool]:
    def test(result: Any) -> bool:
        return bool(isinstance(result, Mapping) and result.get(name))

    return test


def _succeeded(result: Any) -> bool:
    return isinstance(result, Mapping) and not result.get("failed")


def _version(value: Any, other: Any, operator: str = "eq") -> bool:
    def parts(v: Any) -> list[Any]:
        return [int(p) if p.isdigit() else p for p in re.split(r"[.\-+~]", str(v))]

    a, b = parts(value), parts(other)
    ops: dict[str, Callable[[Any, Any], bool]] = {
        "eq": lambda x, y: x == y, "==": lambda x, y: x == y,
        "ne": lambda x, y: x != y, "!=": lambda x, y: x != y,
        "lt": lambda x, y: x < y, "<": lambda x, y: x < y,
        "le": lambda x, y: x <= y, "<=": lambda x, y: x <= y,
        "gt": lambda x, y: x > y, ">": lambda x, y: x > y,
        "ge": lambda x, y: x >= y, ">=": lambda x, y: x >= y,
    }
    return ops[operator](a, b)


TESTS: dict[str, Callable[..., bool]] = {
    "failed": _result_flag("failed"),
    "changed": _result_flag("changed"),
    "skipped": _result_flag("skipped"),
    "succeeded": _succeeded,
    "success": _succeeded,
    "match": lambda v, p: re.match(p, str(v)) is not None,
    "search": lambda v, p: re.search(p, str(v)) is not None,
    "regex": lambda v, p: re.search(p, str(v)) is not None,
    "version": _version,
    "version_compare": _version,
    "truthy": lambda v: bool(v),
    "falsy": lambda v: not v,
}
