"""The blocking facade over the fake: calls from a plain thread, waits, and apply."""

from __future__ import annotations

import pytest

from kboot.controlplane.client.fake import FakeClient
from kboot.controlplane.client.sync import SyncClient, node_ready


def test_sync_facade_applies_lists_and_waits() -> None:
    with SyncClient(FakeClient) as c:
        c.apply({"apiVersion": "v1", "kind": "ConfigMap",
                 "metadata": {"name": "cm", "namespace": "ns"}, "data": {"a": "1"}})
        c.apply({"apiVersion": "v1", "kind": "ConfigMap",
                 "metadata": {"name": "cm", "namespace": "ns"}, "data": {"a": "2"}})
        assert c.get("configmaps", "cm", namespace="ns")["data"] == {"a": "2"}
        assert c.get_or_none("configmaps", "missing", namespace="ns") is None
        c.create("nodes", {"metadata": {"name": "n1"},
                           "status": {"conditions": [{"type": "Ready", "status": "True"}]}})
        assert [n["metadata"]["name"] for n in c.wait_nodes_ready(1, timeout=1)] == ["n1"]
        with pytest.raises(TimeoutError):
            c.wait_nodes_ready(2, timeout=0.3, )


@pytest.mark.parametrize("conditions,expected", [
    ([{"type": "Ready", "status": "True"}], True),
    ([{"type": "Ready", "status": "Unknown"}], False),
    ([], False),
])
def test_node_ready(conditions: list[dict[str, str]], expected: bool) -> None:
    assert node_ready({"status": {"conditions": conditions}}) is expected
