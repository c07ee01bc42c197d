"""The little of the DNS wire format (RFC 1035, RFC 2782) a cluster DNS server needs.

Written here rather than taken from a library: queries are one question, answers are A, AAAA,
SRV, PTR and a SOA in the authority section for negative answers; names are written without
compression except the answer owner, which points back at the question (offset 12).
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from kboot.controlplane.errors import ControlPlaneError

A, NS, CNAME, SOA, PTR, AAAA, SRV, ANY = 1, 2, 5, 6, 12, 28, 33, 255
CLASS_IN = 1
NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED = 0, 1, 2, 3, 4, 5
MAX_UDP = 512


class WireError(ControlPlaneError, ValueError):
    """The message cannot be parsed."""


@dataclass(frozen=True)
class Question:
    name: str  # lower case, no trailing dot
    qtype: int
    qclass: int = CLASS_IN


@dataclass(frozen=True)
class Query:
    id: int
    flags: int
    question: Question
    raw_question: bytes


@dataclass(frozen=True)
class Record:
    name: str
    rtype: int
    ttl: int
    data: bytes


def _read_name(msg: bytes, offset: int) -> tuple[str, int]:
    labels: list[str] = []
    end = -1
    for _ in range(128):
        if offset >= len(msg):
            raise WireError("name runs past the message")
        length = msg[offset]
        if length == 0:
            return ".".join(labels).lower(), (end if end >= 0 else offset + 1)
        if length & 0xC0 == 0xC0:
            if end < 0:
                end = offset + 2
            offset = ((length & 0x3F) << 8) | msg[offset + 1]
            continue
        labels.append(msg[offset + 1:offset + 1 + length].decode("ascii", errors="replace"))
        offset += 1 + length
    raise WireError("name has too many labels or a pointer loop")


def encode_name(name: str) -> bytes:
    out = b""
    for label in name.strip(".").split("."):
        if label:
            raw = label.encode("ascii")
            if len(raw) > 63:
                raise WireError(f"label too long: {label}")
            out += bytes([len(raw)]) + raw
    return out + b"\x00"


def parse_query(msg: bytes) -> Query:
    if len(msg) < 12:
        raise WireError("short header")
    qid, flags, qdcount = struct.unpack("!HHH", msg[:6])
    if qdcount != 1:
        raise WireError("exactly one question expected")
    name, offset = _read_name(msg, 12)
    if offset + 4 > len(msg):
        raise WireError("short question")
    qtype, qclass = struct.unpack("!HH", msg[offset:offset + 4])
    return Query(qid, flags, Question(name, qtype, qclass), msg[12:offset + 4])


def a_record(name: str, ip: str, ttl: int) -> Record:
    addr = ipaddress.ip_address(ip)
    return Record(name, A if addr.version == 4 else AAAA, ttl, addr.packed)


def srv_record(name: str, *, priority: int, weight: int, port: int, target: str,
               ttl: int) -> Record:
    return Record(name, SRV, ttl, struct.pack("!HHH", priority, weight, port) +
                  encode_name(target))


def ptr_record(name: str, target: str, ttl: int) -> Record:
    return Record(name, PTR, ttl, encode_name(target))


def soa_record(zone: str, ttl: int) -> Record:
    data = (encode_name(f"ns.dns.{zone}") + encode_name(f"hostmaster.{zone}") +
            struct.pack("!IIIII", 1, 7200, 1800, 86400, ttl))
    return Record(zone, SOA, ttl, data)


def _record_bytes(rec: Record, question_name: str) -> bytes:
    owner = b"\xc0\x0c" if rec.name == question_name else encode_name(rec.name)
    return owner + struct.pack("!HHIH", rec.rtype, CLASS_IN, rec.ttl, len(rec.data)) + rec.data


def build_response(query: Query, *, rcode: int, answers: Sequence[Record] = (),
                   authority: Sequence[Record] = (), max_size: int | None = MAX_UDP) -> bytes:
    """A response to *query*; truncated (TC set, answers dropped) when over *max_size*."""
    opcode_rd = query.flags & 0x7900  # opcode and RD from the query
    flags = 0x8000 | opcode_rd | 0x0400 | 0x0080 | (rcode & 0xF)  # QR, AA, RA
    body = b"".join(_record_bytes(r, query.question.name) for r in answers)
    auth = b"".join(_record_bytes(r, query.question.name) for r in authority)
    header = struct.pack("!HHHHHH", query.id, flags, 1, len(answers), len(authority), 0)
    msg = header + query.raw_question + body + auth
    if max_size is not None and len(msg) > max_size:
        header = struct.pack("!HHHHHH", query.id, flags | 0x0200, 1, 0, 0, 0)
        msg = header + query.raw_question
    return msg


def error_response(msg: bytes, rcode: int) -> bytes | None:
    """FORMERR/NOTIMP-style reply echoing just the header id, or None if even that is absent."""
    if len(msg) < 2:
        return None
    return msg[:2] + struct.pack("!HHHHH", 0x8000 | (rcode & 0xF), 0, 0, 0, 0)
