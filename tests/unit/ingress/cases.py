"""Named scenarios rendered to golden files (``tests/unit/ingress/golden/<name>.*``).

Regenerate after an intended change with::

    KBOOT_REGEN_GOLDEN=1 .venv/bin/pytest tests/unit/ingress/test_golden.py

and review the diff. The integration tests also feed every scenario to ``haproxy -c``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kboot.controlplane.ingress.config import RenderedConfig, render
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


@dataclass
class Scenario:
    ingresses: list[Obj]
    services: list[Obj] = field(default_factory=list)
    endpoints: list[Obj] = field(default_factory=list)
    secrets: list[Obj] = field(default_factory=list)
    classes: list[Obj] = field(default_factory=lambda: [ingress_class(default=True)])
    https_port: int = 443

    def render(self, certs_dir: str = "/etc/kboot/ingress/certs") -> RenderedConfig:
        return render(self.ingresses, self.classes, self.services, self.endpoints,
                      self.secrets, node_ips=["192.0.2.10"], https_port=self.https_port,
                      certs_dir=certs_dir)


def _two_services() -> tuple[list[Obj], list[Obj]]:
    svcs = [service("svc-a", ("http", 80)), service("svc-b", ("http", 80), ("admin", 9000))]
    eps = [endpoints("svc-a", ["10.244.1.5", "10.244.2.7"], [("http", 8080)],
                     not_ready=["10.244.3.9"]),
           endpoints("svc-b", ["10.244.1.6"], [("http", 8081), ("admin", 9001)])]
    return svcs, eps


def basic() -> Scenario:
    svcs, eps = _two_services()
    ing = ingress("web", rule("a.example.test", path("/", "svc-a")),
                  rule("b.example.test", path("/api", "svc-b", "http")))
    return Scenario([ing], svcs, eps)


def tls() -> Scenario:
    svcs, eps = _two_services()
    a, wild = server_pair("a.example.test"), server_pair("*.apps.example.test")
    ing = ingress(
        "secure",
        rule("a.example.test", path("/", "svc-a"), path("/healthz", "svc-b", 80, "Exact")),
        rule("*.apps.example.test", path("/v1/", "svc-b", "admin")),
        rule(None, path("/static", "svc-a", 80, "ImplementationSpecific")),
        tls=[{"hosts": ["a.example.test"], "secretName": "a-tls"},
             {"hosts": ["*.apps.example.test"], "secretName": "wild-tls"}],
        default_backend=("svc-a", 80))
    return Scenario([ing], svcs, eps, [tls_secret("a-tls", a), tls_secret("wild-tls", wild)],
                    https_port=8443)


def problems() -> Scenario:
    svcs, eps = _two_services()
    older = ingress("older", rule("a.example.test", path("/", "svc-a")),
                    created="2026-01-01T00:00:00Z")
    newer = ingress("newer", rule("a.example.test", path("/", "svc-b"),
                                  path("/gone", "missing-svc"), path("/port", "svc-b", 7777)),
                    created="2026-01-02T00:00:00Z",
                    tls=[{"hosts": ["a.example.test"], "secretName": "no-such-secret"}])
    other_class = ingress("theirs", rule("c.example.test", path("/", "svc-a")),
                          class_name="nginx")
    unclassed = ingress("unclassed", rule("d.example.test", path("/", "svc-b")),
                        class_name=None)
    return Scenario([newer, older, other_class, unclassed], svcs, eps,
                    classes=[ingress_class(), ingress_class("nginx", controller="k8s.io/nginx")])


MATCH_SERVICES = ["root", "api", "v2", "exact", "static", "wild", "public", "default"]

# (Host header, path, service expected to answer; None = the default backend)
MATCH_CASES: list[tuple[str, str, str | None]] = [
    ("a.example.test", "/", "root"),
    ("a.example.test", "/api", "exact"),
    ("a.example.test", "/api/", "api"),
    ("a.example.test", "/api/x", "api"),
    ("a.example.test", "/apix", "root"),
    ("a.example.test", "/api/v2/y", "v2"),
    ("a.example.test", "/api/v20", "api"),
    ("a.example.test", "/static", "static"),
    ("a.example.test", "/static/a.css", "static"),
    ("A.Example.TEST:8080", "/api/x", "api"),
    ("b.example.test", "/", "wild"),
    ("b.example.test", "/public", "wild"),
    ("x.b.example.test", "/", None),
    ("example.test", "/public/x", "public"),
    ("example.test", "/publicity", None),
    ("example.test", "/other", None),
]


def matching_ingress() -> Obj:
    """One Ingress exercising every precedence rule (see ``MATCH_CASES``)."""
    return ingress(
        "m",
        rule("a.example.test", path("/", "root"), path("/api", "api"), path("/api/v2", "v2"),
             path("/api", "exact", 80, "Exact"),
             path("/static/", "static", 80, "ImplementationSpecific")),
        rule("*.example.test", path("/", "wild")),
        rule(None, path("/public", "public")),
        default_backend=("default", 80))


SCENARIOS: dict[str, Callable[[], Scenario]] = {
    "basic": basic, "tls": tls, "problems": problems,
}
