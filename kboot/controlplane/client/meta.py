"""Object-metadata conventions every controller needs: cache keys, owner references,
timestamps, and label-selector matching (structured ``LabelSelector`` and the string form).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from typing import Any

from kboot.controlplane.client.api import Obj


def key_of(obj: Obj) -> str:
    """``namespace/name`` (or ``name`` when cluster-scoped): the workqueue and cache key."""
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace")
    return f"{ns}/{meta['name']}" if ns else str(meta["name"])


def split_key(key: str) -> tuple[str | None, str]:
    ns, sep, name = key.partition("/")
    return (ns, name) if sep else (None, ns)


def now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_micro() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(value: str | None) -> float | None:
    """Seconds since the epoch of an RFC 3339 timestamp (Time or MicroTime), or None."""
    if not value:
        return None
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def labels(obj: Obj) -> dict[str, str]:
    return dict((obj.get("metadata") or {}).get("labels") or {})


def controller_of(obj: Obj) -> dict[str, Any] | None:
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return dict(ref)
    return None


def owner_ref(owner: Obj, *, controller: bool = True, block: bool = True) -> dict[str, Any]:
    meta = owner["metadata"]
    return {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": meta["name"],
            "uid": meta["uid"], "controller": controller, "blockOwnerDeletion": block}


def is_deleting(obj: Obj) -> bool:
    return bool((obj.get("metadata") or {}).get("deletionTimestamp"))


# -- label selectors ------------------------------------------------------------------------

def _expr_matches(expr: Mapping[str, Any], lbls: Mapping[str, str]) -> bool:
    key, op, values = expr["key"], expr["operator"], list(expr.get("values") or [])
    if op == "In":
        return key in lbls and lbls[key] in values
    if op == "NotIn":
        return key not in lbls or lbls[key] not in values
    if op == "Exists":
        return key in lbls
    if op == "DoesNotExist":
        return key not in lbls
    raise ValueError(f"unknown selector operator {op!r}")


def selector_matches(selector: Mapping[str, Any] | None, lbls: Mapping[str, str]) -> bool:
    """A structured ``LabelSelector``; an empty one matches everything, None matches nothing."""
    if selector is None:
        return False
    for k, v in (selector.get("matchLabels") or {}).items():
        if lbls.get(k) != v:
            return False
    return all(_expr_matches(e, lbls) for e in selector.get("matchExpressions") or [])


def selector_string(selector: Mapping[str, Any]) -> str:
    """The query-string form of a structured selector (``app=web,tier in (a,b)``)."""
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for e in selector.get("matchExpressions") or []:
        op, vals = e["operator"], ",".join(e.get("values") or [])
        parts.append({"In": f"{e['key']} in ({vals})", "NotIn": f"{e['key']} notin ({vals})",
                      "Exists": e["key"], "DoesNotExist": f"!{e['key']}"}[op])
    return ",".join(parts)


_TERM = re.compile(
    r"\s*(!?)([\w./-]+)\s*(?:(==|!=|=|\s+in\s+|\s+notin\s+)\s*(\([^)]*\)|[\w./-]*))?")


def _split_terms(text: str) -> list[str]:
    out, depth, cur = [], 0, ""
    for ch in text:
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    return [t for t in [*out, cur] if t.strip()]


def parse_label_selector(text: str | None) -> Callable[[Mapping[str, str]], bool]:
    """A predicate for the string form (``a=b``, ``a!=b``, ``a in (x,y)``, ``a``, ``!a``)."""
    exprs: list[dict[str, Any]] = []
    for term in _split_terms(text or ""):
        m = _TERM.fullmatch(term.strip())
        if not m:
            raise ValueError(f"bad label selector term {term!r}")
        neg, key, op, val = m.group(1), m.group(2), (m.group(3) or "").strip(), m.group(4)
        if not op:
            exprs.append({"key": key, "operator": "DoesNotExist" if neg else "Exists"})
        elif op in ("=", "=="):
            exprs.append({"key": key, "operator": "In", "values": [val or ""]})
        elif op == "!=":
            exprs.append({"key": key, "operator": "NotIn", "values": [val or ""]})
        else:
            vals = [v.strip() for v in (val or "").strip("()").split(",") if v.strip()]
            exprs.append({"key": key, "operator": "In" if op == "in" else "NotIn",
                          "values": vals})
    selector = {"matchExpressions": exprs}
    return lambda lbls: selector_matches(selector, lbls)


def field_value(obj: Obj, path: str) -> str:
    cur: Any = obj
    for part in path.split("."):
        cur = cur.get(part) if isinstance(cur, dict) else None
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return "" if cur is None else str(cur)


def parse_field_selector(text: str | None) -> Callable[[Obj], bool]:
    """A predicate for ``a.b=c,d!=e`` over an object's fields."""
    terms: list[tuple[str, bool, str]] = []
    for term in (text or "").split(","):
        if not term.strip():
            continue
        if "!=" in term:
            path, value = term.split("!=", 1)
            terms.append((path.strip(), False, value.strip()))
        else:
            path, value = term.replace("==", "=").split("=", 1)
            terms.append((path.strip(), True, value.strip()))
    return lambda obj: all((field_value(obj, p) == v) == eq for p, eq, v in terms)
