"""CNI conflist (kept equal to the template), host-gw route diffs, CRI log parsing, exec frames."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import jinja2
import pytest

from kboot.controlplane.kubelet import execstream, logs, network

ROOT = Path(__file__).resolve().parents[3]


def test_conflist_matches_the_template() -> None:
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    text = env.from_string((ROOT / "templates/cni/10-kboot.conflist.j2").read_text()).render(
        pod_cidr="10.244.3.0/24")
    assert json.loads(text) == network.conflist("10.244.3.0/24")


def test_containerd_template_renders_with_defaults() -> None:
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    text = env.from_string((ROOT / "templates/containerd/config.toml.j2").read_text()).render()
    assert 'sandbox_image = "kboot.io/pause:3.9"' in text
    assert "restrict_oom_score_adj = true" in text and "SystemdCgroup = false" in text


def test_route_commands() -> None:
    nodes = [
        {"metadata": {"name": "a"}, "spec": {"podCIDR": "10.244.0.0/24"},
         "status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.1"}]}},
        {"metadata": {"name": "b"}, "spec": {"podCIDR": "10.244.1.0/24"},
         "status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.2"}]}},
        {"metadata": {"name": "c"}, "spec": {}, "status": {}},
    ]
    desired = network.desired_routes(nodes, "a")
    assert desired == {"10.244.1.0/24": "10.0.0.2"}
    current = network.parse_routes("10.244.9.0/24 via 10.0.0.9 dev eth0 proto 199\n")
    assert network.route_commands(current, desired) == [
        ["ip", "route", "replace", "10.244.1.0/24", "via", "10.0.0.2", "proto", "199"],
        ["ip", "route", "del", "10.244.9.0/24", "proto", "199"]]
    assert network.route_commands(desired, desired) == []


def test_write_conflist_only_on_change(tmp_path: Path) -> None:
    assert network.write_conflist(str(tmp_path), "10.244.1.0/24")
    assert not network.write_conflist(str(tmp_path), "10.244.1.0/24")
    assert network.write_conflist(str(tmp_path), "10.244.2.0/24")


LOG = (b"2026-01-01T00:00:01.000000001Z stdout F one\n"
       b"2026-01-01T00:00:02.5Z stderr P par\n"
       b"2026-01-01T00:00:02.6Z stderr F tial\n"
       b"2026-01-01T00:00:03Z stdout F three\n")


def _read(path: Path, opts: logs.LogOptions, now: float = 1767225605.0) -> bytes:
    async def go() -> bytes:
        async def stopped() -> bool:
            return False
        return b"".join([c async for c in logs.stream_log(path, opts, running=stopped, now=now)])
    return asyncio.run(go())


@pytest.mark.parametrize(("opts", "expected"), [
    (logs.LogOptions(), b"one\npartial\nthree\n"),
    (logs.LogOptions(tail_lines=1), b"three\n"),
    (logs.LogOptions(tail_lines=0), b""),
    (logs.LogOptions(limit_bytes=5), b"one\np"),
    (logs.LogOptions(since_seconds=3), b"partial\nthree\n"),
    (logs.LogOptions(since_time="2026-01-01T00:00:03Z"), b"three\n"),
    (logs.LogOptions(timestamps=True, tail_lines=1), b"2026-01-01T00:00:03Z three\n"),
    (logs.LogOptions(follow=True), b"one\npartial\nthree\n"),
])
def test_log_options(tmp_path: Path, opts: logs.LogOptions, expected: bytes) -> None:
    path = tmp_path / "0.log"
    path.write_bytes(LOG)
    assert _read(path, opts) == expected


def test_follow_picks_up_appended_lines(tmp_path: Path) -> None:
    path = tmp_path / "0.log"
    path.write_bytes(LOG[:45])

    async def go() -> list[bytes]:
        state = {"n": 0}

        async def running() -> bool:
            state["n"] += 1
            if state["n"] == 2:
                with path.open("ab") as fh:
                    fh.write(LOG[45:])
            return state["n"] < 4
        return [c async for c in logs.stream_log(path, logs.LogOptions(follow=True),
                                                 running=running, now=0, poll=0.01)]

    assert b"".join(asyncio.run(go())) == b"one\npartial\nthree\n"


def test_status_frames() -> None:
    assert json.loads(execstream.status_frame(0, ("x",))[1:])["status"] == "Success"
    frame = execstream.status_frame(7, ("sh",))
    body = json.loads(frame[1:])
    assert frame[0] == execstream.STATUS and body["reason"] == "NonZeroExitCode"
    assert body["details"]["causes"] == [{"reason": "ExitCode", "message": "7"}]
    killed = json.loads(execstream.status_frame(-6, ("uptime",))[1:])
    assert killed["reason"] == "InternalError" and "killed by signal 6" in killed["message"]


def test_ctr_command() -> None:
    req = execstream.ExecRequest(container_id="abc", command=("sh", "-c", "x"), tty=True)
    cmd = execstream.ctr_command("ctr", "/run/c.sock", req)
    assert cmd[:6] == ["ctr", "--address", "/run/c.sock", "-n", "k8s.io", "task"]
    assert "--tty" in cmd and cmd[-4:] == ["abc", "sh", "-c", "x"]


def test_rotate_keeps_a_bounded_number_of_files(tmp_path: Path) -> None:
    path = tmp_path / "0.log"
    path.write_bytes(b"x" * 10)
    assert not logs.rotate(path, max_bytes=11, keep=2, stamp="a")
    for stamp in ("b", "c", "d"):
        path.write_bytes(b"x" * 20)
        assert logs.rotate(path, max_bytes=11, keep=2, stamp=stamp)
    assert not path.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["0.log.c", "0.log.d"]
