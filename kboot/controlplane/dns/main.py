"""``kboot-dns``: cluster DNS fed by informers on Services and Endpoints.

Example::

    kboot-dns --kubeconfig /etc/kboot/dns.kubeconfig --bind 10.96.0.10 --port 53 \\
      --cluster-domain cluster.local
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Sequence

from kboot.controlplane.client.api import ApiClient
from kboot.controlplane.client.component import add_common_flags, run_component
from kboot.controlplane.client.informer import Handlers, Informers
from kboot.controlplane.dns.server import Resolver, serve
from kboot.controlplane.dns.zone import Zone, build_zone

log = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kboot-dns", description="kboot's cluster DNS")
    add_common_flags(p, leader_elect=False, verbose=True)
    p.add_argument("--bind", default="0.0.0.0")
    p.add_argument("--port", type=int, default=53)
    p.add_argument("--cluster-domain", default="cluster.local")
    return p


async def run(client: ApiClient, *, bind: str, port: int, domain: str) -> None:
    informers = Informers(client)
    services, endpoints = informers.get("services"), informers.get("endpoints")
    resolver = Resolver(Zone(domain=domain))

    def rebuild(*_args: object) -> None:
        resolver.zone = build_zone(services.objects(), endpoints.objects(), domain)

    handlers = Handlers(on_add=rebuild, on_update=rebuild, on_delete=rebuild)
    services.add_handlers(handlers)
    endpoints.add_handlers(handlers)
    informers.start()
    udp, tcp = await serve(resolver, bind, port)
    try:
        await informers.wait_synced()
        rebuild()
        await asyncio.Event().wait()
    finally:
        udp.close()
        tcp.close()
        await informers.stop()


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    async def work(client: ApiClient) -> None:
        await run(client, bind=args.bind, port=args.port, domain=args.cluster_domain)

    return run_component(args, lease_name="kboot-dns", work=work)
