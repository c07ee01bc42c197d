"""Apiservers sharing one store keep the ``kubernetes`` endpoints to the live ones (lease-based
endpoint reconciler, ``apiserver/endpointleases.py``) and stop gracefully: a SIGTERMed one
leaves the Endpoints and EndpointSlice first and still answers during its shutdown delay; a
SIGKILLed one is dropped by a survivor once its lease expires, and its Lease deleted a duration
later; the last one skips the delay.

Each server advertises its own loopback address (127.0.0.1-3; all listen on 127.0.0.1), with
a short lease (3 s, renewed every 0.5 s) so expiry is quick, and a shutdown delay long enough
(60 s) that the checks made during it cannot race its end."""

from __future__ import annotations

import signal
import ssl
import urllib.request

import pytest

from tests.fixtures.apiserver import ApiServer, start_apiserver
from tests.fixtures.etcd import start_etcd
from tests.integration.apiserver.http import call
from tests.waiting import wait_until

pytestmark = pytest.mark.integration

SLICE = "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/kubernetes"
FLAGS = ("--endpoint-lease-duration=3", "--endpoint-reconcile-interval=0.5",
         "--shutdown-delay-seconds=60")


def _flags(address: str) -> list[str]:
    return [*FLAGS, f"--advertise-address={address}"]


def endpoints(server: ApiServer) -> tuple[list[str], list[str]]:
    """The addresses of the ``kubernetes`` Endpoints and of its EndpointSlice (sorted)."""
    ep = call(server, "GET", "/api/v1/namespaces/default/endpoints/kubernetes")
    eps = call(server, "GET", SLICE)
    assert ep.status == 200 and eps.status == 200, (ep.body, eps.body)
    return (sorted(a["ip"] for s in ep.body.get("subsets") or [] for a in s["addresses"]),
            sorted(a for e in eps.body.get("endpoints") or [] for a in e["addresses"]))


def answers(server: ApiServer) -> int:
    """A request on a new connection to ``server`` (not through any other): its status."""
    ctx = ssl.create_default_context(cafile=str(server.ca_file))
    with urllib.request.urlopen(server.url + "/version", context=ctx, timeout=10) as resp:
        return int(resp.status)


def test_endpoints_follow_the_live_apiservers_and_a_stopping_one_leaves_first() -> None:
    with start_etcd() as etcd, \
            start_apiserver(etcd.url, extra_args=_flags("127.0.0.1")) as first, \
            start_apiserver(etcd.url, extra_args=_flags("127.0.0.2")) as second, \
            start_apiserver(etcd.url, extra_args=_flags("127.0.0.3")) as third:
        every = ["127.0.0.1", "127.0.0.2", "127.0.0.3"]
        wait_until("all three in the endpoints", lambda: endpoints(first) == (every, every))

        # SIGTERM: out of the endpoints while the listener still takes new connections
        second.process.send_signal(signal.SIGTERM)
        left = ["127.0.0.1", "127.0.0.3"]
        wait_until("the stopping apiserver out of the endpoints",
                   lambda: endpoints(first) == (left, left), diagnose=second.log)
        assert second.process.poll() is None, second.log()  # still in its shutdown delay
        assert answers(second) == 200  # a client connecting during the delay is answered
        ready = call(second, "GET", "/readyz")
        assert ready.status != 200  # but not ready: load balancers take it out
        assert "left the kubernetes endpoints (127.0.0.1, 127.0.0.3 remain)" in second.log()
        second.process.kill()  # the rest of its delay proves nothing more
        second.process.wait()

        # SIGKILL: the survivor drops it when its lease expires
        third.process.kill()
        third.process.wait()
        wait_until("the killed apiserver dropped after its lease expired",
                   lambda: endpoints(first) == (["127.0.0.1"], ["127.0.0.1"]),
                   diagnose=first.log)
        # and, a second duration later, its Lease deleted (as an etcd TTL would drop it)
        lease = "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/" \
                "kboot-apiserver-127-0-0-3"
        wait_until("the killed apiserver's lease deleted",
                   lambda: call(first, "GET", lease).status == 404, diagnose=first.log)
        assert call(first, "GET", lease.replace("127-0-0-3", "127-0-0-1")).status == 200

        # the only one left: no delay (nobody to move to)
        first.process.send_signal(signal.SIGTERM)
        assert first.process.wait(timeout=50) == 0, first.log()
        assert "the only apiserver of the kubernetes endpoints: no shutdown delay" in first.log()
