"""Where large request bodies are decoded, so that one client's body cannot stall the loop.

Measured on the apiserver (docs/performance.md, bench_readyz.py): a 2 MiB YAML body takes
seconds of Python to parse even with libyaml, allocates about a million objects and, on a thread,
triggers full garbage collections of the whole server heap that hold the GIL for up to two
seconds — /readyz waited that long. So:

- large YAML goes to one worker **process** (:mod:`.yamlworker`, started once, at startup): the
  parse, its garbage collections and its peak memory stay there, and the loop pays only
  ``json.loads`` (C) for the result. One worker: concurrent large YAML bodies queue behind each
  other (on the one thread that talks to it), other requests do not;
- large JSON goes to one worker **thread**: ``json.loads`` is C either way; the depth walk after it
  is Python and yields the GIL in slices.

A worker process that dies (a body that exhausted memory) is replaced; its request gets a 400.
When the application closes, the worker is ended **and reaped** before the apiserver exits: no
process of the apiserver outlives it (systemd on nspawn machines waited ``TimeoutStopSec`` for
any that did). The worker is a plain child process rather than :mod:`multiprocessing`, whose
``spawn`` start method also starts a resource tracker that exits only after the apiserver.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pickle
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, TypeVar, cast

from aiohttp import web

from kboot.controlplane.apiserver import yamlworker
from kboot.controlplane.apiserver.yamlbody import Outcome

log = logging.getLogger(__name__)
T = TypeVar("T")
# the tree this process imported kboot from
_IMPORT_ROOT = str(Path(yamlworker.__file__).resolve().parents[3])
# an idle worker leaves at once on end-of-file; one still importing takes about half a second
STOP_GRACE = 5.0
RAN_OUT = "the YAML decoder ran out of resources on this body"
SHUTTING_DOWN = "the apiserver is shutting down"


class YamlWorker:
    """One :mod:`.yamlworker` process and its pipes (used from one thread at a time)."""

    def __init__(self) -> None:
        # the worker imports the kboot this process did: its tree goes first on the worker's
        # path unless it is there already (an installed kboot: the venv's site-packages)
        code = (f"import sys; r = {_IMPORT_ROOT!r}; r in sys.path or sys.path.insert(0, r); "
                f"from {yamlworker.__name__} import main; main()")
        self.proc = subprocess.Popen([sys.executable, "-c", code, str(os.getpid())],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def call(self, raw: bytes) -> Outcome | None:
        """The worker's outcome for ``raw``; None when the worker died (or was killed)."""
        try:
            yamlworker.write_frame(cast(IO[bytes], self.proc.stdin), raw)
            payload = yamlworker.read_frame(cast(IO[bytes], self.proc.stdout))
        except (OSError, ValueError):  # a broken pipe (the worker died or was killed)
            return None
        return None if payload is None else cast(Outcome, pickle.loads(payload))

    def end(self, *, kill: bool) -> None:
        """Ask the worker to leave (end-of-file on its stdin), or kill it when it is busy."""
        if kill:
            self.proc.kill()
        else:
            assert self.proc.stdin is not None
            with contextlib.suppress(OSError):  # it already died
                self.proc.stdin.close()

    def reap(self, grace: float = STOP_GRACE) -> None:
        """Wait for the worker to exit (killing it after ``grace`` seconds) and close its pipes."""
        try:
            self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            log.warning("the YAML decode process %d did not exit; killing it", self.proc.pid)
            self.proc.kill()
            self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()


class BodyDecoders:
    """One decode thread and one YAML decode process, owned by the aiohttp application."""

    def __init__(self) -> None:
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kboot-decode")
        # the one thread that talks to the worker process: calls queue here
        self._yaml_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kboot-yaml")
        self._lock = threading.Lock()  # guards the three below
        self._worker: YamlWorker | None = None
        self._busy = False
        self._closed = False

    @property
    def worker_pid(self) -> int | None:
        """The YAML decode process's pid (None before it starts and once closed)."""
        with self._lock:
            return self._worker.proc.pid if self._worker is not None else None

    def start(self) -> None:
        """Start the worker process now (it imports in the background, ~0.5 s) rather than on
        the first large YAML body."""
        self._yaml_thread.submit(self._current)

    def _current(self) -> YamlWorker | None:
        with self._lock:
            return self._current_locked()

    def _current_locked(self) -> YamlWorker | None:
        if self._worker is None and not self._closed:
            self._worker = YamlWorker()
        return self._worker

    async def in_thread(self, fn: Callable[..., T], *args: object) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn, *args)

    async def yaml(self, raw: bytes) -> Outcome:
        """Decode YAML in the worker process (see :func:`~.yamlbody.load_as_json`)."""
        if self._closed:
            return Outcome(error=SHUTTING_DOWN)
        return await asyncio.get_running_loop().run_in_executor(self._yaml_thread,
                                                                self._decode, raw)

    def _decode(self, raw: bytes) -> Outcome:  # on the YAML thread
        with self._lock:
            worker = self._current_locked()
            self._busy = worker is not None
        if worker is None:
            return Outcome(error=SHUTTING_DOWN)
        try:
            outcome = worker.call(raw)
        finally:
            with self._lock:
                self._busy = False
        if outcome is not None:
            return outcome
        with self._lock:
            closed = self._closed
            if self._worker is worker:
                self._worker = None
        worker.reap()
        if not closed:
            log.warning("the YAML decode process ended while decoding a %d-byte body; "
                        "starting a new one", len(raw))
            self._current()
        return Outcome(error=RAN_OUT)

    async def close(self) -> None:
        """End the worker process and wait for it (and for the threads): nothing this object
        started outlives the call. A worker busy with a body (its request was cancelled by the
        server's shutdown) is killed; an idle one leaves on end-of-file of its stdin."""
        with self._lock:
            self._closed = True
            worker, busy = self._worker, self._busy
            self._worker = None
            if worker is not None:
                worker.end(kill=busy)
        self._thread.shutdown(wait=False, cancel_futures=True)
        self._yaml_thread.shutdown(wait=False, cancel_futures=True)

        def join() -> None:
            self._yaml_thread.shutdown(wait=True)
            if worker is not None:
                worker.reap()

        await asyncio.to_thread(join)


DECODERS: web.AppKey[BodyDecoders] = web.AppKey("kboot_decoders", BodyDecoders)


def install(app: web.Application) -> None:
    """Give ``app`` its decoders, closed with it. The worker process starts with the first large
    YAML body, or earlier by ``app[DECODERS].start()`` (the server does it at startup; in-process
    test apps need not pay for it)."""
    decoders = BodyDecoders()
    app[DECODERS] = decoders

    async def stop(_: web.Application) -> None:
        await decoders.close()

    app.on_cleanup.append(stop)
