"""remove_node() over the fake API and a fake playbook runner: which nodes are refused, which
pods a drain evicts and in which order the steps run, disruption budgets (429) and timeouts, and
a dead host with ``force``."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from kboot.cli.commands.removenode import _summary
from kboot.cli.main import main
from kboot.cluster.drain import EVICTION_RETRY, Drained, drain
from kboot.cluster.removenode import RemoveReport, check_removable, remove_node
from kboot.cluster.topology import topology_from_inventory
from kboot.cluster.up import PhaseOutcome
from kboot.controlplane.client.api import DeleteOptions, Obj, Ref
from kboot.controlplane.client.errors import status_error
from kboot.controlplane.client.fake import FakeClient
from kboot.controlplane.client.sync import SyncClient
from kboot.errors import ClusterError, ConfigError
from kboot.inventory import Connection, Group, Host, Inventory
from tests.unit.cluster.fake_etcd import FakeEtcd, FakeMember, Refusal

NODES = {"cp1": "10.0.0.11", "e1": "10.0.0.12", "e2": "10.0.0.13",
         "w1": "10.0.0.21", "w2": "10.0.0.22"}


def inventory() -> Inventory:
    """One control plane, etcd on it and two more hosts, two workers (the ingress nodes)."""
    hosts = {n: Host(n, Connection(address=ip)) for n, ip in NODES.items()}
    groups = {"control_plane": Group("control_plane", ("cp1",)),
              "etcd": Group("etcd", ("cp1", "e1", "e2")),
              "workers": Group("workers", ("w1", "w2"))}
    return Inventory("prod.yaml", hosts, groups, cluster={"name": "prod"})


def pod(name: str, node: str, *, owner: str | None = "ReplicaSet", ns: str = "default",
        annotations: dict[str, str] | None = None) -> Obj:
    md: Obj = {"name": name, "namespace": ns, "annotations": annotations or {}}
    if owner:
        md["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": owner, "name": "x",
                                  "uid": f"uid-{owner}", "controller": True}]
    return {"metadata": md, "spec": {"nodeName": node, "containers": [{"name": "c",
                                                                      "image": "i"}]}}


class Budgeted(FakeClient):
    """A disruption budget: evictions of the pods in ``refuse`` answer 429 that many times."""

    def __init__(self, refuse: dict[str, int]) -> None:
        super().__init__()
        self.refuse = refuse

    async def create_subresource(self, ref: Ref, name: str, subresource: str, body: Obj, *,
                                 namespace: str | None = None) -> Obj:
        if subresource == "eviction" and self.refuse.get(name, 0) > 0:
            self.refuse[name] -= 1
            self.actions.append(("refused/eviction", "pods", f"{namespace}/{name}"))
            raise status_error(429, "TooManyRequests", "Cannot evict pod as it would violate "
                               "the pod's disruption budget.", causes=[{
                                   "type": "DisruptionBudget", "message": "The disruption "
                                   "budget web needs 2 healthy pods and has 2 currently"}])
        return await super().create_subresource(ref, name, subresource, body,
                                                namespace=namespace)


@dataclass
class World:
    """The fake API, a clock whose sleeps are when the node's kubelet finishes graceful
    deletes (unless ``kubelet`` is off), a fake runner and probe; ``log`` is one ordered record
    of API writes and playbook runs."""

    fake: FakeClient
    api: SyncClient
    now: float = 0.0
    kubelet: bool = True
    sleeps: list[float] = field(default_factory=list)
    reset_ok: bool = True
    unreachable: str = ""
    runs: list[Inventory] = field(default_factory=list)

    @property
    def log(self) -> list[tuple[str, str, str]]:
        return self.fake.actions

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        if self.kubelet:
            for p in self.api.list("pods"):
                if p["metadata"].get("deletionTimestamp"):
                    self.api.delete("pods", p["metadata"]["name"],
                                    namespace=p["metadata"]["namespace"],
                                    options=DeleteOptions(grace_period_seconds=0))

    def runner(self, playbook: Path, inv: Inventory, *, phase: str) -> PhaseOutcome:
        assert playbook.is_file(), playbook
        self.runs.append(inv)
        self.log.append(("run", playbook.name, ",".join(inv.groups["kboot_nodes"].hosts)))
        if not self.reset_ok:
            return PhaseOutcome(ok=False, failures=("w1: kboot files removed: rm failed",))
        return PhaseOutcome(ok=True, changed=4)

    def probe(self, host: str) -> str:
        self.log.append(("probe", "hosts", host))
        return self.unreachable

    def remove(self, name: str = "w1", **kw: Any) -> Any:
        return remove_node(inventory(), name, api=self.api, runner=self.runner,
                           probe=self.probe, clock=self.clock, sleep=self.sleep, **kw)

    def writes(self) -> list[tuple[str, str, str]]:
        """The log without probes and pod deletes (an eviction's own, the kubelet's)."""
        return [a for a in self.log if a[0] != "probe" and a[:2] != ("delete", "pods")]


def make_world(fake: FakeClient | None = None) -> Iterator[World]:
    fake = fake or FakeClient()
    for name, ip in NODES.items():
        fake.seed("nodes", {"metadata": {"name": name},
                            "status": {"addresses": [{"type": "InternalIP", "address": ip}]}})
        fake.seed("leases", {"metadata": {"name": name, "namespace": "kube-node-lease"}})
    fake.seed("endpoints", {"metadata": {"name": "kube-dns", "namespace": "kube-system"},
                            "subsets": [{"addresses": [{"ip": ip, "nodeName": n}
                                                       for n, ip in NODES.items()]}]})
    with SyncClient(lambda: fake) as api:
        yield World(fake, api)


@pytest.fixture
def world() -> Iterator[World]:
    yield from make_world()


def budgeted(refuse: dict[str, int]) -> Callable[[], Iterator[World]]:
    return lambda: make_world(Budgeted(refuse))


@pytest.mark.parametrize("name,why", [
    ("cp1", "cp1 is the last control plane of cluster 'prod'; removing it would remove the "
            "cluster"),
    ("w9", "'w9' is not a node of cluster 'prod' (nodes: cp1, e1, e2, w1, w2)"),
])
def test_refuses_the_last_control_plane_and_unknown_nodes(world: World, name: str,
                                                          why: str) -> None:
    with pytest.raises(ConfigError) as err:
        world.remove(name)
    assert why in str(err.value)
    assert "\n" not in str(err.value)
    assert world.log == [] and world.runs == []  # nothing asked, nothing changed
    assert check_removable(topology_from_inventory(inventory()), "w2").worker


def test_cordons_drains_resets_then_deletes_node_and_lease(world: World) -> None:
    for p in (pod("web-1", "w1"), pod("web-2", "w2"), pod("bare", "w1", owner=None),
              pod("done", "w1", owner="Job"),
              pod("dns-w1", "w1", owner="DaemonSet", ns="kube-system"),
              pod("static-w1", "w1", owner="Node", ns="kube-system",
                  annotations={"kubernetes.io/config.mirror": "abc"})):
        world.fake.seed("pods", p)
    report = world.remove()
    evicted = ["default/bare", "default/done", "default/web-1"]
    assert world.writes() == [
        ("patch", "nodes", "w1"),
        *[("create/eviction", "pods", k) for k in evicted],
        ("patch", "endpoints", "kube-system/kube-dns"),
        ("run", "reset.yaml", "w1"),  # that host only
        ("delete", "nodes", "w1"),  # after its kubelet stopped
        ("delete", "leases", "kube-node-lease/w1"),
    ]
    assert world.api.get("nodes", "w2")  # the others untouched
    assert not world.api.get_or_none("nodes", "w1")
    assert not world.api.get_or_none("leases", "w1", namespace="kube-node-lease")
    left = sorted(f"{p['metadata']['namespace']}/{p['metadata']['name']}"
                  for p in world.api.list("pods"))
    assert left == ["default/web-2", "kube-system/dns-w1", "kube-system/static-w1"]
    assert report.drained.evicted == tuple(evicted)
    assert report.drained.left == ("kube-system/dns-w1", "kube-system/static-w1")
    assert report.drained.unmanaged == ("default/bare",)
    assert (report.registered, report.host_reset, report.lease_deleted) == (True, True, True)
    addresses = world.api.get("endpoints", "kube-dns", namespace="kube-system")["subsets"][0][
        "addresses"]
    assert [a["nodeName"] for a in addresses] == ["cp1", "e1", "e2", "w2"]


def test_waits_until_evicted_pods_are_gone_and_times_out_clearly(world: World) -> None:
    world.fake.seed("pods", pod("web-1", "w1"))
    world.kubelet = False  # nobody finishes the graceful delete
    with pytest.raises(ClusterError) as err:
        world.remove(timeout=5)
    assert str(err.value) == ("drain timed out after 5s: still terminating on w1: "
                              "default/web-1; the node stays cordoned")
    assert world.api.get("nodes", "w1")["spec"]["unschedulable"] is True
    assert world.runs == []  # not reset, not deleted
    assert sum(world.sleeps) >= 5


def test_retries_an_eviction_a_disruption_budget_refuses() -> None:
    for world in budgeted({"web-1": 2})():
        world.fake.seed("pods", pod("web-1", "w1"))
        world.fake.seed("pods", pod("web-2", "w1"))
        told: list[tuple[str, str]] = []
        drained = drain(world.api, "w1", timeout=60, clock=world.clock, sleep=world.sleep,
                        on_refused=lambda pod, why, told=told: told.append((pod, why)))
        assert drained.evicted == ("default/web-1", "default/web-2")
        assert told == [("default/web-1", "The disruption budget web needs 2 healthy pods "
                                          "and has 2 currently")]  # once, not per retry
        assert [a for a in world.writes() if a[2] == "default/web-1"] == [
            ("refused/eviction", "pods", "default/web-1"),
            ("refused/eviction", "pods", "default/web-1"),
            ("create/eviction", "pods", "default/web-1")]
        assert world.sleeps[:2] == [EVICTION_RETRY, EVICTION_RETRY]
        assert world.api.list("pods") == []


def test_a_budget_that_never_allows_the_eviction_times_out() -> None:
    for world in budgeted({"web-1": 1000})():
        world.fake.seed("pods", pod("web-1", "w1"))
        with pytest.raises(ClusterError) as err:
            world.remove(timeout=12)
        assert str(err.value) == (
            "drain timed out after 12s: eviction still refused for default/web-1 (The "
            "disruption budget web needs 2 healthy pods and has 2 currently); the node stays "
            "cordoned")
        assert world.sleeps == [5.0, 5.0, 2.0]  # the last try at the deadline
        assert world.runs == [] and world.api.get("nodes", "w1")


def test_unreachable_host_fails_before_anything_changes(world: World) -> None:
    world.fake.seed("pods", pod("web-1", "w1"))
    world.unreachable = "connection refused"
    with pytest.raises(ClusterError) as err:
        world.remove()
    assert str(err.value).startswith("w1 is unreachable (connection refused); nothing was "
                                     "changed. Bring it back, or pass --force")
    assert world.writes() == [] and world.runs == []


def test_force_on_a_dead_host_deletes_pods_at_once_and_the_node(world: World) -> None:
    world.fake.seed("pods", pod("web-1", "w1"))
    world.fake.seed("pods", pod("dns-w1", "w1", owner="DaemonSet"))
    world.unreachable = "timed out"
    world.kubelet = False  # dead: grace-0 deletes need no kubelet
    report = world.remove(force=True)
    assert [a for a in world.log if a[1] == "pods"] == [  # no eviction: no kubelet would
        ("delete", "pods", "default/web-1")]                # finish a graceful delete
    assert world.writes() == [
        ("patch", "nodes", "w1"),
        ("patch", "endpoints", "kube-system/kube-dns"),
        ("delete", "nodes", "w1"),
        ("delete", "leases", "kube-node-lease/w1"),
    ]
    assert world.runs == []  # no reset of a host that does not answer
    assert [p["metadata"]["name"] for p in world.api.list("pods")] == ["dns-w1"]
    assert (report.host_reset, report.unreachable) == (False, "timed out")
    assert report.drained.evicted == ("default/web-1",)


def test_failed_reset_keeps_the_node_unless_the_host_went_away_and_force(world: World) -> None:
    world.reset_ok = False
    with pytest.raises(ClusterError) as err:
        world.remove(force=True)  # reachable: force does not cover a failed reset
    assert "reset of w1 failed" in str(err.value) and "rm failed" in str(err.value)
    assert world.api.get("nodes", "w1")
    world.unreachable = ""

    def gone_during_reset(playbook: Path, inv: Inventory, *, phase: str) -> PhaseOutcome:
        world.unreachable = "connection reset"
        return PhaseOutcome(ok=False, failures=("w1: unreachable",))
    report = remove_node(inventory(), "w1", api=world.api, runner=gone_during_reset,
                         probe=world.probe, force=True, clock=world.clock, sleep=world.sleep)
    assert report.unreachable == "connection reset"
    assert not world.api.get_or_none("nodes", "w1")


def test_rerun_after_the_node_object_is_gone_still_resets_the_host(world: World) -> None:
    world.api.delete("nodes", "w1")
    world.api.delete("leases", "w1", namespace="kube-node-lease")
    world.log.clear()
    report = world.remove()
    assert ("run", "reset.yaml", "w1") in world.log
    assert (report.registered, report.lease_deleted) == (False, False)


def test_removes_the_ingress_nodes_address_from_ingress_status(world: World) -> None:
    lb = [{"ip": NODES["w1"]}, {"ip": NODES["w2"]}]
    world.fake.seed("ingresses", {"metadata": {"name": "web", "namespace": "default"},
                                  "spec": {}, "status": {"loadBalancer": {"ingress": lb}}})
    world.fake.seed("ingresses", {"metadata": {"name": "other", "namespace": "default"},
                                  "spec": {}, "status": {"loadBalancer": {"ingress": lb[1:]}}})
    report = world.remove()
    assert report.ingresses == ("default/web",)
    web = world.api.get("ingresses", "web", namespace="default")
    assert web["status"]["loadBalancer"]["ingress"] == [{"ip": NODES["w2"]}]


INVENTORY_YAML = """\
cluster: {name: prod}
hosts:
  cp1: {address: 10.0.0.11}
  w1: {address: 10.0.0.21}
groups:
  control_plane: {hosts: [cp1]}
  workers: {hosts: [w1]}
"""


def test_cli_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["remove-node", "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert "kboot remove-node [-h] [-y] [--force] [--timeout SECONDS]" in out
    assert "the last control plane" in out
    assert "a later `kboot up` with it still listed joins it" in out


@pytest.mark.parametrize("argv,message", [
    (["cp1", "--yes"], "error:cp1isthelastcontrolplaneofcluster'prod';removingitwouldremove"),
    (["w7", "--yes"], "error:'w7'isnotanodeofcluster'prod'(nodes:cp1,w1)"),
    (["w1", "--yes"], "error:prod.yaml:cluster'prod'hasnoadminkubeconfigyet"),
    (["w1", "--yes", "--timeout", "0"], "error:--timeoutmustbeapositivenumberofseconds"),
])
def test_cli_bad_input_is_one_line_without_traceback(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        argv: list[str], message: str) -> None:
    monkeypatch.setenv("KBOOT_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    Path("prod.yaml").write_text(INVENTORY_YAML)
    assert main(["remove-node", "prod.yaml", *argv]) == 2
    err = "".join(capsys.readouterr().err.split())  # the terminal may wrap it anywhere
    assert err.startswith(message), err
    assert "Traceback" not in err


def test_cli_asks_for_yes_when_not_interactive(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("KBOOT_HOME", str(tmp_path / "home"))
    kubeconfigs = tmp_path / "home/clusters/prod/kubeconfigs"
    kubeconfigs.mkdir(parents=True)
    (kubeconfigs / "admin.kubeconfig").write_text("apiVersion: v1\n")
    (tmp_path / "prod.yaml").write_text(INVENTORY_YAML)
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    assert main(["remove-node", str(tmp_path / "prod.yaml"), "w1"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert err == ("error: kboot remove-node drains w1 and removes kboot and its data from it; "
                   "pass --yes to confirm")


def test_cli_summary_names_what_was_done_and_the_inventory_to_edit() -> None:
    forced = RemoveReport("prod", "w1", True, Drained(("default/web-1", "default/bare"),
                                                      ("kube-system/ds-1",), ("default/bare",)),
                          unreachable="timed out", lease_deleted=True)
    text = " ".join(" ".join(_summary(forced, "prod.yaml")).split())
    assert "2 pod(s) deleted (grace period 0) (default/web-1, default/bare)" in text
    assert "not recreated (no controller owns them):[/] default/bare" in text
    assert "host not reset: unreachable (timed out); if it comes back, reset it (`kboot reset " \
           "prod.yaml --limit w1 --yes`)" in text
    assert "deleted: Node object, Lease kube-node-lease/w1" in text
    assert text.endswith("next: remove w1 from prod.yaml — a later `kboot up` with w1 still in "
                         "it would join it to the cluster again")
    again = RemoveReport("prod", "w1", False, Drained())
    assert "no Node object or Lease left to delete" in " ".join(_summary(again, "prod.yaml"))


def _etcd(leader: int = 2) -> FakeEtcd:
    return FakeEtcd([FakeMember(i + 1, n, NODES[n]) for i, n in enumerate(("cp1", "e1", "e2"))],
                    data=dict.fromkeys(("cp1", "e1", "e2"), True), leader=leader)


def test_an_etcd_member_leading_hands_over_leadership_then_leaves(world: World) -> None:
    etcd = _etcd(leader=2)  # e1 leads
    report = world.remove("e1", run=etcd)
    assert [(h, w) for h, w in etcd.log if w != "gather"] == [
        ("e1", "move-leader 1"),  # sent to the leader itself; cp1 is the first healthy other
        ("cp1", "remove 2")]
    assert report.etcd is not None and report.etcd.member == "2"
    assert report.etcd.leader_moved_to == "cp1" and not report.load_balancers
    assert [m.name for m in etcd.members] == ["cp1", "e2"]
    assert ("run", "reset.yaml", "e1") in world.log and ("delete", "nodes", "e1") in world.log


def test_etcd_refusing_right_after_a_restart_is_waited_out(world: World) -> None:
    # the members restarted (a rolling restart) less than 5 s ago: etcd refuses the removal
    etcd = _etcd(leader=1)
    etcd.refusals["remove"] = [Refusal("etcdserver: unhealthy cluster")] * 2
    lines = list[str]()
    report = world.remove("e1", run=etcd, progress=lines.append)
    assert report.etcd is not None and report.etcd.member == "2"
    assert [w for _, w in etcd.log if w != "gather"] == [
        "refused: etcdserver: unhealthy cluster"] * 2 + ["remove 2"]
    assert lines == ["etcd: waiting for every member to be connected ≥ 5 s before removing e1 "
                     "(etcd said: etcdserver: unhealthy cluster; up to 90s)"]
    assert len(world.sleeps) >= 2 and ("run", "reset.yaml", "e1") in world.log


def test_a_removal_that_would_lose_quorum_changes_nothing(world: World) -> None:
    etcd = _etcd(leader=1)
    etcd.members[2].healthy = False  # e2 is down: removing e1 would leave cp1 + dead e2
    with pytest.raises(ClusterError, match=r"refusing to remove e1: removing e1 would leave 2 "
                       r"voting members of which only 1 answer \(2 needed for quorum; not "
                       r"answering: e2\)"):
        world.remove("e1", run=etcd)
    assert [w for _, w in etcd.log] == ["gather"] * 3
    assert world.writes() == [] and world.runs == []
    # the dead one itself can go (forced: it does not answer over SSH either)
    world.unreachable = "no route to host"
    etcd.unreachable = {"e2"}
    report = world.remove("e2", run=etcd, force=True)
    assert report.etcd is not None and report.etcd.member == "3" and not report.host_reset
    assert [m.name for m in etcd.members] == ["cp1", "e1"]


def test_a_control_plane_leaves_etcd_and_the_load_balancers(
        world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KBOOT_HOME", str(tmp_path))
    inv = inventory()
    inv = dataclasses.replace(inv, groups={**inv.groups, "control_plane": Group(
        "control_plane", ("cp1", "e1")), "etcd": Group("etcd", ("cp1", "e1", "e2"))},
        cluster={"name": "prod", "api_vip": "10.0.0.10"})
    etcd = _etcd(leader=1)
    report = remove_node(inv, "e1", api=world.api, runner=world.runner, probe=world.probe,
                         clock=world.clock, sleep=world.sleep, run=etcd)
    assert report.load_balancers and report.etcd is not None and report.etcd.member == "2"
    runs = [a for a in world.log if a[0] == "run"]
    assert runs == [("run", "loadbalancer.yaml", "cp1,e2,w1,w2"), ("run", "reset.yaml", "e1")]
    lb = world.runs[0]
    assert lb.hosts["w1"].vars["apiserver_endpoints"] == [{"name": "cp1",
                                                           "address": "10.0.0.11"}]
    assert lb.hosts["cp1"].vars["api_vip_peers"] == ["10.0.0.11"]
    assert lb.hosts["cp1"].vars["api_vip_priority"] == 150
    assert lb.groups["kboot_rolling"].hosts == ("cp1", "e2", "w1", "w2")  # its rolling restart
