"""Host commands through the real engine over fake transports: ``kboot exec --hosts``,
component logs (tail, then follow with cursors) and the status round trip."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from kboot.cluster.exec import exec_on_hosts
from kboot.cluster.logs import ComponentLogs, LogQuery
from kboot.cluster.status import MARK, host_command, split_sections
from kboot.cluster.topology import topology_from_inventory
from kboot.errors import UserError
from kboot.inventory.model import Connection, Group, Host, Inventory
from kboot.transport.fake import FakeTransport

JOURNALCTL = r"""#!/bin/sh
# a stand-in journalctl: two old entries; after a cursor, one new entry per call
host="$FAKE_HOST"
entry() { printf '{"__REALTIME_TIMESTAMP":"%s","MESSAGE":"%s","__CURSOR":"%s"}\n' "$1" "$2" "$3"; }
for a in "$@"; do
  case "$a" in
    --after-cursor=*) n=$(cat "$STATE/$host" 2>/dev/null || echo 0); n=$((n+1));
       echo $n > "$STATE/$host"; entry $((3000 + n)) "new $n" "$host-n$n"; exit 0;;
  esac
done
base=1000; [ "$host" = w1 ] && base=1500
entry $base "old a" "$host-a"
entry $((base + 1000)) "old b" "$host-b"
"""


def _inventory() -> Inventory:
    hosts = {"cp1": Host("cp1", Connection("10.0.0.1"), groups=("control_plane",)),
             "w1": Host("w1", Connection("10.0.0.2"), groups=("workers",)),
             "w2": Host("w2", Connection("10.0.0.3"), groups=("workers",))}
    return Inventory(source="inv.yaml", hosts=hosts,
                     groups={"control_plane": Group("control_plane", ("cp1",)),
                             "workers": Group("workers", ("w1", "w2"))})


@pytest.fixture
def factory(tmp_path: Path):  # type: ignore[no-untyped-def]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stub = bin_dir / "journalctl"
    stub.write_text(JOURNALCTL)
    stub.chmod(stub.stat().st_mode | stat.S_IEXEC)
    (tmp_path / "state").mkdir()

    def make(host: Host) -> FakeTransport:
        if host.name == "w2":
            return FakeTransport(host.name, unreachable=True)
        return FakeTransport(host.name, execute=True, env={
            "PATH": f"{bin_dir}:/usr/bin:/bin", "FAKE_HOST": host.name,
            "STATE": str(tmp_path / "state")})
    return make


def test_exec_on_hosts(factory) -> None:  # type: ignore[no-untyped-def]
    outs = exec_on_hosts(_inventory(), "all", 'echo "I am $FAKE_HOST"; [ "$FAKE_HOST" = cp1 ]',
                         transports_factory=factory)
    by = {o.host: o for o in outs}
    assert (by["cp1"].exit_code, by["cp1"].stdout.strip(), by["cp1"].ok) == (0, "I am cp1", True)
    assert (by["w1"].exit_code, by["w1"].status, by["w1"].ok) == (1, "failed", False)
    assert by["w2"].status == "unreachable" and by["w2"].exit_code is None
    with pytest.raises(UserError, match="matches no host"):
        exec_on_hosts(_inventory(), "nothing*", "true", transports_factory=factory)


def test_component_logs_tail_then_follow(factory) -> None:  # type: ignore[no-untyped-def]
    logs = ComponentLogs(_inventory(), LogQuery("kubelet", ("cp1", "w1", "w2"), tail=10),
                         transports_factory=factory)
    first = logs.fetch()
    assert [(ln.host, ln.message) for ln in first] == [
        ("cp1", "old a"), ("w1", "old a"), ("cp1", "old b"), ("w1", "old b")]
    assert set(logs.unreachable) == {"w2"}
    second = logs.fetch()  # after each host's last cursor: only new entries
    assert sorted((ln.host, ln.message) for ln in second) == [("cp1", "new 1"), ("w1", "new 1")]
    third = logs.fetch()
    assert {ln.message for ln in third} == {"new 2"}


def test_status_round_trip_sections(factory) -> None:  # type: ignore[no-untyped-def]
    inv = _inventory()
    topo = topology_from_inventory(inv)
    line = host_command(topo, topo.node("w1"), with_etcd=False).replace(
        "systemctl is-active", "printf 'active\\nfailed\\n'; true")
    (out,) = exec_on_hosts(inv, "w1", line, transports_factory=factory)
    assert out.stdout.startswith(MARK)
    assert split_sections(out.stdout)["units"].split() == ["active", "failed"]
    assert json.dumps(out.exit_code) == "0"
