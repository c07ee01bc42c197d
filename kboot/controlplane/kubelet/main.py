"""``kboot-kubelet``: flags, wiring (API client, CRI runtime, HTTPS server) and the event loop.

Example::

    kboot-kubelet --kubeconfig /etc/kboot/kubelet.kubeconfig --node-name w1 \\
      --node-ip 10.0.0.11 --cluster-dns 10.96.0.10 --client-ca-file /etc/kboot/pki/ca.crt \\
      --tls-cert-file /etc/kboot/pki/kubelet.crt \\
      --tls-private-key-file /etc/kboot/pki/kubelet.key
"""

from __future__ import annotations

import argparse
import logging
import socket
from collections.abc import Sequence

from aiohttp import web

from kboot.controlplane import runtime
from kboot.controlplane.client.rest import Client
from kboot.controlplane.kubelet.agent import Kubelet, KubeletConfig
from kboot.controlplane.kubelet.cri.grpc_runtime import DEFAULT_ENDPOINT, CriRuntime
from kboot.controlplane.kubelet.node import NodeConfig
from kboot.controlplane.kubelet.podspec import NodeSettings
from kboot.controlplane.kubelet.server import KubeletServer, ServerConfig, ssl_context
from kboot.controlplane.kubelet.sync import WorkerSettings

log = logging.getLogger(__name__)


def _taint(text: str) -> dict[str, str]:
    """``key=value:Effect`` or ``key:Effect``."""
    kv, _, effect = text.rpartition(":")
    key, _, value = kv.partition("=")
    out = {"key": key, "effect": effect}
    if value:
        out["value"] = value
    return out


def _csv(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kboot-kubelet", description="kboot's node agent")
    p.add_argument("--kubeconfig", required=True)
    p.add_argument("--node-name", default=socket.gethostname())
    p.add_argument("--node-ip", required=True)
    p.add_argument("--container-runtime-endpoint", default=DEFAULT_ENDPOINT)
    p.add_argument("--root-dir", default="/var/lib/kboot/kubelet")
    p.add_argument("--pod-log-dir", default="/var/log/pods")
    p.add_argument("--cgroup-root", default="/kubepods")
    p.add_argument("--tls-cert-file")
    p.add_argument("--tls-private-key-file")
    p.add_argument("--client-ca-file")
    p.add_argument("--address", default="0.0.0.0", help="where the HTTPS server listens")
    p.add_argument("--port", type=int, default=10250)
    p.add_argument("--cluster-dns", default="", help="comma-separated DNS server IPs")
    p.add_argument("--cluster-domain", default="cluster.local")
    p.add_argument("--register-with-taints", default="", help="key=value:Effect,…")
    p.add_argument("--node-labels", default="", help="key=value,…")
    p.add_argument("--cni-conf-dir", default="/etc/cni/net.d",
                   help="where to write the CNI conflist once the podCIDR is known ('' = never)")
    p.add_argument("--manage-routes", action=argparse.BooleanOptionalAction, default=True,
                   help="host-gw routes to other nodes' podCIDRs")
    p.add_argument("--routes-netns", default="",
                   help="apply host-gw routes inside this network namespace path")
    p.add_argument("--local-path-dir", default="/var/lib/kboot/local-path")
    p.add_argument("--ctr", default="ctr", help="ctr binary (exec streams)")
    p.add_argument("--backoff-initial", type=float, default=10.0)
    p.add_argument("--resync", type=float, default=5.0)
    p.add_argument("--insecure-plain-http", action="store_true",
                   help="serve without TLS and authorize anyone (tests only)")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def config_from(args: argparse.Namespace) -> KubeletConfig:
    labels = dict(kv.split("=", 1) for kv in _csv(args.node_labels))
    node = NodeConfig(name=args.node_name, ip=args.node_ip, port=args.port,
                      root_dir=args.root_dir, labels=labels,
                      taints=tuple(_taint(t) for t in _csv(args.register_with_taints)))
    settings = NodeSettings(log_root=args.pod_log_dir, cgroup_root=args.cgroup_root,
                            cluster_dns=tuple(_csv(args.cluster_dns)),
                            cluster_domain=args.cluster_domain)
    worker = WorkerSettings(node=settings, host_ip=args.node_ip,
                            backoff_initial=args.backoff_initial)
    return KubeletConfig(node=node, worker=worker, cni_conf_dir=args.cni_conf_dir,
                         manage_routes=args.manage_routes, routes_netns=args.routes_netns,
                         resync=args.resync,
                         local_path_dir=args.local_path_dir)


async def serve(args: argparse.Namespace) -> None:
    client = Client.from_kubeconfig(args.kubeconfig)
    runtime = CriRuntime(args.container_runtime_endpoint)
    kubelet = Kubelet(client, runtime, config_from(args))
    address = args.container_runtime_endpoint.removeprefix("unix://")
    server = KubeletServer(kubelet, ServerConfig(ctr=args.ctr, containerd_address=address,
                                                 allow_plain_http=args.insecure_plain_http))
    ctx = None
    if not args.insecure_plain_http:
        ctx = ssl_context(args.tls_cert_file, args.tls_private_key_file, args.client_ca_file)
    runner = web.AppRunner(server.app())
    await runner.setup()
    await web.TCPSite(runner, args.address, args.port, ssl_context=ctx).start()
    log.info("kubelet %s serving on %s:%d", args.node_name, args.address, args.port)
    try:
        await kubelet.run()
    finally:
        await runner.cleanup()
        await runtime.close()
        await client.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.insecure_plain_http and not (
            args.tls_cert_file and args.tls_private_key_file and args.client_ca_file):
        parser.error("--tls-cert-file, --tls-private-key-file and --client-ca-file are required")
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        runtime.run(serve(args))
    except KeyboardInterrupt:
        return 0
    return 0
