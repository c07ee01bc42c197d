"""The systemd unit ``kboot up`` renders: only the documented variables, flags the binary takes,
and an RBAC manifest that grants what the controller calls."""

from __future__ import annotations

import shlex
from pathlib import Path

import yaml

from kboot.controlplane.ingress.main import build_parser
from kboot.templating import render_file

TEMPLATES = Path(__file__).resolve().parents[3] / "templates" / "ingress"
VARIABLES = {"venv_dir": "/opt/kboot/venv", "config_dir": "/etc/kboot",
             "inventory_hostname": "w1", "node_ip": "10.77.0.21"}


def _exec_start(unit: str) -> list[str]:
    lines = unit.replace("\\\n", " ").splitlines()
    [line] = [ln for ln in lines if ln.startswith("ExecStart=")]
    return shlex.split(line.removeprefix("ExecStart="))


def test_unit_renders_with_the_documented_variables_and_valid_flags() -> None:
    unit = render_file(TEMPLATES / "kboot-ingress.service.j2", VARIABLES)
    argv = _exec_start(unit)
    assert argv[0] == "/opt/kboot/venv/bin/kboot-ingress"
    args = build_parser().parse_args(argv[1:])
    assert (args.kubeconfig, args.node_name, args.node_ip) == (
        "/etc/kboot/ingress.kubeconfig", "w1", "10.77.0.21")
    assert (args.http_port, args.https_port) == (80, 443)
    assert args.certs_dir == "/etc/kboot/ingress/certs"
    assert args.haproxy_config == "/etc/kboot/ingress/haproxy.cfg"
    assert "LimitNOFILE=65536" in unit


def test_rbac_grants_every_resource_the_controller_uses() -> None:
    docs = list(yaml.safe_load_all((TEMPLATES / "kboot-ingress-rbac.yaml").read_text()))
    role, binding = docs
    granted = {(group, res, verb) for rule in role["rules"] for group in rule["apiGroups"]
               for res in rule["resources"] for verb in rule["verbs"]}
    needed = {("", r, v) for r in ("services", "endpoints", "secrets")
              for v in ("list", "watch")}
    needed |= {("networking.k8s.io", r, v) for r in ("ingresses", "ingressclasses")
               for v in ("get", "list", "watch")}
    needed |= {("networking.k8s.io", "ingressclasses", "create"),
               ("networking.k8s.io", "ingresses/status", "update"),
               ("", "events", "create"), ("", "events", "patch"), ("", "nodes", "get")}
    assert needed <= granted
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User",
                                    "name": "system:kboot-ingress"}]
