"""``kboot-proxy``: keeps the node's Service rules equal to :func:`rules.render` of the API state,
its NetworkPolicy rules equal to :func:`netpolrules.render` (this node's pods) and its Service
health check listeners (:mod:`.healthcheck`) equal to the Services that want one.

Informers on Services, Endpoints, NetworkPolicies, Pods and Namespaces only mark the state
dirty; one loop renders the rules (pure functions) and applies them atomically (one
``iptables-restore``) when the text changed, at most every ``--min-sync-period`` seconds.

Example::

    kboot-proxy --kubeconfig /etc/kboot/proxy.kubeconfig --node-name w1 \\
      --cluster-cidr 10.244.0.0/16
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import socket
from collections.abc import Sequence

from kboot.controlplane.client.api import ApiClient
from kboot.controlplane.client.clock import REAL_CLOCK, Clock
from kboot.controlplane.client.component import (
    add_common_flags,
    log_level,
    run_component,
    run_process,
)
from kboot.controlplane.client.informer import Handlers, Informers
from kboot.controlplane.proxy import netpol, netpolrules, rules
from kboot.controlplane.proxy.healthcheck import HealthServers, health_checks, local_ready_counts
from kboot.controlplane.proxy.iptables import Iptables, IptablesError

log = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kboot-proxy", description="kboot's Service proxy")
    add_common_flags(p, leader_elect=False, verbose=True)
    p.add_argument("--node-name", default=socket.gethostname())
    p.add_argument("--cluster-cidr", default="", help="pod CIDR; other sources get SNAT")
    p.add_argument("--netns", default="", help="apply rules in this network namespace path")
    p.add_argument("--min-sync-period", type=float, default=0.2)
    p.add_argument("--cleanup", action="store_true", help="remove kboot's rules and exit")
    return p


class Proxier:
    def __init__(self, client: ApiClient, iptables: Iptables, *, cluster_cidr: str = "",
                 node_name: str = "", min_period: float = 0.2,
                 clock: Clock = REAL_CLOCK, health: HealthServers | None = None) -> None:
        self.iptables, self.cluster_cidr, self.min_period = iptables, cluster_cidr, min_period
        self.clock = clock  # the pause between syncs (rate limit)
        self.informers = Informers(client, clock=clock)
        self.services = self.informers.get("services")
        self.endpoints = self.informers.get("endpoints")
        self.slices = self.informers.get("endpointslices")  # serving, terminating endpoints
        self.node_name = node_name  # NetworkPolicies are enforced for this node's pods
        self.policies = self.informers.get("networkpolicies")
        self.pods = self.informers.get("pods")
        self.namespaces = self.informers.get("namespaces")
        self.health = health or HealthServers()
        self.dirty = asyncio.Event()
        self.applied = ""

    def _mark(self, *_args: object) -> None:
        self.dirty.set()

    async def sync(self) -> bool:
        """Apply the rules if they changed; True when something was written."""
        await self.health.sync(health_checks(self.services.objects()),
                               local_ready_counts(self.endpoints.objects(), self.node_name))
        ports = rules.service_ports(self.services.objects(), self.endpoints.objects(),
                                    self.slices.objects(), node_name=self.node_name)
        isolated = netpol.node_isolations(
            node=self.node_name, policies=self.policies.objects(), pods=self.pods.objects(),
            namespaces=self.namespaces.objects(), services=self.services.objects(),
            endpoints=self.endpoints.objects())
        policy_rules = netpolrules.render(isolated,
                                          existing_chains=await self.iptables.chains("filter"))
        text = rules.render(ports, cluster_cidr=self.cluster_cidr,
                            existing_chains=await self.iptables.chains(),
                            filter_rules=policy_rules)
        if text == self.applied:
            return False
        await self.iptables.restore(text)
        await self.iptables.ensure_jumps()
        self.applied = text
        log.info("applied rules for %d service ports, %d isolated pod directions", len(ports),
                 len(isolated))
        return True

    async def run(self) -> None:
        handlers = Handlers(on_add=self._mark, on_update=self._mark, on_delete=self._mark)
        for informer in (self.services, self.endpoints, self.slices, self.policies, self.pods,
                         self.namespaces):
            informer.add_handlers(handlers)
        await self.iptables.enable_bridge_netfilter()
        self.informers.start()
        try:
            await self.informers.wait_synced()
            self.dirty.set()
            while True:
                await self.dirty.wait()
                self.dirty.clear()
                try:
                    await self.sync()
                except IptablesError as exc:
                    log.error("applying rules failed: %s", exc)
                    self.applied = ""
                    self.dirty.set()
                await self.clock.sleep(self.min_period)
        finally:
            await self.health.close()
            await self.informers.stop()


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    prefix = ["nsenter", f"--net={args.netns}"] if args.netns else []
    iptables = Iptables(prefix)
    if args.cleanup:
        return run_process("kboot-proxy", log_level(args), iptables.cleanup)

    async def work(client: ApiClient) -> None:
        await Proxier(client, iptables, cluster_cidr=args.cluster_cidr,
                      node_name=args.node_name, min_period=args.min_sync_period,
                      health=HealthServers(netns=args.netns)).run()

    return run_component(args, lease_name="kboot-proxy", work=work)
