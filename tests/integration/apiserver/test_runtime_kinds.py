"""A kind registered while the apiserver runs is served like a built-in one, and stops being
served when it is unregistered — with no generic module edited: the kind is a ``ResourceKind``
(data) plus a strategy, handed to the server's ``KindRegistry``. This is the path custom
resources take. Checked over HTTP (create/get/list/watch/patch/status/delete, legacy and
aggregated discovery, OpenAPI) and with the real kubectl against the in-process server."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web

from kboot.controlplane.api.registry import ResourceKind
from kboot.controlplane.apiserver.app import build_app
from kboot.controlplane.apiserver.strategy import JsonObj, SchemalessStrategy
from kboot.pki import CertSpec, issue, new_ca, save_pair
from tests.fixtures.apiserver import KUBECTL
from tests.unit.apiserver.harness import ADMIN, Harness, async_test, running

pytestmark = pytest.mark.integration

GROUP = "example.kboot.dev"
WIDGETS = ResourceKind(GROUP, "v1", "Widget", "widgets", True, ("wd",), ("all",), ("status",))
BASE = f"/apis/{GROUP}/v1/namespaces/default/widgets"
AGGREGATED = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"


@dataclass(frozen=True)
class WidgetStrategy(SchemalessStrategy):
    """A run-time kind with rules of its own: ``spec.size`` defaults to 1 and may not be
    negative (as a CRD's schema defaults and validation will)."""

    def default(self, obj: JsonObj) -> JsonObj:
        out = super().default(obj)
        spec = out.setdefault("spec", {})
        if isinstance(spec, dict):
            spec.setdefault("size", 1)
        return out

    def validate(self, obj: JsonObj, old: JsonObj | None) -> list[JsonObj]:
        causes = super().validate(obj, old)
        size = (obj.get("spec") or {}).get("size")
        if not isinstance(size, int) or size < 0:
            causes.append({"reason": "FieldValueInvalid", "field": "spec.size",
                           "message": f"Invalid value: {size!r}: must be a non-negative integer"})
        return causes


@contextlib.asynccontextmanager
async def _tls_site(h: Harness, home: Path) -> AsyncIterator[Path]:
    """The same server state behind a TLS listener (kubectl sends tokens only over TLS);
    yields the admin kubeconfig."""
    ca = new_ca("runtime-kinds-ca")
    ca_cert, _ = save_pair(ca, home / "pki", "ca")
    cert, key = save_pair(issue(ca, CertSpec("kube-apiserver", ip_addresses=("127.0.0.1",),
                                             server=True)), home / "pki", "apiserver")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    runner = web.AppRunner(build_app(h.state))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    port = runner.addresses[0][1]
    config = home / "kubeconfig"
    config.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "t",
        "clusters": [{"name": "t", "cluster": {
            "server": f"https://127.0.0.1:{port}",
            "certificate-authority-data": base64.b64encode(ca_cert.read_bytes()).decode()}}],
        "users": [{"name": "t", "user": {"token": ADMIN}}],
        "contexts": [{"name": "t", "context": {"cluster": "t", "user": "t",
                                               "namespace": "default"}}]}))
    try:
        yield config
    finally:
        await runner.cleanup()


async def _kubectl(config: Path, *args: str, cache: str = "cache",
                   stdin: str = "") -> tuple[int, str, str]:
    """The real kubectl against the in-process server (its own discovery cache)."""
    proc = await asyncio.create_subprocess_exec(
        KUBECTL, f"--kubeconfig={config}", f"--cache-dir={config.parent / cache}", *args,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(stdin.encode()), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def _discovery(h: Harness) -> tuple[Any, Any, Any]:
    groups = await h.json("GET", "/apis")
    aggregated = await h.json("GET", "/apis", headers={"Accept": AGGREGATED})
    openapi = await h.json("GET", "/openapi/v3")
    return groups, aggregated, openapi


def _aggregated_plurals(doc: Any) -> set[str]:
    return {r["resource"] for item in doc["items"] if item["metadata"]["name"] == GROUP
            for v in item["versions"] for r in v["resources"]}


async def _crud(h: Harness) -> None:
    created = await h.json("POST", BASE, {"apiVersion": f"{GROUP}/v1", "kind": "Widget",
                                          "metadata": {"name": "w1", "labels": {"a": "b"}},
                                          "spec": {"colour": "blue"},
                                          "status": {"ignored": True}}, expect=201)
    assert created["spec"] == {"colour": "blue", "size": 1}  # the strategy's default
    assert "status" not in created  # status subresource: reset on create
    assert created["metadata"]["generation"] == 1
    bad = await h.json("POST", BASE, {"metadata": {"name": "w2"}, "spec": {"size": -1}},
                       expect=422)
    assert bad["details"]["causes"][0]["field"] == "spec.size"
    got = await h.json("GET", f"{BASE}/w1")
    assert got["metadata"]["uid"] == created["metadata"]["uid"]
    listed = await h.json("GET", f"{BASE}?labelSelector=a%3Db")
    assert listed["kind"] == "WidgetList" and [i["metadata"]["name"]
                                               for i in listed["items"]] == ["w1"]
    patched = await h.json("PATCH", f"{BASE}/w1", {"spec": {"size": 3}},
                           content_type="application/merge-patch+json")
    assert patched["spec"]["size"] == 3 and patched["metadata"]["generation"] == 2
    status = await h.json("PUT", f"{BASE}/w1/status",
                          {**patched, "spec": {"size": 9}, "status": {"ready": True}})
    assert status["status"] == {"ready": True} and status["spec"]["size"] == 3
    refused = await h.json("PATCH", f"{BASE}/w1", {"spec": {"size": 4}}, expect=415,
                           content_type="application/strategic-merge-patch+json")
    assert "application/merge-patch+json" in refused["message"]


async def _watch_sees_a_create(h: Harness) -> None:
    listed = await h.json("GET", BASE)
    rv = listed["metadata"]["resourceVersion"]
    resp = await h.request("GET", f"{BASE}?watch=1&resourceVersion={rv}")
    assert resp.status == 200
    await h.json("POST", BASE, {"metadata": {"name": "w3"}}, expect=201)
    event = json.loads(await asyncio.wait_for(resp.content.readline(), 10))
    assert (event["type"], event["object"]["metadata"]["name"]) == ("ADDED", "w3")
    resp.close()


@async_test
async def test_a_kind_registered_at_run_time_is_served_then_unregistered(
        tmp_path: Path) -> None:
    async with running() as h, _tls_site(h, tmp_path) as kubeconfig:
        assert (await h.request("GET", BASE)).status == 404
        h.state.kinds.register(WidgetStrategy(WIDGETS))

        groups, aggregated, openapi = await _discovery(h)
        assert f"{GROUP}/v1" in {v["groupVersion"] for g in groups["groups"]
                                 for v in g["versions"]}
        resources = await h.json("GET", f"/apis/{GROUP}/v1")
        assert {r["name"] for r in resources["resources"]} == {"widgets", "widgets/status"}
        assert _aggregated_plurals(aggregated) == {"widgets"}
        assert f"apis/{GROUP}/v1" in openapi["paths"]
        doc = await h.json("GET", f"/openapi/v3/apis/{GROUP}/v1")
        assert f"/apis/{GROUP}/v1/namespaces/{{namespace}}/widgets/{{name}}" in doc["paths"]

        await _crud(h)
        await _watch_sees_a_create(h)

        code, out, err = await _kubectl(kubeconfig, "get", "widgets")
        assert code == 0, err
        assert out.split()[:2] == ["NAME", "CREATED"] and {"w1", "w3"} <= set(out.split())
        code, out, err = await _kubectl(kubeconfig, "get", "wd", "w1", "-o", "json")
        assert code == 0, err
        assert json.loads(out)["spec"]["size"] == 3
        manifest = {"apiVersion": f"{GROUP}/v1", "kind": "Widget",
                    "metadata": {"name": "applied"}, "spec": {"size": 2, "tags": ["a"]}}
        code, out, err = await _kubectl(kubeconfig, "apply", "-f", "-",
                                        stdin=json.dumps(manifest))
        assert code == 0 and "widget.example.kboot.dev/applied created" in out, err
        manifest["spec"] = {"size": 5}
        code, out, err = await _kubectl(kubeconfig, "apply", "-f", "-",
                                        stdin=json.dumps(manifest))
        assert code == 0 and "widget.example.kboot.dev/applied configured" in out, err
        applied = await h.json("GET", f"{BASE}/applied")
        assert applied["spec"] == {"size": 5}  # client-side apply's merge patch removed tags
        code, out, err = await _kubectl(kubeconfig, "delete", "widget", "w3")
        assert code == 0 and 'widget.example.kboot.dev "w3" deleted' in out, err
        assert (await h.request("GET", f"{BASE}/w3")).status == 404

        open_watch = await h.request("GET", f"{BASE}?watch=1")
        h.state.kinds.unregister(GROUP, "widgets")
        # the open watch (its initial ADDED events sent) ends: read() returns at end of stream
        sent = await asyncio.wait_for(open_watch.content.read(), 10)
        assert [json.loads(line)["object"]["metadata"]["name"]
                for line in sent.splitlines()] == ["applied", "w1"]
        assert (await h.request("GET", f"{BASE}/w1")).status == 404
        assert (await h.request("GET", f"/apis/{GROUP}/v1")).status == 404
        groups, aggregated, openapi = await _discovery(h)
        assert GROUP not in {g["name"] for g in groups["groups"]}
        assert not _aggregated_plurals(aggregated)
        assert f"apis/{GROUP}/v1" not in openapi["paths"]
        code, out, err = await _kubectl(kubeconfig, "get", "widgets")  # stale discovery
        assert code != 0 and "the server could not find the requested resource" in err
        code, out, err = await _kubectl(kubeconfig, "get", "widgets", cache="fresh")
        assert code != 0 and 'doesn\'t have a resource type "widgets"' in err


@async_test
async def test_registering_a_taken_name_is_refused() -> None:
    from kboot.controlplane.apiserver.kinds import KindConflict
    async with running() as h:
        pods = h.state.kinds.lookup("", "pods")
        assert pods is not None
        with pytest.raises(KindConflict, match="already served"):
            h.state.kinds.register(SchemalessStrategy(pods))
        assert (await h.json("GET", "/api/v1/pods"))["kind"] == "PodList"
