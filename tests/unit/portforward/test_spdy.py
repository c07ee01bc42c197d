"""SPDY/3.1 framing against the bytes kubectl 1.32 really sent (see capture_kubectl.py)."""

from __future__ import annotations

import zlib
from pathlib import Path

import pytest

from kboot.controlplane.portforward import spdy

CAPTURE = Path(__file__).parent / "data" / "kubectl-1.32-spdy.bin"


def test_decodes_kubectl_port_forward_streams() -> None:
    frames = spdy.Codec().feed(CAPTURE.read_bytes())
    assert [type(f).__name__ for f in frames] == ["SynStream", "Data", "SynStream", "Data",
                                                  "Data"]
    error, error_fin, data, ping, data_fin = frames
    assert isinstance(error, spdy.SynStream) and isinstance(data, spdy.SynStream)
    assert (error.stream_id, data.stream_id) == (1, 3)
    assert error.headers == {"streamtype": "error", "port": "80", "requestid": "0"}
    assert data.headers == {"streamtype": "data", "port": "80", "requestid": "0"}
    assert error_fin == spdy.Data(1, b"", spdy.FLAG_FIN)  # kubectl never writes to it
    assert ping == spdy.Data(3, b"ping")
    assert data_fin == spdy.Data(3, b"", spdy.FLAG_FIN)


def test_dictionary_is_the_spdy3_one() -> None:
    # kubectl's first header block names the dictionary by its Adler-32 (zlib FDICT)
    block = CAPTURE.read_bytes()[18:]
    assert block[1] & 0x20 and int.from_bytes(block[2:6], "big") == zlib.adler32(
        spdy.DICTIONARY)
    assert len(spdy.DICTIONARY) == 1423


@pytest.mark.parametrize("split", [1, 3, 7, 50])
def test_any_split_of_the_stream_gives_the_same_frames(split: int) -> None:
    raw = CAPTURE.read_bytes()
    codec = spdy.Codec()
    frames = [f for i in range(0, len(raw), split) for f in codec.feed(raw[i:i + split])]
    assert frames == spdy.Codec().feed(raw)


def test_round_trip_with_one_compression_context_per_direction() -> None:
    sender, receiver = spdy.Codec(), spdy.Codec()
    frames: list[spdy.Frame] = [
        spdy.SynReply(1), spdy.SynStream(5, {"port": "8080", "streamtype": "data"}, 0, 0, 2),
        spdy.SynReply(3, {"x": "a\0b"}, spdy.FLAG_FIN), spdy.Data(3, b"x" * 70000),
        spdy.RstStream(3, spdy.CANCEL), spdy.Ping(7), spdy.GoAway(5, 0),
        spdy.WindowUpdate(3, 1000)]
    wire = b"".join(sender.encode(f) for f in frames)
    assert receiver.feed(wire) == frames


def test_rejects_other_versions_and_bad_header_blocks() -> None:
    with pytest.raises(spdy.FrameError, match="version 2"):
        spdy.Codec().feed(b"\x80\x02\x00\x06\x00\x00\x00\x04\x00\x00\x00\x01")
    with pytest.raises(spdy.FrameError, match="decompress"):
        spdy.Codec().feed(b"\x80\x03\x00\x02\x00\x00\x00\x08\x00\x00\x00\x01garbage!"[:16])
    with pytest.raises(spdy.FrameError, match="short"):
        spdy.Codec().feed(b"\x80\x03\x00\x03\x00\x00\x00\x02\x00\x01")
