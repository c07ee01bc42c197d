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
