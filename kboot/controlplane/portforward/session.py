"""The kubelet's end of a SPDY/3.1 port-forward session (protocol ``portforward.k8s.io``).

kubectl opens, per local connection, two streams carrying the headers ``streamType``
(``error`` then ``data``), ``port`` and ``requestID``; a pair sharing a requestID is one
forwarded connection. Each stream is accepted with a SYN_REPLY; once both are there the
kubelet dials ``localhost:port`` in the pod and copies bytes both ways. The pod closing its
side ends the data stream (FIN) and then the error stream (FIN), which is what tells kubectl the
connection is over; a dial failure is written on the error stream first — kubectl prints it
("an error occurred forwarding …"). The client's FIN half-closes the pod connection, its
RST_STREAM drops it. Streams never block each other except through the one TCP connection:
the reader hands data to a small per-stream queue and waits only when that queue is full.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from kboot.controlplane.portforward import spdy
from kboot.controlplane.portforward.conn import Conn
from kboot.controlplane.portforward.dial import DialError
from kboot.controlplane.portforward.stats import Stats

log = logging.getLogger(__name__)
PROTOCOL = "portforward.k8s.io"
CHUNK = 131072  # bigger frames: fewer TLS records and syscalls per MB
QUEUE_CHUNKS = 16
PAIR_TIMEOUT = 30.0  # upstream's stream-creation timeout: the second stream of a pair is late
Dial = Callable[[int], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]


@dataclass
class _Stream:
    stream_id: int
    kind: str
    inbound: asyncio.Queue[bytes | None] = field(
        default_factory=lambda: asyncio.Queue(QUEUE_CHUNKS))
    discarding: bool = False  # nobody reads any more: drop what the client still sends

    def discard(self) -> None:
        self.discarding = True
        while not self.inbound.empty():
            self.inbound.get_nowait()


@dataclass
class _Pair:
    port: int
    data: _Stream | None = None
    error: _Stream | None = None
    task: asyncio.Task[None] | None = None


def request_id(headers: spdy.Headers, stream_id: int) -> str:
    """The pair key; clients older than the ``requestID`` header send error then data streams
    with consecutive ids, so the data stream's id minus 2 names the pair (upstream's rule)."""
    rid = headers.get("requestid")
    if rid:
        return rid
    return str(stream_id - 2 if headers.get("streamtype") == "data" else stream_id)


class SpdySession:
    """Serve one connection until the client leaves; :meth:`run` never raises for bad peers."""

    def __init__(self, conn: Conn, dial: Dial, stats: Stats, *,
                 pair_timeout: float = PAIR_TIMEOUT) -> None:
        self.conn, self.dial, self.stats = conn, dial, stats
        self.pair_timeout = pair_timeout
        self.codec = spdy.Codec()
        self._lock = asyncio.Lock()
        self._streams: dict[int, _Stream] = {}
        self._pairs: dict[str, _Pair] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def send(self, *frames: spdy.Frame) -> None:
        async with self._lock:  # header compression state advances in sending order
            await self.conn.write(b"".join(self.codec.encode(f) for f in frames))

    async def run(self) -> None:
        try:
            while chunk := await self.conn.read():
                for frame in self.codec.feed(chunk):
                    if not await self._on_frame(frame):
                        return
        except spdy.FrameError as err:
            log.warning("port-forward: %s; ending the session", err)
            with contextlib.suppress(Exception):
                await self.send(spdy.GoAway(0, spdy.PROTOCOL_ERROR))
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            with contextlib.suppress(Exception):
                await self.conn.close()

    async def _on_frame(self, frame: spdy.Frame) -> bool:
        if isinstance(frame, spdy.Data):
            stream = self._streams.get(frame.stream_id)
            if stream is not None and stream.kind == "data" and not stream.discarding:
                if frame.data:
                    await stream.inbound.put(frame.data)
                if frame.fin:
                    await stream.inbound.put(None)
        elif isinstance(frame, spdy.SynStream):
            await self._on_syn(frame)
        elif isinstance(frame, spdy.RstStream):
            self._on_reset(frame.stream_id)
        elif isinstance(frame, spdy.Ping):
            if frame.ping_id % 2:  # the client's; ours (even) would be answers
                await self.send(frame)
        elif isinstance(frame, spdy.GoAway):
            return False
        return True

    async def _on_syn(self, frame: spdy.SynStream) -> None:
        kind, port = frame.headers.get("streamtype", ""), frame.headers.get("port", "")
        if kind not in ("data", "error") or not port.isdigit() or not 0 < int(port) < 65536:
            log.info("port-forward: rejecting stream %d with headers %s", frame.stream_id,
                     frame.headers)
            await self.send(spdy.SynReply(frame.stream_id, {}, spdy.FLAG_FIN))
            return
        stream = _Stream(frame.stream_id, kind)
        self._streams[frame.stream_id] = stream
        await self.send(spdy.SynReply(frame.stream_id))
        key = request_id(frame.headers, frame.stream_id)
        if key not in self._pairs:
            self._pairs[key] = _Pair(int(port))
            self._spawn(self._expire(key, self._pairs[key]))
        pair = self._pairs[key]
        setattr(pair, kind, stream)
        if pair.data is not None and pair.error is not None and pair.task is None:
            pair.task = self._spawn(self._forward(key, pair))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _expire(self, key: str, pair: _Pair) -> None:
        """A pair still missing a stream after ``pair_timeout`` is dropped, its error stream
        (if that one came) saying why."""
        await asyncio.sleep(self.pair_timeout)
        if pair.task is not None or self._pairs.get(key) is not pair:
            return
        del self._pairs[key]
        frames: list[spdy.Frame] = []
        if pair.error is not None:
            self._streams.pop(pair.error.stream_id, None)
            frames += [spdy.Data(pair.error.stream_id,
                                 f"timed out waiting for the data stream of request {key}"
                                 .encode()),
                       spdy.Data(pair.error.stream_id, b"", spdy.FLAG_FIN)]
        if pair.data is not None:
            self._streams.pop(pair.data.stream_id, None)
            frames.append(spdy.RstStream(pair.data.stream_id, spdy.CANCEL))
        with contextlib.suppress(ConnectionError):
            await self.send(*frames)

    def _on_reset(self, stream_id: int) -> None:
        stream = self._streams.get(stream_id)
        if stream is None:
            return
        stream.discard()
        for pair in self._pairs.values():
            if stream in (pair.data, pair.error) and pair.task is not None:
                pair.task.cancel()

    async def _forward(self, key: str, pair: _Pair) -> None:
        assert pair.data is not None and pair.error is not None
        data_id, error_id = pair.data.stream_id, pair.error.stream_id
        self.stats.streams += 1
        writer: asyncio.StreamWriter | None = None
        try:
            try:
                reader, writer = await self.dial(pair.port)
            except DialError as err:
                self.stats.stream_errors += 1
                log.info("port-forward stream to port %d refused: %s", pair.port, err)
                pair.data.discard()
                await self.send(spdy.Data(error_id, str(err).encode()),
                                spdy.Data(error_id, b"", spdy.FLAG_FIN),
                                spdy.Data(data_id, b"", spdy.FLAG_FIN))
                return
            upstream = asyncio.create_task(_to_pod(pair.data, writer))
            try:
                await self._from_pod(reader, data_id)
                await self.send(spdy.Data(error_id, b"", spdy.FLAG_FIN))
                await upstream
            finally:
                upstream.cancel()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            pair.data.discard()
            if writer is not None:
                writer.close()
            self._pairs.pop(key, None)
            self._streams.pop(data_id, None)
            self._streams.pop(error_id, None)

    async def _from_pod(self, reader: asyncio.StreamReader, stream_id: int) -> None:
        with contextlib.suppress(ConnectionError):
            while chunk := await reader.read(CHUNK):
                await self.send(spdy.Data(stream_id, chunk))
        await self.send(spdy.Data(stream_id, b"", spdy.FLAG_FIN))


async def _to_pod(stream: _Stream, writer: asyncio.StreamWriter) -> None:
    try:
        while (chunk := await stream.inbound.get()) is not None:
            writer.write(chunk)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except ConnectionError:
        pass
    finally:
        stream.discard()
