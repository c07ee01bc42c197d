"""NetworkPolicy semantics as truth tables, the way upstream's netpol e2e suite states them:
pods x/a, x/b, x/c, y/a, y/b, z/a, z/b (namespace/pod, label ``pod=<letter>``) all serving
TCP 80 and 81 (named ``serve-80-tcp``/``serve-81-tcp``), then a policy, then the expected
reachability of every (client, server) pair. Reachability is computed from
:func:`netpol.isolations` as the kernel would apply the rendered chains: the client's egress
entries (if isolated) and the server's ingress entries (if isolated) must both allow it.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Callable
from typing import Any

import pytest

from kboot.controlplane.proxy import netpol, netpolrules
from kboot.controlplane.proxy.netpol import Isolation, PodInfo, World

NAMESPACES = ("x", "y", "z")
PODS = ("x/a", "x/b", "x/c", "y/a", "y/b", "z/a", "z/b")


def _pod_obj(key: str, i: int) -> dict[str, Any]:
    ns, name = key.split("/")
    return {"metadata": {"namespace": ns, "name": name, "labels": {"pod": name}},
            "spec": {"nodeName": f"n{i % 2}", "containers": [{"name": "c", "ports": [
                {"name": "serve-80-tcp", "containerPort": 80},
                {"name": "serve-81-udp", "containerPort": 81, "protocol": "UDP"}]}]},
            "status": {"podIP": f"10.244.{i % 2}.{10 + i}", "phase": "Running"}}


POD_OBJS = [_pod_obj(k, i) for i, k in enumerate(PODS)]
NS_OBJS = [{"metadata": {"name": n, "labels": {"team": "t-" + n}}} for n in NAMESPACES]
IPS = {f"{o['metadata']['namespace']}/{o['metadata']['name']}": o["status"]["podIP"]
       for o in POD_OBJS}


def policy(ns: str, name: str, selector: dict[str, Any] | None = None, *,
           ingress: list[Any] | None = None, egress: list[Any] | None = None,
           types: list[str] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"podSelector": selector or {}}
    if ingress is not None:
        spec["ingress"] = ingress
    if egress is not None:
        spec["egress"] = egress
    spec["policyTypes"] = types or (["Ingress"] if egress is None else ["Egress"])
    return {"metadata": {"namespace": ns, "name": name}, "spec": spec}


def _allowed(entries: list[Isolation], pod: str, direction: str, remote_ip: str,
             protocol: str, port: int) -> bool:
    for iso in entries:
        if iso.pod.key != pod or iso.direction != direction:
            continue
        return any(_matches(a, remote_ip, protocol, port) for a in iso.allows)
    return True  # not isolated in this direction


def _matches(allow: netpol.Allow, ip: str, protocol: str, port: int) -> bool:
    if not any(ipaddress.ip_address(ip) in ipaddress.ip_network(c) for c in allow.cidrs):
        return False
    if allow.protocol and allow.protocol != protocol:
        return False
    return not allow.port or allow.port <= port <= (allow.end_port or allow.port)


def reachability(policies: list[dict[str, Any]], *, port: int = 80,
                 protocol: str = "TCP") -> dict[tuple[str, str], bool]:
    entries = [e for node in ("n0", "n1") for e in netpol.node_isolations(
        node=node, policies=policies, pods=POD_OBJS, namespaces=NS_OBJS)]
    return {(src, dst): _allowed(entries, src, "egress", IPS[dst], protocol, port)
            and _allowed(entries, dst, "ingress", IPS[src], protocol, port)
            for src in PODS for dst in PODS if src != dst}  # loopback ignored, as upstream


def expect(rule: Callable[[str, str], bool]) -> dict[tuple[str, str], bool]:
    return {(s, d): rule(s, d) for s in PODS for d in PODS if s != d}


def ns_of(key: str) -> str:
    return key.split("/")[0]


NS_Y = {"matchLabels": {"kubernetes.io/metadata.name": "y"}}
NOT_X = {"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "NotIn",
                               "values": ["x"]}]}
POD_A, POD_B = {"matchLabels": {"pod": "a"}}, {"matchLabels": {"pod": "b"}}

CASES: list[tuple[str, list[dict[str, Any]], dict[str, Any], Callable[[str, str], bool]]] = [
    ("no-policy", [], {}, lambda s, d: True),
    ("default-deny-ingress", [policy("x", "deny", ingress=[])], {},
     lambda s, d: ns_of(d) != "x"),
    ("default-deny-all", [policy("x", "deny", ingress=[], egress=[],
                                 types=["Ingress", "Egress"])], {},
     lambda s, d: "x" not in (ns_of(s), ns_of(d))),
    ("ingress-only-from-x/b-by-podSelector",
     [policy("x", "a-from-b", POD_A, ingress=[{"from": [{"podSelector": POD_B}]}])], {},
     lambda s, d: d != "x/a" or s == "x/b"),
    ("deny-all-then-allow-all-to-a",
     [policy("x", "deny", ingress=[]),
      policy("x", "to-a", POD_A, ingress=[{"from": [{"podSelector": {},
                                                     "namespaceSelector": {}}]}])], {},
     lambda s, d: ns_of(d) != "x" or d == "x/a"),
    ("from-all-namespaces", [policy("x", "all-ns", POD_A,
                                    ingress=[{"from": [{"namespaceSelector": {}}]}])], {},
     lambda s, d: True),
    ("only-from-namespace-y", [policy("x", "from-y", POD_A,
                                      ingress=[{"from": [{"namespaceSelector": NS_Y}]}])], {},
     lambda s, d: d != "x/a" or ns_of(s) == "y"),
    ("podSelector-or-namespaceSelector",
     [policy("x", "or", POD_A, ingress=[{"from": [{"namespaceSelector": NOT_X},
                                                  {"podSelector": POD_B}]}])], {},
     lambda s, d: d != "x/a" or ns_of(s) != "x" or s == "x/b"),
    ("podSelector-and-namespaceSelector",
     [policy("x", "and", POD_A, ingress=[{"from": [{"namespaceSelector": NOT_X,
                                                    "podSelector": POD_B}]}])], {},
     lambda s, d: d != "x/a" or s in ("y/b", "z/b")),
    ("namespace-by-own-label",
     [policy("x", "team", POD_A, ingress=[{"from": [{"namespaceSelector": {
         "matchLabels": {"team": "t-z"}}}]}])], {},
     lambda s, d: d != "x/a" or ns_of(s) == "z"),
    ("numeric-port-81-blocks-80", [policy("x", "p81", POD_A, ingress=[{"ports": [{"port": 81}]}])],
     {"port": 80}, lambda s, d: d != "x/a"),
    ("numeric-port-80-allows-80", [policy("x", "p80", POD_A, ingress=[{"ports": [
        {"port": 80, "protocol": "TCP"}]}])], {"port": 80}, lambda s, d: True),
    ("udp-port-does-not-allow-tcp", [policy("x", "u80", POD_A, ingress=[{"ports": [
        {"port": 80, "protocol": "UDP"}]}])], {"port": 80}, lambda s, d: d != "x/a"),
    ("named-port-resolves-on-the-server", [policy("x", "named", POD_A, ingress=[{"ports": [
        {"port": "serve-80-tcp"}]}])], {"port": 80}, lambda s, d: True),
    ("named-port-of-other-protocol", [policy("x", "named-udp", POD_A, ingress=[{"ports": [
        {"port": "serve-81-udp"}]}])], {"port": 81}, lambda s, d: d != "x/a"),
    ("named-port-unknown", [policy("x", "nope", POD_A, ingress=[{"ports": [
        {"port": "no-such-port"}]}])], {"port": 80}, lambda s, d: d != "x/a"),
    ("port-range-includes", [policy("x", "range", POD_A, ingress=[{"ports": [
        {"port": 79, "endPort": 81}]}])], {"port": 80}, lambda s, d: True),
    ("port-range-excludes", [policy("x", "range", POD_A, ingress=[{"ports": [
        {"port": 81, "endPort": 90}]}])], {"port": 80}, lambda s, d: d != "x/a"),
    ("ipBlock-except-one-pod",
     [policy("x", "cidr", POD_A, ingress=[{"from": [{"ipBlock": {
         "cidr": "10.244.0.0/16", "except": [f"{IPS['y/a']}/32"]}}]}])], {},
     lambda s, d: d != "x/a" or s != "y/a"),
    ("ipBlock-elsewhere", [policy("x", "cidr", POD_A, ingress=[{"from": [{"ipBlock": {
        "cidr": "192.168.0.0/16"}}]}])], {}, lambda s, d: d != "x/a"),
    ("egress-deny-all", [policy("x", "deny-egress", egress=[])], {},
     lambda s, d: ns_of(s) != "x"),
    ("egress-to-namespace-y-only", [policy("x", "to-y", POD_A,
                                           egress=[{"to": [{"namespaceSelector": NS_Y}]}])], {},
     lambda s, d: s != "x/a" or ns_of(d) == "y"),
    ("egress-named-port-to-all", [policy("x", "named-out", POD_A, egress=[{"ports": [
        {"port": "serve-80-tcp"}]}])], {"port": 80}, lambda s, d: True),
    ("egress-named-port-to-block", [policy("x", "named-block", POD_A, egress=[{
        "to": [{"ipBlock": {"cidr": f"{IPS['y/b']}/32"}}], "ports": [{"port": "serve-80-tcp"}]
    }])], {"port": 80}, lambda s, d: s != "x/a" or d == "y/b"),
    ("ingress-and-egress-union", [
        policy("x", "deny-out", egress=[]),
        policy("x", "a-out-to-b", POD_A, egress=[{"to": [{"podSelector": POD_B}]}])], {},
     lambda s, d: ns_of(s) != "x" or (s == "x/a" and d == "x/b")),
    ("policy-in-y-leaves-x-alone", [policy("y", "deny", ingress=[])], {},
     lambda s, d: ns_of(d) != "y"),
    ("egress-type-ignores-ingress-rules", [policy("x", "egress-only", ingress=[],
                                                  types=["Egress"])], {},
     lambda s, d: ns_of(s) != "x"),
]


@pytest.mark.parametrize(("policies", "probe", "rule"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_truth_table(policies: list[dict[str, Any]], probe: dict[str, Any],
                     rule: Callable[[str, str], bool]) -> None:
    got = reachability(policies, **probe)
    want = expect(rule)
    wrong = {pair: got[pair] for pair in want if got[pair] != want[pair]}
    assert not wrong, f"pairs with the wrong reachability (got): {wrong}"


def test_only_this_nodes_pods_are_isolated() -> None:
    entries = netpol.node_isolations(node="n0", policies=[policy("x", "deny", ingress=[])],
                                     pods=POD_OBJS, namespaces=NS_OBJS)
    assert {e.pod.key for e in entries} == {"x/a", "x/c"}  # x/b runs on n1


def test_pods_without_ip_host_network_or_finished_are_no_peers() -> None:
    base = _pod_obj("x/q", 0)
    assert netpol.pod_info(base) is not None
    assert netpol.pod_info({**base, "status": {"phase": "Pending"}}) is None
    assert netpol.pod_info({**base, "spec": {**base["spec"], "hostNetwork": True}}) is None
    assert netpol.pod_info({**base, "status": {**base["status"], "phase": "Succeeded"}}) is None


DNS_SVC = {"metadata": {"namespace": "kube-system", "name": "kube-dns",
                        "labels": {"k8s-app": "kube-dns"}}}
DNS_EP = {"metadata": {"namespace": "kube-system", "name": "kube-dns"},
          "subsets": [{"addresses": [{"ip": "172.30.85.11", "nodeName": "n0"},
                                     {"ip": "172.30.85.12", "nodeName": "n1"}],
                       "ports": [{"name": "dns", "port": 53, "protocol": "UDP"},
                                 {"name": "dns-tcp", "port": 53, "protocol": "TCP"}]}]}


def test_dns_rule_to_kube_dns_allows_the_node_level_dns_addresses() -> None:
    allow_dns = policy("x", "dns", egress=[{
        "to": [{"namespaceSelector": {"matchLabels": {
            "kubernetes.io/metadata.name": "kube-system"}},
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
        "ports": [{"port": 53, "protocol": "UDP"}, {"port": "dns-tcp", "protocol": "TCP"}]}])
    entries = netpol.node_isolations(
        node="n0", policies=[allow_dns], pods=POD_OBJS,
        namespaces=[*NS_OBJS, {"metadata": {"name": "kube-system"}}],
        services=[DNS_SVC], endpoints=[DNS_EP])
    x_a = next(e for e in entries if e.pod.key == "x/a")
    assert x_a.direction == "egress"
    assert set(x_a.allows) == {netpol.Allow(("172.30.85.11/32", "172.30.85.12/32"), proto, 53)
                               for proto in ("UDP", "TCP")}


def test_ip_block_except_becomes_disjoint_cidrs() -> None:
    world = World((), {})
    pod = PodInfo("x", "a", "10.244.0.10")
    rule = {"from": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.244.0.0/16",
                                                                   "10.244.1.0/24"]}}]}
    entries = netpol.isolations([policy("x", "p", ingress=[rule])], world, [pod])
    cidrs = entries[0].allows[0].cidrs
    nets = [ipaddress.ip_network(c) for c in cidrs]
    assert sum(n.num_addresses for n in nets) == 2**24 - 2**16
    assert not any(ipaddress.ip_address("10.244.3.4") in n for n in nets)
    assert any(ipaddress.ip_address("10.9.0.1") in n for n in nets)


def test_rendered_chains() -> None:
    entries = netpol.node_isolations(
        node="n0", namespaces=NS_OBJS, pods=POD_OBJS[:1],
        policies=[policy("x", "a", POD_A, ingress=[{"from": [{"ipBlock": {
            "cidr": "10.1.0.0/16"}}], "ports": [{"port": 80, "endPort": 90,
                                                  "protocol": "TCP"}]}])])
    lines = netpolrules.render(entries, existing_chains=["KBOOT-NP-I-GONE", "INPUT"])
    name = netpolrules.chain(entries[0])
    assert lines == [
        ":KBOOT-NETPOL - [0:0]", f":{name} - [0:0]", ":KBOOT-NP-I-GONE - [0:0]",
        "-A KBOOT-NETPOL -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN",
        '-A KBOOT-NETPOL -m addrtype --src-type LOCAL -m comment --comment "from this node" '
        "-j RETURN",
        f'-A KBOOT-NETPOL -d 10.244.0.10/32 -m comment --comment "x/a ingress" -j {name}',
        f"-A {name} -s 10.1.0.0/16 -p tcp -m tcp --dport 80:90 -j RETURN",
        f'-A {name} -m comment --comment "x: ingress not allowed by a" -j DROP',
        "-X KBOOT-NP-I-GONE"]


def test_same_input_renders_the_same_rules() -> None:
    policies = [policy("x", "deny", ingress=[]), policy("x", "b", POD_A, ingress=[
        {"from": [{"podSelector": {}}]}])]
    one = netpolrules.render(netpol.node_isolations(node="n0", policies=policies,
                                                    pods=POD_OBJS, namespaces=NS_OBJS))
    two = netpolrules.render(netpol.node_isolations(node="n0", policies=policies[::-1],
                                                    pods=POD_OBJS[::-1],
                                                    namespaces=NS_OBJS[::-1]))
    assert one == two


def test_long_policy_lists_keep_the_comment_within_the_kernel_limit() -> None:
    policies = [policy("x", f"policy-with-a-rather-long-name-{i}", ingress=[]) for i in range(20)]
    lines = netpolrules.render(netpol.node_isolations(node="n0", policies=policies,
                                                      pods=POD_OBJS, namespaces=NS_OBJS))
    drops = [line for line in lines if line.endswith("-j DROP")]
    assert drops and all(len(line.split('"')[1]) <= 255 for line in drops)
    assert all(line.split('"')[1].endswith("...") for line in drops)


def test_adjacent_peers_collapse_into_one_cidr_per_port() -> None:
    pods = [{**_pod_obj(f"y/p{i}", 0), "status": {"podIP": f"10.244.7.{i}", "phase": "Running"}}
            for i in range(8, 16)]
    entries = netpol.node_isolations(
        node="n0", namespaces=NS_OBJS, pods=[*POD_OBJS, *pods],
        policies=[policy("x", "from-y", POD_A, ingress=[{"from": [{"namespaceSelector": NS_Y}],
                                                         "ports": [{"port": 80}]}])])
    [x_a] = [e for e in entries if e.pod.key == "x/a"]
    assert x_a.allows == (netpol.Allow((f"{IPS['y/b']}/32", f"{IPS['y/a']}/32",
                                        "10.244.7.8/29"), "TCP", 80),)


@pytest.mark.parametrize(("cidrs", "want"), [
    (["0.0.0.0/0", "10.0.0.1/32"], ["0.0.0.0/0"]),
    (["10.0.0.0/25", "10.0.0.128/25"], ["10.0.0.0/24"]),
    (["10.0.0.1/32", "10.0.0.2/32", "10.0.0.3/32"], ["10.0.0.1/32", "10.0.0.2/31"]),
    (["10.0.0.5/24"], ["10.0.0.0/24"]),  # host bits, as upstream's sloppy parse allows
    (["255.255.255.255/32", "255.255.255.254/32"], ["255.255.255.254/31"]),
])
def test_collapse_matches_ipaddress(cidrs: list[str], want: list[str]) -> None:
    assert list(netpol.collapse(cidrs)) == want
    reference = ipaddress.collapse_addresses(ipaddress.IPv4Network(c, strict=False)
                                             for c in cidrs)
    assert [str(n) for n in reference] == want


def test_alike_pods_share_one_chain() -> None:
    lines = netpolrules.render(netpol.node_isolations(
        node="n0", policies=[policy("x", "deny", ingress=[{"from": [{"podSelector": POD_B}]}])],
        pods=POD_OBJS, namespaces=NS_OBJS))
    jumps = [line for line in lines if line.startswith("-A KBOOT-NETPOL -d")]
    assert len(jumps) == 2  # x/a and x/c run on n0
    assert len({line.split()[-1] for line in jumps}) == 1
    assert sum(line.endswith("-j DROP") for line in lines) == 1


def test_collapse_agrees_with_ipaddress_on_random_sets() -> None:
    rng = random.Random(17)
    for _ in range(200):
        prefixes = [22, 24, 28, 30, 31, 32, 32, 32]
        cidrs = [f"10.{rng.randrange(2)}.{rng.randrange(4)}.{rng.randrange(256)}/"
                 f"{rng.choice(prefixes)}" for _ in range(rng.randrange(1, 12))]
        reference = ipaddress.collapse_addresses(ipaddress.IPv4Network(c, strict=False)
                                                 for c in cidrs)
        assert list(netpol.collapse(cidrs)) == [str(n) for n in reference], cidrs
