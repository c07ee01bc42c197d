"""``kboot-controller-manager``: flags, then the controllers under leader election.

Every control-plane node runs one; only the holder of the ``kube-controller-manager`` Lease
acts. Losing the lease exits non-zero so systemd restarts the process as a fresh candidate.
"""

from __future__ import annotations

import argparse
import asyncio

from kboot.controlplane.client.api import ApiClient
from kboot.controlplane.client.component import add_common_flags, parse_duration, run_component
from kboot.controlplane.client.config import load_kubeconfig
from kboot.controlplane.controllers.base import Options
from kboot.controlplane.controllers.manager import CONTROLLERS, run_controllers, select
from kboot.controlplane.controllers.rootca import root_ca
from kboot.controlplane.metricsserver.component import MetricsOptions
from kboot.controlplane.metricsserver.component import run as run_metrics_server


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kboot-controller-manager")
    add_common_flags(p)
    p.add_argument("--cluster-cidr", default="10.244.0.0/16")
    p.add_argument("--node-cidr-mask-size", type=int, default=24)
    p.add_argument("--node-monitor-grace-period", type=parse_duration, default=40.0)
    p.add_argument("--node-monitor-period", type=parse_duration, default=5.0)
    p.add_argument("--pod-eviction-timeout", type=parse_duration, default=60.0)
    p.add_argument("--concurrent-workers", type=int, default=4)
    p.add_argument("--cluster-signing-cert-file", default="",
                   help="CA certificate that issues approved CSRs (PEM)")
    p.add_argument("--cluster-signing-key-file", default="", help="that CA's private key (PEM)")
    p.add_argument("--cluster-signing-duration", type=parse_duration, default=365 * 24 * 3600.0,
                   help="lifetime of issued certificates (e.g. 8760h)")
    p.add_argument("--root-ca-file", default="",
                   help="CA published as kube-root-ca.crt in every namespace (PEM; default: "
                        "the kubeconfig's CA)")
    p.add_argument("--metrics-bind-address", default="",
                   help="this host's address: serve metrics.k8s.io there (as the leader) and "
                        "register it as an APIService (default: no metrics server)")
    p.add_argument("--metrics-port", type=int, default=4443)
    p.add_argument("--metric-resolution", type=parse_duration, default=10.0,
                   help="seconds between kubelet scrapes")
    p.add_argument("--controllers", default="*",
                   help=f"comma list; '*' = all, '-name' disables; known: {sorted(CONTROLLERS)}")
    return p


def _root_ca(p: argparse.ArgumentParser, args: argparse.Namespace) -> str:
    try:
        return root_ca(args.root_ca_file, load_kubeconfig(args.kubeconfig))
    except (OSError, UnicodeDecodeError) as exc:
        p.error(f"--root-ca-file/--kubeconfig: cannot read the root CA: {exc}")


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    try:
        names = select(args.controllers)
    except ValueError as exc:
        parser().error(str(exc))
    options = Options(cluster_cidr=args.cluster_cidr, node_cidr_mask=args.node_cidr_mask_size,
                      node_monitor_grace_period=args.node_monitor_grace_period,
                      node_monitor_period=args.node_monitor_period,
                      pod_eviction_timeout=args.pod_eviction_timeout,
                      workers=args.concurrent_workers,
                      cluster_signing_cert_file=args.cluster_signing_cert_file,
                      cluster_signing_key_file=args.cluster_signing_key_file,
                      cluster_signing_duration=args.cluster_signing_duration,
                      root_ca=_root_ca(parser(), args))

    metrics = None
    if args.metrics_bind_address:
        if not (args.cluster_signing_cert_file and args.cluster_signing_key_file):
            parser().error("--metrics-bind-address needs --cluster-signing-cert-file and "
                           "--cluster-signing-key-file (the metrics server's certificates)")
        metrics = MetricsOptions(args.metrics_bind_address, args.metrics_port,
                                 args.cluster_signing_cert_file, args.cluster_signing_key_file,
                                 args.metric_resolution)

    async def work(client: ApiClient) -> None:
        if metrics is None:
            await run_controllers(client, names, options)
            return
        await asyncio.gather(run_controllers(client, names, options),
                             run_metrics_server(client, metrics))

    return run_component(args, lease_name="kube-controller-manager", work=work)
