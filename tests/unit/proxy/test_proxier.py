"""The Proxier's wiring on the fake API and a fake clock: NetworkPolicy, Pod and Namespace events
re-render the filter rules, in the same restore as the Service rules, and a pod no longer
isolated has its chain deleted."""

from __future__ import annotations

import asyncio
from typing import Any

from kboot.controlplane.client.clock import FakeClock
from kboot.controlplane.client.fake import FakeClient
from kboot.controlplane.proxy.iptables import Iptables
from kboot.controlplane.proxy.main import Proxier


class RecordingIptables(Iptables):
    """Keeps what was restored and answers ``chains`` from it, as the kernel would."""

    def __init__(self) -> None:
        super().__init__()
        self.restored: list[str] = []
        self.tables: dict[str, set[str]] = {"nat": set(), "filter": set()}

    async def chains(self, table: str = "nat") -> set[str]:
        return set(self.tables[table])

    async def restore(self, rules: str) -> None:
        self.restored.append(rules)
        table = ""
        for line in rules.splitlines():
            if line.startswith("*"):
                table = line[1:]
            elif line.startswith(":"):
                self.tables[table].add(line[1:].split()[0])
            elif line.startswith("-X "):
                self.tables[table].discard(line.split()[1])

    async def ensure_jumps(self) -> None:
        pass

    async def enable_bridge_netfilter(self) -> None:
        pass


def _pod(name: str, node: str, ip: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "shop", "labels": {"app": name}},
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "i"}]},
            "status": {"phase": "Running", "podIP": ip}}


DENY = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": "deny", "namespace": "shop"},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}}


def test_policy_events_render_and_remove_the_pod_chains() -> None:
    clock = FakeClock()
    client = FakeClient(clock=clock)
    client.seed("namespaces", {"apiVersion": "v1", "kind": "Namespace",
                               "metadata": {"name": "shop"}})
    client.seed("pods", _pod("db", "n1", "10.244.1.5"))
    client.seed("pods", _pod("web", "n2", "10.244.2.7"))
    iptables = RecordingIptables()
    proxier = Proxier(client, iptables, node_name="n1", min_period=0.2, clock=clock)

    def last() -> str:
        return iptables.restored[-1] if iptables.restored else ""

    def np_chains() -> set[str]:
        return {c for c in iptables.tables["filter"] if c.startswith("KBOOT-NP-")}

    async def go() -> None:
        task = asyncio.create_task(proxier.run())
        await clock.advance_until(lambda: "KBOOT-NETPOL" in last(), limit=10)
        assert not np_chains()
        await client.create("networkpolicies", DENY, namespace="shop")
        await clock.advance_until(lambda: bool(np_chains()), limit=10)
        text = last()
        assert "*nat" in text and "KBOOT-SERVICES" in text  # one restore for both tables
        assert '-d 10.244.1.5/32 -m comment --comment "shop/db ingress"' in text
        assert "10.244.2.7/32 -m comment" not in text  # web runs on n2: n2's proxy isolates it
        await client.delete("networkpolicies", "deny", namespace="shop")
        await clock.advance_until(lambda: not np_chains(), limit=10)
        assert "-X KBOOT-NP-I-" in last()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(go())
