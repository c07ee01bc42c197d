"""``kboot-proxy``: keeps the node's Service rules equal to :func:`rules.render` of the API state.

Informers on Services and Endpoints only mark the state dirty; one loop renders the rules
(a pure function) and applies them atomically when the text changed, at most every
``--min-sync-period`` seconds.

Example::

    kboot-proxy --kubeconfig /etc/kboot/proxy.kubeconfig --node-name w1 \\
      --cluster-cidr 10.244.0.0/16
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import socket
from collections.abc import Sequence

from kboot.controlplane import runtime
from kboot.controlplane.client.api import ApiClient
from kboot.controlplane.client.informer import Handlers, Informers
from kboot.controlplane.client.rest import Client
from kboot.controlplane.proxy import rules
from kboot.controlplane.proxy.iptables import Iptables, IptablesError

log = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kboot-proxy", description="kboot's Service proxy")
    p.add_argument("--kubeconfig", required=True)
    p.add_argument("--node-name", default=socket.gethostname())
    p.add_argument("--cluster-cidr", default="", help="pod CIDR; other sources get SNAT")
    p.add_argument("--netns", default="", help="apply rules in this network namespace path")
    p.add_argument("--min-sync-period", type=float, default=0.2)
    p.add_argument("--cleanup", action="store_true", help="remove kboot's rules and exit")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


class Proxier:
    def __init__(self, client: ApiClient, iptables: Iptables, *, cluster_cidr: str = "",
                 min_period: float = 0.2) -> None:
        self.iptables, self.cluster_cidr, self.min_period = iptables, cluster_cidr, min_period
        self.informers = Informers(client)
        self.services = self.informers.get("services")
        self.endpoints = self.informers.get("endpoints")
        self.dirty = asyncio.Event()
        self.applied = ""

    def _mark(self, *_args: object) -> None:
        self.dirty.set()

    async def sync(self) -> bool:
        """Apply the rules if they changed; True when something was written."""
        ports = rules.service_ports(self.services.objects(), self.endpoints.objects())
        text = rules.render(ports, cluster_cidr=self.cluster_cidr,
                            existing_chains=await self.iptables.chains())
        if text == self.applied:
            return False
        await self.iptables.restore(text)
        await self.iptables.ensure_jumps()
        self.applied = text
        log.info("applied rules for %d service ports", len(ports))
        return True

    async def run(self) -> None:
        handlers = Handlers(on_add=self._mark, on_update=self._mark, on_delete=self._mark)
        self.services.add_handlers(handlers)
        self.endpoints.add_handlers(handlers)
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
                await asyncio.sleep(self.min_period)
        finally:
            await self.informers.stop()


async def _serve(args: argparse.Namespace) -> None:
    prefix = ["nsenter", f"--net={args.netns}"] if args.netns else []
    iptables = Iptables(prefix)
    if args.cleanup:
        await iptables.cleanup()
        return
    client = Client.from_kubeconfig(args.kubeconfig)
    try:
        await Proxier(client, iptables, cluster_cidr=args.cluster_cidr,
                      min_period=args.min_sync_period).run()
    finally:
        await client.close()


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with contextlib.suppress(KeyboardInterrupt):
        runtime.run(_serve(args))
    return 0
