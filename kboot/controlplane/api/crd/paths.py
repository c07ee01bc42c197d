"""Field paths as upstream's ``field.Path`` renders them: ``a.b``, ``a[0]``, ``a[key]``.

Schema walks build paths such as ``spec.versions[0].schema.openAPIV3Schema.properties[spec]``;
object walks build ``spec.items[2].name``.  The empty path is the root.
"""

from __future__ import annotations

from typing import Any


def child(path: str, *names: str) -> str:
    """``path.name`` (``name`` alone at the root)."""
    for name in names:
        path = f"{path}.{name}" if path else name
    return path


def index(path: str, i: int) -> str:
    return f"{path}[{i}]"


def key(path: str, k: str) -> str:
    return f"{path}[{k}]"


def field_of(obj: Any, name: str) -> dict[str, Any]:
    """``obj[name]`` when both are JSON objects, else an empty object (bodies are untrusted)."""
    value = obj.get(name) if isinstance(obj, dict) else None
    return value if isinstance(value, dict) else {}


def list_of(obj: Any, name: str) -> list[Any]:
    """``obj[name]`` when it is a JSON array, else an empty list."""
    value = obj.get(name) if isinstance(obj, dict) else None
    return value if isinstance(value, list) else []
