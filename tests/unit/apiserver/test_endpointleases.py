"""The pure half of the lease-based ``kubernetes`` endpoints: live addresses from Leases, and
the Endpoints/EndpointSlice objects for a set of addresses."""

from __future__ import annotations

from kboot.controlplane.apiserver.endpointleases import (
    LABEL,
    dead_leases,
    endpoints_with,
    lease_name,
    lease_spec,
    live_addresses,
    slice_with,
)
from kboot.controlplane.client.meta import parse_time

T0 = "2026-12-07T12:00:00.000000Z"
NOW = parse_time(T0) or 0.0
PORTS = [{"name": "https", "port": 6443, "protocol": "TCP"}]


def lease(address: str, *, renew: str = T0, duration: int = 30,
          label: bool = True) -> dict[str, object]:
    return {"metadata": {"name": lease_name(address), "namespace": "kube-system",
                         "labels": {LABEL: "true"} if label else {}},
            "spec": lease_spec(address, renew_time=renew, duration=duration)}


def test_live_addresses_are_the_unexpired_endpoint_leases_sorted() -> None:
    leases = [lease("10.0.0.3"), lease("10.0.0.1", renew="2026-12-07T11:59:50.000000Z"),
              lease("10.0.0.2", renew="2026-12-07T11:59:00.000000Z"),  # expired 30 s ago
              lease("10.0.0.4", label=False),  # a Lease of something else
              {"metadata": {"labels": {LABEL: "true"}}, "spec": {}}]  # holder/renewal missing
    assert live_addresses(leases, now=NOW + 1) == ["10.0.0.1", "10.0.0.3"]
    # exactly at renewTime + duration it has expired
    assert live_addresses([lease("10.0.0.1")], now=NOW + 30) == []
    assert live_addresses([lease("10.0.0.1")], now=NOW + 29.9) == ["10.0.0.1"]


def test_dead_leases_are_those_expired_for_another_duration() -> None:
    leases = [lease("10.0.0.2", renew="2026-12-07T11:59:00.000000Z"),  # expired 30 s ago
              lease("10.0.0.1", renew="2026-12-07T11:59:00.000000Z"),
              lease("10.0.0.3", renew="2026-12-07T11:59:01.000000Z"),  # expired 29 s ago
              lease("10.0.0.4"),  # live
              lease("10.0.0.5", renew="2026-12-07T11:00:00.000000Z", label=False)]
    assert [lease["spec"]["holderIdentity"] for lease in dead_leases(leases, now=NOW)] == \
        ["10.0.0.1", "10.0.0.2"]
    assert dead_leases([lease("10.0.0.1")], now=NOW + 59.9) == []


def test_lease_names_are_valid_object_names_for_both_families() -> None:
    assert lease_name("10.0.0.1") == "kboot-apiserver-10-0-0-1"
    assert lease_name("fd00::1") == "kboot-apiserver-fd00--1"


def test_endpoints_and_slice_hold_exactly_the_addresses_and_keep_their_ports() -> None:
    ep = {"metadata": {"name": "kubernetes", "resourceVersion": "7"},
          "subsets": [{"addresses": [{"ip": "10.0.0.9"}], "ports": PORTS}]}
    new = endpoints_with(ep, ["10.0.0.1", "10.0.0.2"])
    assert new["subsets"] == [{"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}],
                               "ports": PORTS}]
    assert new["metadata"] == ep["metadata"]
    assert ep["subsets"][0]["addresses"] == [{"ip": "10.0.0.9"}]  # input left alone
    assert endpoints_with(ep, [])["subsets"] == []
    eps = {"metadata": {"name": "kubernetes"}, "addressType": "IPv4", "ports": PORTS,
           "endpoints": [{"addresses": ["10.0.0.9"], "conditions": {"ready": True}}]}
    new_slice = slice_with(eps, ["10.0.0.1"])
    assert new_slice["endpoints"] == [{"addresses": ["10.0.0.1"],
                                       "conditions": {"ready": True}}]
    assert new_slice["ports"] == PORTS and new_slice["addressType"] == "IPv4"
    assert eps["endpoints"][0]["addresses"] == ["10.0.0.9"]
