"""Endpoints from selectors and readiness, with named target ports."""

from __future__ import annotations

from kboot.controlplane.controllers.endpoints import EndpointsController

from .harness import Harness, Obj, ready_pod, run

SVC: Obj = {"metadata": {"name": "web", "namespace": "ns"},
            "spec": {"selector": {"app": "web"},
                     "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}}


def pod(name: str, ip: str, *, ready: bool, app: str = "web") -> Obj:
    p: Obj = {"metadata": {"name": name, "namespace": "ns", "labels": {"app": app}},
              "spec": {"containers": [{"name": "c", "ports": [{"name": "http",
                                                                "containerPort": 8080}]}]}}
    if ready:
        ready_pod(p)
    else:
        p["status"] = {"phase": "Pending"}
    p["status"]["podIP"] = ip
    return p


def test_ready_and_not_ready_addresses_and_slice() -> None:
    async def body(h: Harness) -> None:
        await h.reconcile("ns/web")
        (ep,) = h.fake.all("endpoints", "ns")
        (subset,) = ep["subsets"]
        assert [a["ip"] for a in subset["addresses"]] == ["10.0.0.1"]
        assert [a["ip"] for a in subset["notReadyAddresses"]] == ["10.0.0.2"]
        assert subset["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
        (sl,) = h.fake.all("endpointslices", "ns")
        assert sorted((e["addresses"][0], e["conditions"]["ready"]) for e in sl["endpoints"]) \
            == [("10.0.0.1", True), ("10.0.0.2", False)]
        await h.fake.delete("services", "web", namespace="ns")
        await h.reconcile("ns/web")
        assert h.fake.all("endpoints", "ns") == []

    run(EndpointsController, [("services", SVC), ("pods", pod("a", "10.0.0.1", ready=True)),
                              ("pods", pod("b", "10.0.0.2", ready=False)),
                              ("pods", pod("c", "10.0.0.3", ready=True, app="db"))], body)


def _held(p: Obj) -> Obj:
    """A pod whose deletion leaves it terminating (deletionTimestamp set), as a bound pod's."""
    p["metadata"]["finalizers"] = ["test/hold"]
    return p


async def _terminate(h: Harness, *names: str) -> None:
    for name in names:
        await h.fake.delete("pods", name, namespace="ns")
    await h.settle()
    await h.reconcile("ns/web")


def _ready_only(h: Harness) -> list[str]:
    """The addresses of the Service's one Endpoints subset, which has no not-ready ones."""
    (ep,) = h.fake.all("endpoints", "ns")
    (subset,) = ep["subsets"]
    assert "notReadyAddresses" not in subset, subset
    return [a["ip"] for a in subset["addresses"]]


def _conditions(sl: Obj) -> dict[str, tuple[bool, bool, bool]]:
    return {e["addresses"][0]: (e["conditions"]["ready"], e["conditions"]["serving"],
                                e["conditions"]["terminating"]) for e in sl["endpoints"]}


def test_terminating_pods_stay_in_the_slice_with_conditions_but_leave_endpoints() -> None:
    """As upstream's EndpointSlice controller (KEP-1672): a pod being deleted keeps its slice
    entry with ready=false, serving=its readiness, terminating=true, so kube-proxy can still
    route to it while nothing ready is left; the legacy Endpoints object drops it."""
    async def body(h: Harness) -> None:
        await _terminate(h, "b", "c")
        (sl,) = h.fake.all("endpointslices", "ns")
        assert _conditions(sl) == {"10.0.0.1": (True, True, False),
                                   "10.0.0.2": (False, True, True),
                                   "10.0.0.3": (False, False, True)}
        assert sl["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
        assert _ready_only(h) == ["10.0.0.1"]

    run(EndpointsController, [
        ("services", SVC), ("pods", pod("a", "10.0.0.1", ready=True)),
        ("pods", _held(pod("b", "10.0.0.2", ready=True))),
        ("pods", _held(pod("c", "10.0.0.3", ready=False)))], body)


def test_publish_not_ready_addresses_makes_every_endpoint_ready() -> None:
    """publishNotReadyAddresses: ready=true for all (terminating ones too), serving and
    terminating still tell the truth; in Endpoints all are addresses."""
    svc: Obj = {**SVC, "spec": {**SVC["spec"], "publishNotReadyAddresses": True}}

    async def body(h: Harness) -> None:
        await _terminate(h, "b")
        (sl,) = h.fake.all("endpointslices", "ns")
        assert _conditions(sl) == {"10.0.0.1": (True, False, False),
                                   "10.0.0.2": (True, True, True)}
        (ep,) = h.fake.all("endpoints", "ns")
        (subset,) = ep["subsets"]
        assert [a["ip"] for a in subset["addresses"]] == ["10.0.0.1", "10.0.0.2"]
        assert "notReadyAddresses" not in subset

    run(EndpointsController, [("services", svc), ("pods", pod("a", "10.0.0.1", ready=False)),
                              ("pods", _held(pod("b", "10.0.0.2", ready=True)))], body)


def test_a_pod_starting_to_terminate_updates_the_slice_in_place() -> None:
    async def body(h: Harness) -> None:
        await h.reconcile("ns/web")
        (before,) = h.fake.all("endpointslices", "ns")
        assert _conditions(before) == {"10.0.0.1": (True, True, False)}
        await _terminate(h, "a")
        (after,) = h.fake.all("endpointslices", "ns")
        assert _conditions(after) == {"10.0.0.1": (False, True, True)}
        (ep,) = h.fake.all("endpoints", "ns")
        assert ep["subsets"] == []

    run(EndpointsController, [("services", SVC),
                              ("pods", _held(pod("a", "10.0.0.1", ready=True)))], body)


def test_finished_pods_are_in_neither_endpoints_nor_slices() -> None:
    def finished(p: Obj, phase: str) -> Obj:
        p["status"]["phase"] = phase
        return p

    async def body(h: Harness) -> None:
        await h.reconcile("ns/web")
        (sl,) = h.fake.all("endpointslices", "ns")
        assert _conditions(sl) == {"10.0.0.1": (True, True, False)}
        assert _ready_only(h) == ["10.0.0.1"]

    run(EndpointsController, [
        ("services", SVC), ("pods", pod("a", "10.0.0.1", ready=True)),
        ("pods", finished(pod("b", "10.0.0.2", ready=False), "Succeeded")),
        ("pods", finished(pod("c", "10.0.0.3", ready=False), "Failed"))], body)
