"""``events.k8s.io/v1`` Events: one stored object, two representations, as upstream.

Events are stored once, in the core ``v1`` shape (``/registry/events/<ns>/<name>``); the
``events.k8s.io/v1`` endpoints convert on the way in and out with upstream's field mapping
(``pkg/apis/events/v1/conversion.go``): ``regarding`` ↔ ``involvedObject``, ``note`` ↔
``message``, ``reportingController`` ↔ ``reportingComponent``, ``deprecatedSource`` ↔
``source``, ``deprecatedFirstTimestamp``/``deprecatedLastTimestamp``/``deprecatedCount`` ↔
``firstTimestamp``/``lastTimestamp``/``count``; ``series``, ``related``, ``action``,
``eventTime``, ``reason``, ``type`` and ``reportingInstance`` keep their names. So an event an
operator writes through ``events.k8s.io`` shows in ``kubectl get events`` and the other way
round.

A new ``events.k8s.io/v1`` Event is validated as upstream validates that group's creates:
``eventTime``, ``reportingController``, ``reportingInstance``, ``action`` and ``reason`` are
required, ``type`` is ``Normal`` or ``Warning``, ``note`` at most 1 KiB.
"""

from __future__ import annotations

from typing import Any

from kboot.controlplane.api.field_errors import FieldError, check_enum, invalid, required

Obj = dict[str, Any]

API_VERSION = "events.k8s.io/v1"
# events.k8s.io/v1 field -> core/v1 field
_RENAMED = {
    "regarding": "involvedObject", "note": "message", "reportingController": "reportingComponent",
    "deprecatedSource": "source", "deprecatedFirstTimestamp": "firstTimestamp",
    "deprecatedLastTimestamp": "lastTimestamp", "deprecatedCount": "count",
}
_BACK = {core: new for new, core in _RENAMED.items()}
_MAX_NOTE = 1024
_MAX_WORD = 128


def to_core(obj: Obj) -> Obj:
    """An ``events.k8s.io/v1`` Event as the core ``v1`` Event it is stored as."""
    out = {_RENAMED.get(k, k): v for k, v in obj.items()}
    out.update(apiVersion="v1", kind="Event")
    return out


def from_core(obj: Obj) -> Obj:
    """A stored core ``v1`` Event as ``events.k8s.io/v1`` shows it."""
    out = {_BACK.get(k, k): v for k, v in obj.items()}
    out.update(apiVersion=API_VERSION, kind="Event")
    return out


def validate_event(obj: Obj, old: Obj | None) -> list[FieldError]:
    """Rules for Events written through ``events.k8s.io/v1`` (core writes stay lenient)."""
    if obj.get("apiVersion") != API_VERSION or old is not None:
        return []
    errors: list[FieldError] = []
    for field in ("eventTime", "reportingController", "reportingInstance", "action", "reason"):
        if not obj.get(field):
            errors.append(required(field))
    for field in ("action", "reason", "reportingController"):
        value = obj.get(field)
        if isinstance(value, str) and len(value) > _MAX_WORD:
            errors.append(invalid(field, value, f"can have at most {_MAX_WORD} characters"))
    errors += check_enum("type", obj.get("type"), ("Normal", "Warning"))
    note = obj.get("note")
    if isinstance(note, str) and len(note.encode()) > _MAX_NOTE:
        errors.append(invalid("note", "", f"can have at most {_MAX_NOTE} characters"))
    return errors
