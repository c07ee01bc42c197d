"""kube-proxy's endpoint choice (as upstream's CategorizeEndpoints, cluster traffic policy):
ready endpoints only; with none ready, the serving and terminating ones of the Service's
EndpointSlices; with neither, the port is rejected as before."""

from __future__ import annotations

import asyncio

from kboot.controlplane.client.clock import FakeClock
from kboot.controlplane.client.fake import FakeClient
from kboot.controlplane.proxy import rules
from kboot.controlplane.proxy.main import Proxier
from kboot.controlplane.proxy.rules import Endpoint

from .test_proxier import RecordingIptables

Obj = dict  # type: ignore[type-arg]

SVC: Obj = {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"clusterIP": "10.96.0.50", "selector": {"app": "web"},
                     "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}}


def _endpoints(*ready: str) -> Obj:
    subsets = [{"addresses": [{"ip": ip} for ip in ready],
                "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}] if ready else []
    return {"apiVersion": "v1", "kind": "Endpoints",
            "metadata": {"name": "web", "namespace": "shop"}, "subsets": subsets}


def _slice(**conditions: tuple[bool, bool, bool]) -> Obj:
    """ip (dots as underscores) → (ready, serving, terminating)."""
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": "web-kboot", "namespace": "shop",
                         "labels": {rules.SERVICE_NAME: "web"}},
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            "endpoints": [{"addresses": [ip.replace("_", ".")],
                           "conditions": {"ready": r, "serving": s, "terminating": t}}
                          for ip, (r, s, t) in conditions.items()]}


def _chosen(endpoints: Obj, sl: Obj) -> tuple[Endpoint, ...]:
    (sp,) = rules.service_ports([SVC], [endpoints], [sl])
    return sp.endpoints


def test_ready_endpoints_only_while_any_is_ready() -> None:
    sl = _slice(**{"10_0_0_1": (True, True, False), "10_0_0_2": (False, True, True),
                   "10_0_0_3": (False, False, False)})
    assert _chosen(_endpoints("10.0.0.1"), sl) == (Endpoint("10.0.0.1", 8080),)


def test_no_ready_endpoint_falls_back_to_serving_terminating_ones() -> None:
    sl = _slice(**{"10_0_0_2": (False, True, True), "10_0_0_3": (False, False, True),
                   "10_0_0_4": (False, False, False)})
    assert _chosen(_endpoints(), sl) == (Endpoint("10.0.0.2", 8080),)
    text = rules.render(rules.service_ports([SVC], [_endpoints()], [sl]))
    assert "--to-destination 10.0.0.2:8080" in text and "REJECT" not in text
    # a slice of another Service, or of another port name, lends nothing
    other = {**sl, "metadata": {**sl["metadata"], "labels": {rules.SERVICE_NAME: "db"}}}
    assert _chosen(_endpoints(), other) == ()
    renamed = {**sl, "ports": [{"name": "metrics", "port": 9090, "protocol": "TCP"}]}
    assert _chosen(_endpoints(), renamed) == ()


def test_neither_ready_nor_serving_terminating_rejects_as_before() -> None:
    sl = _slice(**{"10_0_0_3": (False, False, True), "10_0_0_4": (False, False, False)})
    assert _chosen(_endpoints(), sl) == ()
    nat, filt = rules.render(rules.service_ports([SVC], [_endpoints()], [sl])).split("*filter")
    assert "10.0.0.3" not in nat and "10.0.0.4" not in nat
    assert "-d 10.96.0.50/32 -p tcp -m tcp --dport 80" in filt and "REJECT" in filt


def test_unset_serving_defers_to_ready() -> None:
    sl = _slice(**{"10_0_0_2": (False, True, True)})
    del sl["endpoints"][0]["conditions"]["serving"]
    assert _chosen(_endpoints(), sl) == ()  # serving unset → ready (false)


def test_proxier_watches_slices_and_routes_to_a_serving_terminating_pod() -> None:
    clock = FakeClock()
    client = FakeClient(clock=clock)
    client.seed("services", SVC)
    client.seed("endpoints", _endpoints())
    iptables = RecordingIptables()
    proxier = Proxier(client, iptables, node_name="n1", min_period=0.2, clock=clock)

    def last() -> str:
        return iptables.restored[-1] if iptables.restored else ""

    async def go() -> None:
        task = asyncio.create_task(proxier.run())
        await clock.advance_until(lambda: "shop/web:http has no endpoints" in last(), limit=10)
        await client.create("endpointslices", _slice(**{"10_0_0_2": (False, True, True)}),
                            namespace="shop")
        await clock.advance_until(lambda: "--to-destination 10.0.0.2:8080" in last(), limit=10)
        assert "has no endpoints" not in last()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(go())
