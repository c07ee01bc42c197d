"""One etcd watch stream, read on its own thread and handed to the event loop in batches.

Why a thread: on ``grpc.aio`` a stream delivers one message per ``read()``, and every read is a
round trip through the event loop (the completion arrives from grpc's poller, then the awaiting
task is scheduled). etcd sends one watch response per committed transaction, so under a write
burst the watch drained about one event per loop iteration while the same iteration completed
dozens of writes: the watch cache fell seconds (thousands of events) behind the store (issue 22).
Here a plain thread blocks on a synchronous gRPC stream, converts each response as it arrives and
appends it to a :class:`Feed`; the loop is woken once per burst and takes everything that
arrived, in order, in one step. Ordering is the stream's: one producer, one FIFO, one consumer.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
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


class WatchStream:
    """One etcd watch (``prefix``, from ``start_revision``) pumped by a daemon thread."""

    def __init__(self, channel: grpc.Channel, prefix: bytes, range_end: bytes,
                 start_revision: int, feed: Feed) -> None:
        self._requests: queue.SimpleQueue[Any] = queue.SimpleQueue()
        create = rpc.WatchCreateRequest(key=prefix, range_end=range_end,
                                        start_revision=start_revision, prev_kv=True,
                                        progress_notify=True)
        self._requests.put(rpc.WatchRequest(create_request=create))
        self._call = rpc.WatchStub(channel).Watch(self._outgoing())
        self._feed = feed
        self._requested = start_revision - 1
        self._thread = threading.Thread(target=self._pump, name=f"etcd-watch {prefix!r}",
                                        daemon=True)
        self._thread.start()

    def _outgoing(self) -> Iterator[Any]:
        # keep the send side open (etcd ends a watch whose client half-closes) until close()
        while (request := self._requests.get()) is not None:
            yield request

    def _pump(self) -> None:
        feed, requested = self._feed, self._requested
        try:
            for response in self._call:
                item = convert(response, requested)
                feed.put(item)
                if isinstance(item, BaseException):
                    return
            feed.put(StreamEnded("etcd closed the watch stream"))
        except grpc.RpcError as err:
            feed.put(err)
        except Exception as err:  # a bug in conversion must reach the reader, not vanish
            feed.put(err)

    def close(self) -> None:
        """Cancel the stream; the thread ends as soon as grpc reports the cancellation."""
        self._requests.put(None)
        self._call.cancel()


def open_stream(channel_for: Callable[[], grpc.Channel], prefix: bytes, range_end: bytes,
                start_revision: int) -> tuple[WatchStream, Feed]:
    feed = Feed(asyncio.get_running_loop())
    return WatchStream(channel_for(), prefix, range_end, start_revision, feed), feed
