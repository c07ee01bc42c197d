"""Facts as data: a command's output in, a value out."""

from __future__ import annotations

from typing import Any

import pytest

from kboot.facts.files import FileStat, parse_content, parse_directory, parse_stat
from kboot.facts.services import (
    Listener,
    UnitState,
    parse_deb_file,
    parse_listeners,
    parse_packages,
    parse_unit,
)
from kboot.facts.system import (
    Resources,
    UserInfo,
    ansible_facts,
    parse_modules,
    parse_os_release,
    parse_resources,
    parse_sysctl,
    parse_user,
)

CASES: list[tuple[Any, str, Any]] = [
    (parse_stat, "ABSENT\n", FileStat(exists=False)),
    (parse_stat, "regular file|644|root|adm|12\n" + "ab" * 32,
     FileStat(True, "file", 0o644, "root", "adm", 12, "ab" * 32)),
    (parse_stat, "regular empty file|600|kb|kb|0\ne3b0", FileStat(True, "file", 0o600, "kb", "kb",
                                                                 0, "e3b0")),
    (parse_stat, "directory|2755|root|root|4096", FileStat(True, "directory", 0o2755, "root",
                                                          "root", 4096)),
    (parse_stat, "symbolic link|777|root|root|7\n/target",
     FileStat(True, "link", 0o777, "root", "root", 7, None, "/target")),
    (parse_content, "ABSENT", None),
    (parse_content, "aGVsbG8K\n", b"hello\n"),
    (parse_content, "\n", b""),
    (parse_directory, "ABSENT", None),
    (parse_directory, "b\na\n.hidden\n", [".hidden", "a", "b"]),
    (parse_os_release, 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\n'
     'VERSION_ID="12"\nID=debian\n# c\nVERSION_CODENAME=bookworm\n',
     {"PRETTY_NAME": "Debian GNU/Linux 12 (bookworm)", "NAME": "Debian GNU/Linux",
      "VERSION_ID": "12", "ID": "debian", "VERSION_CODENAME": "bookworm"}),
    (parse_resources, "MemTotal:       24576000 kB\nMemFree:  100 kB\n"
     "MemAvailable:   2048000 kB\nnproc 2\n", Resources(24000, 2000, 2)),
    (parse_sysctl, "ABSENT\n", None),
    (parse_sysctl, "4096\t87380\t6291456\n", "4096 87380 6291456"),
    (parse_modules, "br_netfilter 32768 0 - Live 0x0\noverlay 151552 0\n",
     frozenset({"br_netfilter", "overlay"})),
    (parse_user, "ABSENT\n", None),
    (parse_user, "etcd:x:998:998:etcd user:/var/lib/etcd:/usr/sbin/nologin\netcd ssl-cert\n",
     UserInfo("etcd", 998, 998, "/var/lib/etcd", "/usr/sbin/nologin", "etcd user",
              ("etcd", "ssl-cert"))),
    (parse_packages, "curl\t7.88.1-10\tinstalled\nvim\t2:9.0\tnot-installed\n"
     "libc6:amd64\t2.36-9\tinstalled\n", {"curl": "7.88.1-10", "libc6": "2.36-9"}),
    (parse_packages, "", {}),
    (parse_deb_file, " Package: etcd\n Version: 3.5.17\n", None),
    (parse_deb_file, "Package: etcd\nVersion: 3.5.17\n", ("etcd", "3.5.17")),
    (parse_unit, "LoadState=loaded\nActiveState=active\nUnitFileState=enabled\n"
     "NeedDaemonReload=no\n", UnitState("loaded", "active", "enabled", False)),
    (parse_unit, "LoadState=not-found\nActiveState=inactive\nUnitFileState=\n"
     "NeedDaemonReload=yes\n", UnitState("not-found", "inactive", "", True)),
    (parse_listeners, "tcp LISTEN 0 4096 127.0.0.1:2379 0.0.0.0:*\n"
     "tcp LISTEN 0 128 [::]:22 [::]:*\nudp UNCONN 0 0 0.0.0.0:53 0.0.0.0:*\n",
     frozenset({Listener("tcp", "127.0.0.1", 2379), Listener("tcp", "::", 22),
                Listener("udp", "0.0.0.0", 53)})),
]


@pytest.mark.parametrize(("parser", "output", "expected"), CASES)
def test_parser(parser: Any, output: str, expected: Any) -> None:
    assert parser(output) == expected


def test_unit_state_properties() -> None:
    missing = parse_unit("LoadState=not-found\nActiveState=inactive\nUnitFileState=\n")
    assert (missing.exists, missing.active, missing.enabled) == (False, False, False)
    static = UnitState("loaded", "activating", "static")
    assert (static.exists, static.active, static.enabled) == (True, True, True)


def test_ansible_facts_shape() -> None:
    facts = ansible_facts({
        "os_release": {"NAME": "Debian GNU/Linux", "ID": "debian", "VERSION_ID": "12",
                       "VERSION_CODENAME": "bookworm"},
        "arch": "x86_64",
        "hostname": {"hostname": "cp1", "fqdn": "cp1.lab"},
        "resources": Resources(2048, 1024, 4),
    })
    assert facts["distribution"] == "Debian"
    assert facts["os_family"] == "Debian"
    assert facts["distribution_major_version"] == "12"
    assert facts["distribution_release"] == "bookworm"
    assert (facts["architecture"], facts["fqdn"], facts["processor_vcpus"]) == ("x86_64",
                                                                                 "cp1.lab", 4)
