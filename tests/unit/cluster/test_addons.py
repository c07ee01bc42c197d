"""What the ``addons`` phase applies: the DNS Service and Endpoints, and the default
StorageClass ``local-path``."""

from __future__ import annotations

from kboot.cluster.addons import addon_objects
from kboot.cluster.topology import Node, Topology

TOPO = Topology("t", (Node("cp1", "10.0.0.11", control_plane=True, etcd=True, worker=True),),
                "10.244.0.0/16", "10.96.0.0/16", "cluster.local", None, False)


def test_kboot_up_installs_the_default_local_path_class() -> None:
    classes = [o for o in addon_objects(TOPO) if o["kind"] == "StorageClass"]
    assert [c["metadata"]["name"] for c in classes] == ["local-path"]
    sc = classes[0]
    assert sc["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == "true"
    assert (sc["provisioner"], sc["volumeBindingMode"], sc["reclaimPolicy"]) == (
        "kboot.io/local-path", "WaitForFirstConsumer", "Delete")
