"""Which cached facts a touched path makes stale: the shortcut the runner takes (only facts of
that path, of its directory's listing, or derived from trees) finds exactly the facts that
``Fact.stale_after`` says are stale — checked over every pair of a varied set."""

from __future__ import annotations

from kboot.facts.base import Fact
from kboot.facts.files import directory, file_content, file_stat
from kboot.playbook.factcache import maybe_stale

FACTS = [
    file_stat("/etc/app/app.conf"), file_content("/etc/app/app.conf"), file_stat("/etc/app"),
    directory("/etc/app"), directory("/etc"), file_stat("/"), directory("/"),
    file_stat("/etc/app/sub/x"), file_stat("/etc/apps"), file_stat("/opt/x/"),
    Fact("tree:/var/lib/app", "true", str, depends=("/var/lib/app",)),
    Fact("nopath", "true", str),
]
TOUCHED = ["/etc/app/app.conf", "/etc/app", "/etc/app/", "/etc/app/**", "/etc/app/new",
           "/etc/apps", "/", "/**", "/var/lib/app/db", "/var/lib", "/var/lib/**", "/opt/x",
           "/opt/x/y", "/etc/app/sub/x/"]


def test_the_shortcut_finds_exactly_the_stale_facts() -> None:
    specs = {f.key: f for f in FACTS}
    for touched in TOUCHED:
        want = {k for k, f in specs.items() if f.stale_after(touched)}
        found = {f.key for f in maybe_stale(touched, FACTS) if f.stale_after(touched)}
        assert found == want, touched


def test_a_plain_path_does_not_visit_unrelated_facts() -> None:
    candidates = {f.key for f in maybe_stale("/etc/app/app.conf", FACTS)}
    assert "file:/etc/apps" not in candidates and "file:/" not in candidates
    assert {"file:/etc/app/app.conf", "content:/etc/app/app.conf", "dir:/etc/app",
            "tree:/var/lib/app"} <= candidates
