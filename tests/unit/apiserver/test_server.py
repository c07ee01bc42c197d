"""The apiserver's behaviour in-process (memory store): lifecycle, subresources, list/watch."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from kboot.controlplane.apiserver import watchcache
from kboot.controlplane.apiserver.compaction import Compactor
from tests.unit.apiserver.harness import Harness, async_test, running

NS = "/api/v1/namespaces/default"


def pod(name: str, node: str | None = None, **labels: str) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "c", "image": "busybox"}]}
    if node:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": labels}, "spec": spec}


async def watch_lines(h: Harness, path: str, count: int, *, timeout: float = 5,
                      headers: dict[str, str] | None = None) -> list[dict[str, Any]]:
    resp = await h.request("GET", path, headers=headers)
    assert resp.status == 200
    out: list[dict[str, Any]] = []
    async def read() -> None:
        while len(out) < count:
            line = await resp.content.readline()
            if not line:
                return
            out.append(json.loads(line))
    try:
        await asyncio.wait_for(read(), timeout)
    finally:
        resp.close()
    return out


@async_test
async def test_create_fills_metadata_and_dry_run_does_not_store() -> None:
    async with running() as h:
        created = await h.json("POST", f"{NS}/configmaps", {"metadata": {"generateName": "c-"}},
                               expect=201)
        meta = created["metadata"]
        assert meta["name"].startswith("c-") and len(meta["name"]) == 7
        assert meta["uid"] and meta["creationTimestamp"] and int(meta["resourceVersion"]) > 0
        dry = await h.json("POST", f"{NS}/configmaps?dryRun=All", {"metadata": {"name": "d"}},
                           expect=201)
        assert dry["metadata"]["name"] == "d"
        await h.json("GET", f"{NS}/configmaps/d", expect=404)
        await h.json("POST", f"{NS}/configmaps", {"metadata": {"name": meta["name"]}},
                     expect=409)
        missing = await h.json("POST", "/api/v1/namespaces/nope/configmaps",
                               {"metadata": {"name": "x"}}, expect=404)
        assert missing["message"] == 'namespaces "nope" not found'


@async_test
async def test_generation_and_status_split() -> None:
    async with running() as h:
        path = "/apis/apps/v1/namespaces/default/deployments"
        body = {"metadata": {"name": "d"}, "spec": {
            "replicas": 1, "selector": {"matchLabels": {"a": "b"}},
            "template": {"metadata": {"labels": {"a": "b"}},
                         "spec": {"containers": [{"name": "c", "image": "x"}]}}},
            "status": {"replicas": 9}}
        d = await h.json("POST", path, body, expect=201)
        assert d["metadata"]["generation"] == 1 and "replicas" not in d.get("status", {})
        d = await h.json("PATCH", f"{path}/d", {"metadata": {"labels": {"x": "y"}}},
                         content_type="application/merge-patch+json")
        assert d["metadata"]["generation"] == 1
        d = await h.json("PATCH", f"{path}/d", {"spec": {"replicas": 2}, "status": {"replicas": 5}},
                         content_type="application/merge-patch+json")
        assert d["metadata"]["generation"] == 2 and "replicas" not in d.get("status", {})
        s = await h.json("PATCH", f"{path}/d/status", {"spec": {"replicas": 7},
                                                      "status": {"replicas": 5}},
                         content_type="application/merge-patch+json")
        assert s["status"]["replicas"] == 5 and s["spec"]["replicas"] == 2
        scale = await h.json("GET", f"{path}/d/scale")
        assert scale["spec"]["replicas"] == 2 and scale["status"]["selector"] == "a=b"
        stale = {**s, "metadata": {**s["metadata"], "resourceVersion": "1"}}
        conflict = await h.json("PUT", f"{path}/d", stale, expect=409)
        assert "the object has been modified" in conflict["message"]


@async_test
async def test_pod_graceful_delete_binding_and_finalizers() -> None:
    async with running() as h:
        await h.json("POST", f"{NS}/pods", pod("free"), expect=201)
        await h.json("DELETE", f"{NS}/pods/free")
        await h.json("GET", f"{NS}/pods/free", expect=404)
        await h.json("POST", f"{NS}/pods", pod("bound"), expect=201)
        binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "bound"},
                   "target": {"kind": "Node", "name": "node1"}}
        await h.json("POST", f"{NS}/pods/bound/binding", binding, expect=201)
        again = await h.json("POST", f"{NS}/pods/bound/binding", binding, expect=409)
        assert "already assigned" in again["message"]
        deleting = await h.json("DELETE", f"{NS}/pods/bound")
        assert deleting["metadata"]["deletionTimestamp"]
        assert deleting["metadata"]["deletionGracePeriodSeconds"] == 30
        await h.json("GET", f"{NS}/pods/bound")
        await h.json("DELETE", f"{NS}/pods/bound?gracePeriodSeconds=0", token="node1")
        await h.json("GET", f"{NS}/pods/bound", expect=404)
        cm = {"metadata": {"name": "held", "finalizers": ["example.com/hold"]}}
        await h.json("POST", f"{NS}/configmaps", cm, expect=201)
        held = await h.json("DELETE", f"{NS}/configmaps/held")
        assert held["metadata"]["deletionTimestamp"]
        await h.json("PATCH", f"{NS}/configmaps/held", {"metadata": {"finalizers": None}},
                     content_type="application/merge-patch+json")
        await h.json("GET", f"{NS}/configmaps/held", expect=404)


@async_test
async def test_eviction_and_preconditions() -> None:
    async with running() as h:
        created = await h.json("POST", f"{NS}/pods", pod("p"), expect=201)
        bad = {"preconditions": {"uid": "not-it"}}
        await h.json("DELETE", f"{NS}/pods/p", bad, expect=409)
        eviction = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "p"}}
        await h.json("POST", f"{NS}/pods/p/eviction", eviction, expect=201)
        await h.json("GET", f"{NS}/pods/p", expect=404)
        assert created["metadata"]["uid"]


@async_test
async def test_list_pagination_selectors_and_tables() -> None:
    async with running() as h:
        for i in range(7):
            await h.json("POST", f"{NS}/pods", pod(f"p{i}", app="x" if i % 2 else "y"),
                         expect=201)
        page = await h.json("GET", f"{NS}/pods?limit=2&labelSelector=app%3Dx")
        names = [p["metadata"]["name"] for p in page["items"]]
        assert names == ["p1", "p3"] and page["metadata"]["continue"]
        await h.json("POST", f"{NS}/pods", pod("p9", app="x"), expect=201)  # after the snapshot
        rest = await h.json("GET", f"{NS}/pods?limit=2&labelSelector=app%3Dx&continue="
                            + page["metadata"]["continue"])
        assert [p["metadata"]["name"] for p in rest["items"]] == ["p5"]
        assert rest["metadata"]["resourceVersion"] == page["metadata"]["resourceVersion"]
        await h.json("POST", f"{NS}/configmaps", {"metadata": {"name": "moves-rev"}},
                     expect=201)
        from_store = await h.json("GET", f"{NS}/pods?limit=3&labelSelector=app%3Dx")
        assert [p["metadata"]["name"] for p in from_store["items"]] == ["p1", "p3", "p5"]
        cached = await h.json("GET", "/api/v1/pods?resourceVersion=0&fieldSelector="
                              "metadata.name%3Dp2")
        assert [p["metadata"]["name"] for p in cached["items"]] == ["p2"]
        table = await h.json("GET", f"{NS}/pods?limit=2", headers={
            "Accept": "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"})
        assert table["kind"] == "Table" and len(table["rows"]) == 2
        assert [c["name"] for c in table["columnDefinitions"]][:3] == ["Name", "Ready", "Status"]
        assert table["rows"][0]["object"]["kind"] == "PartialObjectMetadata"
        assert table["metadata"]["continue"]
        await h.json("GET", f"{NS}/pods?fieldSelector=spec.bogus%3D1", expect=400)


@async_test
async def test_watch_from_rv_selectors_and_deletes() -> None:
    async with running() as h:
        listed = await h.json("GET", f"{NS}/pods")
        rv = listed["metadata"]["resourceVersion"]
        task = asyncio.create_task(watch_lines(
            h, f"{NS}/pods?watch=true&resourceVersion={rv}&labelSelector=app%3Dweb", 3))
        # no need to wait for the watch to start: it replays everything after rv
        await h.json("POST", f"{NS}/pods", pod("w", app="web"), expect=201)
        await h.json("POST", f"{NS}/pods", pod("other", app="db"), expect=201)
        await h.json("PATCH", f"{NS}/pods/w", {"metadata": {"labels": {"app": "gone"}}},
                     content_type="application/merge-patch+json")
        await h.json("PATCH", f"{NS}/pods/other", {"metadata": {"labels": {"app": "web"}}},
                     content_type="application/merge-patch+json")
        events = await task
        assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
            ("ADDED", "w"), ("DELETED", "w"), ("ADDED", "other")]
        replay = await watch_lines(h, f"{NS}/pods?watch=1&resourceVersion={rv}", 4)
        assert [e["type"] for e in replay] == ["ADDED", "ADDED", "MODIFIED", "MODIFIED"]
        initial = await watch_lines(h, f"{NS}/pods?watch=1", 2)
        assert {e["object"]["metadata"]["name"] for e in initial} == {"w", "other"}


@async_test
async def test_watch_bookmarks_timeout_and_expired() -> None:
    old = watchcache.BUFFER_EVENTS
    watchcache.BUFFER_EVENTS = 3
    try:
        async with running(bookmark_interval=0.2) as h:
            first = await h.json("POST", f"{NS}/configmaps", {"metadata": {"name": "a"}},
                                 expect=201)
            for i in range(5):
                await h.json("POST", f"{NS}/configmaps", {"metadata": {"name": f"b{i}"}},
                             expect=201)
            rv = first["metadata"]["resourceVersion"]
            expired = await watch_lines(h, f"{NS}/configmaps?watch=1&resourceVersion={rv}", 1)
            assert expired[0]["type"] == "ERROR" and expired[0]["object"]["code"] == 410
            current = (await h.json("GET", f"{NS}/configmaps"))["metadata"]["resourceVersion"]
            marks = await watch_lines(h, f"{NS}/configmaps?watch=1&allowWatchBookmarks=true&"
                                      f"timeoutSeconds=1&resourceVersion={current}", 2)
            assert [e["type"] for e in marks] == ["BOOKMARK", "BOOKMARK"]
            assert int(marks[0]["object"]["metadata"]["resourceVersion"]) >= int(current)
            ended = await watch_lines(h, f"{NS}/configmaps?watch=1&timeoutSeconds=1&"
                                      f"resourceVersion={current}", 5, timeout=3)
            assert ended == []
    finally:
        watchcache.BUFFER_EVENTS = old


@async_test
async def test_table_watch_and_server_side_apply_conflict() -> None:
    async with running() as h:
        table_accept = {"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"}
        rv = (await h.json("GET", f"{NS}/configmaps"))["metadata"]["resourceVersion"]
        task = asyncio.create_task(watch_lines(
            h, f"{NS}/configmaps?watch=1&resourceVersion={rv}", 2, headers=table_accept))
        apply = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa"},
                 "data": {"k": "1"}}
        path = f"{NS}/configmaps/ssa?fieldManager="
        await h.json("PATCH", path + "one", apply, content_type="application/apply-patch+yaml",
                     expect=201)
        changed = {**apply, "data": {"k": "2"}}
        conflict = await h.json("PATCH", path + "two", changed,
                                content_type="application/apply-patch+yaml", expect=409)
        assert conflict["details"]["causes"][0]["field"] == ".data.k"
        forced = await h.json("PATCH", path + "two&force=true", changed,
                              content_type="application/apply-patch+yaml")
        assert forced["data"] == {"k": "2"}
        assert {m["manager"] for m in forced["metadata"]["managedFields"]} == {"two"}
        events = await task
        assert events[1]["object"]["kind"] == "Table"
        assert events[0]["object"]["columnDefinitions"]
        assert events[1]["object"]["rows"][0]["cells"][0] in ("kube-root-ca.crt", "ssa")


@async_test
async def test_services_get_cluster_ips_and_node_ports() -> None:
    async with running(service_cluster_ip_range="10.0.0.0/24",
                       service_node_port_range="30000-30010") as h:
        k8s = await h.json("GET", f"{NS}/services/kubernetes")
        assert k8s["spec"]["clusterIP"] == "10.0.0.1"
        svc = {"metadata": {"name": "np"}, "spec": {"type": "NodePort", "ports": [{"port": 80}]}}
        made = await h.json("POST", f"{NS}/services", svc, expect=201)
        assert made["spec"]["clusterIP"].startswith("10.0.0.")
        assert 30000 <= made["spec"]["ports"][0]["nodePort"] <= 30010
        taken = {"metadata": {"name": "t"}, "spec": {"clusterIP": made["spec"]["clusterIP"],
                                                     "ports": [{"port": 1}]}}
        await h.json("POST", f"{NS}/services", taken, expect=422)


@async_test
async def test_rbac_node_rules_metrics_and_discovery() -> None:
    async with running() as h:
        denied = await h.json("GET", f"{NS}/secrets", token="nobody", expect=403)
        assert denied["message"].startswith('secrets is forbidden: User "nobody" cannot list')
        await h.json("GET", "/apis", token="nobody")
        resp = await h.request("GET", "/api/v1/namespaces", token="unknown")
        assert resp.status == 401
        await h.json("PATCH", "/api/v1/nodes/node2/status", {"status": {}}, token="node1",
                     content_type="application/merge-patch+json", expect=403)
        agg = await h.request("GET", "/apis", headers={
            "Accept": "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"})
        assert agg.headers["Content-Type"].endswith("as=APIGroupDiscoveryList")
        metrics = await (await h.request("GET", "/metrics")).text()
        assert 'apiserver_request_total{code="403",group="",resource="secrets",verb="LIST"} 1' \
            in metrics
        version = await h.json("GET", "/version", token="")
        assert version["minor"] == "32"
        v2 = await h.request("GET", "/openapi/v2", headers={
            "Accept": "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"})
        assert v2.status == 200
        assert v2.headers["Content-Type"] == \
            "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
        assert (await v2.read()).startswith(b"\x0a\x032.0")
        assert (await h.json("GET", "/openapi/v2"))["swagger"] == "2.0"
        root = await h.json("GET", "/openapi/v3")
        url = root["paths"]["apis/apps/v1"]["serverRelativeURL"]
        doc = await h.json("GET", url)
        assert "io.k8s.api.apps.v1.Deployment" in doc["components"]["schemas"]


@async_test
async def test_compaction_round_robin() -> None:
    async with running() as h:
        store = h.state.storage.store
        compactor = Compactor(store, 300)
        recorded = await store.current_revision()
        assert await compactor.compact_once() is None  # records the current revision
        await h.json("POST", f"{NS}/configmaps", {"metadata": {"name": "x"}}, expect=201)
        assert await compactor.compact_once() == recorded  # one interval of history kept
        peer = Compactor(store, 300)
        assert await peer.compact_once() is None  # the key moved: a peer did the work


@async_test
async def test_size_limit_deletecollection_and_foreground() -> None:
    async with running() as h:
        big = {"metadata": {"name": "big"}, "data": {"k": "x" * (1600 * 1024)}}
        too_large = await h.json("POST", f"{NS}/configmaps", big, expect=413)
        assert too_large["reason"] == "RequestEntityTooLarge"
        for name, tier in (("a", "x"), ("b", "x"), ("c", "y")):
            await h.json("POST", f"{NS}/configmaps",
                         {"metadata": {"name": name, "labels": {"tier": tier}}}, expect=201)
        gone = await h.json("DELETE", f"{NS}/configmaps?labelSelector=tier%3Dx")
        assert sorted(i["metadata"]["name"] for i in gone["items"]) == ["a", "b"]
        left = await h.json("GET", f"{NS}/configmaps?labelSelector=tier")
        assert [i["metadata"]["name"] for i in left["items"]] == ["c"]
        fg = await h.json("DELETE", f"{NS}/configmaps/c", {"propagationPolicy": "Foreground"})
        assert fg["metadata"]["finalizers"] == ["foregroundDeletion"]
        await h.json("GET", f"{NS}/configmaps/c")


@async_test
async def test_namespace_termination() -> None:
    async with running() as h:
        await h.json("POST", "/api/v1/namespaces", {"metadata": {"name": "doomed"}}, expect=201)
        ns = await h.json("DELETE", "/api/v1/namespaces/doomed")
        assert ns["status"]["phase"] == "Terminating" and ns["spec"]["finalizers"] == ["kubernetes"]
        blocked = await h.json("POST", "/api/v1/namespaces/doomed/configmaps",
                               {"metadata": {"name": "x"}}, expect=403)
        assert "being terminated" in blocked["message"]
        ns["spec"]["finalizers"] = []
        await h.json("PUT", "/api/v1/namespaces/doomed", ns)
        await h.json("GET", "/api/v1/namespaces/doomed", expect=404)


@async_test
async def test_kubernetes_endpoints_follow_the_apiservers_endpoint_leases() -> None:
    from kboot.controlplane.apiserver.endpointleases import EndpointReconciler, lease_name
    slice_path = "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/kubernetes"

    async def addresses(h: Harness) -> tuple[list[str], list[list[str]]]:
        ep = await h.json("GET", f"{NS}/endpoints/kubernetes")
        eps = await h.json("GET", slice_path)
        return ([a["ip"] for s in ep["subsets"] for a in s["addresses"]],
                [e["addresses"] for e in eps["endpoints"]])

    async with running(advertise_address="10.1.0.1") as h:
        first = EndpointReconciler(h.state.storage, h.state.clock, address="10.1.0.1")
        await first.join()  # what serve() does once it listens
        second = EndpointReconciler(h.state.storage, h.state.clock, address="10.1.0.2")
        await second.join()
        await second.join()  # idempotent
        assert await addresses(h) == (["10.1.0.1", "10.1.0.2"], [["10.1.0.1"], ["10.1.0.2"]])
        lease = await h.json("GET", "/apis/coordination.k8s.io/v1/namespaces/kube-system/"
                             f"leases/{lease_name('10.1.0.2')}")
        assert lease["spec"]["holderIdentity"] == "10.1.0.2"
        assert await second.leave() == ["10.1.0.1"]  # gone at once, the first one stays
        assert await addresses(h) == (["10.1.0.1"], [["10.1.0.1"]])
        await h.json("GET", "/apis/coordination.k8s.io/v1/namespaces/kube-system/"
                     f"leases/{lease_name('10.1.0.2')}", expect=404)
        # the only apiserver left keeps its address when it leaves (nobody to move to)
        assert await first.leave() == []
        assert await addresses(h) == (["10.1.0.1"], [["10.1.0.1"]])
        # a lease nobody renews expires: the next reconcile drops its address
        stale = EndpointReconciler(h.state.storage, h.state.clock, address="10.1.0.3",
                                   duration=1)
        await stale.join()
        assert (await addresses(h))[0] == ["10.1.0.1", "10.1.0.3"]
        lease_path = ("/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/"
                      f"{lease_name('10.1.0.3')}")
        old = await h.json("GET", lease_path)
        old["spec"]["renewTime"] = "2020-01-01T00:00:00.000000Z"
        await h.json("PUT", lease_path, old)
        await first.join()
        assert await addresses(h) == (["10.1.0.1"], [["10.1.0.1"]])


@async_test
async def test_a_leaving_apiserver_takes_its_address_out_again_when_a_peer_writes_it_back() -> None:
    """A peer whose reconcile round read the leases just before this apiserver's was deleted
    writes its address back moments after it left; during its shutdown delay the leaving
    apiserver looks again and takes it out, before its listener closes."""
    from kboot.controlplane.apiserver.endpointleases import EndpointReconciler
    from kboot.controlplane.apiserver.main import _leave_endpoints

    async with running(advertise_address="10.1.0.1") as h:
        peer = EndpointReconciler(h.state.storage, h.state.clock, address="10.1.0.1")
        leaving = EndpointReconciler(h.state.storage, h.state.clock, address="10.1.0.2")
        await peer.join()
        await leaving.join()
        stale = await peer.live()  # the peer's round read both leases ...
        assert stale == ["10.1.0.1", "10.1.0.2"]

        async def peer_round_lands_late() -> None:
            await asyncio.sleep(0.3)  # ... and writes after the other one left
            await peer.reconcile(stale)

        late = asyncio.create_task(peer_round_lands_late())
        await _leave_endpoints(leaving, None, asyncio.Event(), delay=2.0)
        await late
        ep = await h.json("GET", f"{NS}/endpoints/kubernetes")
        assert [a["ip"] for s in ep["subsets"] for a in s["addresses"]] == ["10.1.0.1"]


@async_test
async def test_streaming_list_ends_initial_events_with_a_bookmark() -> None:
    async with running() as h:
        await h.json("POST", f"{NS}/configmaps", {"metadata": {"name": "one"}}, expect=201)
        events = await watch_lines(h, f"{NS}/configmaps?watch=1&sendInitialEvents=true&"
                                   "allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan",
                                   2)
        assert [e["type"] for e in events] == ["ADDED", "BOOKMARK"]
        assert events[1]["object"]["metadata"]["annotations"] == {
            "k8s.io/initial-events-end": "true"}


@async_test
async def test_binding_on_a_stale_cached_pod_still_conflicts() -> None:
    """Bindings start from the watch cache's copy; a copy older than the store (still unbound)
    costs a storage conflict and a real read, and the answer is the right 409."""
    async with running() as h:
        created = await h.json("POST", f"{NS}/pods", pod("racy"), expect=201)
        binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "racy"},
                   "target": {"kind": "Node", "name": "node1"}}
        await h.json("POST", f"{NS}/pods/racy/binding", binding, expect=201)
        kind = next(k for k in h.state.caches.caches if k[1] == "pods")
        cache = h.state.caches.caches[kind]
        key = next(k for k in cache.objects if k.endswith("/racy"))
        cache.objects[key] = created  # as if the cache had not seen the binding yet
        again = await h.json("POST", f"{NS}/pods/racy/binding",
                             {**binding, "target": {"kind": "Node", "name": "node2"}},
                             expect=409)
        assert 'already assigned to node "node1"' in again["message"]
        stored = await h.json("GET", f"{NS}/pods/racy")
        assert stored["spec"]["nodeName"] == "node1"
