"""``kboot-scheduler``: flags, informers, and the scheduling loop under leader election
(Lease ``kube-scheduler``; only the holder schedules)."""

from __future__ import annotations

import argparse
import asyncio
import logging

from kboot.controlplane.client.api import ApiClient
from kboot.controlplane.client.component import add_common_flags, run_component
from kboot.controlplane.client.informer import Informers
from kboot.controlplane.scheduler.scheduler import Scheduler, StorageInformers

log = logging.getLogger(__name__)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kboot-scheduler")
    add_common_flags(p)
    p.add_argument("--percentage-of-nodes-to-score", type=int, default=0,
                   help="0 = adaptive, as kube-scheduler")
    p.add_argument("--bind-concurrency", type=int, default=64)
    return p


async def run_scheduler(client: ApiClient, *, percentage: int = 0,
                        bind_concurrency: int = 64) -> None:
    informers = Informers(client)
    storage = StorageInformers(claims=informers.get("persistentvolumeclaims"),
                               volumes=informers.get("persistentvolumes"),
                               classes=informers.get("storageclasses"))
    scheduler = Scheduler(client, pods=informers.get("pods"), nodes=informers.get("nodes"),
                          pdbs=informers.get("poddisruptionbudgets"),
                          percentage_of_nodes_to_score=percentage,
                          bind_concurrency=bind_concurrency, storage=storage)
    informers.start()
    try:
        await informers.wait_synced()
        log.info("scheduler running over %d nodes", len(scheduler.snapshot.nodes))
        await scheduler.run()
    finally:
        await informers.stop()
        await asyncio.gather(scheduler.recorder.flush(), return_exceptions=True)


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)

    async def work(client: ApiClient) -> None:
        await run_scheduler(client, percentage=args.percentage_of_nodes_to_score,
                            bind_concurrency=args.bind_concurrency)

    return run_component(args, lease_name="kube-scheduler", work=work)
