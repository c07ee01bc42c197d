"""The controller runner: N workers take keys from a :class:`WorkQueue` and call
``reconcile(key)``; success forgets the key's failures (and honours ``requeue_after``), an
exception requeues it with backoff. There are no retry loops inside reconcilers.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Protocol

from kboot.controlplane.client.errors import Conflict, NotFound
from kboot.controlplane.client.workqueue import ShutDown, WorkQueue

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Result:
    requeue_after: float | None = None
    requeue: bool = False


DONE = Result()


class Reconciler(Protocol):
    name: str

    async def reconcile(self, key: str) -> Result: ...


async def process_one(reconciler: Reconciler, queue: WorkQueue, key: str) -> None:
    """Reconcile one key and update the queue from the outcome."""
    try:
        result = await reconciler.reconcile(key)
    except asyncio.CancelledError:
        raise
    except (Conflict, NotFound) as exc:  # stale cache: the next pass sees fresher state
        log.debug("%s: %s requeued after %s", reconciler.name, key, exc)
        queue.add_rate_limited(key)
    except Exception:
        log.exception("%s: reconciling %s failed", reconciler.name, key)
        queue.add_rate_limited(key)
    else:
        queue.forget(key)
        if result.requeue:
            queue.add_rate_limited(key)
        elif result.requeue_after is not None:
            queue.add_after(key, result.requeue_after)
    finally:
        queue.done(key)


async def _worker(reconciler: Reconciler, queue: WorkQueue) -> None:
    while True:
        try:
            key = await queue.get()
        except ShutDown:
            return
        await process_one(reconciler, queue, key)


async def run_controller(reconciler: Reconciler, queue: WorkQueue, *, workers: int = 1) -> None:
    """Run workers until cancelled; the queue is shut down on the way out."""
    try:
        async with asyncio.TaskGroup() as tg:
            for _ in range(workers):
                tg.create_task(_worker(reconciler, queue))
    finally:
        queue.shutdown()
