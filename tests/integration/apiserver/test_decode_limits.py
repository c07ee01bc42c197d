"""Bodies that cost more to decode than they cost to send are refused with a Status, and no
request stalls the others: alias bombs, deep nesting, YAML-only types, oversized URLs, headers
and bodies, large bodies decoded off the event loop (issue 14)."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import http.client
import json
import os
import select
import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from kboot.controlplane.apiserver.offload import RAN_OUT, BodyDecoders
from tests.fixtures.apiserver import ApiServer, start_apiserver
from tests.fixtures.readyz import ReadyzProber, RequestLoop, alias_bomb, repeated
from tests.integration.apiserver.http import Reply, call

pytestmark = pytest.mark.integration

STATUS_KEYS = ["kind", "apiVersion", "metadata", "status", "message", "reason", "details", "code"]
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def server() -> Iterator[ApiServer]:
    with start_apiserver("memory://") as srv:
        yield srv


def _is_status(reply: Reply, code: int, *words: str) -> None:
    assert reply.status == code, reply.body
    assert isinstance(reply.body, dict), reply.body
    assert reply.body["kind"] == "Status" and reply.body["apiVersion"] == "v1"
    assert reply.body["code"] == code
    for word in words:
        assert word in reply.body["message"], reply.body


def _raw(server: ApiServer, request: bytes) -> tuple[int, bytes]:
    """Send hand-made HTTP bytes over TLS; the status code and body of the reply."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock, \
            server.ssl_context().wrap_socket(sock, server_hostname="127.0.0.1") as tls:
        tls.sendall(request)
        data = b""
        while chunk := tls.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def test_alias_bomb_is_refused_before_it_expands(server: ApiServer) -> None:
    bomb = alias_bomb(levels=7, fan=10)  # ~550 bytes, 10^7 strings once expanded
    assert len(bomb) < 1024
    reply = call(server, "POST", "/api/v1/namespaces/default/pods", bomb.decode(),
                 content_type="application/yaml")
    _is_status(reply, 400, "excessive aliasing")
    reply = call(server, "PATCH", "/api/v1/namespaces/default/pods/bomb?fieldManager=t",
                 bomb.decode(), content_type="application/apply-patch+yaml")
    _is_status(reply, 400, "excessive aliasing")


def test_modest_aliases_are_expanded_into_separate_objects(server: ApiServer) -> None:
    manifest = ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: aliases\n"
                "  labels: &l {app: web}\n  annotations: *l\ndata: {a: &v x, b: *v}\n")
    reply = call(server, "POST", "/api/v1/namespaces/default/configmaps", manifest,
                 content_type="application/yaml")
    assert reply.status == 201, reply.body
    assert reply.body["metadata"]["annotations"] == {"app": "web"}
    assert reply.body["data"] == {"a": "x", "b": "x"}
    call(server, "DELETE", "/api/v1/namespaces/default/configmaps/aliases")


def _nested_json(depth: int) -> str:
    return ('{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"deep"},"x":'
            + "[" * depth + "]" * depth + "}")


def _nested_yaml_block(depth: int) -> str:
    lines = ["apiVersion: v1", "kind: ConfigMap", "metadata: {name: deep}", "x:"]
    lines += ["  " * i + "- " for i in range(1, depth)]
    lines.append("  " * depth + "- end")
    return "\n".join(lines) + "\n"


def _nested_yaml_flow(depth: int) -> str:
    return "{apiVersion: v1, kind: ConfigMap, x: " + "[" * depth + "]" * depth + "}"


@pytest.mark.parametrize("depth", [150, 450, 990])
@pytest.mark.parametrize("body,content_type", [
    (_nested_json, "application/json"),
    (_nested_json, "application/yaml"),
    (_nested_yaml_flow, "application/yaml"),
    (_nested_yaml_block, "application/yaml"),
])
def test_deep_nesting_is_a_400_status(server: ApiServer, depth: int, body: object,
                                      content_type: str) -> None:
    assert callable(body)
    text = body(depth)
    reply = call(server, "POST", "/api/v1/namespaces/default/configmaps", text,
                 content_type=content_type)
    _is_status(reply, 400, "nested too deeply")
    merge = "application/merge-patch+json" if content_type.endswith("json") else content_type
    patch_type = merge if merge.endswith("json") else "application/apply-patch+yaml"
    reply = call(server, "PATCH", "/api/v1/namespaces/default/configmaps/deep?fieldManager=t",
                 text, content_type=patch_type)
    _is_status(reply, 400, "nested too deeply")


def test_yaml_only_types_become_upstreams_strings(server: ApiServer) -> None:
    manifest = ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: 2024-01-02\n"
                "  labels: {1: one, true: yes-label}\n"
                "  annotations: {stamp: 2001-12-14t21:59:43.10-05:00}\n"
                "data: {2024-01-01: date-key}\n")
    reply = call(server, "POST", "/api/v1/namespaces/default/configmaps", manifest,
                 content_type="application/yaml")
    assert reply.status == 201, reply.body
    meta = reply.body["metadata"]
    assert meta["name"] == "2024-01-02"
    assert meta["labels"] == {"1": "one", "true": "yes-label"}
    assert meta["annotations"] == {"stamp": "2001-12-14t21:59:43.10-05:00"}
    assert reply.body["data"] == {"2024-01-01": "date-key"}
    apply = ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: 2024-01-02\n"
             "  annotations: {when: 2025-06-01}\n")
    reply = call(server, "PATCH", "/api/v1/namespaces/default/configmaps/2024-01-02"
                 "?fieldManager=t&force=true", apply, content_type="application/apply-patch+yaml")
    assert reply.status == 200, reply.body
    assert reply.body["metadata"]["annotations"]["when"] == "2025-06-01"
    call(server, "DELETE", "/api/v1/namespaces/default/configmaps/2024-01-02")


@pytest.mark.parametrize("manifest,words", [
    ("metadata: {name: k}\ndata: {null: x}\n", ["unsupported map key of type null"]),
    ("metadata: {name: k}\ndata: {[a]: x}\n", ["unsupported map key"]),
    ("metadata: {name: k}\ndata: {a: .inf}\n", [".inf", "JSON"]),
    ("metadata: {name: k}\ndata: {a: !!binary aGk=}\n", ["binary", "not supported"]),
    ("metadata: {name: k}\ndata: &d {a: *d}\n", ["recursive alias"]),
])
def test_yaml_without_a_json_form_is_a_400_status(server: ApiServer, manifest: str,
                                                  words: list[str]) -> None:
    reply = call(server, "POST", "/api/v1/namespaces/default/configmaps",
                 "apiVersion: v1\nkind: ConfigMap\n" + manifest, content_type="application/yaml")
    _is_status(reply, 400, *words)


@pytest.mark.parametrize("body", ['{"a": NaN}', '{"a": Infinity}', '{"a": 1e400}'])
def test_json_numbers_without_a_value_are_a_400_status(server: ApiServer, body: str) -> None:
    reply = call(server, "POST", "/api/v1/namespaces/default/configmaps", body)
    _is_status(reply, 400, "error decoding request body")


def test_status_bytes_follow_upstreams_field_order(server: ApiServer) -> None:
    conn = http.client.HTTPSConnection("127.0.0.1", server.port, context=server.ssl_context())
    conn.request("GET", "/api/v1/namespaces/default/configmaps/missing")
    reply = conn.getresponse()
    raw = reply.read()
    conn.close()
    assert reply.status == 404 and raw.endswith(b"}\n")
    keys = list(json.loads(raw))
    assert keys == [k for k in STATUS_KEYS if k in keys] and "details" in keys


def test_oversized_body_is_a_413_status(server: ApiServer) -> None:
    body = b'{"kind": "ConfigMap", "data": {"a": "' + b"x" * (3 * MIB) + b'"}}'
    reply = call(server, "POST", "/api/v1/namespaces/default/configmaps", body)
    _is_status(reply, 413, "Request entity too large: limit is 3145728")
    assert reply.body["reason"] == "RequestEntityTooLarge"
    conn = http.client.HTTPSConnection("127.0.0.1", server.port, context=server.ssl_context())
    conn.request("POST", "/api/v1/namespaces/default/configmaps", body=iter([body]),
                 headers={"Content-Type": "application/json"}, encode_chunked=True)
    chunked = conn.getresponse()
    status = json.loads(chunked.read())
    conn.close()
    assert chunked.status == 413 and status["reason"] == "RequestEntityTooLarge"


def test_oversized_url_and_headers_are_431_statuses(server: ApiServer) -> None:
    long_url = b"/api/v1/namespaces/default/pods?labelSelector=" + b"a" * 70_000
    code, body = _raw(server, b"GET " + long_url + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    status = json.loads(body)
    assert code == 431 and status["code"] == 431 and status["kind"] == "Status"
    code, body = _raw(server, b"GET /api HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 70_000
                      + b"\r\n\r\n")
    status = json.loads(body)
    assert code == 431 and status["reason"] == "RequestHeaderFieldsTooLarge"
    code, body = _raw(server, b"GET /api HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n")
    status = json.loads(body)
    assert code == 400 and status["reason"] == "BadRequest" and status["kind"] == "Status"
    assert call(server, "GET", "/readyz").status == 200  # the server is unharmed


def test_readyz_answers_every_probe_while_alias_bombs_arrive(server: ApiServer) -> None:
    bombs = repeated("POST", "/api/v1/namespaces/default/pods", alias_bomb(levels=7, fan=10),
                     times=200)
    with ReadyzProber(server) as prober, RequestLoop(server, bombs) as loop:
        loop.done.wait(timeout=300)
    assert len(loop.sent) == 200
    assert all(s.status == 400 and b"excessive aliasing" in s.body for s in loop.sent)
    assert prober.probes and all(p.status == 200 for p in prober.probes)
    during = prober.answered_within(loop.sent[0].sent, loop.sent[-1].replied)
    assert during, "no /readyz probe was answered while the bombs were being refused"


def test_large_yaml_is_decoded_while_readyz_keeps_answering(server: ApiServer) -> None:
    """A 2 MiB YAML body (legal size, seconds of parsing) is decoded off the event loop: probes
    sent after the body was fully sent are answered before its reply comes back."""
    item = "- {name: item, value: [1, 2, 3], nested: {a: b, c: d}}\n"
    heavy = (item * (2 * MIB // len(item))).encode()  # a list, not an object: refused after
    with ReadyzProber(server) as prober, \
            RequestLoop(server, repeated("POST", "/api/v1/namespaces/default/configmaps", heavy,
                                         times=1)) as loop:
        loop.done.wait(timeout=300)
    [sent] = loop.sent
    assert sent.status == 400 and b"must be a JSON object" in sent.body
    assert all(p.status == 200 for p in prober.probes)
    assert len(prober.answered_within(sent.sent, sent.replied)) >= 3


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                stat = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
                if int(stat[1]) == pid:
                    found.append(int(entry))
    return found


def test_the_decode_worker_ends_with_a_killed_apiserver() -> None:
    """The YAML decode process must not outlive a SIGKILLed server (it would leak per test)."""
    with start_apiserver("memory://") as srv:
        item = "- {a: b}\n"
        reply = call(srv, "POST", "/api/v1/namespaces/default/configmaps", item * 4096)
        assert reply.status == 400  # decoded (by the worker: over 16 KiB), then refused
        children = _children(srv.process.pid)
        assert children
        exits = [os.pidfd_open(pid) for pid in children]
        srv.process.kill()
        srv.process.wait()
        for fd in exits:
            ready, _, _ = select.select([fd], [], [], 60)
            os.close(fd)
            assert ready, "a child of the killed apiserver is still running"


_PR_SET_CHILD_SUBREAPER = 36


def _reap(pid: int) -> None:
    with contextlib.suppress(OSError):
        os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def _cmdline(pid: int) -> str:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:200]
    return "?"


def test_no_process_outlives_a_terminated_apiserver() -> None:
    """On SIGTERM the apiserver ends and reaps every process it started (the YAML decode
    worker; no multiprocessing resource tracker) before it exits. Under systemd on the nspawn
    lab machines, any process still in the unit when the main one exited kept each restart
    waiting for TimeoutStopSec (docs/architecture.md, "Process model and stopping").

    This test process is made a child subreaper while the server runs: a process the server
    left behind — alive, or exited but not reaped by the server — is handed to it and shows up
    among its children, whatever the timing."""
    libc = ctypes.CDLL(None, use_errno=True)
    before = set(_children(os.getpid()))
    assert libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    left: dict[int, str] = {}
    try:
        with start_apiserver("memory://") as srv:
            reply = call(srv, "POST", "/api/v1/namespaces/default/configmaps",
                         "- {a: b}\n" * 4096, content_type="application/yaml")
            assert reply.status == 400  # decoded by the worker (over 16 KiB), then refused
            assert _children(srv.process.pid), "the YAML decode worker is not running"
            srv.process.send_signal(signal.SIGTERM)
            assert srv.process.wait(timeout=60) == 0, srv.log()[-3000:]
            left = {pid: _cmdline(pid) for pid in _children(os.getpid()) if pid not in before}
            log = srv.log()
    finally:
        libc.prctl(_PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
        for pid in left:
            _reap(pid)
    assert not left, f"processes of the apiserver outlived it: {left}"
    assert "stopped by signal" in log


def test_a_dead_decode_worker_is_replaced_and_close_reaps_the_worker() -> None:
    async def run() -> None:
        decoders = BodyDecoders()
        assert decoders.worker_pid is None  # started with the first body (or start())
        first = await decoders.yaml(b"a: [1, 2]\n")
        assert (json.loads(first.json), first.error) == ({"a": [1, 2]}, "")
        pid = decoders.worker_pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)  # as the kernel's OOM killer would, mid-body
        lost = await decoders.yaml(b"b: 1\n")
        assert lost.error == RAN_OUT
        assert decoders.worker_pid not in (None, pid)
        assert json.loads((await decoders.yaml(b"c: 1\n")).json) == {"c": 1}
        replacement = decoders.worker_pid
        assert replacement is not None and replacement in _children(os.getpid())
        await decoders.close()
        assert decoders.worker_pid is None
        assert replacement not in _children(os.getpid())  # exited and reaped, not a zombie
        closed = await decoders.yaml(b"d: 1\n")
        assert "shutting down" in closed.error

    asyncio.run(run())
