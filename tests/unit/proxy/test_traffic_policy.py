"""Traffic policies in the proxy's rules (upstream's iptables proxier and CategorizeEndpoints):
``externalTrafficPolicy: Local`` sends NodePort and external-IP traffic only to this node's
endpoints without SNAT, short-circuits pod and node traffic to the cluster chain, and drops the
rest when the node has no endpoint; ``internalTrafficPolicy: Local`` does the same for the
cluster IP; with no endpoint at all, everything is rejected as before."""

from __future__ import annotations

from typing import Any

import pytest

from kboot.controlplane.proxy import rules
from kboot.controlplane.proxy.rules import Endpoint

NODE, CIDR = "n1", "10.244.0.0/16"
LOCAL_IP, REMOTE_IP = "10.244.1.5", "10.244.2.5"
Obj = dict[str, Any]


def _svc(**spec: Any) -> Obj:
    return {"metadata": {"name": "web", "namespace": "shop"},
            "spec": {"clusterIP": "10.96.0.9", "ports": [{"port": 80, "nodePort": 30080}],
                     **spec}}


EXT_LOCAL = _svc(type="NodePort", externalIPs=["192.0.2.7"], externalTrafficPolicy="Local")
INT_LOCAL = _svc(internalTrafficPolicy="Local")


def _eps(*nodes: str) -> Obj:
    ips = {"n1": LOCAL_IP, "n2": REMOTE_IP}
    subsets = [{"addresses": [{"ip": ips[n], "nodeName": n} for n in nodes],
                "ports": [{"port": 8080}]}] if nodes else []
    return {"metadata": {"name": "web", "namespace": "shop"}, "subsets": subsets}


def _render(svc: Obj, eps: Obj, slices: tuple[Obj, ...] = ()) -> tuple[str, str, rules.ServicePort]:
    (sp,) = rules.service_ports([svc], [eps], slices, node_name=NODE)
    nat, filt = rules.render([sp], cluster_cidr=CIDR).split("*filter")
    return nat, filt, sp


def _chain(text: str, chain: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(f"-A {chain} ")]


def _targets(text: str, chain: str) -> list[str]:
    return [line.rsplit("-j ", 1)[1].split()[0] for line in _chain(text, chain)]


@pytest.mark.parametrize(("nodes", "svl", "drop"), [
    (("n1", "n2"), [LOCAL_IP], False),
    (("n1",), [LOCAL_IP], False),
    (("n2",), [], True),
])
def test_external_local(nodes: tuple[str, ...], svl: list[str], drop: bool) -> None:
    nat, filt, sp = _render(EXT_LOCAL, _eps(*nodes))
    ext, svc_chain, svl_chain = rules.ext_chain(sp), rules.svc_chain(sp), rules.svl_chain(sp)
    # NodePort and external IP go to the EXT chain only: no SNAT mark on the way
    assert _targets(nat, "KBOOT-NODEPORTS") == [ext]
    assert [t for line, t in zip(_chain(nat, "KBOOT-SERVICES"), _targets(nat, "KBOOT-SERVICES"),
                                 strict=True) if "192.0.2.7" in line] == [ext]
    # pods and the node itself short-circuit to the cluster chain (the node's traffic SNATed)
    ext_rules = _chain(nat, ext)
    assert f"-s {CIDR}" in ext_rules[0] and ext_rules[0].endswith(f"-j {svc_chain}")
    assert "--src-type LOCAL" in ext_rules[1] and ext_rules[1].endswith("-j KBOOT-MARK-MASQ")
    assert "--src-type LOCAL" in ext_rules[2] and ext_rules[2].endswith(f"-j {svc_chain}")
    assert ext_rules[3:] == ([f"-A {ext} -j {svl_chain}"] if svl else [])
    # the local chain reaches only this node's endpoints; the cluster chain all of them
    local_dnat = {line.split("--to-destination ")[1].split(":")[0] for sep in
                  _targets(nat, svl_chain) for line in _chain(nat, sep) if "DNAT" in line}
    assert sorted(local_dnat) == svl and (f":{svl_chain} " in nat) == bool(svl)
    assert len([t for t in _targets(nat, svc_chain) if "-SEP-" in t]) == len(nodes)
    # the cluster IP keeps the cluster policy
    assert f"-d 10.96.0.9/32 -p tcp -m tcp --dport 80 -m comment --comment \"shop/web cluster " \
           f"IP\" -j {svc_chain}" in nat
    dropped = [line for line in filt.splitlines() if line.endswith("-j DROP")]
    if drop:
        assert len(dropped) == 2 and "has no local endpoints" in dropped[0]
        assert "-d 192.0.2.7/32" in dropped[0]
        assert "--dst-type LOCAL -p tcp -m tcp --dport 30080" in dropped[1]
    else:
        assert dropped == []
    assert "REJECT" not in filt


def test_external_cluster_policy_still_masquerades() -> None:
    svc = _svc(type="NodePort", externalTrafficPolicy="Cluster")
    nat, _, sp = _render(svc, _eps("n2"))
    assert _targets(nat, "KBOOT-NODEPORTS") == ["KBOOT-MARK-MASQ", rules.svc_chain(sp)]
    assert "KBOOT-EXT-" not in nat and "KBOOT-SVL-" not in nat


@pytest.mark.parametrize(("nodes", "routed", "filter_target"), [
    (("n1", "n2"), [LOCAL_IP], None),
    (("n2",), [], "DROP"),
    ((), [], "REJECT"),
])
def test_internal_local(nodes: tuple[str, ...], routed: list[str],
                        filter_target: str | None) -> None:
    nat, filt, sp = _render(INT_LOCAL, _eps(*nodes))
    assert "KBOOT-SVC-" not in nat  # not externally reachable: no cluster chain at all
    if routed:
        assert _targets(nat, "KBOOT-SERVICES")[0] == rules.svl_chain(sp)
        assert _targets(nat, rules.svl_chain(sp)) == ["KBOOT-MARK-MASQ", rules.sep_chain(
            sp, Endpoint(LOCAL_IP, 8080))]  # off-cluster sources still SNATed, as upstream
    else:
        assert "10.96.0.9" not in nat
    kboot_filter = _chain(filt, "KBOOT-FILTER")
    if filter_target is None:
        assert kboot_filter == []
    else:
        (line,) = kboot_filter
        assert "-d 10.96.0.9/32" in line and f"-j {filter_target}" in line


def test_no_endpoint_anywhere_rejects_every_destination() -> None:
    nat, filt, _ = _render(EXT_LOCAL, _eps())
    assert "KBOOT-EXT-" not in nat and "KBOOT-SVC-" not in nat
    rejected = [line for line in filt.splitlines() if "REJECT" in line]
    assert len(rejected) == 3 and all("shop/web has no endpoints" in r for r in rejected)
    assert any("--dport 30080" in r for r in rejected)


def _slice(*endpoints: tuple[str, str, bool, bool]) -> Obj:
    """(ip, node, ready, terminating); serving = ready or terminating."""
    return {"metadata": {"name": "web-x", "namespace": "shop",
                         "labels": {rules.SERVICE_NAME: "web"}},
            "ports": [{"port": 8080}],
            "endpoints": [{"addresses": [ip], "nodeName": node,
                           "conditions": {"ready": r, "serving": True, "terminating": t}}
                          for ip, node, r, t in endpoints]}


def test_local_set_falls_back_to_local_serving_terminating_independently() -> None:
    # remote ready, local only terminating: cluster = remote, local = the terminating pod
    sl = _slice((REMOTE_IP, "n2", True, False), (LOCAL_IP, "n1", False, True))
    _, _, sp = _render(EXT_LOCAL, _eps("n2"), (sl,))
    assert sp.endpoints == (Endpoint(REMOTE_IP, 8080),)
    assert sp.local_endpoints == (Endpoint(LOCAL_IP, 8080),)
    # a local ready pod wins over a local terminating one
    other = "10.244.1.6"
    sl = _slice((LOCAL_IP, "n1", True, False), (other, "n1", False, True))
    _, _, sp = _render(EXT_LOCAL, _eps("n1"), (sl,))
    assert sp.local_endpoints == (Endpoint(LOCAL_IP, 8080),)
    # nodeName unknown to the proxier: nothing is local
    (sp,) = rules.service_ports([EXT_LOCAL], [_eps("n1")], node_name="")
    assert sp.local_endpoints == () and sp.endpoints == (Endpoint(LOCAL_IP, 8080),)
