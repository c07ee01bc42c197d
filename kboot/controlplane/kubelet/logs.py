"""Container logs from CRI log files, with the options of ``GET /containerLogs``.

A CRI log line is ``<RFC3339Nano> <stdout|stderr> <P|F> <content>``; ``P`` pieces continue in
the next record. Reading joins pieces into lines, then applies ``sinceSeconds``/``sinceTime``,
``tailLines``, ``timestamps`` and ``limitBytes`` the way upstream's kubelet does. Following
polls the file for appended records until the container has exited and the file is drained.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class LogLine:
    time: str  # RFC3339Nano, as written by the runtime
    stream: str
    content: bytes  # one whole line, newline included when the record was F


@dataclass(frozen=True)
class LogOptions:
    follow: bool = False
    tail_lines: int | None = None
    since_seconds: float | None = None
    since_time: str | None = None
    timestamps: bool = False
    limit_bytes: int | None = None
    previous: bool = False


def parse_time(text: str) -> float:
    """RFC3339 with optional nanoseconds → Unix seconds."""
    text = text.rstrip("Z")
    main, _, frac = text.partition(".")
    base = dt.datetime.strptime(main, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=dt.UTC)
    return base.timestamp() + (float("0." + frac[:9]) if frac else 0.0)


def parse_records(data: bytes, pending: dict[str, bytes] | None = None) -> list[LogLine]:
    """Whole lines from complete records in *data* (partials carried in *pending*)."""
    pending = {} if pending is None else pending
    out: list[LogLine] = []
    for raw in data.split(b"\n"):
        parts = raw.split(b" ", 3)
        if len(parts) < 3:
            continue
        ts, stream, tag = parts[0].decode(), parts[1].decode(), parts[2]
        content = parts[3] if len(parts) == 4 else b""
        if tag == b"P":
            pending[stream] = pending.get(stream, b"") + content
            continue
        out.append(LogLine(ts, stream, pending.pop(stream, b"") + content + b"\n"))
    return out


def select(lines: list[LogLine], opts: LogOptions, *, now: float) -> list[LogLine]:
    since = None
    if opts.since_seconds is not None:
        since = now - opts.since_seconds
    elif opts.since_time:
        since = parse_time(opts.since_time)
    if since is not None:
        lines = [ln for ln in lines if parse_time(ln.time) >= since]
    if opts.tail_lines is not None:
        lines = lines[-opts.tail_lines:] if opts.tail_lines > 0 else []
    return lines


def render(line: LogLine, timestamps: bool) -> bytes:
    return (line.time.encode() + b" " + line.content) if timestamps else line.content


class _Limiter:
    def __init__(self, limit: int | None) -> None:
        self.left = limit

    def take(self, chunk: bytes) -> bytes:
        if self.left is None:
            return chunk
        chunk = chunk[: self.left]
        self.left -= len(chunk)
        return chunk

    @property
    def done(self) -> bool:
        return self.left is not None and self.left <= 0


async def stream_log(path: Path, opts: LogOptions, *, running: Callable[[], Awaitable[bool]],
                     now: float, poll: float = 0.1) -> AsyncIterator[bytes]:
    """Chunks of the log at *path*; with ``follow``, keep going while ``running()``."""
    limiter = _Limiter(opts.limit_bytes)
    data = path.read_bytes() if path.is_file() else b""
    cut = data.rfind(b"\n") + 1
    pending: dict[str, bytes] = {}
    for line in select(parse_records(data[:cut], pending), opts, now=now):
        yield limiter.take(render(line, opts.timestamps))
        if limiter.done:
            return
    if not opts.follow:
        return
    offset, tail, last_round = cut, b"", False
    while True:
        chunk = b""
        if path.is_file():
            with path.open("rb") as fh:
                fh.seek(offset)
                chunk = fh.read()
        offset += len(chunk)
        buf = tail + chunk
        cut = buf.rfind(b"\n") + 1
        buf, tail = buf[:cut], buf[cut:]
        for line in parse_records(buf, pending):
            yield limiter.take(render(line, opts.timestamps))
            if limiter.done:
                return
        if chunk:
            continue
        if last_round:
            return
        if not await running():
            last_round = True  # drain what was written before the container exited
            continue
        await asyncio.sleep(poll)


def rotate(path: Path, *, max_bytes: int, keep: int, stamp: str) -> bool:
    """Rename *path* to ``<path>.<stamp>`` once it reaches *max_bytes*, keeping *keep* old files.

    The caller then asks the runtime to reopen the log (CRI ReopenContainerLog).
    """
    if not path.is_file() or path.stat().st_size < max_bytes:
        return False
    path.rename(path.with_name(f"{path.name}.{stamp}"))
    for old in sorted(path.parent.glob(f"{path.name}.*"))[:-keep or None]:
        old.unlink()
    return True
