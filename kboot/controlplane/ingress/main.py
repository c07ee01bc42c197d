"""``kboot-ingress``: flags, node IP discovery, and the process lifetime.

Example::

    kboot-ingress --kubeconfig /etc/kboot/ingress.kubeconfig --node-name w1 \\
      --node-ip 10.77.0.21 --haproxy-config /etc/kboot/ingress/haproxy.cfg \\
      --certs-dir /etc/kboot/ingress/certs --http-port 80 --https-port 443

Every ingress node runs one (no leader election: each drives its own haproxy).
"""

from __future__ import annotations

import argparse
import socket
from collections.abc import Sequence
from pathlib import Path

from kboot.controlplane.client.api import ApiClient
from kboot.controlplane.client.component import run_component
from kboot.controlplane.ingress.classes import DEFAULT_CONTROLLER
from kboot.controlplane.ingress.controller import Settings, run
from kboot.controlplane.ingress.haproxy import HAProxy, HAProxyPaths


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kboot-ingress",
                                description="Ingress controller driving haproxy")
    p.add_argument("--kubeconfig", required=True)
    p.add_argument("--node-name", default=socket.gethostname())
    p.add_argument("--node-ip", default="",
                   help="IP published in status.loadBalancer (default: the Node's InternalIP)")
    p.add_argument("--bind-address", action="append", default=[],
                   help="address haproxy listens on (repeatable; default: all addresses)")
    p.add_argument("--haproxy-config", default="/etc/kboot/ingress/haproxy.cfg")
    p.add_argument("--certs-dir", default="/etc/kboot/ingress/certs")
    p.add_argument("--http-port", type=int, default=80)
    p.add_argument("--https-port", type=int, default=443)
    p.add_argument("--haproxy-binary", default="/usr/sbin/haproxy")
    p.add_argument("--haproxy-user", default="",
                   help="user and group haproxy's workers run as (e.g. haproxy); default: ours")
    p.add_argument("--class", dest="controller_class", default=DEFAULT_CONTROLLER,
                   help="spec.controller of the IngressClasses served")
    p.add_argument("--debounce", type=float, default=0.2, help="seconds to batch changes")
    p.add_argument("--resync-period", type=float, default=10.0,
                   help="seconds between full re-syncs (restart a dead haproxy, fix status)")
    p.add_argument("--v", "--log-level", dest="log_level", default="INFO")
    return p


async def node_internal_ip(client: ApiClient, node_name: str) -> str:
    node = await client.get("nodes", node_name)
    for address in (node.get("status") or {}).get("addresses") or []:
        if address.get("type") == "InternalIP":
            return str(address["address"])
    raise RuntimeError(f"node {node_name} has no InternalIP; pass --node-ip")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.leader_elect = False
    paths = HAProxyPaths(binary=Path(args.haproxy_binary), config=Path(args.haproxy_config),
                         certs_dir=Path(args.certs_dir))

    async def work(client: ApiClient) -> None:
        node_ip = args.node_ip or await node_internal_ip(client, args.node_name)
        settings = Settings(
            node_name=args.node_name, node_ip=node_ip,
            bind_addresses=tuple(args.bind_address), controller_class=args.controller_class,
            http_port=args.http_port, https_port=args.https_port,
            certs_dir=str(paths.certs_dir), debounce=args.debounce,
            resync=args.resync_period, run_as=args.haproxy_user)
        await run(client, HAProxy(paths), settings)

    return run_component(args, lease_name="kboot-ingress", work=work)
