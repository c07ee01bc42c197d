"""How every control-plane process runs its event loop.

- **uvloop** (libuv-based, a drop-in asyncio event loop by the authors of asyncpg) when it is
  installed — it is part of the ``controlplane`` extra, so cluster nodes have it; plain asyncio
  otherwise. The apiserver spends much of each request in the loop's socket and TLS plumbing.
- **Garbage-collector thresholds** for processes that hold many long-lived objects (the
  apiserver's watch cache, informer caches): CPython's default (700 allocations per young
  collection, every 10th collection one level up) makes full collections walk the whole cache
  every few thousand requests — tens of milliseconds each, in the latency tail. Objects alive at
  start-up are frozen (never scanned again), and young collections run every 50,000
  allocations. Reference counting still frees almost everything at once; only cycles wait.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")
GC_THRESHOLDS = (50_000, 20, 100)


def tune_gc() -> None:
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)`` on uvloop when available, after :func:`tune_gc`."""
    tune_gc()
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)
