"""The kubelet's own HTTPS port: authorization, a TTY exec with resize, plain logs."""

from __future__ import annotations

import asyncio
import json
import re
import ssl

import aiohttp
import pytest

from tests.integration.kubelet.cluster import NODE_NAME, Cluster, pod
from tests.waiting import wait_until

pytestmark = pytest.mark.integration


def _context(cluster: Cluster, cert: str, key: str) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(cluster.server.ca_file))
    ctx.load_cert_chain(cert, key)
    return ctx


def _base(cluster: Cluster) -> str:
    node = cluster.get("node", NODE_NAME)
    assert node is not None
    port = node["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"]
    return f"https://127.0.0.1:{port}"


def test_only_the_apiserver_identity_is_authorized(cluster: Cluster) -> None:
    cluster.apply(pod("authz", "echo hi; sleep 3600"))
    cluster.wait_running("authz")
    other = cluster.server.identity("someone", ("system:authenticated",))
    good = _context(cluster, str(cluster.server.kubelet_client_cert_file),
                    str(cluster.server.kubelet_client_key_file))
    bad = _context(cluster, str(other.cert_file), str(other.key_file))
    url = f"{_base(cluster)}/containerLogs/default/authz/c"

    async def go() -> tuple[int, str, int, int]:
        async with aiohttp.ClientSession() as s:
            async with s.get(url, ssl=good) as r:
                ok_status, body = r.status, await r.text()
            async with s.get(url, ssl=bad) as r:
                denied = r.status
            async with s.get(f"{_base(cluster)}/containerLogs/default/nope/c", ssl=good) as r:
                missing = r.status
        return ok_status, body, denied, missing

    def echoed() -> tuple[int, str, int, int] | None:  # the echo may lag on a loaded host
        got = asyncio.run(go())
        return got if got[1] == "hi\n" else None

    ok_status, body, denied, missing = wait_until("the pod's log line", echoed, timeout=30,
                                                  interval=0.3)
    assert (ok_status, body) == (200, "hi\n")
    assert denied == 403 and missing == 404


def test_tty_exec_with_resize(cluster: Cluster) -> None:
    cluster.apply(pod("tty", "sleep 3600"))
    cluster.wait_running("tty")
    ctx = _context(cluster, str(cluster.server.kubelet_client_cert_file),
                   str(cluster.server.kubelet_client_key_file))
    url = (f"{_base(cluster)}/exec/default/tty/c?command=sh&stdin=true&stdout=true&tty=true")

    out = bytearray()  # outside go(): a timeout's message shows what the shell said

    async def go() -> tuple[str, dict]:  # type: ignore[type-arg]
        status = {}
        async with aiohttp.ClientSession() as s, s.ws_connect(
                url, ssl=ctx, protocols=("v5.channel.k8s.io",)) as ws:
            proto = ws.protocol or ""
            await ws.send_bytes(b"\x04" + json.dumps({"Width": 91, "Height": 37}).encode())
            # the resize and stdin travel apart: ask for the size until the shell sees it. The
            # command starts on a 0x0 terminal and gets the size a moment later (ctr resizes
            # after the start, as CRI does), so a first `stty size` may fail ("stty: standard
            # input") or print another size: both are answers, ask again
            await ws.send_bytes(b"\x00stty size\n")
            answers = 0
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.BINARY:
                    break
                if msg.data[0] == 1:
                    out.extend(msg.data[1:])
                    seen = re.findall(rb"^(\d+ \d+|stty: .*?)\r*$", bytes(out), re.MULTILINE)
                    if len(seen) > answers:
                        answers = len(seen)
                        again = b"exit 4" if seen[-1] == b"37 91" else b"stty size"
                        await ws.send_bytes(b"\x00" + again + b"\n")
                elif msg.data[0] == 3:
                    status = json.loads(msg.data[1:])
        return proto, status

    try:
        proto, status = asyncio.run(asyncio.wait_for(go(), 20))
    except TimeoutError:
        pytest.fail(f"no exit within 20 s; the terminal showed {bytes(out)!r}")
    assert proto == "v5.channel.k8s.io"
    assert b"37 91" in out
    assert status["status"] == "Failure"
    assert status["details"]["causes"][0] == {"reason": "ExitCode", "message": "4"}
