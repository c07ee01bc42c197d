"""Routing-table rules: matching order, class selection, backends, TLS, problems, conflicts."""

from __future__ import annotations

from typing import Any

import pytest

from kboot.controlplane.ingress.config import render
from kboot.controlplane.ingress.routes import (
    NO_ROUTE,
    UNAVAILABLE,
    RoutingTable,
    build_table,
    route_for,
)
from tests.unit.ingress.cases import MATCH_CASES, MATCH_SERVICES, matching_ingress
from tests.unit.ingress.objects import (
    endpoints,
    ingress,
    ingress_class,
    path,
    rule,
    server_pair,
    service,
    tls_secret,
)

Obj = dict[str, Any]


def _table(ingresses: list[Obj], *, classes: list[Obj] | None = None,
           secrets: list[Obj] | None = None, services: list[Obj] | None = None) -> RoutingTable:
    svcs = [service(s, ("http", 80)) for s in MATCH_SERVICES] if services is None else services
    return build_table(ingresses, [ingress_class(default=True)] if classes is None else classes,
                       svcs, [], secrets or [], controller="kboot.io/ingress")


def _matching_table() -> RoutingTable:
    return _table([matching_ingress()])


@pytest.mark.parametrize(("host", "req_path", "expected"), MATCH_CASES)
def test_most_specific_route_wins(host: str, req_path: str, expected: str | None) -> None:
    table = _matching_table()
    route = route_for(table, host, req_path)
    assert (route.backend if route else None) == (f"be_default_{expected}_80" if expected
                                                  else None)
    assert table.default_backend == "be_default_default_80"


def test_route_order_is_exact_host_then_wildcard_then_any_with_exact_paths_first() -> None:
    order = [(r.host, r.path_type, r.path) for r in _matching_table().routes]
    assert order == [
        ("a.example.test", "Exact", "/api"), ("a.example.test", "Prefix", "/api/v2"),
        ("a.example.test", "Prefix", "/static"), ("a.example.test", "Prefix", "/api"),
        ("a.example.test", "Prefix", "/"), ("*.example.test", "Prefix", "/"),
        ("", "Prefix", "/public")]


@pytest.mark.parametrize(("class_name", "annotations", "classes", "ours"), [
    ("kboot", None, [ingress_class()], True),
    ("nginx", None, [ingress_class(), ingress_class("nginx", controller="x/nginx")], False),
    ("absent", None, [ingress_class(default=True)], False),
    (None, None, [ingress_class(default=True)], True),
    (None, None, [ingress_class()], False),
    (None, None, [ingress_class(), ingress_class("n", controller="x/n", default=True)], False),
    (None, {"kubernetes.io/ingress.class": "kboot"}, [ingress_class()], True),
    ("kboot", None, [ingress_class(controller="someone.else/ingress")], False),
])
def test_ingress_class_selection(class_name: str | None, annotations: dict[str, str] | None,
                                 classes: list[Obj], ours: bool) -> None:
    ing = ingress("c", rule("c.example.test", path("/", "root")), class_name=class_name,
                  annotations=annotations)
    table = _table([ing], classes=classes)
    assert (table.ingresses == ("default/c",)) is ours
    assert bool(table.routes) is ours


def test_backends_use_ready_endpoints_and_the_named_target_port() -> None:
    svc = service("web", ("http", 80), ("metrics", 9090))
    eps = endpoints("web", ["10.0.0.2", "10.0.0.1"], [("http", 8080), ("metrics", 9100)],
                    not_ready=["10.0.0.3"])
    ing = ingress("w", rule("w.example.test", path("/", "web", "http"),
                            path("/metrics", "web", 9090)))
    table = build_table([ing], [ingress_class(default=True)], [svc], [eps], [],
                        controller="kboot.io/ingress")
    assert {b.name: b.servers for b in table.backends} == {
        "be_default_web_80": (("10.0.0.1", 8080), ("10.0.0.2", 8080)),
        "be_default_web_9090": (("10.0.0.1", 9100), ("10.0.0.2", 9100))}
    assert table.problems == {}


def test_unnamed_single_port_service() -> None:
    svc = service("one", ("", 80))
    eps = endpoints("one", ["10.0.0.9"], [("", 3000)])
    table = build_table([ingress("o", rule(None, path("/", "one")))],
                        [ingress_class(default=True)], [svc], [eps], [],
                        controller="kboot.io/ingress")
    assert [b.servers for b in table.backends] == [(("10.0.0.9", 3000),)]


def test_broken_references_only_degrade_their_own_routes() -> None:
    good = ingress("good", rule("good.example.test", path("/", "root")))
    bad = ingress("bad", rule("bad.example.test", path("/", "missing"),
                              path("/port", "root", "nope"), path("/ok", "api")))
    table = _table([bad, good])
    backends = {(r.host, r.path): r.backend for r in table.routes}
    assert backends == {("good.example.test", "/"): "be_default_root_80",
                        ("bad.example.test", "/"): UNAVAILABLE,
                        ("bad.example.test", "/port"): UNAVAILABLE,
                        ("bad.example.test", "/ok"): "be_default_api_80"}
    assert [p.reason for p in table.problems["default/bad"]] == [
        "BackendServiceMissing", "BackendServicePortMissing"]
    assert "default/good" not in table.problems
    assert table.default_backend == NO_ROUTE


@pytest.mark.parametrize(("old", "new", "winner"), [
    (("first", "2026-01-01T00:00:00Z"), ("second", "2026-01-02T00:00:00Z"), "first"),
    (("zzz", "2026-01-01T00:00:00Z"), ("aaa", "2026-01-02T00:00:00Z"), "zzz"),
    (("b", "2026-01-01T00:00:00Z"), ("a", "2026-01-01T00:00:00Z"), "a"),  # tie: by name
])
def test_conflicting_rules_oldest_wins(old: tuple[str, str], new: tuple[str, str],
                                       winner: str) -> None:
    ings = [ingress(name, rule("x.example.test", path("/", svc)), created=created,
                    default_backend=(svc, 80))
            for (name, created), svc in ((new, "api"), (old, "root"))]
    table = _table(ings)
    [route] = table.routes
    assert route.ingress == f"default/{winner}"
    loser = next(n for n, _ in (old, new) if n != winner)
    assert [p.reason for p in table.problems[f"default/{loser}"]] == ["RuleConflict"] * 2
    assert f"default/{winner}" not in table.problems


def test_tls_certificates_redirects_and_secret_problems() -> None:
    pair = server_pair("t.example.test")
    other = server_pair("other.example.test")
    secrets = [tls_secret("t", pair), tls_secret("opaque", pair, type_="Opaque"),
               tls_secret("mismatch", pair, key_pem=other.key_pem())]
    ing = ingress("t", rule("t.example.test", path("/", "root")),
                  tls=[{"hosts": ["t.example.test"], "secretName": "t"},
                       {"hosts": ["u.example.test"], "secretName": "absent"},
                       {"hosts": ["v.example.test"], "secretName": "opaque"},
                       {"hosts": ["w.example.test"], "secretName": "mismatch"}])
    no_redirect = ingress("n", rule("n.example.test", path("/", "root")),
                          annotations={"ingress.kboot.io/ssl-redirect": "false"},
                          tls=[{"hosts": ["n.example.test"], "secretName": "t"},
                               {"hosts": ["t.example.test"], "secretName": "t"}],
                          created="2026-02-01T00:00:00Z")
    table = _table([ing, no_redirect], secrets=secrets)
    assert [(c.hosts, c.file_name, c.ingress) for c in table.certs] == [
        (("n.example.test",), "default_t.pem", "default/n"),
        (("t.example.test",), "default_t.pem", "default/t")]
    assert table.certs[1].pem.startswith(pair.cert_pem().rstrip())
    assert table.certs[1].pem.rstrip().endswith(pair.key_pem().rstrip())
    assert table.redirect_hosts == ("t.example.test",)
    assert [p.reason for p in table.problems["default/t"]] == [
        "TLSSecretMissing", "TLSSecretInvalid", "TLSSecretInvalid"]
    assert "does not match" in table.problems["default/t"][2].message
    assert [p.reason for p in table.problems["default/n"]] == ["RuleConflict"]


def test_rendered_crt_list_and_redirect_use_the_configured_ports() -> None:
    pair = server_pair("t.example.test")
    ing = ingress("t", rule("t.example.test", path("/", "root")),
                  tls=[{"hosts": ["t.example.test"], "secretName": "t"}])
    out = render([ing], [ingress_class(default=True)], [service("root", ("http", 80))], [],
                 [tls_secret("t", pair)], node_ips=[], https_port=443, certs_dir="/c")
    assert out.files["crt-list"] == b"/c/default_t.pem t.example.test\n"
    assert "location https://%[var(txn.host)]%[pathq] if" in out.haproxy_cfg
    assert "bind *:443 ssl crt-list /c/crt-list" in out.haproxy_cfg
    plain = render([], [], [], [], [], node_ips=["::1"], http_port=8080, run_as="haproxy")
    assert "bind [::1]:8080" in plain.haproxy_cfg
    assert plain.haproxy_cfg.split("\n")[1:4] == ["global", "    user haproxy",
                                                  "    group haproxy"]
    assert "frontend https" not in plain.haproxy_cfg and plain.files == {}


@pytest.mark.parametrize(("host", "req_path", "reason"), [
    ("bad host", "/", "InvalidHost"),
    ("ok.example.test", "/it's", "InvalidPath"),
    ("ok.example.test", "/a b", "InvalidPath"),
])
def test_unsafe_hosts_and_paths_are_rejected(host: str, req_path: str, reason: str) -> None:
    table = _table([ingress("u", rule(host, path(req_path, "root")))])
    assert table.routes == ()
    assert [p.reason for p in table.problems["default/u"]] == [reason]
