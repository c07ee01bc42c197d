"""apt, systemd, command/shell, sysctl, modprobe, user, wait_for, control tasks, args binding."""

from __future__ import annotations

import hashlib

import pytest

from kboot.facts.services import Listener, UnitState
from kboot.facts.system import UserInfo
from kboot.tasks.args import ArgError, bind, check_names
from kboot.tasks.commands import CommandArgs
from kboot.tasks.files import FileArgs
from kboot.tasks.packages import AptArgs
from tests.unit.tasks.helpers import ABSENT, plan, scripts, stat

APT = "DEBIAN_FRONTEND=noninteractive apt-get -y -q -o Dpkg::Options::=--force-confold"


def test_apt_installs_only_missing() -> None:
    facts = {"deb:conntrack,curl": {"curl": "7.88"}}
    result = plan("apt", {"name": ["curl", "conntrack"]}, facts)
    assert scripts(result) == [f"{APT} install --no-install-recommends conntrack"]
    assert result.opaque
    assert plan("apt", {"name": "curl,conntrack"},
                {"deb:conntrack,curl": {"curl": "1", "conntrack": "2"}}).commands == ()


def test_apt_version_pin_remove_and_deb_files() -> None:
    assert scripts(plan("apt", {"name": "etcd=3.5.17", "update_cache": True},
                        {"deb:etcd": {"etcd": "3.5.16"}})) == [
        f"{APT} update", f"{APT} install --no-install-recommends etcd=3.5.17"]
    assert scripts(plan("package", {"name": "telnet", "state": "absent"},
                        {"deb:telnet": {"telnet": "1"}})) == [f"{APT} remove telnet"]
    deb = "/var/cache/kboot/etcd.deb"
    assert plan("apt", {"deb": deb}, {f"debfile:{deb}": ("etcd", "3.5.17")}).commands
    assert not plan("apt", {"deb": deb, "name": "etcd"},
                    {f"debfile:{deb}": ("etcd", "3.5.17"),
                     "deb:etcd": {"etcd": "3.5.17"}}).commands


@pytest.mark.parametrize(("args", "state", "expected"), [
    ({"name": "etcd", "state": "started", "enabled": True},
     UnitState("loaded", "inactive", "disabled"),
     ["systemctl enable etcd.service", "systemctl start etcd.service"]),
    ({"name": "etcd", "state": "started", "enabled": True},
     UnitState("loaded", "active", "enabled"), []),
    ({"name": "etcd", "state": "stopped"}, UnitState("loaded", "active", "enabled"),
     ["systemctl stop etcd.service"]),
    ({"name": "etcd", "state": "restarted"}, UnitState("loaded", "active", "enabled"),
     ["systemctl restart etcd.service"]),
    ({"name": "etcd", "state": "started", "daemon_reload": True},
     UnitState("loaded", "active", "enabled", need_daemon_reload=True),
     ["systemctl daemon-reload"]),
    ({"name": "etcd", "state": "started", "daemon_reload": True},
     UnitState("not-found", "inactive", ""),
     ["systemctl daemon-reload", "systemctl start etcd.service"]),
    ({"name": "etcd", "state": "started", "daemon_reload": True},
     UnitState("loaded", "active", "enabled"), []),
    ({"name": "x.socket", "masked": True}, UnitState("loaded", "inactive", "enabled"),
     ["systemctl mask x.socket"]),
])
def test_systemd(args: dict[str, object], state: UnitState, expected: list[str]) -> None:
    unit = str(args["name"])
    key = f"unit:{unit if '.' in unit else unit + '.service'}"
    assert scripts(plan("systemd", args, {key: state})) == expected


def test_command_and_shell() -> None:
    assert scripts(plan("command", {"cmd": "echo $HOME 'a b'"})) == ["echo '$HOME' 'a b'"]
    assert scripts(plan("command", {"argv": ["ls", "-l", "a b"], "chdir": "/tmp"})) == [
        "cd /tmp && ls -l 'a b'"]
    assert scripts(plan("shell", {"cmd": "echo $HOME | wc -c"})) == ["echo $HOME | wc -c"]
    assert scripts(plan("shell", {"cmd": "echo hi", "executable": "/bin/bash"})) == [
        "/bin/bash -c 'echo hi'"]
    done = plan("command", {"cmd": "make", "creates": "/x"}, {"file:/x": stat()})
    assert done.commands == () and "exists" in done.msg and done.result["rc"] == 0
    assert plan("command", {"cmd": "make", "creates": "/x"}, {"file:/x": ABSENT}).commands
    assert plan("shell", {"cmd": "rm /x", "removes": "/x"}, {"file:/x": ABSENT}).commands == ()


def test_sysctl_persists_and_applies() -> None:
    path = "/etc/sysctl.d/k.conf"
    result = plan("sysctl", {"name": "net.ipv4.ip_forward", "value": "1", "sysctl_file": path},
                  {"sysctl:net.ipv4.ip_forward": "0", f"file:{path}": ABSENT,
                   f"content:{path}": None})
    assert result.commands[0].data == b"net.ipv4.ip_forward = 1\n"
    assert result.commands[1].script == "sysctl -q -w net.ipv4.ip_forward=1"
    body = b"a = b\nnet.ipv4.ip_forward = 1\n"
    same = plan("sysctl", {"name": "net.ipv4.ip_forward", "value": 1, "sysctl_file": path},
                {"sysctl:net.ipv4.ip_forward": "1",
                 f"file:{path}": stat(sha256=hashlib.sha256(body).hexdigest()),
                 f"content:{path}": body})
    assert same.commands == ()


def test_modprobe() -> None:
    conf = "/etc/modules-load.d/br_netfilter.conf"
    loaded = {"kernel_modules": frozenset({"br_netfilter"}), f"file:{conf}": ABSENT}
    assert scripts(plan("modprobe", {"name": "br_netfilter"}, loaded)) == []
    load = plan("modprobe", {"name": "br_netfilter", "persistent": "present"},
                {"kernel_modules": frozenset(), f"file:{conf}": ABSENT})
    assert load.commands[0].script == "modprobe br_netfilter"
    assert load.commands[1].data == b"br_netfilter\n"


def test_user() -> None:
    etcd = UserInfo("etcd", 998, 998, "/var/lib/etcd", "/bin/false", "", ("etcd",))
    assert scripts(plan("user", {"name": "etcd", "system": True, "create_home": False},
                        {"user:etcd": None})) == ["useradd -M -r etcd"]
    assert plan("user", {"name": "etcd", "shell": "/bin/false"}, {"user:etcd": etcd}).commands \
        == ()
    assert scripts(plan("user", {"name": "etcd", "shell": "/bin/sh", "groups": ["docker"],
                                 "append": True}, {"user:etcd": etcd})) == [
        "usermod -s /bin/sh -G docker -a etcd"]
    assert scripts(plan("user", {"name": "etcd", "state": "absent"}, {"user:etcd": etcd})) == [
        "userdel etcd"]


def test_wait_for_sends_nothing_when_facts_already_satisfy_it() -> None:
    listening = {"listening": frozenset({Listener("tcp", "0.0.0.0", 2379)})}
    assert plan("wait_for", {"port": 2379}, listening).commands == ()
    waiting = plan("wait_for", {"port": 2380, "timeout": 5}, listening)
    assert "/dev/tcp/127.0.0.1/2380" in waiting.commands[0].script and not waiting.changed
    assert plan("wait_for", {"path": "/ready"}, {"file:/ready": stat()}).commands == ()
    assert plan("wait_for", {"path": "/ready", "state": "absent"}, {"file:/ready": stat()}).commands


def test_control_tasks() -> None:
    assert plan("debug", {"msg": "hi"}).msg == "hi"
    assert plan("debug", {"var": "x.y"}, variables={"x": {"y": 3}}).result == {"x.y": 3}
    assert plan("assert", {"that": ["a > 1"]}, variables={"a": 2}).failed is None
    failed = plan("assert", {"that": ["a > 1"], "fail_msg": "a={{ a }}"}, variables={"a": 0})
    assert failed.failed == "a=0"
    assert plan("set_fact", {"x": 1, "cacheable": True}).set_vars == {"x": 1}
    assert plan("fail", {"msg": "no"}).failed == "no"


def test_arguments_are_the_signature() -> None:
    assert bind(FileArgs, {"dest": "/x", "state": "directory"}).path == "/x"
    assert bind(AptArgs, {"pkg": "a,b", "update_cache": "yes"}).name == ("a", "b")
    assert bind(CommandArgs, {"cmd": "ls", "chdir": 5}).chdir == "5"
    with pytest.raises(ArgError, match="unknown argument 'bogus'"):
        check_names(FileArgs, {"path": "/x", "bogus": 1})
    with pytest.raises(ArgError, match="missing required argument 'path'"):
        check_names(FileArgs, {"state": "directory"})
    with pytest.raises(ArgError, match="state: expected one of"):
        check_names(FileArgs, {"path": "/x", "state": "folder"})
    with pytest.raises(ArgError, match="expected a boolean"):
        bind(AptArgs, {"name": "x", "update_cache": "maybe"})
    check_names(FileArgs, {"path": "/x", "state": "{{ s }}"})  # templates are checked later
