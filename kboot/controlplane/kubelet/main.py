"""``kboot-kubelet``: flags, wiring (API client, CRI runtime, HTTPS server) and the event loop.

Example::

    kboot-kubelet --kubeconfig /etc/kboot/kubelet.kubeconfig --node-name w1 \\
      --node-ip 10.0.0.11 --cluster-dns 10.96.0.10 --client-ca-file /etc/kboot/pki/ca.crt \\
      --tls-cert-file /etc/kboot/pki/kubelet.crt \\
      --tls-private-key-file /etc/kboot/pki/kubelet.key
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import socket
from collections.abc import Sequence
from pathlib import Path

from aiohttp import web

from kboot.controlplane.api.shapes import Taint
from kboot.controlplane.client.component import add_log_flags, log_level, run_process
from kboot.controlplane.client.rest import Client
from kboot.controlplane.kubelet import tlsbootstrap
from kboot.controlplane.kubelet.agent import Kubelet, KubeletConfig
from kboot.controlplane.kubelet.cri.grpc_runtime import DEFAULT_ENDPOINT, CriRuntime
from kboot.controlplane.kubelet.node import NodeConfig
from kboot.controlplane.kubelet.podspec import NodeSettings
from kboot.controlplane.kubelet.server import KubeletServer, ServerConfig, ssl_context
from kboot.controlplane.kubelet.sync import WorkerSettings

log = logging.getLogger(__name__)


def _taint(text: str) -> Taint:
    """``key=value:Effect`` or ``key:Effect``."""
    kv, _, effect = text.rpartition(":")
    key, _, value = kv.partition("=")
    out: Taint = {"key": key, "effect": effect}
    if value:
        out["value"] = value
    return out


def _csv(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kboot-kubelet", description="kboot's node agent")
    p.add_argument("--kubeconfig", required=True,
                   help="credentials to use; written here by TLS bootstrap when missing")
    p.add_argument("--bootstrap-kubeconfig", default="",
                   help="bootstrap-token kubeconfig used to request a client certificate "
                        "when --kubeconfig has none (removed once it has served)")
    p.add_argument("--cert-dir", default="/var/lib/kboot/kubelet/pki",
                   help="where the kubelet keeps its client certificate and key")
    p.add_argument("--rotate-certificates", action=argparse.BooleanOptionalAction,
                   default=True, help="renew the client certificate before it expires")
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
    add_log_flags(p, verbose=True)
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
    paths = tlsbootstrap.Paths(
        kubeconfig=Path(args.kubeconfig), cert_dir=Path(args.cert_dir),
        bootstrap_kubeconfig=Path(args.bootstrap_kubeconfig) if args.bootstrap_kubeconfig
        else None)
    await tlsbootstrap.ensure_credentials(paths, args.node_name)
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
        await _run_until_rotated(kubelet, paths, args)
    finally:
        await runner.cleanup()
        await runtime.close()
        await client.close()


async def _run_until_rotated(kubelet: Kubelet, paths: tlsbootstrap.Paths,
                             args: argparse.Namespace) -> None:
    """Run the kubelet; with rotation on, return once a renewed client certificate is written
    so that systemd restarts the process on it (pods keep running in containerd)."""
    if not args.rotate_certificates:
        await kubelet.run()
        return
    agent = asyncio.ensure_future(kubelet.run())
    rotation = asyncio.ensure_future(tlsbootstrap.rotate_when_due(paths, args.node_name))
    done, _ = await asyncio.wait({agent, rotation}, return_when=asyncio.FIRST_COMPLETED)
    for task in (agent, rotation):
        if task not in done:
            task.cancel()
    await asyncio.gather(agent, rotation, return_exceptions=True)
    if rotation in done and rotation.exception() is None:
        log.info("client certificate renewed; restarting on it")
    for task in done:
        task.result()


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.insecure_plain_http and not (
            args.tls_cert_file and args.tls_private_key_file and args.client_ca_file):
        parser.error("--tls-cert-file, --tls-private-key-file and --client-ca-file are required")
    return run_process("kboot-kubelet", log_level(args), lambda: serve(args))
