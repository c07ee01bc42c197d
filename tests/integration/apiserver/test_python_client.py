"""Acceptance: the official ``kubernetes`` Python client's typed API against kboot-apiserver."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException

from tests.fixtures.apiserver import ApiServer

pytestmark = pytest.mark.integration


@pytest.fixture
def api(server: ApiServer) -> Iterator[client.ApiClient]:
    api_client = config.new_client_from_config(  # type: ignore[no-untyped-call]
        config_file=str(server.kubeconfig))
    yield api_client
    api_client.close()


def test_typed_create_list_watch_patch_delete(api: client.ApiClient, ns: str) -> None:
    core: Any = client.CoreV1Api(api)
    apps: Any = client.AppsV1Api(api)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
    created: Any = core.create_namespaced_config_map(ns, client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name="cfg", labels={"app": "py"}), data={"k": "v"}))
    assert created.metadata.uid and int(created.metadata.resource_version) > 0
    listed: Any = core.list_namespaced_config_map(ns, label_selector="app=py")
    assert [c.metadata.name for c in listed.items] == ["cfg"]

    events: list[tuple[str, str]] = []
    w: Any = watch.Watch()  # type: ignore[no-untyped-call]

    def consume() -> None:
        for ev in w.stream(core.list_namespaced_config_map, ns, timeout_seconds=10,
                           resource_version=listed.metadata.resource_version):
            events.append((ev["type"], ev["object"].metadata.name))
            if ev["type"] == "DELETED":
                w.stop()

    thread = threading.Thread(target=consume)
    thread.start()
    patched = core.patch_namespaced_config_map("cfg", ns, {"data": {"k": "v2"}})
    assert patched.data == {"k": "v2"}
    merged = core.patch_namespaced_config_map("cfg", ns, {"data": {"x": "1"}},
                                              _content_type="application/merge-patch+json")
    assert merged.data == {"k": "v2", "x": "1"}
    deployment = apps.create_namespaced_deployment(ns, {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d1"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"a": "b"}},
                 "template": {"metadata": {"labels": {"a": "b"}},
                              "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}})
    assert deployment.spec.template.spec.containers[0].image_pull_policy == "Always"
    scale = apps.patch_namespaced_deployment_scale("d1", ns, {"spec": {"replicas": 4}})
    assert scale.spec.replicas == 4 and scale.status.selector == "a=b"
    core.delete_namespaced_config_map("cfg", ns)
    thread.join(15)
    assert not thread.is_alive()
    assert events == [("MODIFIED", "cfg"), ("MODIFIED", "cfg"), ("DELETED", "cfg")]
    with pytest.raises(ApiException) as err:
        core.read_namespaced_config_map("cfg", ns)
    assert err.value.status == 404


def test_conflict_on_stale_update(api: client.ApiClient, ns: str) -> None:
    core: Any = client.CoreV1Api(api)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
    cm = core.create_namespaced_config_map(ns, client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name="c"), data={"a": "1"}))
    cm.data = {"a": "2"}
    core.replace_namespaced_config_map("c", ns, cm)
    cm.data = {"a": "3"}
    with pytest.raises(ApiException) as err:
        core.replace_namespaced_config_map("c", ns, cm)
    assert err.value.status == 409
    assert "the object has been modified" in str(err.value.body)
