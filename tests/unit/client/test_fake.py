"""The fake apiserver keeps the semantics controllers rely on."""

from __future__ import annotations

import asyncio

import pytest

from kboot.controlplane.client.api import DeleteOptions, WatchEvent
from kboot.controlplane.client.clock import run_until_idle
from kboot.controlplane.client.errors import (
    AlreadyExists,
    BadRequest,
    Conflict,
    Expired,
    NotFound,
)
from kboot.controlplane.client.fake import FakeClient


def pod(name: str, **labels: str) -> dict[str, object]:
    return {"metadata": {"name": name, "namespace": "ns", "labels": labels},
            "spec": {"containers": [{"name": "c", "image": "i"}]}}


def test_create_get_replace_conflict_and_generation() -> None:
    async def go() -> None:
        c = FakeClient()
        created = await c.create("pods", pod("a"))
        assert created["metadata"]["uid"] and created["metadata"]["generation"] == 1
        with pytest.raises(AlreadyExists):
            await c.create("pods", pod("a"))
        stale = dict(created)
        created["spec"]["nodeName"] = "n1"
        updated = await c.replace("pods", created)
        assert updated["metadata"]["generation"] == 2
        with pytest.raises(Conflict):
            await c.replace("pods", stale)
        # the main endpoint ignores status; the status subresource ignores spec
        updated["status"] = {"phase": "Running"}
        await c.replace("pods", updated)
        got = await c.get("pods", "a", namespace="ns")
        assert (got.get("status") or {}).get("phase") != "Running"
        got["status"] = {"phase": "Running"}
        await c.replace_status("pods", got)
        assert (await c.get("pods", "a", namespace="ns"))["status"]["phase"] == "Running"

    asyncio.run(go())


def test_list_selectors_and_pagination() -> None:
    async def go() -> None:
        c = FakeClient()
        for i in range(5):
            await c.create("pods", pod(f"p{i}", app="web" if i % 2 else "db"))
        web = await c.list("pods", namespace="ns", label_selector="app=web")
        assert sorted(p["metadata"]["name"] for p in web["items"]) == ["p1", "p3"]
        names = [p["metadata"]["name"] async for p in c.list_all("pods", page_size=2)]
        assert names == ["p0", "p1", "p2", "p3", "p4"]

    asyncio.run(go())


def test_delete_with_finalizers_and_graceful_bound_pods() -> None:
    async def go() -> None:
        c = FakeClient()
        body = pod("a")
        body["spec"]["nodeName"] = "n1"  # type: ignore[index]
        await c.create("pods", body)
        await c.delete("pods", "a", namespace="ns")
        left = await c.get("pods", "a", namespace="ns")
        assert left["metadata"]["deletionTimestamp"]  # graceful: the kubelet finishes
        await c.delete("pods", "a", namespace="ns",
                       options=DeleteOptions(grace_period_seconds=0))
        with pytest.raises(NotFound):
            await c.get("pods", "a", namespace="ns")
        await c.create("configmaps", {"metadata": {"name": "cm", "namespace": "ns"}})
        await c.delete("configmaps", "cm", namespace="ns",
                       options=DeleteOptions(propagation_policy="Foreground"))
        cm = await c.get("configmaps", "cm", namespace="ns")
        assert cm["metadata"]["finalizers"] == ["foregroundDeletion"]
        await c.patch("configmaps", "cm", {"metadata": {"finalizers": None}}, namespace="ns")
        with pytest.raises(NotFound):
            await c.get("configmaps", "cm", namespace="ns")

    asyncio.run(go())


def test_watch_replays_from_resource_version_and_expires_after_compaction() -> None:
    async def go() -> None:
        c = FakeClient()
        first = await c.create("pods", pod("a"))
        await c.create("pods", pod("b"))
        rv = first["metadata"]["resourceVersion"]
        seen: list[WatchEvent] = []

        async def consume() -> None:
            async for ev in c.watch("pods", resource_version=rv):
                seen.append(ev)

        task = asyncio.create_task(consume())
        await run_until_idle()
        await c.delete("pods", "a", namespace="ns")
        await run_until_idle()
        c.end_watches()
        await task
        assert [(e.type, e.object["metadata"]["name"]) for e in seen] == [
            ("ADDED", "b"), ("DELETED", "a")]
        c.compact()
        with pytest.raises(Expired):
            async for _ in c.watch("pods", resource_version=rv):
                pass

    asyncio.run(go())


def test_binding_sets_node_once() -> None:
    async def go() -> None:
        c = FakeClient()
        await c.create("pods", pod("a"))
        binding = {"target": {"kind": "Node", "name": "n1"}}
        await c.create_subresource("pods", "a", "binding", binding, namespace="ns")
        assert (await c.get("pods", "a", namespace="ns"))["spec"]["nodeName"] == "n1"
        with pytest.raises(Conflict):
            await c.create_subresource("pods", "a", "binding", binding, namespace="ns")

    asyncio.run(go())


def test_eviction_applies_its_delete_options_like_the_apiserver() -> None:
    async def go() -> None:
        c = FakeClient()
        body = pod("a")
        body["spec"]["nodeName"] = "n1"  # type: ignore[index]
        uid = (await c.create("pods", body))["metadata"]["uid"]
        eviction = {"apiVersion": "policy/v1", "kind": "Eviction",
                    "metadata": {"name": "a", "namespace": "ns"}}
        with pytest.raises(BadRequest):
            await c.create_subresource("pods", "a", "eviction",
                                       {**eviction, "metadata": {"name": "b"}}, namespace="ns")
        with pytest.raises(Conflict):  # another pod of that name: not the one meant
            await c.create_subresource("pods", "a", "eviction", {
                **eviction, "deleteOptions": {"preconditions": {"uid": "other"}}},
                namespace="ns")
        status = await c.create_subresource("pods", "a", "eviction", {
            **eviction, "deleteOptions": {"preconditions": {"uid": uid}}}, namespace="ns")
        assert (status["status"], status["code"]) == ("Success", 201)
        assert (await c.get("pods", "a", namespace="ns"))["metadata"]["deletionTimestamp"]
        await c.create_subresource("pods", "a", "eviction", {
            **eviction, "deleteOptions": {"gracePeriodSeconds": 0}}, namespace="ns")
        with pytest.raises(NotFound):
            await c.get("pods", "a", namespace="ns")

    asyncio.run(go())
