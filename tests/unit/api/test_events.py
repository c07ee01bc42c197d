"""events.k8s.io/v1 <-> core/v1 Event conversion and the events.k8s.io create rules."""

from __future__ import annotations

from kboot.controlplane.api.events import from_core, to_core, validate_event

NEW = {"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "e"},
       "eventTime": "2026-01-01T00:00:00.000000Z", "reportingController": "c",
       "reportingInstance": "i", "action": "A", "reason": "R", "type": "Normal", "note": "n",
       "regarding": {"kind": "Pod", "name": "p"}, "related": {"kind": "Node", "name": "x"},
       "series": {"count": 2, "lastObservedTime": "2026-01-01T00:00:01.000000Z"},
       "deprecatedSource": {"component": "s"}, "deprecatedCount": 4,
       "deprecatedFirstTimestamp": "2026-01-01T00:00:00Z",
       "deprecatedLastTimestamp": "2026-01-01T00:00:05Z"}


def test_round_trip_with_upstreams_field_mapping() -> None:
    core = to_core(NEW)
    assert core["apiVersion"] == "v1"
    assert (core["involvedObject"], core["message"], core["reportingComponent"],
            core["source"], core["count"], core["firstTimestamp"], core["lastTimestamp"]) == (
        NEW["regarding"], "n", "c", {"component": "s"}, 4, NEW["deprecatedFirstTimestamp"],
        NEW["deprecatedLastTimestamp"])
    assert core["series"] == NEW["series"] and core["related"] == NEW["related"]
    assert from_core(core) == NEW


def test_events_k8s_io_creates_need_the_new_fields() -> None:
    assert validate_event(NEW, None) == []
    bare = {"apiVersion": "events.k8s.io/v1", "kind": "Event", "type": "Info"}
    fields = {e.field for e in validate_event(bare, None)}
    assert fields == {"eventTime", "reportingController", "reportingInstance", "action",
                      "reason", "type"}
    assert validate_event({"apiVersion": "v1", "kind": "Event"}, None) == []  # core: lenient
