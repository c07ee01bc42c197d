"""One real node (containerd + runc + CNI in a netns) with a real kubelet, per test module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.kubelet.cluster import Cluster, one_node_cluster


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with one_node_cluster(slot=11) as c:
        yield c
