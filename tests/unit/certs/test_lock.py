"""The run lock's shell lines, run by a real /bin/sh on a temporary path: exactly one of two
takers wins, the loser learns the holder and its age, only the holder's release removes it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from kboot.cluster import lock
from kboot.cluster.exec import HostOutput
from kboot.cluster.lock import LockOwner, acquire_command, parse_holder, release_command
from kboot.cluster.topology import topology_from_inventory
from kboot.inventory import Connection, Group, Host, Inventory


def _sh(command: str) -> str:
    return subprocess.run(["sh", "-c", command], capture_output=True, text=True,
                          check=True).stdout


def _owner(user: str, token: str) -> LockOwner:
    return LockOwner(user, "ws1", 4242, "kboot up inv.yaml", token)


def test_second_taker_sees_the_holder_and_force_unlock_clears_it(tmp_path: Path) -> None:
    path = str(tmp_path / "lockdir" / "run.lock")
    alice, bob = _owner("alice", "tok-a"), _owner("bob", "tok-b")
    assert parse_holder(_sh(acquire_command(alice, force=False, path=path))) is None
    holder = parse_holder(_sh(acquire_command(bob, force=False, path=path)))
    assert holder is not None
    assert (holder.user, holder.host, holder.pid, holder.command) == (
        "alice", "ws1", 4242, "kboot up inv.yaml")
    assert holder.age_seconds is not None and holder.age_seconds >= 0
    assert "alice@ws1 (pid 4242, `kboot up inv.yaml`) since" in holder.describe()
    # bob's release must not remove alice's lock
    _sh(release_command(bob, path))
    assert Path(path).exists()
    # --force-unlock: bob takes it over; alice's late release leaves bob's lock alone
    assert parse_holder(_sh(acquire_command(bob, force=True, path=path))) is None
    _sh(release_command(alice, path))
    assert "tok-b" in Path(path).read_text()
    _sh(release_command(bob, path))
    assert not Path(path).exists()


def test_lock_file_is_created_atomically_once(tmp_path: Path) -> None:
    path = str(tmp_path / "run.lock")
    commands = [acquire_command(_owner(f"u{i}", f"t{i}"), force=False, path=path)
                for i in range(8)]
    procs = [subprocess.Popen(["sh", "-c", c], stdout=subprocess.PIPE, text=True)
             for c in commands]
    outputs = [p.communicate()[0] for p in procs]
    winners = [o for o in outputs if parse_holder(o) is None]
    assert len(winners) == 1


def test_unreachable_lock_host(monkeypatch: pytest.MonkeyPatch) -> None:
    """``up`` stops; ``reset`` (unreachable_ok) goes on unlocked, naming the host."""
    inv = Inventory("inv.yaml", hosts={"cp1": Host("cp1", Connection("10.0.0.1"),
                                                   groups=("control_plane",))},
                    groups={"control_plane": Group("control_plane", hosts=("cp1",))})
    topo = topology_from_inventory(inv)
    monkeypatch.setattr(lock, "run_on_hosts", lambda _inv, commands, **_kw: {
        h: HostOutput(h, None, "", "", "unreachable", "no route to host") for h in commands})
    with pytest.raises(lock.LockHostUnreachable, match="cp1 is unreachable"), \
            lock.cluster_lock(inv, topo, "kboot up"):
        pass
    ran = []
    with lock.cluster_lock(inv, topo, "kboot reset", unreachable_ok=True):
        ran.append(True)
    assert ran == [True]


def test_a_dead_run_of_this_workstation_is_taken_over() -> None:
    """A run killed on this workstation (its pid gone) does not block the next one; a live
    holder, or a holder on another workstation, still does."""
    me = lock.me("kboot up inv.yaml")
    dead = subprocess.Popen(["true"])
    dead.wait()
    assert lock.dead_here(LockOwner(me.user, me.host, dead.pid, "kboot up"), me)
    assert not lock.dead_here(LockOwner(me.user, me.host, me.pid, "kboot up"), me)  # alive
    assert not lock.dead_here(LockOwner(me.user, "other-ws", dead.pid, "kboot up"), me)
    assert not lock.dead_here(LockOwner("someone", me.host, dead.pid, "kboot up"), me)


def test_acquire_takes_over_a_dead_local_holder(monkeypatch: pytest.MonkeyPatch,
                                                tmp_path: Path) -> None:
    inv = Inventory("inv.yaml", hosts={"cp1": Host("cp1", Connection("10.0.0.1"),
                                                   groups=("control_plane",))},
                    groups={"control_plane": Group("control_plane", hosts=("cp1",))})
    topo = topology_from_inventory(inv)
    path = str(tmp_path / "run.lock")
    dead = subprocess.Popen(["true"])
    dead.wait()
    me = lock.me("kboot up inv.yaml")
    killed = LockOwner(me.user, me.host, dead.pid, "kboot up inv.yaml", "tok-dead")
    assert parse_holder(_sh(acquire_command(killed, force=False, path=path))) is None

    def run_on_hosts(_inv: Inventory, commands: dict[str, str], **_kw: object
                     ) -> dict[str, HostOutput]:
        return {h: HostOutput(h, 0, _sh(c.replace(lock.LOCK_FILE, path)), "", "ok", "")
                for h, c in commands.items()}

    monkeypatch.setattr(lock, "run_on_hosts", run_on_hosts)
    lock.acquire(inv, topo, me)
    assert me.token in Path(path).read_text()
    other = LockOwner(me.user, me.host, me.pid, "kboot up", "tok-live")  # alive: refused
    with pytest.raises(lock.LockHeld, match="locked by"):
        lock.acquire(inv, topo, other)
