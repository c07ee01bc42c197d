"""The ApiClient contract, written once and run against the fake and the real client.

``test_contract.py`` runs :class:`ApiClientContract` twice: over :class:`FakeClient`, and over
the real REST :class:`Client` talking to an in-process kboot-apiserver on the memory store
(as the Store contract runs over every backend). Whatever a unit test learns from the fake is
therefore true of the apiserver, for the verbs below: create/get/list (selectors, pages),
watch (from a version, selector transitions), replace (optimistic concurrency), patch (merge,
JSON, strategic, server-side apply), delete (finalizers, preconditions, graceful pods), the
status subresource, binding and eviction.

Known, deliberate difference (not asserted): the fake does not require a request's Namespace
to exist, so unit tests need not create one.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from kboot.controlplane.client.api import ApiClient, DeleteOptions, Obj, WatchEvent
from kboot.controlplane.client.errors import AlreadyExists, Conflict, Invalid, NotFound

Case = Callable[[ApiClient], Awaitable[None]]
NS = "default"
IO_TIMEOUT = 20.0  # a hang fails the test; normal runs take milliseconds


@dataclass(frozen=True)
class Backend:
    name: str
    open: Callable[[], contextlib.AbstractAsyncContextManager[ApiClient]]

    def run(self, case: Case) -> None:
        async def main() -> None:
            async with self.open() as client:
                await asyncio.wait_for(case(client), IO_TIMEOUT)

        asyncio.run(main())


def cm(name: str, **labels: str) -> Obj:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": NS, "labels": labels}, "data": {"k": "v"}}


def pod(name: str, node: str = "", **labels: str) -> Obj:
    spec: Obj = {"containers": [{"name": "c", "image": "busybox", "env": [
        {"name": "A", "value": "1"}]}]}
    if node:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": NS, "labels": labels}, "spec": spec}


def deployment(name: str, replicas: int = 1) -> Obj:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": NS},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "c", "image": "x"}]}}}}


def names(listing: Obj) -> list[str]:
    return sorted(o["metadata"]["name"] for o in listing["items"])


async def take(events: AsyncIterator[WatchEvent], n: int) -> list[tuple[str, str]]:
    """The first ``n`` non-bookmark events as (type, name)."""
    got: list[tuple[str, str]] = []
    async for ev in events:
        if ev.type != "BOOKMARK":
            got.append((ev.type, ev.object["metadata"]["name"]))
            if len(got) == n:
                break
    return got


class ApiClientContract:
    # -- create / get ----------------------------------------------------------------------

    def test_create_fills_metadata_and_get_returns_it(self, backend: Backend) -> None:
        async def case(c: ApiClient) -> None:
            made = await c.create("configmaps", cm("a"))
            md = made["metadata"]
            assert md["uid"] and md["creationTimestamp"] and int(md["resourceVersion"]) > 0
            assert md["namespace"] == NS
            assert (made["apiVersion"], made["kind"]) == ("v1", "ConfigMap")
            got = await c.get("configmaps", "a", namespace=NS)
            assert got["metadata"]["uid"] == md["uid"]
            assert got["metadata"]["resourceVersion"] == md["resourceVersion"]
            assert got["data"] == {"k": "v"}

        backend.run(case)

    def test_create_twice_is_already_exists_and_get_missing_is_not_found(
            self, backend: Backend) -> None:
        async def case(c: ApiClient) -> None:
            await c.create("configmaps", cm("a"))
            with pytest.raises(AlreadyExists):
                await c.create("configmaps", cm("a"))
            with pytest.raises(NotFound):
                await c.get("configmaps", "missing", namespace=NS)

        backend.run(case)

    def test_generate_name_makes_distinct_names(self, backend: Backend) -> None:
        async def case(c: ApiClient) -> None:
            body = {"metadata": {"generateName": "g-", "namespace": NS}}
            a = await c.create("configmaps", body)
            b = await c.create("configmaps", body)
            assert a["metadata"]["name"].startswith("g-")
            assert a["metadata"]["name"] != b["metadata"]["name"]

        backend.run(case)

    # -- list and selectors ----------------------------------------------------------------

    def test_list_filters_by_label_selectors(self, backend: Backend) -> None:
        async def case(c: ApiClient) -> None:
            await c.create("configmaps", cm("a", app="web", tier="fe"))
            await c.create("configmaps", cm("b", app="db"))
            await c.create("configmaps", cm("c"))
            ls = "configmaps"
            assert names(await c.list(ls, namespace=NS, label_selector="app=web")) == ["a"]
            assert names(await c.list(ls, namespace=NS, label_selector="app in (web,db)")) \
                == ["a", "b"]
            assert names(await c.list(ls, namespace=NS, label_selector="!app")) == ["c"]
            assert names(await c.list(ls, namespace=NS, label_selector="app,app!=web")) == ["b"]
            assert names(await c.list(ls, namespace="other")) == []

        backend.run(case)

    def test_list_filters_by_field_selectors(self, backend: Backend) -> None:
        async def case(c: ApiClient) -> None:
            await c.create("pods", pod("p1", node="n1"))
            await c.create("pods", pod("p2", node="n2"))
            await c.create("pods", pod("p3"))
            assert names(await c.list("pods", namespace=NS,
                                      field_selector="spec.nodeName=n1")) == ["p1"]
            assert names(await c.list("pods", namespace=NS,
                                      field_selector="spec.nodeName=")) == ["p3"]
            assert names(await c.list("pods", namespace=NS,
                                      field_selector="metadata.name!=p1")) == ["p2", "p3"]

        backend.run(case)

    def test_list_pages_with_limit_and_continue(self, backend: Backend) -> None:
        async def case(c: ApiClient) -> None:
            for i in range(5):
                await c.create("configmaps", cm(f"c{i}"))
            seen: list[str] = []
            token: str | None = None
            pages = 0
            while True:
                page = await c.list("configmaps", namespace=NS, limit=2, continue_=token)
                assert len(page["items"]) <= 2
                seen += [o["metadata"]["name"] for o in page["items"]]
                pages += 1
                token = page["metadata"].get("continue")
                if not token:
                    break
            assert sorted(seen) == [f"c{i}" for i in range(5)] and pages == 3
            assert int(page["metadata"]["resourceVersion"]) > 0

        backend.run(case)

    # -- watch -----------------------------------------------------------------------------

    def test_watch_from_a_version_sees_later_changes_in_order(self, backend: Backend) -> None:
        async def case(c: ApiClient) -> None:
            first = await c.create("configmaps", cm("a"))
            rv = first["metadata"]["resourceVersion"]
            await c.create("configmaps", cm("b"))
            await c.patch("configmaps", "a", {"data": {"k": "2"}}, namespace=NS)
            await c.delete("configmaps", "b", namespace=NS)
            events = c.watch("configmaps", namespace=NS, resource_version=rv)
            assert await take(events, 3) == [("ADDED", "b"), ("MODIFIED", "a"),
                                             ("DELETED", "b")]

        backend.run(case)

    def test_watch_reports_objects_entering_and_leaving_a_selector(
            self, backend: Backend) -> None:
        async def case(c: ApiClient) -> None:
            start = await c.list("configmaps", namespace=NS)
            rv = start["metadata"]["resourceVersion"]
            await c.create("configmaps", cm("a", app="web"))
            await c.create("configmaps", cm("b"))  # never matches: never seen
            await c.patch("configmaps", "a", {"metadata": {"labels": {"app": "db"}}},
                          namespace=NS)
            await c.patch("configmaps", "b", {"metadata": {"labels": {"app": "web"}}},
                          namespace=NS)
            events = c.watch("configmaps", namespace=NS, label_selector="app=web",
                             resource_version=rv)
            assert await take(events, 3) == [("ADDED", "a"), ("DELETED", "a"), ("ADDED", "b")]

        backend.run(case)

    # -- replace: optimistic concurrency and generation ------------------------------------

    def test_replace_with_a_stale_version_conflicts(self, backend: Backend) -> None:
        async def case(c: ApiClient) -> None:
            made = await c.create("configmaps", cm("a"))
            fresh = {**made, "data": {"k": "2"}}
            updated = await c.replace("configmaps", fresh)
            assert int(updated["metadata"]["resourceVersion"]) > \
                int(made["metadata"]["resourceVersion"])
            with pytest.raises(Conflict) as caught:
                await c.replace("configmaps", {**made, "data": {"k": "3"}})
            assert not isinstance(caught.value, AlreadyExists)
            assert (await c.get("configmaps", "a", namespace=NS))["data"] == {"k": "2"}

        backend.run(case)

    def test_generation_moves_with_spec_only(self, backend: Backend) -> None:
        async def case(c: ApiClient) -> None:
            d = await c.create("deployments", deployment("d"))
            assert d["metadata"]["generation"] == 1
            d = await c.patch("deployments", "d", {"metadata": {"labels": {"x": "y"}}},
                              namespace=NS)
            assert d["metadata"]["generation"] == 1
            d = await c.patch("deployments", "d", {"spec": {"replicas": 3}}, namespace=NS)
            assert d["metadata"]["generation"] == 2

        backend.run(case)

    # -- status subresource ----------------------------------------------------------------

    def test_status_and_spec_are_written_apart(self, backend: Backend) -> None:
        async def case(c: ApiClient) -> None:
            d = await c.create("deployments", deployment("d"))
            d = await c.patch("deployments", "d", {"spec": {"replicas": 2},
                                                   "status": {"replicas": 9}}, namespace=NS)
            assert (d.get("status") or {}).get("replicas") is None  # main resource: no status
            s = await c.patch("deployments", "d", {"spec": {"replicas": 7},
                                                   "status": {"replicas": 5}},
                              namespace=NS, subresource="status")
            assert s["status"]["replicas"] == 5 and s["spec"]["replicas"] == 2
            assert s["metadata"]["generation"] == d["metadata"]["generation"]
            s["status"]["replicas"] = 6
            s = await c.replace("deployments", s, subresource="status")
            assert s["status"]["replicas"] == 6
            stale = {**d, "status": {"replicas": 1}}
            with pytest.raises(Conflict):
                await c.replace("deployments", stale, subresource="status")

        backend.run(case)

    # -- patch -----------------------------------------------------------------------------

    def test_patch_types(self, backend: Backend) -> None:
        async def case(c: ApiClient) -> None:
            await c.create("deployments", deployment("d"))
            d = await c.patch("deployments", "d", {"metadata": {"labels": {"x": "1"}}},
                              namespace=NS)
            d = await c.patch("deployments", "d", {"metadata": {"labels": {"x": None, "z": "3"}}},
                              namespace=NS)
            assert d["metadata"]["labels"] == {"z": "3"}
            d = await c.patch("deployments", "d", [{"op": "add", "path": "/metadata/labels/y",
                                                    "value": "2"}],
                              namespace=NS, patch_type="json")
            assert d["metadata"]["labels"] == {"z": "3", "y": "2"}
            d = await c.patch("deployments", "d", {"spec": {"template": {"spec": {"containers": [
                {"name": "c", "env": [{"name": "B", "value": "2"}]}]}}}},
                namespace=NS, patch_type="strategic")
            [container] = d["spec"]["template"]["spec"]["containers"]
            assert container["image"] == "x"  # merged by name, not replaced
            assert container["env"] == [{"name": "B", "value": "2"}]
            with pytest.raises(NotFound):
                await c.patch("deployments", "missing", {"metadata": {}}, namespace=NS)

        backend.run(case)

    def test_a_pods_spec_is_immutable_but_for_images(self, backend: Backend) -> None:
        async def case(c: ApiClient) -> None:
            await c.create("pods", pod("p"))
            p = await c.patch("pods", "p", {"spec": {"containers": [
                {"name": "c", "image": "busybox:2"}]}}, namespace=NS, patch_type="strategic")
            assert p["spec"]["containers"][0]["image"] == "busybox:2"
            with pytest.raises(Invalid):
                await c.patch("pods", "p", {"spec": {"containers": [
                    {"name": "c", "env": [{"name": "B", "value": "2"}]}]}},
                    namespace=NS, patch_type="strategic")
            with pytest.raises(Invalid):
                await c.patch("pods", "p", {"spec": {"hostNetwork": True}}, namespace=NS)

        backend.run(case)

    # -- delete ----------------------------------------------------------------------------

    def test_delete_removes_and_a_second_delete_is_not_found(self, backend: Backend) -> None:
        async def case(c: ApiClient) -> None:
            await c.create("configmaps", cm("a"))
            await c.delete("configmaps", "a", namespace=NS)
            with pytest.raises(NotFound):
                await c.get("configmaps", "a", namespace=NS)
            with pytest.raises(NotFound):
                await c.delete("configmaps", "a", namespace=NS)

        backend.run(case)

    def test_finalizers_hold_a_deleted_object_until_removed(self, backend: Backend) -> None:
        async def case(c: ApiClient) -> None:
            body = cm("a")
            body["metadata"]["finalizers"] = ["example.com/hold"]
            await c.create("configmaps", body)
            await c.delete("configmaps", "a", namespace=NS)
            held = await c.get("configmaps", "a", namespace=NS)
            assert held["metadata"]["deletionTimestamp"]
            await c.patch("configmaps", "a", {"metadata": {"finalizers": None}}, namespace=NS)
            with pytest.raises(NotFound):
                await c.get("configmaps", "a", namespace=NS)

        backend.run(case)

    def test_delete_preconditions_on_uid(self, backend: Backend) -> None:
        async def case(c: ApiClient) -> None:
            made = await c.create("configmaps", cm("a"))
            with pytest.raises(Conflict):
                await c.delete("configmaps", "a", namespace=NS,
                               options=DeleteOptions(preconditions={"uid": "not-the-uid"}))
            await c.delete("configmaps", "a", namespace=NS,
                           options=DeleteOptions(preconditions={"uid": made["metadata"]["uid"]}))
            with pytest.raises(NotFound):
                await c.get("configmaps", "a", namespace=NS)

        backend.run(case)

    def test_bound_pods_are_deleted_gracefully_unbound_at_once(self, backend: Backend) -> None:
        async def case(c: ApiClient) -> None:
            await c.create("pods", pod("bound", node="n1"))
            await c.create("pods", pod("unbound"))
            await c.delete("pods", "unbound", namespace=NS)
            with pytest.raises(NotFound):
                await c.get("pods", "unbound", namespace=NS)
            await c.delete("pods", "bound", namespace=NS,
                           options=DeleteOptions(grace_period_seconds=30))
            left = await c.get("pods", "bound", namespace=NS)
            assert left["metadata"]["deletionTimestamp"]
            assert left["metadata"]["deletionGracePeriodSeconds"] == 30
            await c.delete("pods", "bound", namespace=NS,
                           options=DeleteOptions(grace_period_seconds=0))
            with pytest.raises(NotFound):
                await c.get("pods", "bound", namespace=NS)

        backend.run(case)

    # -- subresources ----------------------------------------------------------------------

    def test_binding_assigns_a_node_once(self, backend: Backend) -> None:
        async def case(c: ApiClient) -> None:
            await c.create("pods", pod("p"))
            binding: dict[str, Any] = {"apiVersion": "v1", "kind": "Binding",
                                       "metadata": {"name": "p", "namespace": NS},
                                       "target": {"kind": "Node", "name": "n1"}}
            await c.create_subresource("pods", "p", "binding", binding, namespace=NS)
            assert (await c.get("pods", "p", namespace=NS))["spec"]["nodeName"] == "n1"
            with pytest.raises(Conflict):
                await c.create_subresource("pods", "p", "binding", binding, namespace=NS)

        backend.run(case)

    def test_eviction_deletes_with_its_options(self, backend: Backend) -> None:
        async def case(c: ApiClient) -> None:
            await c.create("pods", pod("p", node="n1"))
            eviction: dict[str, Any] = {"apiVersion": "policy/v1", "kind": "Eviction",
                                        "metadata": {"name": "p", "namespace": NS},
                                        "deleteOptions": {"gracePeriodSeconds": 0}}
            await c.create_subresource("pods", "p", "eviction", eviction, namespace=NS)
            with pytest.raises(NotFound):
                await c.get("pods", "p", namespace=NS)
            with pytest.raises(NotFound):
                await c.create_subresource("pods", "p", "eviction", eviction, namespace=NS)

        backend.run(case)

    def test_server_side_apply_creates_then_updates(self, backend: Backend) -> None:
        async def case(c: ApiClient) -> None:
            body = cm("applied")
            made = await c.patch("configmaps", "applied", body, namespace=NS,
                                 patch_type="apply", field_manager="test")
            assert made["data"] == {"k": "v"} and made["metadata"]["uid"]
            changed = {**body, "data": {"k": "v2"}}
            again = await c.patch("configmaps", "applied", changed, namespace=NS,
                                  patch_type="apply", field_manager="test")
            assert again["data"] == {"k": "v2"}
            assert again["metadata"]["uid"] == made["metadata"]["uid"]

        backend.run(case)
