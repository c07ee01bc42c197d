"""SPDY/3.1 framing: the wire format kubectl's port-forward speaks (directly after an HTTP
``Upgrade: SPDY/3.1``, or carried in WebSocket binary messages).

No maintained Python library frames SPDY any more (it was superseded by HTTP/2 in 2015), so
this module is the whole codec, pure and tested as data (``tests/unit/portforward``, with
frames captured from kubectl 1.32). It knows frames, not sessions:

- a *control* frame is ``1 | version(15) | type(16) | flags(8) | length(24) | payload``;
  a *data* frame is ``0 | stream-id(31) | flags(8) | length(24) | data``;
- name/value header blocks (in SYN_STREAM, SYN_REPLY, HEADERS) are zlib-compressed with the
  SPDY/3 dictionary, one compression context per direction for the whole connection — so a
  :class:`Codec` is per connection and frames must be encoded in the order they are sent.

moby/spdystream, which kubectl uses, implements no flow control (it neither sends nor honours
WINDOW_UPDATE), so neither does the session built on this module; WINDOW_UPDATE and SETTINGS
are parsed and may be ignored.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

from kboot.controlplane.errors import ControlPlaneError

VERSION = 3
FLAG_FIN = 0x01
FLAG_UNIDIRECTIONAL = 0x02
MAX_LENGTH = 0xFFFFFF
SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = (
    1, 2, 3, 4, 6, 7, 8, 9)
# RST_STREAM status codes
PROTOCOL_ERROR, INVALID_STREAM, REFUSED_STREAM, UNSUPPORTED_VERSION, CANCEL, INTERNAL_ERROR = (
    1, 2, 3, 4, 5, 6)

# The SPDY/3 header-compression dictionary (draft 3, section 2.6.10.1): length-prefixed words,
# then a run of common values. Built, not spelled out: the spec's byte table is exactly this.
_WORDS = (
    "options", "head", "post", "put", "delete", "trace", "accept", "accept-charset",
    "accept-encoding", "accept-language", "accept-ranges", "age", "allow", "authorization",
    "cache-control", "connection", "content-base", "content-encoding", "content-language",
    "content-length", "content-location", "content-md5", "content-range", "content-type", "date",
    "etag", "expect", "expires", "from", "host", "if-match", "if-modified-since", "if-none-match",
    "if-range", "if-unmodified-since", "last-modified", "location", "max-forwards", "pragma",
    "proxy-authenticate", "proxy-authorization", "range", "referer", "retry-after", "server",
    "te", "trailer", "transfer-encoding", "upgrade", "user-agent", "vary", "via", "warning",
    "www-authenticate", "method", "get", "status", "200 OK", "version", "HTTP/1.1", "url",
    "public", "set-cookie", "keep-alive", "origin")
_TAIL = (
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
    "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 "
    "Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 "
    "Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, "
    "Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,"
    "application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age="
    "gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.")
DICTIONARY = b"".join(struct.pack(">I", len(w)) + w.encode()
                      for w in _WORDS) + _TAIL.encode()

Headers = dict[str, str]  # lower-case names; several values of one name joined by NUL


class FrameError(ControlPlaneError):
    """The peer sent bytes that are not SPDY/3.1 (the session answers GOAWAY and ends)."""


@dataclass(frozen=True)
class Data:
    stream_id: int
    data: bytes = b""
    flags: int = 0

    @property
    def fin(self) -> bool:
        return bool(self.flags & FLAG_FIN)


@dataclass(frozen=True)
class SynStream:
    stream_id: int
    headers: Headers = field(default_factory=dict)
    flags: int = 0
    associated_id: int = 0
    priority: int = 0

    @property
    def fin(self) -> bool:
        return bool(self.flags & FLAG_FIN)


@dataclass(frozen=True)
class SynReply:
    stream_id: int
    headers: Headers = field(default_factory=dict)
    flags: int = 0


@dataclass(frozen=True)
class RstStream:
    stream_id: int
    status: int


@dataclass(frozen=True)
class Ping:
    ping_id: int


@dataclass(frozen=True)
class GoAway:
    last_good_stream_id: int
    status: int = 0


@dataclass(frozen=True)
class WindowUpdate:
    stream_id: int
    delta: int


@dataclass(frozen=True)
class Other:
    """A control frame this codec does not interpret (SETTINGS, HEADERS, CREDENTIAL…)."""

    type: int
    flags: int
    payload: bytes


Frame = Data | SynStream | SynReply | RstStream | Ping | GoAway | WindowUpdate | Other


def encode_header_block(headers: Headers) -> bytes:
    out = [struct.pack(">I", len(headers))]
    for name, value in headers.items():
        n, v = name.lower().encode(), value.encode()
        out += [struct.pack(">I", len(n)), n, struct.pack(">I", len(v)), v]
    return b"".join(out)


def decode_header_block(block: bytes) -> Headers:
    try:
        (count,), pos, headers = struct.unpack_from(">I", block), 4, {}
        for _ in range(count):
            (n,) = struct.unpack_from(">I", block, pos)
            name = block[pos + 4:pos + 4 + n].decode()
            pos += 4 + n
            (v,) = struct.unpack_from(">I", block, pos)
            headers[name.lower()] = block[pos + 4:pos + 4 + v].decode()
            pos += 4 + v
    except (struct.error, UnicodeDecodeError) as err:
        raise FrameError(f"malformed SPDY header block: {err}") from None
    return headers


class Codec:
    """One connection's framing state: a compressor for what we send, a decompressor for what
    we receive, and the bytes of a frame not yet complete."""

    def __init__(self) -> None:
        self._deflate = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, 15, 9,
                                         zlib.Z_DEFAULT_STRATEGY, DICTIONARY)
        self._inflate = zlib.decompressobj(zdict=DICTIONARY)
        self._buffer = bytearray()

    # -- encoding -------------------------------------------------------------------------

    def _headers(self, headers: Headers) -> bytes:
        block = encode_header_block(headers)
        return self._deflate.compress(block) + self._deflate.flush(zlib.Z_SYNC_FLUSH)

    def encode(self, frame: Frame) -> bytes:
        """The bytes of ``frame``; header blocks advance this connection's compressor."""
        if isinstance(frame, Data):
            return _data_header(frame.stream_id, frame.flags, len(frame.data)) + frame.data
        if isinstance(frame, SynStream):
            body = struct.pack(">IIBB", frame.stream_id, frame.associated_id,
                               (frame.priority & 7) << 5, 0) + self._headers(frame.headers)
            return _control(SYN_STREAM, frame.flags, body)
        if isinstance(frame, SynReply):
            body = struct.pack(">I", frame.stream_id) + self._headers(frame.headers)
            return _control(SYN_REPLY, frame.flags, body)
        if isinstance(frame, RstStream):
            return _control(RST_STREAM, 0, struct.pack(">II", frame.stream_id, frame.status))
        if isinstance(frame, Ping):
            return _control(PING, 0, struct.pack(">I", frame.ping_id))
        if isinstance(frame, GoAway):
            return _control(GOAWAY, 0, struct.pack(">II", frame.last_good_stream_id,
                                                   frame.status))
        if isinstance(frame, WindowUpdate):
            return _control(WINDOW_UPDATE, 0, struct.pack(">II", frame.stream_id, frame.delta))
        return _control(frame.type, frame.flags, frame.payload)

    # -- decoding -------------------------------------------------------------------------

    def feed(self, data: bytes) -> list[Frame]:
        """The frames completed by ``data`` (any split of the byte stream is fine)."""
        self._buffer += data
        frames: list[Frame] = []
        while len(self._buffer) >= 8:
            (length,) = struct.unpack_from(">I", self._buffer, 4)
            length &= MAX_LENGTH
            if len(self._buffer) < 8 + length:
                break
            head, payload = bytes(self._buffer[:8]), bytes(self._buffer[8:8 + length])
            del self._buffer[:8 + length]
            frames.append(self._decode(head, payload))
        return frames

    def _decode(self, head: bytes, payload: bytes) -> Frame:
        word, flags = struct.unpack_from(">IB", head)
        if not word & 0x80000000:
            return Data(word & 0x7FFFFFFF, payload, flags)
        version, kind = (word >> 16) & 0x7FFF, word & 0xFFFF
        if version != VERSION:
            raise FrameError(f"SPDY version {version} is not supported (only 3)")
        try:
            return self._control(kind, flags, payload)
        except struct.error as err:
            raise FrameError(f"short SPDY control frame of type {kind}: {err}") from None

    def _inflated(self, block: bytes) -> Headers:
        try:
            return decode_header_block(self._inflate.decompress(block))
        except zlib.error as err:
            raise FrameError(f"SPDY header block does not decompress: {err}") from None

    def _control(self, kind: int, flags: int, payload: bytes) -> Frame:
        if kind == SYN_STREAM:
            sid, assoc, pri = struct.unpack_from(">IIB", payload)
            return SynStream(sid & 0x7FFFFFFF, self._inflated(payload[10:]), flags,
                             assoc & 0x7FFFFFFF, pri >> 5)
        if kind in (SYN_REPLY, HEADERS):
            (sid,) = struct.unpack_from(">I", payload)
            headers = self._inflated(payload[4:])
            if kind == HEADERS:
                return Other(kind, flags, payload[:4])
            return SynReply(sid & 0x7FFFFFFF, headers, flags)
        if kind == RST_STREAM:
            sid, status = struct.unpack_from(">II", payload)
            return RstStream(sid & 0x7FFFFFFF, status)
        if kind == PING:
            return Ping(struct.unpack_from(">I", payload)[0])
        if kind == GOAWAY:
            last, status = struct.unpack_from(">II", payload.ljust(8, b"\0"))
            return GoAway(last & 0x7FFFFFFF, status)
        if kind == WINDOW_UPDATE:
            sid, delta = struct.unpack_from(">II", payload)
            return WindowUpdate(sid & 0x7FFFFFFF, delta & 0x7FFFFFFF)
        return Other(kind, flags, payload)


def _data_header(stream_id: int, flags: int, length: int) -> bytes:
    return struct.pack(">IB", stream_id & 0x7FFFFFFF, flags) + length.to_bytes(3, "big")


def _control(kind: int, flags: int, body: bytes) -> bytes:
    if len(body) > MAX_LENGTH:
        raise FrameError(f"SPDY control frame of {len(body)} bytes is too long")
    return struct.pack(">HHB", 0x8000 | VERSION, kind, flags) + len(body).to_bytes(3, "big") + body
