"""Where large request bodies are decoded, so that one client's body cannot stall the loop.

Measured on the apiserver (docs/performance.md, bench_readyz.py): a 2 MiB YAML body takes
seconds of Python to parse even with libyaml, allocates about a million objects and, on a thread,
triggers full garbage collections of the whole server heap that hold the GIL for up to two
seconds — /readyz waited that long. So:

- large YAML goes to one worker **process** (spawned once, at startup): the parse, its garbage
  collections and its peak memory stay there, and the loop pays only ``json.loads`` (C) for the
  result. One worker: concurrent large YAML bodies queue behind each other, other requests do not;
- large JSON goes to one worker **thread**: ``json.loads`` is C either way; the depth walk after it
  is Python and yields the GIL in slices.

A worker process that dies (a body that exhausted memory) is replaced; its request gets a 400.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import multiprocessing
import os
import signal
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

from aiohttp import web

from kboot.controlplane.apiserver.yamlbody import Outcome, load_as_json

log = logging.getLogger(__name__)
T = TypeVar("T")
_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int) -> None:
    """Worker initializer: end with the apiserver, even a SIGKILLed one (a worker blocked on its
    call queue would otherwise outlive it). Linux ``prctl(PR_SET_PDEATHSIG)``; elsewhere the
    worker ends when the apiserver shuts down cleanly."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(0)


class BodyDecoders:
    """One decode thread and one YAML decode process, owned by the aiohttp application."""

    def __init__(self) -> None:
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kboot-decode")
        self._process = self._new_process()

    @staticmethod
    def _new_process() -> ProcessPoolExecutor:
        # spawn: the worker must not inherit the event loop, sockets or threads of the server
        return ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_die_with_parent, initargs=(os.getpid(),))

    def start(self) -> None:
        """Start the worker process now (it imports in the background, ~0.5 s) rather than on
        the first large YAML body."""
        self._process.submit(load_as_json, b"{}")

    async def in_thread(self, fn: Callable[..., T], *args: object) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn, *args)

    async def yaml(self, raw: bytes) -> Outcome:
        """Decode YAML in the worker process (see :func:`~.yamlbody.load_as_json`)."""
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._process, load_as_json, raw)
        except BrokenProcessPool:
            log.warning("the YAML decode process ended while decoding a %d-byte body; "
                        "starting a new one", len(raw))
            self._process = self._new_process()
            return Outcome(error="the YAML decoder ran out of resources on this body")

    def close(self) -> None:
        # a worker busy with a huge body would hold up interpreter exit: end it (no public API)
        workers = list((getattr(self._process, "_processes", None) or {}).values())
        self._thread.shutdown(wait=False, cancel_futures=True)
        self._process.shutdown(wait=False, cancel_futures=True)
        for worker in workers:
            worker.terminate()


DECODERS: web.AppKey[BodyDecoders] = web.AppKey("kboot_decoders", BodyDecoders)


def install(app: web.Application) -> None:
    """Give ``app`` its decoders, closed with it. The worker process starts with the first large
    YAML body, or earlier by ``app[DECODERS].start()`` (the server does it at startup; in-process
    test apps need not pay for it)."""
    decoders = BodyDecoders()
    app[DECODERS] = decoders

    async def stop(_: web.Application) -> None:
        decoders.close()

    app.on_cleanup.append(stop)
