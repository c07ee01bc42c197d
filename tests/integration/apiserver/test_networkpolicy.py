"""NetworkPolicy through the real kubectl: upstream's validation (422 naming the field),
defaults, ``kubectl get`` columns and ``kubectl describe``."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.fixtures.apiserver import ApiServer
from tests.integration.apiserver.http import call

NS = "netpol-validation"
BASE: dict[str, Any] = {
    "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
    "metadata": {"name": "p", "namespace": NS},
    "spec": {"podSelector": {"matchLabels": {"app": "db"}},
             "ingress": [{"from": [{"podSelector": {"matchLabels": {"role": "api"}}}],
                          "ports": [{"port": 5432}]}]},
}


@pytest.fixture(scope="module")
def server(apiserver_sqlite: ApiServer) -> Iterator[ApiServer]:
    assert call(apiserver_sqlite, "POST", "/api/v1/namespaces",
                {"metadata": {"name": NS}}).status in (201, 409)
    yield apiserver_sqlite
    call(apiserver_sqlite, "DELETE", f"/api/v1/namespaces/{NS}")


def _policy(**spec: Any) -> dict[str, Any]:
    body = copy.deepcopy(BASE)
    body["spec"].update(spec)
    return body


def _rule(ports: Any = None, peers: Any = None) -> dict[str, Any]:
    return {"ingress": [{**({"ports": ports} if ports is not None else {}),
                         **({"from": peers} if peers is not None else {})}]}


# (id, spec change, field the 422 names, words of the message)
BAD = [
    ("no-podSelector", {"podSelector": None}, "spec.podSelector", "Required value"),
    ("bad-selector", {"podSelector": {"matchLabels": {"a b": "x"}}}, "spec.podSelector",
     "Invalid value"),
    ("policy-type", {"policyTypes": ["Inbound"]}, "spec.policyTypes[0]", "Unsupported value"),
    ("three-types", {"policyTypes": ["Ingress", "Egress", "Ingress"]}, "spec.policyTypes",
     "more than two"),
    ("protocol", _rule([{"protocol": "ICMP", "port": 1}]), "spec.ingress[0].ports[0].protocol",
     "Unsupported value"),
    ("port-zero", _rule([{"port": 0}]), "spec.ingress[0].ports[0].port", "between 1 and 65535"),
    ("port-name", _rule([{"port": "Not_A_Name"}]), "spec.ingress[0].ports[0].port",
     "Invalid value"),
    ("endport-below", _rule([{"port": 80, "endPort": 79}]),
     "spec.ingress[0].ports[0].endPort", "greater than or equal to `port`"),
    ("endport-named", _rule([{"port": "http", "endPort": 90}]),
     "spec.ingress[0].ports[0].endPort", "non-numeric"),
    ("endport-alone", _rule([{"endPort": 90}]), "spec.ingress[0].ports[0].endPort",
     "not specified"),
    ("empty-peer", _rule(peers=[{}]), "spec.ingress[0].from[0]", "must specify a peer"),
    ("ipblock-and-selector", _rule(peers=[{"ipBlock": {"cidr": "10.0.0.0/8"},
                                           "podSelector": {}}]),
     "spec.ingress[0].from[0]", "may not specify both ipBlock and another peer"),
    ("cidr-missing", _rule(peers=[{"ipBlock": {"cidr": ""}}]),
     "spec.ingress[0].from[0].ipBlock.cidr", "Required value"),
    ("cidr-invalid", _rule(peers=[{"ipBlock": {"cidr": "10.0.0.0/33"}}]),
     "spec.ingress[0].from[0].ipBlock.cidr", "valid CIDR"),
    ("except-outside", _rule(peers=[{"ipBlock": {"cidr": "10.0.0.0/16",
                                                 "except": ["10.1.0.0/24"]}}]),
     "spec.ingress[0].from[0].ipBlock.except[0]", "strict subset"),
    ("except-equal", _rule(peers=[{"ipBlock": {"cidr": "10.0.0.0/16",
                                               "except": ["10.0.0.0/16"]}}]),
     "spec.ingress[0].from[0].ipBlock.except[0]", "strict subset"),
    ("egress-peer", {"egress": [{"to": [{"ipBlock": {"cidr": "nope"}}]}]},
     "spec.egress[0].to[0].ipBlock.cidr", "valid CIDR"),
]


@pytest.mark.parametrize(("change", "field", "words"), [b[1:] for b in BAD],
                         ids=[b[0] for b in BAD])
def test_invalid_policy_is_refused_naming_the_field(server: ApiServer, change: dict[str, Any],
                                                    field: str, words: str) -> None:
    body = _policy(**change)
    body["spec"] = {k: v for k, v in body["spec"].items() if v is not None}
    proc = server.kubectl("create", "--validate=false", "-f", "-", input=json.dumps(body))
    assert proc.returncode == 1, proc.stdout
    assert "is invalid" in proc.stderr and field in proc.stderr, proc.stderr
    assert words in proc.stderr, proc.stderr


def test_valid_policies_get_defaults_columns_and_describe(server: ApiServer) -> None:
    good = _policy(egress=[{"to": [{"ipBlock": {"cidr": "10.0.0.0/8",
                                                "except": ["10.1.0.0/16"]}},
                                   {"namespaceSelector": {"matchLabels": {"team": "a"}},
                                    "podSelector": {"matchLabels": {"app": "x"}}}],
                            "ports": [{"port": 8000, "endPort": 8100}, {"port": "dns",
                                                                       "protocol": "UDP"}]}])
    deny = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "deny-all", "namespace": NS}, "spec": {"podSelector": {}}}
    for body in (good, deny):
        proc = server.kubectl("apply", "-f", "-", input=json.dumps(body))
        assert proc.returncode == 0, proc.stderr
    stored = json.loads(server.kubectl("get", "netpol", "p", "-n", NS, "-o", "json").stdout)
    assert stored["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert stored["spec"]["ingress"][0]["ports"] == [{"port": 5432, "protocol": "TCP"}]
    deny_stored = json.loads(server.kubectl("get", "networkpolicy", "deny-all", "-n", NS,
                                            "-o", "json").stdout)
    assert deny_stored["spec"]["policyTypes"] == ["Ingress"]
    table = server.kubectl("get", "networkpolicies", "-n", NS)
    assert table.returncode == 0, table.stderr
    lines = [line.split() for line in table.stdout.splitlines()]
    assert lines[0] == ["NAME", "POD-SELECTOR", "AGE"]
    assert lines[1][:2] == ["deny-all", "<none>"] and lines[2][:2] == ["p", "app=db"]
    described = server.kubectl("describe", "networkpolicy", "p", "-n", NS)
    assert described.returncode == 0, described.stderr
    text = described.stdout
    assert "PodSelector:     app=db" in text, text
    assert "To Port Range: 8000-8100/TCP" in text and "To Port: dns/UDP" in text, text
    assert "NamespaceSelector: team=a" in text and "10.0.0.0/8" in text, text
    assert "Policy Types: Ingress, Egress" in text, text


JUNK = [{"ingress": "x"}, {"ingress": ["x"]}, {"ingress": [{"ports": [5]}]},
        {"ingress": [{"from": [3]}]}, {"egress": [{"to": [{"ipBlock": "x"}]}]},
        {"ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": "10.1.0.0/16"}}]}]},
        {"ingress": [{"from": [{"ipBlock": {"cidr": 7}}]}]},
        {"ingress": [{"ports": [{"port": True}]}]}, {"ingress": [{"ports": [{"port": 1.5}]}]},
        {"ingress": [{"ports": [{"port": 80, "endPort": "90"}]}]},
        {"policyTypes": "Ingress"}, {"policyTypes": [None]}, {"podSelector": "x"},
        {"podSelector": {"matchExpressions": [{"key": "a", "operator": "Bogus"}]}}]


@pytest.mark.parametrize("change", JUNK, ids=[json.dumps(j)[:40] for j in JUNK])
def test_junk_is_a_4xx_naming_the_field(server: ApiServer, change: dict[str, Any]) -> None:
    reply = call(server, "POST", f"/apis/networking.k8s.io/v1/namespaces/{NS}/networkpolicies",
                 _policy(**change))
    assert reply.status in (400, 422), reply.body
    assert reply.body["kind"] == "Status" and "spec." in reply.body["message"], reply.body
