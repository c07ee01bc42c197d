"""Object-metadata conventions every controller needs: cache keys, owner references,
timestamps, and structured label-selector matching.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from kboot.controlplane.api.selectors import label_selector_from_dict, selector_string
from kboot.controlplane.api.shapes import metadata
from kboot.controlplane.client.api import Obj
from kboot.controlplane.client.clock import REAL_CLOCK, Clock

__all__ = ["selector_string"]  # re-exported for controllers


def key_of(obj: Obj) -> str:
    """``namespace/name`` (or ``name`` when cluster-scoped): the workqueue and cache key."""
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace")
    return f"{ns}/{meta['name']}" if ns else str(meta["name"])


def split_key(key: str) -> tuple[str | None, str]:
    ns, sep, name = key.partition("/")
    return (ns, name) if sep else (None, ns)


TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
MICRO_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def format_time(seconds: float) -> str:
    """Epoch seconds as a Kubernetes Time (RFC 3339, seconds, UTC)."""
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime(TIME_FORMAT)


def now(clock: Clock = REAL_CLOCK) -> str:
    """``clock``'s wall time as a Kubernetes Time (RFC 3339, seconds)."""
    return clock.now().strftime(TIME_FORMAT)


def now_micro(clock: Clock = REAL_CLOCK) -> str:
    """``clock``'s wall time as a Kubernetes MicroTime (Lease renewTime, Event times)."""
    return clock.now().strftime(MICRO_FORMAT)


def parse_time(value: str | None) -> float | None:
    """Seconds since the epoch of an RFC 3339 timestamp (Time or MicroTime), or None."""
    if not value:
        return None
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def labels(obj: Obj) -> dict[str, str]:
    return dict(metadata(obj).get("labels") or {})


def is_deleting(obj: Obj) -> bool:
    return bool(metadata(obj).get("deletionTimestamp"))


# -- label selectors (parsing and matching live in kboot.controlplane.api.selectors) ---------

def selector_matches(selector: Mapping[str, Any] | None, lbls: Mapping[str, str]) -> bool:
    """A structured ``LabelSelector``; an empty one matches everything, None matches nothing."""
    return label_selector_from_dict(selector).matches(lbls)
