"""Cluster DNS: records from Services/Endpoints, answers, wire encoding, UDP/TCP serving."""

from __future__ import annotations

import asyncio
import socket
import struct

import pytest

from kboot.controlplane.dns import wire
from kboot.controlplane.dns.server import Resolver, serve
from kboot.controlplane.dns.zone import build_zone

SERVICES = [
    {"metadata": {"name": "web", "namespace": "default"},
     "spec": {"clusterIP": "10.96.0.20", "ports": [{"name": "http", "port": 80}]}},
    {"metadata": {"name": "db", "namespace": "prod"},
     "spec": {"clusterIP": "None", "ports": [{"name": "pg", "port": 5432}]}},
    {"metadata": {"name": "ext", "namespace": "default"},
     "spec": {"type": "ExternalName", "externalName": "example.org"}},
]
ENDPOINTS = [
    {"metadata": {"name": "db", "namespace": "prod"},
     "subsets": [{"addresses": [{"ip": "10.244.1.5", "hostname": "db-0"},
                                {"ip": "10.244.2.6", "hostname": "db-1"}],
                  "ports": [{"name": "pg", "port": 5432}]}]},
]


def query(name: str, qtype: int, qid: int = 0x1234) -> bytes:
    return struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + wire.encode_name(name) + \
        struct.pack("!HH", qtype, wire.CLASS_IN)


def parse(msg: bytes) -> tuple[int, int, list[tuple[int, bytes]]]:
    """(id, rcode, [(type, rdata)]) of a response (answers only)."""
    qid, flags, qd, an, _ns, _ar = struct.unpack("!HHHHHH", msg[:12])
    off = 12
    for _ in range(qd):
        _name, off = wire._read_name(msg, off)
        off += 4
    out = []
    for _ in range(an):
        _name, off = wire._read_name(msg, off)
        rtype, _cls, _ttl, size = struct.unpack("!HHIH", msg[off:off + 10])
        out.append((rtype, msg[off + 10:off + 10 + size]))
        off += 10 + size
    return qid, flags & 0xF, out


RESOLVER = Resolver(build_zone(SERVICES, ENDPOINTS, "cluster.local"))


def ask(name: str, qtype: int = wire.A) -> tuple[int, list[tuple[int, bytes]]]:
    reply = RESOLVER.respond(query(name, qtype), max_size=512)
    assert reply is not None
    qid, rcode, answers = parse(reply)
    assert qid == 0x1234
    return rcode, answers


@pytest.mark.parametrize(("name", "qtype", "rcode", "ips"), [
    ("web.default.svc.cluster.local", wire.A, wire.NOERROR, ["10.96.0.20"]),
    ("WEB.Default.svc.cluster.local.", wire.A, wire.NOERROR, ["10.96.0.20"]),
    ("web.default.svc.cluster.local", wire.AAAA, wire.NOERROR, []),  # NODATA, not NXDOMAIN
    ("db.prod.svc.cluster.local", wire.A, wire.NOERROR, ["10.244.1.5", "10.244.2.6"]),
    ("db-1.db.prod.svc.cluster.local", wire.A, wire.NOERROR, ["10.244.2.6"]),
    ("nope.default.svc.cluster.local", wire.A, wire.NXDOMAIN, []),
    ("web.default.svc.cluster.local.default.svc.cluster.local", wire.A, wire.NXDOMAIN, []),
    ("default.svc.cluster.local", wire.A, wire.NOERROR, []),  # empty non-terminal
    ("ext.default.svc.cluster.local", wire.A, wire.NXDOMAIN, []),
    ("example.org", wire.A, wire.NXDOMAIN, []),
])
def test_answers(name: str, qtype: int, rcode: int, ips: list[str]) -> None:
    got_rcode, answers = ask(name, qtype)
    assert got_rcode == rcode
    assert sorted(socket.inet_ntoa(d) for t, d in answers if t == wire.A) == ips


def test_srv_for_named_ports() -> None:
    rcode, answers = ask("_http._tcp.web.default.svc.cluster.local", wire.SRV)
    assert rcode == wire.NOERROR and len(answers) == 1
    prio, weight, port = struct.unpack("!HHH", answers[0][1][:6])
    assert (prio, weight, port) == (0, 100, 80)
    assert wire._read_name(answers[0][1], 6)[0] == "web.default.svc.cluster.local"


def test_reverse_lookup_of_cluster_ip() -> None:
    rcode, answers = ask("20.0.96.10.in-addr.arpa", wire.PTR)
    assert rcode == wire.NOERROR
    assert wire._read_name(answers[0][1], 0)[0] == "web.default.svc.cluster.local"


def test_malformed_query_gets_formerr() -> None:
    reply = RESOLVER.respond(b"\x00\x07\x01", max_size=512)
    assert reply is not None and reply[:2] == b"\x00\x07" and reply[3] & 0xF == wire.FORMERR


def test_truncation_sets_tc() -> None:
    many = [{"metadata": {"name": "big", "namespace": "default"},
             "subsets": [{"addresses": [{"ip": f"10.244.0.{i}"} for i in range(1, 80)]}]}]
    svc = [{"metadata": {"name": "big", "namespace": "default"}, "spec": {"clusterIP": "None"}}]
    reply = Resolver(build_zone(svc, many, "cluster.local")).respond(
        query("big.default.svc.cluster.local", wire.A), max_size=512)
    assert reply is not None and len(reply) <= 512 and reply[2] & 0x02


def test_udp_and_tcp_serving() -> None:
    async def go() -> tuple[bytes, bytes]:
        udp, tcp = await serve(RESOLVER, "127.0.0.1", 0)
        port = tcp.sockets[0].getsockname()[1]
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setblocking(False)
        await loop.sock_connect(sock, ("127.0.0.1", port))
        await loop.sock_sendall(sock, query("web.default.svc.cluster.local", wire.A))
        udp_reply = await asyncio.wait_for(loop.sock_recv(sock, 512), 2)
        sock.close()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        msg = query("db.prod.svc.cluster.local", wire.A)
        writer.write(struct.pack("!H", len(msg)) + msg)
        size = struct.unpack("!H", await reader.readexactly(2))[0]
        tcp_reply = await reader.readexactly(size)
        writer.close()
        udp.close()
        tcp.close()
        return udp_reply, tcp_reply

    udp_reply, tcp_reply = asyncio.run(go())
    assert [socket.inet_ntoa(d) for _, d in parse(udp_reply)[2]] == ["10.96.0.20"]
    assert len(parse(tcp_reply)[2]) == 2
