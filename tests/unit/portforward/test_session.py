"""The kubelet's SPDY port-forward session, fed kubectl 1.32's captured bytes over an in-memory
connection, with a dial that reaches a local server or fails like a closed port."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from kboot.controlplane.kubelet.cri.grpc_runtime import netns_from_info
from kboot.controlplane.kubelet.cri.types import RuntimeError_
from kboot.controlplane.portforward import spdy
from kboot.controlplane.portforward.channels import PortsError, parse_ports
from kboot.controlplane.portforward.dial import DialError
from kboot.controlplane.portforward.session import SpdySession, request_id
from kboot.controlplane.portforward.stats import Stats

CAPTURE = (Path(__file__).parent / "data" / "kubectl-1.32-spdy.bin").read_bytes()


class MemoryConn:
    """Client bytes in (then end of stream once ``done`` is set), server bytes out."""

    def __init__(self, chunks: list[bytes], done: asyncio.Event) -> None:
        self.chunks, self.done, self.out = list(chunks), done, bytearray()

    async def read(self) -> bytes:
        if self.chunks:
            return self.chunks.pop(0)
        await self.done.wait()
        return b""

    async def write(self, data: bytes) -> None:
        self.out += data
        frames = spdy.Codec().feed(bytes(self.out))
        fins = {f.stream_id for f in frames if isinstance(f, spdy.Data) and f.fin}
        if {1, 3} <= fins:  # both streams of the pair ended: the client would hang up now
            self.done.set()

    async def close(self) -> None:
        self.done.set()


async def _serve(conn: MemoryConn, dial: object, stats: Stats) -> list[spdy.Frame]:
    session = SpdySession(conn, dial, stats)  # type: ignore[arg-type]
    await asyncio.wait_for(session.run(), 10)
    return spdy.Codec().feed(bytes(conn.out))


def test_forwards_a_connection_and_ends_both_streams() -> None:
    async def go() -> tuple[list[spdy.Frame], bytes]:
        received = bytearray()

        async def pod(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            received.extend(await reader.read())  # until kubectl's FIN half-closes us
            writer.write(b"pong")
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(pod, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]

        async def dial(wanted: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
            assert wanted == 80
            return await asyncio.open_connection("127.0.0.1", port)

        frames = await _serve(MemoryConn([CAPTURE], asyncio.Event()), dial, stats := Stats())
        server.close()
        assert stats.streams == 1 and stats.stream_errors == 0
        return frames, bytes(received)

    frames, received = asyncio.run(go())
    assert received == b"ping"
    assert frames[:2] == [spdy.SynReply(1), spdy.SynReply(3)]
    assert frames[2:] == [spdy.Data(3, b"pong"), spdy.Data(3, b"", spdy.FLAG_FIN),
                          spdy.Data(1, b"", spdy.FLAG_FIN)]


def test_a_refused_port_is_reported_on_the_error_stream() -> None:
    async def dial(_port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        raise DialError("failed to connect to localhost:80 inside pod p: connection refused")

    async def go() -> tuple[list[spdy.Frame], Stats]:
        stats = Stats()
        return await _serve(MemoryConn([CAPTURE], asyncio.Event()), dial, stats), stats

    frames, stats = asyncio.run(go())
    assert frames[2:] == [
        spdy.Data(1, b"failed to connect to localhost:80 inside pod p: connection refused"),
        spdy.Data(1, b"", spdy.FLAG_FIN), spdy.Data(3, b"", spdy.FLAG_FIN)]
    assert stats.stream_errors == 1


def test_pings_are_answered_and_bad_streams_refused() -> None:
    client = spdy.Codec()
    wire = (client.encode(spdy.Ping(1)) + client.encode(spdy.SynStream(5, {"port": "http"}))
            + client.encode(spdy.GoAway(5)))

    async def go() -> list[spdy.Frame]:
        return await _serve(MemoryConn([wire], asyncio.Event()), None, Stats())

    assert asyncio.run(go()) == [spdy.Ping(1), spdy.SynReply(5, {}, spdy.FLAG_FIN)]


def test_another_spdy_version_ends_the_session_with_goaway() -> None:
    spdy2 = b"\x80\x02\x00\x01\x00\x00\x00\x00"

    async def go() -> list[spdy.Frame]:
        return await _serve(MemoryConn([spdy2], asyncio.Event()), None, Stats())

    assert asyncio.run(go()) == [spdy.GoAway(0, spdy.PROTOCOL_ERROR)]


def test_a_pair_missing_its_data_stream_times_out() -> None:
    client = spdy.Codec()
    wire = client.encode(spdy.SynStream(1, {"streamtype": "error", "port": "80",
                                            "requestid": "0"}))

    async def go() -> list[spdy.Frame]:
        conn, done = MemoryConn([wire], asyncio.Event()), asyncio.Event()

        async def write(data: bytes) -> None:
            conn.out += data
            if len(spdy.Codec().feed(bytes(conn.out))) == 3:
                done.set()

        conn.write = write  # type: ignore[method-assign]
        conn.done = done
        session = SpdySession(conn, None, Stats(), pair_timeout=0.01)  # type: ignore[arg-type]
        await asyncio.wait_for(session.run(), 10)
        return spdy.Codec().feed(bytes(conn.out))

    assert asyncio.run(go()) == [
        spdy.SynReply(1), spdy.Data(1, b"timed out waiting for the data stream of request 0"),
        spdy.Data(1, b"", spdy.FLAG_FIN)]


def test_request_ids_of_old_clients_pair_consecutive_streams() -> None:
    assert request_id({"requestid": "7", "streamtype": "data"}, 9) == "7"
    assert request_id({"streamtype": "error"}, 1) == request_id({"streamtype": "data"}, 3)


@pytest.mark.parametrize(("values", "ports"), [(["80"], [80]), (["80,443", "8080"],
                                                                 [80, 443, 8080])])
def test_parse_ports(values: list[str], ports: list[int]) -> None:
    assert parse_ports(values) == ports


@pytest.mark.parametrize("values", [[], ["0"], ["http"], ["70000"], ["80,"]])
def test_parse_ports_refuses(values: list[str]) -> None:
    with pytest.raises(PortsError):
        parse_ports(values)


def test_netns_from_containerd_verbose_info() -> None:
    spec = ('{"pid": 42, "runtimeSpec": {"linux": {"namespaces": [{"type": "pid"}, '
            '{"type": "network", "path": "/var/run/netns/cni-1"}]}}}')
    assert netns_from_info(spec, "s") == "/var/run/netns/cni-1"
    assert netns_from_info('{"pid": 42}', "s") == "/proc/42/ns/net"
    with pytest.raises(RuntimeError_, match="sandbox s"):
        netns_from_info("not json", "s")
