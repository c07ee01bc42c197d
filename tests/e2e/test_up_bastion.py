"""``kboot up`` and ``kboot up --check`` on HA without a virtual address, behind a bastion: three
control planes (etcd members; schedulable, there being no workers) that kboot reaches only
through a jump host — the lab's third machine, in no cluster group (the cheapest honest
topology with one: its own small lab, the larger ones belong to modules that expect them
fresh or with their virtual address). Issue 21: ``--check --diff`` on the converged cluster
has nothing to do, a hand edit is exactly what it reports, ``up`` undoes it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from kboot.lab import Lab
from tests.e2e.conftest import DRIFT, CheckReport, Kboot, drift_file
from tests.fixtures.lab import LabFactory, Shape

pytestmark = [pytest.mark.e2e, pytest.mark.lab]
LABS = (Shape(3, 1, "provisioned"),)


@dataclass(frozen=True)
class BastionCluster:
    lab: Lab
    inventory: Path
    bastion: str  # its address
    members: tuple[str, ...]  # the control planes' inventory names

    def sh(self, node: str, script: str) -> tuple[int, str]:
        res = self.lab.exec(node, ["sh", "-c", script])
        return res.exit_code, res.stdout + res.stderr


@pytest.fixture(scope="module")
def bastion_cluster(lab_factory: LabFactory, kboot: Kboot,
                    tmp_path_factory: pytest.TempPathFactory) -> BastionCluster:
    lab = lab_factory(3, 1, image="provisioned")
    # the 3 + 1 lab is shared (test_registry's HA cluster runs on it first): back to bare
    # machines, which the check plan below expects
    kboot("reset", str(lab.inventory_path), "--yes")
    data = yaml.safe_load(lab.inventory_path.read_text())
    del data["cluster"]["api_vip"]  # clients use the first control plane's address
    bastion = next(n for n in lab.nodes if n.role == "worker")
    del data["groups"]["workers"]  # the third machine is only the way in
    members = tuple(n.name for n in lab.nodes if n.role == "control_plane")
    for name in members:
        data["hosts"][name]["jump"] = [bastion.name]
    inventory = tmp_path_factory.mktemp("inv") / "bastion.yaml"
    inventory.write_text(yaml.safe_dump(data))
    plan = kboot.check(inventory)  # on bare machines: a plan of everything, nothing done
    assert plan.status == 2 and {host for host, _ in plan.changed} == set(members)
    for name in members:
        assert lab.exec(name, ["test", "-e", "/etc/kboot"]).exit_code != 0, name
    proc = kboot.up(inventory)
    assert "phase verify" in proc.stdout
    return BastionCluster(lab, inventory, bastion.address, members)


def test_up_through_the_bastion_without_a_virtual_address(
        bastion_cluster: BastionCluster, kboot: Kboot) -> None:
    c = bastion_cluster
    nodes = json.loads(kboot.kubectl(c.lab.name, "get", "nodes", "-o", "json").stdout)["items"]
    assert sorted(n["metadata"]["name"] for n in nodes) == sorted(c.members)
    config = yaml.safe_load(kboot.kubeconfig(c.lab.name).read_text())
    first = yaml.safe_load(c.inventory.read_text())["hosts"][c.members[0]]["address"]
    assert config["clusters"][0]["cluster"]["server"] == f"https://{first}:6443"
    for node in c.members:
        assert _logins(c, node)[0] > 0, f"{node}: no session came through the bastion"
        # (the shared lab may have the package from an earlier cluster with a virtual address)
        _, out = c.sh(node, "systemctl is-active -q keepalived && echo running; "
                            "test -e /etc/keepalived/keepalived.conf && echo configured; true")
        assert out.strip() == "", f"{node}: keepalived {out}"


def _logins(c: BastionCluster, node: str) -> tuple[int, int]:
    """SSH logins on ``node`` so far: (from the bastion's address, from anywhere else)."""
    code, out = c.sh(node, "journalctl -q --no-pager _COMM=sshd | grep 'Accepted publickey'")
    lines = out.splitlines() if code == 0 else []
    through = sum(f" from {c.bastion} " in line for line in lines)
    return through, len(lines) - through


def test_check_reports_nothing_then_exactly_a_drift(bastion_cluster: BastionCluster,
                                                   kboot: Kboot) -> None:
    c = bastion_cluster
    before = {node: _logins(c, node) for node in c.members}
    assert kboot.check(c.inventory) == CheckReport(0, frozenset(), {})
    for node in c.members:  # check mode came the same way: through the bastion only
        through, direct = _logins(c, node)
        assert through > before[node][0] and direct == before[node][1], (node, before[node])
    cp2, conf = c.members[1], "/etc/haproxy/haproxy.cfg"
    drift_file(c.lab, cp2, conf)
    report = kboot.check(c.inventory)
    assert report.changed == {(cp2, "haproxy configuration"), (cp2, "reload haproxy")}
    assert report.status == 2 and list(report.diffs) == [conf]
    assert "backend kboot-apiservers" in report.diffs[conf] and DRIFT not in report.diffs[conf]
    kboot.up(c.inventory)
    assert DRIFT not in c.lab.exec(cp2, ["cat", conf]).stdout
    assert kboot.check(c.inventory) == CheckReport(0, frozenset(), {})
