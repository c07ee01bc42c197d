"""etcd watch streams read on a thread and handed to the event loop in batches.

Why a thread: on ``grpc.aio`` a stream delivers one message per ``read()``, and every read is a
round trip through the event loop (the completion arrives from grpc's poller, then the awaiting
task is scheduled). etcd sends one watch response per committed transaction, so under a write
burst the watch drained about one event per loop iteration while the same iteration completed
dozens of writes: the watch cache fell seconds (thousands of events) behind the store (issue 22).
Here a plain thread blocks on a synchronous gRPC stream (all of a store's watches on one,
:class:`WatchMux`), converts each response as it arrives and appends it to the watch's
:class:`Feed`; the loop is woken once per burst and takes everything that arrived, in order, in
one step. Ordering is the stream's: one producer, one FIFO, one consumer per watch.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

import grpc
from aetcd import rpc

from kboot.controlplane.store.base import Compacted, KeyValue, StoreError, WatchEvent

#: What the reader thread hands over: the events of one response, or the error that ended it.
Item = list[WatchEvent] | BaseException


class StreamEnded(StoreError):
    """The server closed the watch stream without an error (treated like a broken stream)."""


class Feed:
    """A thread-to-loop FIFO: ``put`` from any thread, ``take`` (everything queued) on the loop.

    The loop is woken at most once per batch of puts (``_scheduled``), not once per item, so a
    burst costs one wake-up however many responses it holds.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._lock = threading.Lock()
        self._items: collections.deque[Item] = collections.deque()
        self._scheduled = False
        self._ready = asyncio.Event()

    def put(self, item: Item) -> None:
        with self._lock:
            self._items.append(item)
            if self._scheduled:
                return
            self._scheduled = True
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody is reading any more
            self._loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        with self._lock:
            self._scheduled = False
        self._ready.set()

    async def take(self) -> list[Item]:
        """Everything queued so far, in order; waits until there is something."""
        while True:
            with self._lock:
                if self._items:
                    items = list(self._items)
                    self._items.clear()
                    return items
                self._ready.clear()  # under the lock: a later put schedules a new wake-up
            await self._ready.wait()


def to_kv(raw: Any) -> KeyValue:
    return KeyValue(
        raw.key.decode(), bytes(raw.value), raw.create_revision, raw.mod_revision, raw.lease
    )


def convert(response: Any, requested: int) -> Item:
    """A watch response as events, or the error it carries (compaction, cancellation)."""
    if response.compact_revision:
        return Compacted(requested, int(response.compact_revision))
    if response.canceled:
        return StoreError(f"etcd canceled the watch: {response.cancel_reason}")
    events = []
    for event in response.events:
        prev = to_kv(event.prev_kv) if event.HasField("prev_kv") else None
        if event.type == rpc.Event.DELETE:
            events.append(WatchEvent("DELETE", to_kv(event.kv), prev))
        else:
            events.append(WatchEvent("PUT", to_kv(event.kv), prev))
    return events


class WatchMux:
    """Every watch of one store on one gRPC stream, read by one thread.

    etcd multiplexes watchers on a stream by ``watch_id``; we choose the ids (etcd ≥ 3.4 takes
    client-assigned ones), so routing a response is one dictionary lookup. One stream instead
    of one per resource type keeps the apiserver at two threads for all its watches (a
    blocking gRPC stream iterator wakes ten times a second while idle). When the stream breaks
    every watch gets the error and ``on_broken`` runs once (failover); the next ``open`` makes
    a new stream.
    """

    def __init__(self, channel: grpc.Channel, on_broken: Callable[[BaseException], None]
                 ) -> None:
        self._requests: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._feeds: dict[int, tuple[Feed, int]] = {}  # watch id -> (feed, requested revision)
        self._ids = itertools.count(1)
        self._on_broken = on_broken
        self.broken = False
        self._call = rpc.WatchStub(channel).Watch(self._outgoing())
        self._thread = threading.Thread(target=self._pump, name="etcd-watch", daemon=True)
        self._thread.start()

    def open(self, prefix: bytes, range_end: bytes, start_revision: int) -> tuple[int, Feed]:
        """Start a watch; its responses arrive on the returned feed (on the calling loop)."""
        feed = Feed(asyncio.get_running_loop())
        watch_id = next(self._ids)
        with self._lock:
            if self.broken:  # broke after the caller chose this stream: resubscribe
                feed.put(StreamEnded("etcd watch stream broke while opening a watch"))
                return watch_id, feed
            self._feeds[watch_id] = (feed, start_revision - 1)
        create = rpc.WatchCreateRequest(key=prefix, range_end=range_end,
                                        start_revision=start_revision, prev_kv=True,
                                        progress_notify=True, watch_id=watch_id)
        self._requests.put(rpc.WatchRequest(create_request=create))
        return watch_id, feed

    def cancel(self, watch_id: int) -> None:
        with self._lock:
            known = self._feeds.pop(watch_id, None) is not None
        if known and not self.broken:
            cancel = rpc.WatchCancelRequest(watch_id=watch_id)
            self._requests.put(rpc.WatchRequest(cancel_request=cancel))

    def _outgoing(self) -> Iterator[Any]:
        # keep the send side open (etcd ends a stream whose client half-closes) until close()
        while (request := self._requests.get()) is not None:
            yield request

    def _pump(self) -> None:
        error: BaseException
        try:
            for response in self._call:
                self._route(response)
            error = StreamEnded("etcd closed the watch stream")
        except grpc.RpcError as err:
            error = err
        except Exception as err:  # a bug in routing must reach the readers, not vanish
            error = err
        self._requests.put(None)
        with self._lock:  # with open(): every watch either gets the error or sees ``broken``
            self.broken = True
            feeds, self._feeds = list(self._feeds.values()), {}
        for feed, _ in feeds:
            feed.put(error)
        self._on_broken(error)

    def _route(self, response: Any) -> None:
        with self._lock:
            entry = self._feeds.get(response.watch_id)
        if entry is None or (response.created and not response.canceled):
            return  # a cancelled watch's last responses, or a creation acknowledgement
        feed, requested = entry
        item = convert(response, requested)
        if isinstance(item, BaseException):
            with self._lock:
                self._feeds.pop(response.watch_id, None)
        if item or isinstance(item, BaseException):
            feed.put(item)

    def close(self) -> None:
        """Cancel the stream; the thread ends as soon as grpc reports the cancellation."""
        self.broken = True
        self._requests.put(None)
        self._call.cancel()
