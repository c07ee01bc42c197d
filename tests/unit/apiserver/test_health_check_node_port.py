"""``healthCheckNodePort`` (upstream's alloc.go and validateServiceExternalTrafficPolicy):
allocated from the NodePort range for ``type: LoadBalancer`` + ``externalTrafficPolicy: Local``,
a requested one honoured when free (422 when taken), kept on updates, released when the Service
stops needing it or goes away, rejected on other Service shapes; both policies are enums."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from kboot.controlplane.api.servicetraffic import validate_traffic
from tests.unit.apiserver.harness import Harness, async_test, running

NS = "/api/v1/namespaces/default"
RANGE = "30000-30004"
MERGE = "application/merge-patch+json"


def _lb(name: str, **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": name},
            "spec": {"type": "LoadBalancer", "externalTrafficPolicy": "Local",
                     "ports": [{"port": 80}], **spec}}


async def _held(h: Harness) -> set[int]:
    items = (await h.json("GET", f"{NS}/services"))["items"]
    ports = {p.get("nodePort") for s in items for p in s["spec"].get("ports") or []}
    return {p for p in ports | {s["spec"].get("healthCheckNodePort") for s in items} if p}


async def _freed(h: Harness, port: int) -> bool:
    """Whether *port* leaves the Services (as the list, served from the watch cache, sees them)
    within a bound on a hang."""
    for _ in range(500):
        if port not in await _held(h):
            return True
        await asyncio.sleep(0.01)
    return False


@async_test
async def test_allocated_kept_and_released() -> None:
    async with running(service_node_port_range=RANGE) as h:
        made = await h.json("POST", f"{NS}/services", _lb("a"), expect=201)
        hc = made["spec"]["healthCheckNodePort"]
        assert 30000 <= hc <= 30004 and hc != made["spec"]["ports"][0]["nodePort"]
        # a PUT without the field keeps it (as upstream's patchAllocatedValues)
        body = {**made, "spec": {k: v for k, v in made["spec"].items()
                                 if k != "healthCheckNodePort"}}
        kept = await h.json("PUT", f"{NS}/services/a", body)
        assert kept["spec"]["healthCheckNodePort"] == hc
        moved = await h.json("PATCH", f"{NS}/services/a", {"spec": {"healthCheckNodePort": 30004
                                                                    if hc != 30004 else 30003}},
                             content_type=MERGE, expect=422)
        assert moved["details"]["causes"][0]["field"] == "spec.healthCheckNodePort"
        assert "field is immutable" in moved["message"]
        # Local → Cluster: the leftover port is cleared and free again
        cluster = await h.json("PATCH", f"{NS}/services/a",
                               {"spec": {"externalTrafficPolicy": "Cluster"}},
                               content_type=MERGE)
        assert "healthCheckNodePort" not in cluster["spec"]
        assert await _freed(h, hc)
        again = await h.json("POST", f"{NS}/services", _lb("b", healthCheckNodePort=hc),
                             expect=201)
        assert again["spec"]["healthCheckNodePort"] == hc
        await h.json("DELETE", f"{NS}/services/b")
        assert await _freed(h, hc)


@async_test
async def test_requested_port_conflicts_are_a_clear_422() -> None:
    async with running(service_node_port_range=RANGE) as h:
        first = await h.json("POST", f"{NS}/services", _lb("a", healthCheckNodePort=30002),
                             expect=201)
        assert first["spec"]["healthCheckNodePort"] == 30002
        assert first["spec"]["ports"][0]["nodePort"] != 30002
        taken = await h.json("POST", f"{NS}/services", _lb("b", healthCheckNodePort=30002),
                             expect=422)
        assert taken["details"]["causes"][0]["field"] == "spec.healthCheckNodePort"
        assert "30002: provided port is already allocated" in taken["message"]
        outside = await h.json("POST", f"{NS}/services", _lb("c", healthCheckNodePort=31000),
                               expect=422)
        assert "provided port is not in the valid range" in outside["message"]
        clash = _lb("d", healthCheckNodePort=30004)
        clash["spec"]["ports"][0]["nodePort"] = 30004
        await h.json("POST", f"{NS}/services", clash, expect=422)


@async_test
async def test_a_requested_port_is_never_given_to_the_same_services_node_port() -> None:
    """Two free ports, one asked for as the health check port: the Service's own nodePort
    must take the other, every time (it was a random pick among both, a 422 half the time)."""
    async with running(service_node_port_range="30000-30001") as h:
        for i in range(12):
            made = await h.json("POST", f"{NS}/services",
                                _lb(f"s{i}", healthCheckNodePort=30000), expect=201)
            assert (made["spec"]["healthCheckNodePort"],
                    made["spec"]["ports"][0]["nodePort"]) == (30000, 30001)
            await h.json("DELETE", f"{NS}/services/s{i}")
            assert await _freed(h, 30000) and await _freed(h, 30001)


@async_test
async def test_other_shapes_are_rejected_with_upstreams_messages() -> None:
    async with running(service_node_port_range=RANGE) as h:
        nodeport = _lb("np", type="NodePort", healthCheckNodePort=30001)
        bad = await h.json("POST", f"{NS}/services", nodeport, expect=422)
        assert bad["details"]["causes"][0]["field"] == "spec.healthCheckNodePort"
        assert "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is " \
               "'Local'" in bad["message"]
        plain = {"metadata": {"name": "cip"},
                 "spec": {"externalTrafficPolicy": "Local", "ports": [{"port": 80}]}}
        bad = await h.json("POST", f"{NS}/services", plain, expect=422)
        assert "spec.externalTrafficPolicy: Invalid value: \"Local\": may only be set for " \
               "externally-accessible services" in bad["message"]
        # a NodePort Service turned ClusterIP loses its externalTrafficPolicy, as upstream
        made = await h.json("POST", f"{NS}/services", _lb("lb"), expect=201)
        ports = [{"port": 80}]
        turned = await h.json("PATCH", f"{NS}/services/lb",
                              {"spec": {"type": "ClusterIP", "ports": ports}},
                              content_type=MERGE)
        assert "externalTrafficPolicy" not in turned["spec"]
        assert "healthCheckNodePort" not in turned["spec"]
        assert await _freed(h, made["spec"]["healthCheckNodePort"])


@pytest.mark.parametrize(("spec", "old", "fields"), [
    ({"type": "NodePort", "externalTrafficPolicy": "Sometimes"}, None,
     ["spec.externalTrafficPolicy"]),
    ({"internalTrafficPolicy": "Nearby"}, None, ["spec.internalTrafficPolicy"]),
    ({"type": "ClusterIP", "externalIPs": ["192.0.2.9"], "externalTrafficPolicy": "Local"},
     None, []),
    ({"type": "LoadBalancer", "externalTrafficPolicy": "Local", "healthCheckNodePort": 70000},
     None, ["spec.healthCheckNodePort"]),
    ({"type": "LoadBalancer", "externalTrafficPolicy": "Cluster", "healthCheckNodePort": 30001},
     {"type": "LoadBalancer", "externalTrafficPolicy": "Local", "healthCheckNodePort": 30001},
     []),  # left behind by the update: cleared, not rejected
    ({"type": "LoadBalancer", "externalTrafficPolicy": "Cluster", "healthCheckNodePort": 30002},
     {"type": "LoadBalancer", "externalTrafficPolicy": "Local", "healthCheckNodePort": 30001},
     ["spec.healthCheckNodePort"]),
])
def test_validate_traffic(spec: dict[str, Any], old: dict[str, Any] | None,
                          fields: list[str]) -> None:
    assert [e.field for e in validate_traffic(spec, old)] == fields
