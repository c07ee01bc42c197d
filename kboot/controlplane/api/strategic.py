"""Strategic merge patch (``application/strategic-merge-patch+json``), as kubectl sends it.

Maps merge recursively and ``null`` deletes a key.  Lists follow the field's schema: a
``x-kubernetes-patch-strategy`` containing ``merge`` merges items by their
``x-kubernetes-patch-merge-key`` (or as a set of primitives when there is no key); every other
list is replaced whole.  Directives:

- ``{"$patch": "replace"}`` in a map replaces the map; as a list item, replaces the list;
- ``{"$patch": "delete"}`` deletes the map, or (with the merge key) the matching list item;
- ``{"$patch": "merge"}`` is the default;
- ``"$retainKeys": [...]`` drops the original's keys not listed (volume sources, strategy);
- ``"$deleteFromPrimitiveList/<field>": [...]`` removes values from a primitive list;
- ``"$setElementOrder/<field>": [...]`` orders the merged list (unlisted items keep their
  relative order after the listed ones).

kubectl computes the three-way patch itself; the server only applies it, which is this module.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from kboot.controlplane.api.errors import PatchError
from kboot.controlplane.api.schemas import (
    KindRef,
    Schema,
    child,
    items,
    kind_schema,
    list_semantics,
)

_DELETE_FROM = "$deleteFromPrimitiveList/"
_SET_ORDER = "$setElementOrder/"
_PLAIN_DIRECTIVES = ("$patch", "$retainKeys")


def strategic_merge_patch(kind: KindRef, doc: Mapping[str, Any], patch: Any) -> dict[str, Any]:
    """Apply a strategic merge patch to a copy of ``doc`` using ``kind``'s list semantics."""
    if not isinstance(patch, Mapping):
        raise PatchError("a strategic merge patch must be a JSON object")
    result = _merge_map(copy.deepcopy(dict(doc)), patch, kind_schema(kind))
    return result if result is not None else {}


def _fresh(value: Any, schema: Schema | None) -> Any:
    """Patch content with no original to merge into: directives resolved, nulls dropped."""
    if isinstance(value, Mapping):
        return _merge_map({}, value, schema)
    if isinstance(value, list):
        return _merge_list([], value, schema)
    return value


def _merge_map(
    original: dict[str, Any], patch: Mapping[str, Any], schema: Schema | None
) -> dict[str, Any] | None:
    """Merge ``patch`` into ``original`` (owned, mutated); ``None`` means "delete this map"."""
    directive = patch.get("$patch", "merge")
    if directive == "delete":
        return None
    if directive == "replace":
        return _merge_map({}, {k: v for k, v in patch.items() if k != "$patch"}, schema)
    if directive != "merge":
        raise PatchError(f"unknown patch type: {directive!r}")
    retain = patch.get("$retainKeys")
    if retain is not None:
        if not isinstance(retain, list):
            raise PatchError("$retainKeys must be a list")
        original = {k: v for k, v in original.items() if k in retain}
    server_lists = {key[len(_SET_ORDER):]: _as_list(original.get(key[len(_SET_ORDER):]))
                    for key in patch if key.startswith(_SET_ORDER)}
    for key, value in patch.items():
        if key in _PLAIN_DIRECTIVES or key.startswith(_SET_ORDER):
            continue
        if key.startswith(_DELETE_FROM):
            _delete_from_list(original, key[len(_DELETE_FROM):], value)
        elif value is None:
            original.pop(key, None)
        else:
            _merge_key(original, key, value, child(schema, key))
    for key, order in patch.items():
        if key.startswith(_SET_ORDER):
            field = key[len(_SET_ORDER):]
            _check_order(order, child(schema, field))
            if isinstance(original.get(field), list):
                original[field] = _order(original[field], order, server_lists[field],
                                         child(schema, field))
    return original


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else []


def _merge_key(original: dict[str, Any], key: str, value: Any, schema: Schema | None) -> None:
    current = original.get(key)
    if isinstance(value, Mapping):
        merged = _merge_map(current if isinstance(current, dict) else {}, value, schema)
        if merged is None:
            original.pop(key, None)
        else:
            original[key] = merged
    elif isinstance(value, list):
        original[key] = _merge_list(current if isinstance(current, list) else [], value, schema)
    else:
        original[key] = value


def _delete_from_list(original: dict[str, Any], field: str, values: Any) -> None:
    if not isinstance(values, list):
        raise PatchError(f"{_DELETE_FROM}{field} must be a list")
    current = original.get(field)
    if isinstance(current, list):
        original[field] = [v for v in current if v not in values]


def _is_replace_marker(item: Any) -> bool:
    return isinstance(item, Mapping) and item.get("$patch") == "replace" and len(item) == 1


def _merge_list(original: list[Any], patch: list[Any], schema: Schema | None) -> list[Any]:
    item_schema = items(schema)
    if any(_is_replace_marker(i) for i in patch):
        return _merge_list([], [i for i in patch if not _is_replace_marker(i)], None)
    sem = list_semantics(schema)
    if not sem.smp_merge:
        fresh = (_fresh(i, item_schema) for i in patch)
        return [i for i in fresh if i is not None]
    if not sem.merge_key:
        merged = list(original)
        merged.extend(v for v in patch if v not in original)
        return [v for i, v in enumerate(merged) if v not in merged[:i]]
    result = list(original)
    for item in patch:
        _merge_item(result, item, sem.merge_key, item_schema)
    return result


def _merge_item(result: list[Any], item: Any, key: str, schema: Schema | None) -> None:
    if not isinstance(item, Mapping):
        raise PatchError(f"list items of a list merged by {key!r} must be objects")
    if key not in item:
        raise PatchError(f"map: {dict(item)} does not contain declared merge key: {key}")
    matches = [i for i, cur in enumerate(result)
               if isinstance(cur, Mapping) and cur.get(key) == item[key]]
    if item.get("$patch") == "delete":
        for i in reversed(matches):
            del result[i]
        return
    if not matches:
        new = _merge_map({}, item, schema)
        if new is not None:
            result.append(new)
        return
    merged = _merge_map(dict(result[matches[0]]), item, schema)
    if merged is None:  # pragma: no cover - "delete" is handled above
        del result[matches[0]]
    else:
        result[matches[0]] = merged


def _check_order(order: Any, schema: Schema | None) -> None:
    """A ``$setElementOrder`` list: maps carrying the merge key (scalars for primitive lists),
    upstream's ``ErrBadPatchFormatForSetElementOrderList`` otherwise."""
    if not isinstance(order, list):
        raise PatchError("$setElementOrder must be a list")
    key = list_semantics(schema).merge_key
    for item in order:
        if key and not (isinstance(item, Mapping) and key in item):
            raise PatchError(f"$setElementOrder items must be maps with the merge key {key}: "
                             f"{item!r}")
        if not key and isinstance(item, (Mapping, list)):
            raise PatchError(f"$setElementOrder items of a primitive list must be scalars: "
                             f"{item!r}")


def _order(current: list[Any], order: Any, server: list[Any],
           schema: Schema | None) -> list[Any]:
    """Upstream's ``normalizeElementOrder``: items named in ``order`` come in that order, the
    others (server-only) keep their order and are interleaved by their original positions."""
    key = list_semantics(schema).merge_key

    def ident(item: Any) -> str:
        value = item.get(key) if key and isinstance(item, Mapping) else item
        return repr(value)

    wanted = {ident(o): i for i, o in enumerate(order)}
    server_index = {ident(o): i for i, o in enumerate(server)}
    listed = sorted((i for i in current if ident(i) in wanted), key=lambda i: wanted[ident(i)])
    server_only = [i for i in current if ident(i) not in wanted]
    out: list[Any] = []
    while listed or server_only:
        if not server_only:
            out.append(listed.pop(0))
            continue
        if not listed:
            out.append(server_only.pop(0))
            continue
        left, right = server_index.get(ident(server_only[0])), server_index.get(ident(listed[0]))
        if left is not None and right is not None and left < right:
            out.append(server_only.pop(0))
        else:
            out.append(listed.pop(0))
    return out
