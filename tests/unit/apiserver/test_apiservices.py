"""Local APIServices follow the served kinds (built-in and registered at run time), and the
aggregator's request attributes follow upstream's RequestInfo."""

from __future__ import annotations

from kboot.controlplane.api.registry import ResourceKind
from kboot.controlplane.apiserver.aggregator import attributes, backend_for_path
from kboot.controlplane.apiserver.strategy import SchemalessStrategy
from kboot.controlplane.client.clock import run_until_idle
from tests.unit.apiserver.harness import async_test, running

GADGETS = ResourceKind("gadgets.kboot.dev", "v1alpha1", "Gadget", "gadgets", True)
PATH = "/apis/apiregistration.k8s.io/v1/apiservices"


@async_test
async def test_local_apiservices_follow_kinds_registered_at_run_time() -> None:
    async with running() as h:
        names = {i["metadata"]["name"] for i in (await h.json("GET", PATH))["items"]}
        assert {"v1.", "v1.apps", "v2.autoscaling", "v1.apiregistration.k8s.io"} <= names
        h.state.kinds.register(SchemalessStrategy(GADGETS))
        await run_until_idle()
        made = await h.json("GET", f"{PATH}/v1alpha1.gadgets.kboot.dev")
        assert made["spec"].get("service") is None  # null is dropped when stored
        assert made["status"]["conditions"][0]["reason"] == "Local"
        # a group-version served locally is never routed to a backend
        assert backend_for_path(h.state, "/apis/gadgets.kboot.dev/v1alpha1/gadgets") is None
        h.state.kinds.unregister("gadgets.kboot.dev", "gadgets")
        await run_until_idle()
        await h.json("GET", f"{PATH}/v1alpha1.gadgets.kboot.dev", expect=404)


def test_request_attributes_of_aggregated_paths() -> None:
    nodes = attributes("GET", "/apis/metrics.k8s.io/v1beta1/nodes", watch=False)
    assert (nodes.verb, nodes.group, nodes.resource, nodes.name) == (
        "list", "metrics.k8s.io", "nodes", "")
    pod = attributes("GET", "/apis/metrics.k8s.io/v1beta1/namespaces/ns/pods/p", watch=False)
    assert (pod.verb, pod.namespace, pod.resource, pod.name) == ("get", "ns", "pods", "p")
    watch = attributes("GET", "/apis/metrics.k8s.io/v1beta1/pods", watch=True)
    assert watch.verb == "watch"
    doc = attributes("GET", "/apis/metrics.k8s.io/v1beta1", watch=False)
    assert (doc.verb, doc.resource, doc.path) == ("get", "", "/apis/metrics.k8s.io/v1beta1")
