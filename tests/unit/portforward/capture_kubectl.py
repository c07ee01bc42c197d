"""Record the bytes the real kubectl sends in a SPDY/3.1 port-forward (run once, by hand).

    python -m tests.unit.portforward.capture_kubectl tests/unit/portforward/data/kubectl-spdy.bin

A plain-HTTP fake apiserver (just enough discovery, one Running pod ``web``) accepts
``kubectl port-forward pod/web PORT:80`` with ``KUBECTL_PORT_FORWARD_WEBSOCKETS=false``,
answers every SYN_STREAM with a SYN_REPLY and the data stream with ``pong`` + FIN, and writes
every byte kubectl sent after the upgrade to the output file. The unit tests decode that file,
so they check this codec against what kubectl really sends, not against itself.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

from kboot.controlplane.portforward import spdy

POD = {"apiVersion": "v1", "kind": "Pod",
       "metadata": {"name": "web", "namespace": "default", "uid": "u1"},
       "spec": {"containers": [{"name": "c", "image": "x"}]}, "status": {"phase": "Running"}}
API_V1 = {"kind": "APIResourceList", "groupVersion": "v1", "resources": [
    {"name": "pods", "singularName": "pod", "namespaced": True, "kind": "Pod",
     "verbs": ["get", "list"], "shortNames": ["po"]},
    {"name": "pods/portforward", "singularName": "", "namespaced": True, "kind": "Pod",
     "verbs": ["create", "get"]}]}
ROUTES = {"/api": {"kind": "APIVersions", "versions": ["v1"]},
          "/apis": {"kind": "APIGroupList", "apiVersion": "v1", "groups": []},
          "/api/v1": API_V1, "/api/v1/namespaces/default/pods/web": POD}


async def _serve_spdy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                      out: bytearray, done: asyncio.Event) -> None:
    writer.write(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                 b"Upgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: portforward.k8s.io\r\n\r\n")
    codec = spdy.Codec()
    while chunk := await reader.read(65536):
        out += chunk
        for frame in codec.feed(chunk):
            if isinstance(frame, spdy.SynStream):
                writer.write(codec.encode(spdy.SynReply(frame.stream_id)))
                if frame.headers.get("streamtype") == "data":
                    writer.write(codec.encode(spdy.Data(frame.stream_id, b"pong")))
            elif isinstance(frame, spdy.Data) and frame.fin and frame.stream_id % 4 == 3:
                writer.write(codec.encode(spdy.Data(frame.stream_id, b"", spdy.FLAG_FIN)))
                writer.write(codec.encode(spdy.Data(frame.stream_id - 2, b"", spdy.FLAG_FIN)))
                done.set()
        await writer.drain()


async def _handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, out: bytearray,
                  done: asyncio.Event) -> None:
    head = (await reader.readuntil(b"\r\n\r\n")).decode()
    path = head.split(" ")[1].split("?")[0]
    if "upgrade: spdy/3.1" in head.lower():
        await _serve_spdy(reader, writer, out, done)
    elif path.endswith("/portforward"):
        writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
    else:
        body = json.dumps(ROUTES.get(path, {"kind": "Status", "code": 404})).encode()
        status = b"200 OK" if path in ROUTES else b"404 Not Found"
        writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Type: application/json\r\n"
                     b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    await writer.drain()
    writer.close()


async def capture(target: Path) -> None:
    out, done = bytearray(), asyncio.Event()
    server = await asyncio.start_server(lambda r, w: _handle(r, w, out, done), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        local = s.getsockname()[1]
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as cfg:
        cfg.write(f"apiVersion: v1\nkind: Config\nclusters: [{{name: c, cluster: {{server: "
                  f"'http://127.0.0.1:{port}'}}}}]\nusers: [{{name: u, user: {{token: t}}}}]\n"
                  "contexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\n")
    env = {**os.environ, "KUBECONFIG": cfg.name, "KUBECTL_PORT_FORWARD_WEBSOCKETS": "false"}
    proc = subprocess.Popen(["kubectl", "port-forward", "pod/web", f"{local}:80"], env=env,
                            stdout=subprocess.PIPE)
    assert proc.stdout is not None
    await asyncio.to_thread(proc.stdout.readline)  # "Forwarding from …"
    r, w = await asyncio.open_connection("127.0.0.1", local)
    w.write(b"ping")
    await w.drain()
    w.write_eof()
    print("kubectl answered", await r.read(), file=sys.stderr)
    await asyncio.wait_for(done.wait(), 10)
    proc.terminate()
    proc.wait()
    server.close()
    os.unlink(cfg.name)
    target.write_bytes(bytes(out))


if __name__ == "__main__":
    asyncio.run(capture(Path(sys.argv[1])))
