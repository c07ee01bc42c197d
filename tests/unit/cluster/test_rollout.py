"""The rolling restart's order and ``kboot up --check``'s restart plan (kboot.cluster.rollout):
control planes first whatever the inventory's host order, then etcd-only members, then workers;
per node only the services it runs among those its changes trigger; ``kboot up`` restarts in
one round, after the loadbalancer phase."""

from __future__ import annotations

import yaml

from kboot.cluster.resources import playbooks_dir
from kboot.cluster.rollout import (
    CODE_UNITS,
    FRESH_HOST,
    REGISTRY_UNITS,
    ROLLING_GROUP,
    UNITS,
    RestartStep,
    restart_plan,
    rolling_order,
)
from kboot.cluster.topology import Topology, topology_from_inventory
from kboot.cluster.up import PLAYBOOK_PHASES
from kboot.cluster.vars import cluster_vars
from kboot.inventory import Connection, Group, Host, Inventory

CODE = "the current virtualenv is this bundle's"  # bundle.yaml's task that notifies a restart
PKI = "certificates, keys and kubeconfigs"  # pki.yaml's
KUBECONFIG = "the kubelet's kubeconfig trusts the pushed CA bundle"  # pki.yaml's migration


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
    plan = restart_plan(topo, [(n.name, CODE, "") for n in reversed(topo.nodes)])
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
    plan = restart_plan(_topo(), [("e1", PKI, "/etc/kboot/pki/etcd/peer.crt"),
                                  ("e1", "kboot pki changed", ""), ("w1", "something else", ""),
                                  ("cp2", "kboot pki changed", ""), ("cp2", CODE, "")])
    assert [s.host for s in plan] == ["cp2", "e1"]
    assert plan[0].services[0] == "kboot-etcd" and plan[0].reasons == ("new certificates",
                                                                       "new kboot code")
    assert plan[0].waits_for == ("etcd member healthy", "apiserver /readyz")
    assert plan[1].services == ("kboot-etcd", "kboot-kubelet", "kboot-proxy", "kboot-dns")
    assert plan[1].reasons == ("new certificates",)


def test_nothing_changed_nothing_restarts() -> None:
    assert restart_plan(_topo(), []) == []
    assert restart_plan(_topo(), [("cp1", "haproxy configuration", "")]) == []


def test_the_kubelet_kubeconfig_migration_restarts_only_the_kubelet() -> None:
    plan = restart_plan(_topo(), [("w1", KUBECONFIG, ""), ("w1", "kubelet kubeconfig changed", ""),
                                  ("cp1", CODE, ""), ("cp1", KUBECONFIG, "")])
    assert plan == [RestartStep("cp1", CODE_UNITS[:-1], ("new kboot code",
                                                         "kubelet kubeconfig migrated")),
                    RestartStep("w1", ("kboot-kubelet",), ("kubelet kubeconfig migrated",))]
    assert plan[1].waits_for == ()
    [play] = [p for p in yaml.safe_load((playbooks_dir() / "up" / "pki.yaml").read_text())
              if "tasks" in p]
    [task] = [t for t in play["tasks"] if t.get("name") == KUBECONFIG]
    [handler] = [h for h in play["handlers"] if h["name"] == task["notify"]]
    assert handler["name"] == "kubelet kubeconfig changed"
    assert "echo kboot-kubelet >> /run/kboot/restart" in handler["shell"]
    assert not any(u in handler["shell"] for u in UNITS if u != "kboot-kubelet")


def test_changed_units_of_serving_nodes_restart_only_those_units() -> None:
    # an upgrade whose etcd unit and apiserver unit changed (a loop item per unit)
    changed = [("cp1", "etcd unit", ""), ("cp1", "control-plane units", "kboot-apiserver"),
               ("e1", "etcd unit", ""), ("cp2", "control-plane units", "kboot-scheduler"),
               ("cp2", "control-plane units", "kboot-controller-manager"),
               ("w1", "control-plane units", "no-such-unit")]
    plan = restart_plan(_topo(), changed)
    assert plan == [
        RestartStep("cp1", ("kboot-etcd", "kboot-apiserver"), ("new service definitions",)),
        RestartStep("cp2", ("kboot-scheduler", "kboot-controller-manager"),
                    ("new service definitions",)),
        RestartStep("e1", ("kboot-etcd",), ("new service definitions",)),
    ]
    assert plan[0].waits_for == ("etcd member healthy", "apiserver /readyz")
    assert plan[2].waits_for == ("etcd member healthy",)


def test_a_host_kboot_never_set_up_restarts_nothing() -> None:
    # everything on it is new, and it runs no kboot service yet: what it gets starts new
    new_node = [("w2", FRESH_HOST, ""), ("w2", CODE, ""), ("w2", PKI, ""),
                ("w2", "kboot pki changed", "")]
    assert [s.host for s in restart_plan(_topo(), [*new_node, ("w1", CODE, "")])] == ["w1"]


def test_registry_instances_restart_on_control_planes_only_with_the_registry_on() -> None:
    changed = [("cp1", "kboot pki changed", ""), ("w1", "kboot pki changed", "")]
    on = restart_plan(_topo(), changed, registry=True)
    assert on[0].services[-3:] == REGISTRY_UNITS
    assert not set(REGISTRY_UNITS) & set(on[1].services)
    assert not set(REGISTRY_UNITS) & set(restart_plan(_topo(), changed)[0].services)


def _imports(phase: str) -> list[str]:
    plays = yaml.safe_load((playbooks_dir() / "up" / f"{phase}.yaml").read_text())
    return [p["import_playbook"] for p in plays if "import_playbook" in p]


def test_kboot_up_restarts_in_one_round_after_the_load_balancers() -> None:
    rounds = [p for p in PLAYBOOK_PHASES if "rolling-restart.yaml" in _imports(p)]
    assert rounds == ["pki", "loadbalancer"]
    # pki.yaml's round is for `kboot certs renew`/`rotate-ca`, which run it alone: in `kboot up`
    # its play registers no restart_pending, so that round restarts nothing
    [play] = [p for p in yaml.safe_load((playbooks_dir() / "up" / "pki.yaml").read_text())
              if "tasks" in p]
    [stat] = [t for t in play["tasks"] if t.get("register") == "restart_pending"]
    assert stat["when"] == "not (restarts_after_loadbalancer | default(false))"
    # certs renew/rotate-ca build their variables with cluster_vars alone: their round runs
    assert "restarts_after_loadbalancer" not in cluster_vars(_topo(), bundle={})
    [lb] = [p for p in yaml.safe_load((playbooks_dir() / "up" / "loadbalancer.yaml").read_text())
            if p.get("hosts") == "kboot_nodes"]
    assert any(t.get("register") == "restart_pending" for t in lb["tasks"])
