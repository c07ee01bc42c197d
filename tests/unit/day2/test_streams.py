"""WebSocket v5 channel framing and the exec Status → exit code rule."""

from __future__ import annotations

import json

import pytest

from kboot.controlplane.client.streams import (
    close_frame,
    decode_frame,
    encode_frame,
    exec_query,
    exit_status,
    log_params,
    resize_frame,
)


@pytest.mark.parametrize(("channel", "data"), [(0, b"hi\n"), (1, b""), (2, b"\x00\xff"),
                                               (255, b"\x00")])
def test_frames_round_trip(channel: int, data: bytes) -> None:
    frame = encode_frame(channel, data)
    assert frame[0] == channel
    assert decode_frame(frame) == (channel, data)


def test_close_and_resize_frames() -> None:
    assert close_frame() == b"\xff\x00"
    channel, payload = decode_frame(resize_frame(80, 24))
    assert channel == 4 and json.loads(payload) == {"Width": 80, "Height": 24}
    assert decode_frame(b"") == (-1, b"")
    with pytest.raises(ValueError):
        encode_frame(256)


@pytest.mark.parametrize(("status", "code"), [
    ({"metadata": {}, "status": "Success"}, 0),
    ({"status": "Failure", "reason": "NonZeroExitCode",
      "details": {"causes": [{"reason": "ExitCode", "message": "3"}]}}, 3),
    ({"status": "Failure", "reason": "InternalError", "message": "container not found"}, 1),
])
def test_exit_status(status: dict[str, object], code: int) -> None:
    result = exit_status(json.dumps(status).encode())
    assert result.code == code
    assert bool(result.message) == (status.get("reason") == "InternalError")


def test_exec_query_and_log_params() -> None:
    q = exec_query(["sh", "-c", "exit 3"], container="c", stdin=True, tty=True)
    assert q[:3] == [("command", "sh"), ("command", "-c"), ("command", "exit 3")]
    assert ("stderr", "false") in q and ("tty", "true") in q and ("container", "c") in q
    assert log_params(follow=True, tail_lines=5) == {"follow": "true", "tailLines": "5"}
    assert log_params() == {}
