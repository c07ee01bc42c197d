"""The rolling restart's order and ``kboot up --check``'s restart plan (kboot.cluster.rollout):
control planes first whatever the inventory's host order, then etcd-only members, then workers;
per node only the services it runs among those its changes trigger."""

from __future__ import annotations

import yaml

from kboot.cluster.resources import playbooks_dir
from kboot.cluster.rollout import (
    CODE_UNITS,
    REGISTRY_UNITS,
    ROLLING_GROUP,
    UNITS,
    RestartStep,
    restart_plan,
    rolling_order,
)
from kboot.cluster.topology import Topology, topology_from_inventory
from kboot.inventory import Connection, Group, Host, Inventory

CODE = "the current virtualenv is this bundle's"  # bundle.yaml's task that notifies a restart


def _topo() -> Topology:
    """Hosts listed worker first, an etcd-only member between the control planes."""
    names = ["w1", "cp1", "e1", "cp2", "w2", "cp3"]
    hosts = {n: Host(n, Connection(address=f"10.0.0.{i + 10}")) for i, n in enumerate(names)}
    groups = {"control_plane": Group("control_plane", hosts=("cp1", "cp2", "cp3")),
              "etcd": Group("etcd", hosts=("cp1", "e1", "cp2")),
              "workers": Group("workers", hosts=("w1", "w2")),
              "ingress": Group("ingress", hosts=("w2",))}
    return topology_from_inventory(Inventory("inv.yaml", hosts, groups, cluster={"name": "t"}))


def test_control_planes_first_then_etcd_members_then_workers() -> None:
    assert rolling_order(_topo()) == ("cp1", "cp2", "cp3", "e1", "w1", "w2")


def test_the_rolling_restart_runs_over_that_order_one_node_at_a_time() -> None:
    [play] = yaml.safe_load((playbooks_dir() / "up" / "rolling-restart.yaml").read_text())
    assert play["hosts"] == ROLLING_GROUP and play["serial"] == 1
    script = play["tasks"][0]["shell"]
    assert script.split("for u in ", 1)[1].split(";", 1)[0].split() == list(UNITS)


def test_new_code_restarts_every_node_control_planes_first() -> None:
    topo = _topo()
    plan = restart_plan(topo, [(n.name, CODE) for n in reversed(topo.nodes)])
    assert [s.host for s in plan] == list(rolling_order(topo))
    by_host = {s.host: s for s in plan}
    assert by_host["cp1"] == RestartStep("cp1", ("kboot-apiserver", "kboot-scheduler",
                                                 "kboot-controller-manager", "kboot-kubelet",
                                                 "kboot-proxy", "kboot-dns"),
                                         ("new kboot code",))
    assert by_host["cp1"].waits_for == ("apiserver /readyz",)
    assert by_host["e1"].services == ("kboot-kubelet", "kboot-proxy", "kboot-dns")
    assert by_host["w1"].services == ("kboot-kubelet", "kboot-proxy", "kboot-dns")
    assert by_host["w2"].services[-1] == "kboot-ingress"  # the ingress node
    assert by_host["w1"].waits_for == ()
    assert all("kboot-etcd" not in s.services for s in plan)  # etcd is not kboot's code
    assert set(CODE_UNITS) == set(UNITS) - {"kboot-etcd", *REGISTRY_UNITS}


def test_new_certificates_restart_etcd_too_and_only_where_they_changed() -> None:
    plan = restart_plan(_topo(), [("e1", "certificates, keys and kubeconfigs"),
                                  ("e1", "kboot pki changed"), ("w1", "something else"),
                                  ("cp2", "kboot pki changed"), ("cp2", CODE)])
    assert [s.host for s in plan] == ["cp2", "e1"]
    assert plan[0].services[0] == "kboot-etcd" and plan[0].reasons == ("new certificates",
                                                                       "new kboot code")
    assert plan[0].waits_for == ("etcd member healthy", "apiserver /readyz")
    assert plan[1].services == ("kboot-etcd", "kboot-kubelet", "kboot-proxy", "kboot-dns")
    assert plan[1].reasons == ("new certificates",)


def test_nothing_changed_nothing_restarts() -> None:
    assert restart_plan(_topo(), []) == []
    assert restart_plan(_topo(), [("cp1", "haproxy configuration")]) == []
