"""LimitRange rules: item defaults, validation, LimitRanger defaulting and enforcement tables
(upstream's ``limitranger`` admission tests and ``ValidateLimitRange`` cases)."""

from __future__ import annotations

from typing import Any

import pytest

from kboot.controlplane.api import limitranges as lr


def _range(*items: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": "lr", "namespace": "ns"}, "spec": {"limits": list(items)}}


def _pod(*containers: dict[str, Any], init: tuple[dict[str, Any], ...] = ()) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": list(containers)}
    if init:
        spec["initContainers"] = list(init)
    return {"metadata": {"name": "p"}, "spec": spec}


def _c(name: str, requests: dict[str, str] | None = None,
       limits: dict[str, str] | None = None) -> dict[str, Any]:
    res: dict[str, Any] = {}
    if requests:
        res["requests"] = requests
    if limits:
        res["limits"] = limits
    return {"name": name, "image": "x", "resources": res}


def test_container_item_defaults_follow_max_then_default_then_min() -> None:
    item = lr.default_item({"type": "Container", "max": {"cpu": "2"}, "min": {"memory": "1Mi"}})
    assert item["default"] == {"cpu": "2"}
    assert item["defaultRequest"] == {"cpu": "2", "memory": "1Mi"}
    assert lr.default_item({"type": "Pod", "max": {"cpu": "2"}}) == {"type": "Pod",
                                                                      "max": {"cpu": "2"}}


BAD = [
    ({"type": "Container", "min": {"cpu": "2"}, "max": {"cpu": "1"}}, "spec.limits[0].min[cpu]",
     "min value 2 is greater than max value 1"),
    ({"type": "Container", "default": {"cpu": "3"}, "max": {"cpu": "1"}},
     "spec.limits[0].default[cpu]", "default value 3 is greater than max value 1"),
    ({"type": "Container", "defaultRequest": {"cpu": "2"}, "default": {"cpu": "1"}},
     "spec.limits[0].defaultRequest[cpu]",
     "default request value 2 is greater than default limit value 1"),
    ({"type": "Container", "min": {"cpu": "500m"}, "defaultRequest": {"cpu": "100m"}},
     "spec.limits[0].defaultRequest[cpu]",
     "min value 500m is greater than default request value 100m"),
    ({"type": "Container", "maxLimitRequestRatio": {"cpu": "500m"}},
     "spec.limits[0].maxLimitRequestRatio[cpu]", "ratio 500m is less than 1"),
    ({"type": "Container", "min": {"cpu": "1"}, "max": {"cpu": "2"},
      "maxLimitRequestRatio": {"cpu": "3"}}, "spec.limits[0].maxLimitRequestRatio[cpu]",
     "ratio 3 is greater than max/min = 2.000000"),
    ({"type": "Pod", "default": {"cpu": "1"}}, "spec.limits[0].default",
     "may not be specified when `type` is 'Pod'"),
    ({"type": "Nope"}, "spec.limits[0].type", "Unsupported value"),
    ({"max": {"cpu": "1"}}, "spec.limits[0].type", "Required value"),
    ({"type": "PersistentVolumeClaim", "max": {"cpu": "1"}}, "spec.limits[0].limits",
     "either minimum or maximum storage value is required"),
    ({"type": "Container", "max": {"cpu": "lots"}}, "spec.limits[0].max[cpu]",
     "must be a valid quantity"),
]


@pytest.mark.parametrize(("item", "field", "words"), BAD, ids=[b[2][:30] for b in BAD])
def test_invalid_items_name_field_and_reason(item: dict[str, Any], field: str,
                                             words: str) -> None:
    errors = lr.validate(lr.defaults(_range(item)), None)
    causes = [e.cause() for e in errors]
    assert any(c["field"] == field and words in c["message"] for c in causes), causes


def test_valid_range_has_no_errors() -> None:
    good = _range({"type": "Container", "min": {"cpu": "100m"}, "max": {"cpu": "1"},
                   "default": {"cpu": "500m"}, "defaultRequest": {"cpu": "200m"},
                   "maxLimitRequestRatio": {"cpu": "10"}},
                  {"type": "Pod", "max": {"memory": "1Gi"}},
                  {"type": "PersistentVolumeClaim", "min": {"storage": "1Gi"}})
    assert lr.validate(lr.defaults(good), None) == []


def test_defaults_fill_containers_and_init_containers_and_annotate() -> None:
    ranges = [_range({"type": "Container", "default": {"cpu": "500m", "memory": "256Mi"},
                      "defaultRequest": {"cpu": "100m"}})]
    pod = _pod(_c("app", requests={"memory": "64Mi"}), _c("side", limits={"cpu": "200m"},
                                                           requests={"cpu": "200m"}),
               init=(_c("setup"),))
    out = lr.default_pod(pod, ranges)
    app, side = out["spec"]["containers"]
    assert app["resources"] == {"limits": {"cpu": "500m", "memory": "256Mi"},
                                "requests": {"memory": "64Mi", "cpu": "100m"}}
    assert side["resources"] == {"limits": {"cpu": "200m", "memory": "256Mi"},
                                 "requests": {"cpu": "200m", "memory": "256Mi"}}
    setup = out["spec"]["initContainers"][0]
    assert setup["resources"]["limits"] == {"cpu": "500m", "memory": "256Mi"}
    assert setup["resources"]["requests"] == {"cpu": "100m", "memory": "256Mi"}
    note = out["metadata"]["annotations"][lr.ANNOTATION]
    assert note == ("LimitRanger plugin set: cpu request for container app; cpu, memory limit "
                    "for container app; memory request for container side; memory limit for "
                    "container side; cpu, memory request for init container setup; cpu, memory "
                    "limit for init container setup"), note
    assert pod["spec"]["containers"][0]["resources"] == {"requests": {"memory": "64Mi"}}


ENFORCE = [
    ("max-limit", {"type": "Container", "max": {"cpu": "500m"}},
     _c("c", requests={"cpu": "1"}, limits={"cpu": "1"}),
     ["maximum cpu usage per Container is 500m, but limit is 1",
      "maximum cpu usage per Container is 500m, but request is 1"]),
    ("max-no-limit", {"type": "Container", "max": {"memory": "1Gi"}}, _c("c"),
     ["maximum memory usage per Container is 1Gi.  No limit is specified"]),
    ("min-request", {"type": "Container", "min": {"cpu": "200m"}},
     _c("c", requests={"cpu": "100m"}),
     ["minimum cpu usage per Container is 200m, but request is 100m"]),
    ("min-no-request", {"type": "Container", "min": {"cpu": "200m"}}, _c("c"),
     ["minimum cpu usage per Container is 200m.  No request is specified"]),
    ("ratio", {"type": "Container", "maxLimitRequestRatio": {"cpu": "2"}},
     _c("c", requests={"cpu": "100m"}, limits={"cpu": "1"}),
     ["cpu max limit to request ratio per Container is 2, but provided ratio is 10.000000."]),
    ("pod-max", {"type": "Pod", "max": {"cpu": "1"}},
     _c("c", requests={"cpu": "800m"}, limits={"cpu": "800m"}), []),
    ("within", {"type": "Container", "min": {"cpu": "100m"}, "max": {"cpu": "1"}},
     _c("c", requests={"cpu": "200m"}, limits={"cpu": "500m"}), []),
]


@pytest.mark.parametrize(("item", "container", "expected"), [e[1:] for e in ENFORCE],
                         ids=[e[0] for e in ENFORCE])
def test_enforcement_sentences(item: dict[str, Any], container: dict[str, Any],
                               expected: list[str]) -> None:
    assert lr.pod_violations(_pod(container), [_range(item)]) == expected


def test_pod_item_sums_containers() -> None:
    pod = _pod(_c("a", requests={"cpu": "600m"}, limits={"cpu": "600m"}),
               _c("b", requests={"cpu": "600m"}, limits={"cpu": "600m"}))
    assert lr.pod_violations(pod, [_range({"type": "Pod", "max": {"cpu": "1"}})]) == [
        "maximum cpu usage per Pod is 1, but limit is 1200m",
        "maximum cpu usage per Pod is 1, but request is 1200m"]


def test_claim_bounds_and_aggregate_text() -> None:
    claim = {"spec": {"resources": {"requests": {"storage": "500Mi"}}}}
    msgs = lr.claim_violations(claim, [_range({"type": "PersistentVolumeClaim",
                                               "min": {"storage": "1Gi"}})])
    assert msgs == ["minimum storage usage per PersistentVolumeClaim is 1Gi, but request is "
                    "500Mi"]
    assert lr.aggregate(["a"]) == "a" and lr.aggregate(["a", "b"]) == "[a, b]"
