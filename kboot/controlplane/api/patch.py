"""Patch application for the three patch content types the apiserver accepts besides apply.

- ``application/merge-patch+json``: :func:`json_merge_patch` (RFC 7386);
- ``application/json-patch+json``: :func:`json_patch` (RFC 6902, all six operations);
- ``application/strategic-merge-patch+json``: :func:`strategic_merge_patch` (in
  :mod:`.strategic`, re-exported here), list semantics from the kind's schema.

All functions are pure: they never mutate their arguments and return new documents.  Errors
are :class:`~kboot.controlplane.api.errors.PatchError` (``code`` 400 for a malformed patch,
422 when it cannot be applied to this document).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from kboot.controlplane.api.errors import JsonPatchTestFailed, PatchError
from kboot.controlplane.api.strategic import strategic_merge_patch

__all__ = ["JsonPatchTestFailed", "PatchError", "json_merge_patch", "json_patch",
           "strategic_merge_patch"]


def json_merge_patch(doc: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, ``null`` deletes, everything else replaces."""
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    result = dict(doc) if isinstance(doc, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = json_merge_patch(result.get(key), value)
    return {k: copy.deepcopy(v) for k, v in result.items()}


# ------------------------------------------------------------------------------- JSON patch


def _pointer(path: Any) -> list[str]:
    if not isinstance(path, str) or (path and not path.startswith("/")):
        raise PatchError(f"invalid JSON pointer: {path!r}")
    if path == "":
        return []
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _index(container: list[Any], token: str, *, path: str, allow_end: bool) -> int:
    if token == "-" and allow_end:
        return len(container)
    if not token.isdigit() or (token.startswith("0") and token != "0"):
        raise PatchError(f"invalid array index {token!r} in {path}", code=422)
    idx = int(token)
    limit = len(container) if allow_end else len(container) - 1
    if idx > limit:
        raise PatchError(f"array index {idx} out of bounds in {path}", code=422)
    return idx


def _parent(doc: Any, tokens: list[str], path: str) -> Any:
    node = doc
    for token in tokens[:-1]:
        if isinstance(node, dict):
            if token not in node:
                raise PatchError(f"doc is missing path: {path}", code=422)
            node = node[token]
        elif isinstance(node, list):
            node = node[_index(node, token, path=path, allow_end=False)]
        else:
            raise PatchError(f"doc is missing path: {path}", code=422)
    return node


def _get(doc: Any, path: str) -> Any:
    tokens = _pointer(path)
    if not tokens:
        return doc
    parent = _parent(doc, tokens, path)
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchError(f"doc is missing path: {path}", code=422)
        return parent[last]
    if isinstance(parent, list):
        return parent[_index(parent, last, path=path, allow_end=False)]
    raise PatchError(f"doc is missing path: {path}", code=422)


def _add(doc: Any, path: str, value: Any) -> Any:
    tokens = _pointer(path)
    if not tokens:
        return value
    parent = _parent(doc, tokens, path)
    if isinstance(parent, dict):
        parent[tokens[-1]] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, tokens[-1], path=path, allow_end=True), value)
    else:
        raise PatchError(f"doc is missing path: {path}", code=422)
    return doc


def _remove(doc: Any, path: str) -> Any:
    tokens = _pointer(path)
    if not tokens:
        raise PatchError("cannot remove the whole document", code=422)
    parent = _parent(doc, tokens, path)
    if isinstance(parent, dict):
        if tokens[-1] not in parent:
            raise PatchError(f"unable to remove nonexistent key: {tokens[-1]}", code=422)
        del parent[tokens[-1]]
    elif isinstance(parent, list):
        del parent[_index(parent, tokens[-1], path=path, allow_end=False)]
    else:
        raise PatchError(f"doc is missing path: {path}", code=422)
    return doc


def _operation(doc: Any, op: Mapping[str, Any]) -> Any:
    kind = op.get("op")
    path = op.get("path")
    if not isinstance(path, str):
        raise PatchError(f"operation {kind!r} is missing a string 'path'")
    if kind in ("add", "replace", "test") and "value" not in op:
        raise PatchError(f"operation {kind!r} is missing 'value'")
    if kind == "add":
        return _add(doc, path, copy.deepcopy(op["value"]))
    if kind == "remove":
        return _remove(doc, path)
    if kind == "replace":
        _get(doc, path)
        return _add(_remove(doc, path), path, copy.deepcopy(op["value"])) if path else op["value"]
    if kind == "test":
        if _get(doc, path) != op["value"]:
            raise JsonPatchTestFailed(f"testing value {path} failed")
        return doc
    if kind in ("move", "copy"):
        source = op.get("from")
        if not isinstance(source, str):
            raise PatchError(f"operation {kind!r} is missing a string 'from'")
        value = copy.deepcopy(_get(doc, source))
        if kind == "move":
            if path.startswith(source + "/"):
                raise PatchError(f"cannot move {source} into its own child {path}", code=422)
            doc = _remove(doc, source)
        return _add(doc, path, value)
    raise PatchError(f"unexpected JSON patch operation {kind!r}")


def json_patch(doc: Any, ops: Any) -> Any:
    """RFC 6902: apply ``ops`` in order to a copy of ``doc``; any failure aborts the patch."""
    if not isinstance(ops, list):
        raise PatchError("a JSON patch must be a list of operations")
    result = copy.deepcopy(doc)
    for op in ops:
        if not isinstance(op, Mapping):
            raise PatchError(f"a JSON patch operation must be an object, not {op!r}")
        try:
            result = _operation(result, op)
        except PatchError as err:
            if err.code == 422 and not err.field:
                err.field = field_path(op.get("path"))
            raise
    return result


def field_path(pointer: Any) -> str:
    """A JSON pointer as a field path: ``/spec/ports/0/port`` → ``spec.ports[0].port``."""
    if not isinstance(pointer, str) or not pointer.startswith("/"):
        return "<document>"
    out = ""
    for token in _pointer(pointer):
        out += f"[{token}]" if token.isdigit() or token == "-" else (
            f".{token}" if out else token)
    return out or "<document>"
