"""Proxy rules: golden files (input JSON → expected iptables-restore text) plus properties.

Regenerate after an intended change with ``KBOOT_UPDATE_GOLDEN=1 pytest tests/unit/proxy`` and
review the diff.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from kboot.controlplane.proxy import rules

GOLDEN = Path(__file__).parent / "golden"
CASES = sorted(p.stem for p in GOLDEN.glob("*.json"))


def _render(case: dict) -> str:  # type: ignore[type-arg]
    ports = rules.service_ports(case["services"], case["endpoints"])
    return rules.render(ports, cluster_cidr=case.get("cluster_cidr", ""),
                        existing_chains=case.get("existing_chains", ()))


@pytest.mark.parametrize("name", CASES)
def test_golden(name: str) -> None:
    text = _render(json.loads((GOLDEN / f"{name}.json").read_text()))
    expected = GOLDEN / f"{name}.rules"
    if os.environ.get("KBOOT_UPDATE_GOLDEN"):
        expected.write_text(text)
    assert text == expected.read_text()


def test_probabilities_split_evenly() -> None:
    case = json.loads((GOLDEN / "clusterip_three_endpoints.json").read_text())
    text = _render(case)
    probs = [float(p) for p in re.findall(r"--probability (\S+)", text)]
    assert probs == pytest.approx([1 / 3, 1 / 2])
    assert text.count("-j DNAT") == 3 and text.startswith("*nat\n") and text.endswith("COMMIT\n")


def test_chain_names_fit_iptables_limit_and_are_stable() -> None:
    case = json.loads((GOLDEN / "nodeport_externalip_affinity.json").read_text())
    ports = rules.service_ports(case["services"], case["endpoints"])
    names = {rules.svc_chain(p) for p in ports} | {rules.sep_chain(p, e) for p in ports
                                                    for e in p.endpoints}
    assert all(len(n) <= 28 for n in names)
    assert rules.service_ports(case["services"], case["endpoints"]) == ports


def test_stale_chains_are_deleted_but_foreign_ones_kept() -> None:
    text = _render(json.loads((GOLDEN / "headless_no_endpoints_and_udp.json").read_text()))
    assert "-X KBOOT-SVC-STALESTALESTALE0" in text and "KUBE-OTHER" not in text
    nat, filt = text.split("*filter")
    assert "10.96.0.40" not in nat  # no endpoints: no DNAT …
    assert "-d 10.96.0.40/32 -p tcp -m tcp --dport 80" in filt and "REJECT" in filt  # … REJECT
    assert "5432" not in text  # headless: DNS only
