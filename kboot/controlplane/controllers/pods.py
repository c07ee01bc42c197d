"""Pods as workload controllers see them: built from templates, active/ready/available,
and which to delete first when scaling down."""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

from kboot.controlplane.api.owners import owner_reference
from kboot.controlplane.api.shapes import Obj, metadata
from kboot.controlplane.client.meta import is_deleting, parse_time

TEMPLATE_HASH = "pod-template-hash"


def from_template(template: Obj, owner: Obj, *, name: str | None = None,
                  extra_labels: dict[str, str] | None = None) -> Obj:
    """A Pod for ``owner`` (generateName ``<owner>-`` unless ``name`` is given)."""
    tmpl = copy.deepcopy(template)
    md: dict[str, Any] = dict(tmpl.get("metadata") or {})
    md["labels"] = {**(md.get("labels") or {}), **(extra_labels or {})}
    md["namespace"] = owner["metadata"]["namespace"]
    md["ownerReferences"] = [owner_reference(owner)]
    if name:
        md["name"] = name
    else:
        md["generateName"] = f"{owner['metadata']['name']}-"
    return {"apiVersion": "v1", "kind": "Pod", "metadata": md, "spec": tmpl.get("spec") or {}}


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def template_hash(template: Obj) -> str:
    """A stable short hash of a pod template, ignoring its own pod-template-hash label and
    null fields (kubectl writes ``creationTimestamp: null`` back on ``rollout undo``)."""
    tmpl = _without_nulls(template)
    (tmpl.get("metadata") or {}).get("labels", {}).pop(TEMPLATE_HASH, None)
    digest = hashlib.sha256(json.dumps(tmpl, sort_keys=True).encode()).hexdigest()
    alphabet = "bcdfghjklmnpqrstvwxz2456789"
    n = int(digest[:16], 16)
    out = ""
    for _ in range(10):
        n, r = divmod(n, len(alphabet))
        out += alphabet[r]
    return out


def phase(pod: Obj) -> str:
    return str((pod.get("status") or {}).get("phase") or "Pending")


def is_active(pod: Obj) -> bool:
    return not is_deleting(pod) and phase(pod) not in ("Succeeded", "Failed")


def condition(obj: Obj, type_: str) -> dict[str, Any] | None:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == type_:
            return dict(cond)
    return None


def is_ready(pod: Obj) -> bool:
    cond = condition(pod, "Ready")
    return bool(cond and cond.get("status") == "True") and phase(pod) == "Running"


def is_available(pod: Obj, min_ready_seconds: int, now: float) -> bool:
    if not is_ready(pod):
        return False
    if min_ready_seconds <= 0:
        return True
    since = parse_time((condition(pod, "Ready") or {}).get("lastTransitionTime"))
    return since is not None and now - since >= min_ready_seconds


def deletion_rank(pod: Obj) -> tuple[int, int, int, str]:
    """Sort key: delete unscheduled, then pending, then not-ready, then newest pods first."""
    scheduled = 1 if (pod.get("spec") or {}).get("nodeName") else 0
    running = {"Pending": 0, "Unknown": 1, "Running": 2}.get(phase(pod), 0)
    created = str(metadata(pod).get("creationTimestamp") or "")
    # newest first: invert by sorting on the negated order afterwards
    return (scheduled, running, 1 if is_ready(pod) else 0, _invert(created))


def _invert(text: str) -> str:
    return "".join(chr(0x10FFFF - ord(c)) for c in text)


def set_condition(status: dict[str, Any], cond: dict[str, Any], now: str) -> None:
    """Upsert a condition, keeping lastTransitionTime unless the status flips."""
    conds = [c for c in status.get("conditions") or [] if c.get("type") != cond["type"]]
    old: dict[str, Any] = next(
        (c for c in status.get("conditions") or [] if c.get("type") == cond["type"]), {})
    new = {**cond, "lastUpdateTime": now,
           "lastTransitionTime": old.get("lastTransitionTime", now)
           if old.get("status") == cond["status"] else now}
    if old and all(old.get(k) == new.get(k) for k in ("status", "reason", "message")):
        new["lastUpdateTime"] = old.get("lastUpdateTime", now)
    conds.append(new)
    status["conditions"] = sorted(conds, key=lambda c: str(c["type"]))
