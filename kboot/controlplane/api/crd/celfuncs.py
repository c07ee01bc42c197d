"""The Kubernetes CEL extension functions kboot provides on top of the CEL library's standard
ones, and the list of everything a rule may call.

Kubernetes adds libraries to CEL for CRD rules (``k8s.io/apiserver/pkg/cel/library`` and
cel-go's ``ext`` strings/lists).  kboot implements the commonly used part as plain Python
functions registered with the evaluator (the library dispatches receiver calls such as
``self.lowerAscii()`` to them with the receiver first): string helpers, list helpers and
regex ``find``/``findAll``.  A rule calling anything else (``quantity``, ``url``, ``ip``,
``cidr``, ``semver``, ``format``, optionals…) is refused when the CRD is written, naming the
function — never silently skipped.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from typing import Any

from kboot.controlplane.api.crd.regex import compile_re2
from kboot.controlplane.api.errors import ApiRuleError


class CelFunctionError(ApiRuleError):
    """A Kubernetes extension function was called with arguments it does not accept."""


def _str(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise CelFunctionError(f"no such overload: {name}({type(value).__name__})")
    return value


def char_at(s: Any, i: int) -> str:
    text = _str(s, "charAt")
    if i < 0 or i > len(text):
        raise CelFunctionError(f"index out of range: {i}")
    return text[i] if i < len(text) else ""


def index_of(s: Any, sub: Any, offset: int = 0) -> int:
    if isinstance(s, list):
        return next((i for i, v in enumerate(s) if v == sub), -1)
    text = _str(s, "indexOf")
    if offset < 0 or offset > len(text):
        raise CelFunctionError(f"index out of range: {offset}")
    return text.find(_str(sub, "indexOf"), offset)


def last_index_of(s: Any, sub: Any, offset: int | None = None) -> int:
    if isinstance(s, list):
        return next((i for i in range(len(s) - 1, -1, -1) if s[i] == sub), -1)
    text = _str(s, "lastIndexOf")
    end = len(text) if offset is None else offset + len(_str(sub, "lastIndexOf"))
    return text.rfind(_str(sub, "lastIndexOf"), 0, end)


def substring(s: Any, start: int, end: int | None = None) -> str:
    text = _str(s, "substring")
    stop = len(text) if end is None else end
    if start < 0 or stop > len(text) or start > stop:
        raise CelFunctionError(f"index out of range: {start}, {stop}")
    return text[start:stop]


def split(s: Any, sep: str, limit: int = -1) -> list[str]:
    text = _str(s, "split")
    if limit == 0:
        return []
    if limit < 0:
        return text.split(sep) if sep else list(text)
    return text.split(sep, limit - 1) if sep else list(text[:limit - 1]) + (
        [text[limit - 1:]] if len(text) >= limit else [])


def replace(s: Any, old: str, new: str, limit: int = -1) -> str:
    return _str(s, "replace").replace(old, new, limit)


def join(items: Any, sep: str = "") -> str:
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise CelFunctionError("no such overload: join")
    return sep.join(items)


def is_sorted(items: Any) -> bool:
    if not isinstance(items, list):
        raise CelFunctionError("no such overload: isSorted")
    return all(a <= b for a, b in itertools.pairwise(items))


def _numbers(items: Any, name: str) -> list[Any]:
    if not isinstance(items, list):
        raise CelFunctionError(f"no such overload: {name}")
    return items


def list_sum(items: Any) -> Any:
    return sum(_numbers(items, "sum"))


def list_min(items: Any) -> Any:
    values = _numbers(items, "min")
    if not values:
        raise CelFunctionError("min called on empty list")
    return min(values)


def list_max(items: Any) -> Any:
    values = _numbers(items, "max")
    if not values:
        raise CelFunctionError("max called on empty list")
    return max(values)


def _regex(pattern: str) -> re.Pattern[str]:
    compiled = compile_re2(pattern)
    if compiled is None:
        raise CelFunctionError(f"invalid regular expression: {pattern!r}")
    return compiled


def find(s: Any, pattern: str) -> str:
    found = _regex(pattern).search(_str(s, "find"))
    return found.group(0) if found else ""


def find_all(s: Any, pattern: str, limit: int = -1) -> list[str]:
    found = [m.group(0) for m in _regex(pattern).finditer(_str(s, "findAll"))]
    return found if limit < 0 else found[:limit]


EXTENSIONS: dict[str, Callable[..., Any]] = {
    "charAt": char_at,
    "indexOf": index_of,
    "lastIndexOf": last_index_of,
    "lowerAscii": lambda s: _str(s, "lowerAscii").lower(),
    "upperAscii": lambda s: _str(s, "upperAscii").upper(),
    "trim": lambda s: _str(s, "trim").strip(),
    "substring": substring,
    "split": split,
    "replace": replace,
    "join": join,
    "reverse": lambda s: _str(s, "reverse")[::-1],
    "isSorted": is_sorted,
    "sum": list_sum,
    "min": list_min,
    "max": list_max,
    "find": find,
    "findAll": find_all,
}

STANDARD = frozenset({
    "size", "contains", "startsWith", "endsWith", "matches", "int", "uint", "double",
    "string", "bytes", "timestamp", "duration", "type", "dyn", "getFullYear", "getMonth",
    "getDayOfMonth", "getDate", "getDayOfWeek", "getDayOfYear", "getHours", "getMinutes",
    "getSeconds", "getMilliseconds",
})
"""CEL standard functions the evaluator implements (operators are named ``_x_``/``@x``)."""


def unsupported(functions: list[str]) -> list[str]:
    """The functions of a compiled rule neither the library nor :data:`EXTENSIONS` provide."""
    return [f for f in functions if not (f.startswith(("_", "@", "!_", "-_"))
                                         or f in STANDARD or f in EXTENSIONS)]
