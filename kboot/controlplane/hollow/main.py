"""``kboot-hollow-nodes``: simulate ``--count`` kubelets named ``<prefix><i>`` in one process.

Example: ``kboot-hollow-nodes --kubeconfig admin.conf --count 100 --prefix hollow-``. Create
``<control-dir>/pause-<node>`` to make that node go silent (tests of node failure).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from kboot.controlplane.client.api import ApiClient
from kboot.controlplane.client.component import add_common_flags, parse_duration, run_component
from kboot.controlplane.client.informer import Informers
from kboot.controlplane.hollow.cluster import HollowCluster, HollowOptions


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kboot-hollow-nodes")
    add_common_flags(p, leader_elect=False)
    p.add_argument("--count", type=int, default=1)
    p.add_argument("--prefix", default="hollow-")
    p.add_argument("--start-index", type=int, default=0)
    p.add_argument("--cpu", default="4")
    p.add_argument("--memory", default="16Gi")
    p.add_argument("--max-pods", type=int, default=110)
    p.add_argument("--heartbeat-interval", type=parse_duration, default=10.0)
    p.add_argument("--control-dir", type=Path, default=None)
    p.add_argument("--node-labels", default="", help="k=v,k2=v2 added to every node")
    p.add_argument("--workers", type=int, default=16)
    return p


async def run_hollow(client: ApiClient, names: list[str], opts: HollowOptions) -> None:
    informers = Informers(client)
    cluster = HollowCluster(client, names, opts,
                            informers.get("pods", field_selector="spec.nodeName!="),
                            informers.get("nodes", label_selector="kboot.io/hollow=true"))
    informers.start()
    try:
        await informers.wait_synced()
        await cluster.run()
    finally:
        await informers.stop()


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    labels = dict(kv.split("=", 1) for kv in args.node_labels.split(",") if "=" in kv)
    opts = HollowOptions(cpu=args.cpu, memory=args.memory, max_pods=args.max_pods,
                         heartbeat=args.heartbeat_interval, control_dir=args.control_dir,
                         workers=args.workers, labels=labels)
    names = [f"{args.prefix}{i}" for i in range(args.start_index, args.start_index + args.count)]

    async def work(client: ApiClient) -> None:
        await run_hollow(client, names, opts)

    return run_component(args, lease_name="hollow-nodes", work=work)
