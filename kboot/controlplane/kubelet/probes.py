"""Container probes: one check (exec, httpGet, tcpSocket) and the periodic loop around it.

Exec probes go through the runtime's ``ExecSync``; HTTP and TCP probes are made by the kubelet
itself to the pod IP (the kubelet shares the node's network, where the pod bridge lives). The
loop applies ``initialDelaySeconds``, ``periodSeconds``, ``timeoutSeconds`` and the success and
failure thresholds, and reports each *transition* through a callback.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Callable
from typing import Any

from kboot.controlplane.api.shapes import Obj
from kboot.controlplane.client.clock import REAL_CLOCK, Clock
from kboot.controlplane.kubelet.cri.types import Runtime, RuntimeError_

log = logging.getLogger(__name__)


def resolve_port(port: Any, container: Obj) -> int:
    """A handler's ``port``: a number, or the name of one of the container's ports."""
    if isinstance(port, int) or str(port).isdigit():
        return int(port)
    for declared in container.get("ports") or []:
        if declared.get("name") == port:
            return int(declared["containerPort"])
    raise ValueError(f"named port {port!r} not found")


async def http_get(action: Obj, *, host: str, port: int, timeout: float | None,
                   agent: str) -> int:
    """One ``httpGet`` action's request (``scheme`` HTTPS without certificate checks, as
    upstream); returns the response status code."""
    path = action.get("path") or "/"
    given = {h["name"].lower() for h in action.get("httpHeaders") or []}
    headers = "".join(f"{h['name']}: {h['value']}\r\n" for h in action.get("httpHeaders") or [])
    for name, value in (("Host", f"{host}:{port}"), ("User-Agent", agent), ("Accept", "*/*")):
        if name.lower() not in given:
            headers += f"{name}: {value}\r\n"
    request = f"GET {path} HTTP/1.1\r\n{headers}Connection: close\r\n\r\n".encode()
    tls: ssl.SSLContext | None = None
    if str(action.get("scheme", "HTTP")).upper() == "HTTPS":
        tls = ssl.create_default_context()
        tls.check_hostname, tls.verify_mode = False, ssl.CERT_NONE
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port, ssl=tls),
                                            timeout)
    try:
        writer.write(request)
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), timeout)
        parts = line.decode(errors="replace").split()
        if len(parts) < 2 or not parts[1].isdigit():
            raise ValueError(f"malformed HTTP response {line[:80]!r}")
        return int(parts[1])
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


async def _tcp(host: str, port: int, timeout: float) -> bool:
    _reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    writer.close()
    with contextlib.suppress(Exception):
        await writer.wait_closed()
    return True


async def run_probe(probe: Obj, *, runtime: Runtime, container_id: str, container: Obj,
                    pod_ip: str) -> bool:
    """One probe attempt: True on success; any error or timeout is a failure."""
    timeout = float(probe.get("timeoutSeconds", 1))
    try:
        if "exec" in probe:
            res = await runtime.exec_sync(container_id, list(probe["exec"]["command"]),
                                          max(1, int(timeout)))
            return res.exit_code == 0
        if "httpGet" in probe:
            action = probe["httpGet"]
            host = action.get("host") or pod_ip
            code = await http_get(action, host=host, port=resolve_port(action["port"], container),
                                  timeout=timeout, agent="kube-probe/1.32")
            return 200 <= code < 400
        if "tcpSocket" in probe:
            action = probe["tcpSocket"]
            host = action.get("host") or pod_ip
            return await _tcp(host, resolve_port(action["port"], container), timeout)
    except (TimeoutError, OSError, ValueError, RuntimeError_) as exc:
        log.debug("probe failed: %s", exc)
        return False
    return True


async def probe_loop(probe: Obj, *, kind: str, runtime: Runtime, container_id: str,
                     container: Obj, pod_ip: str, report: Callable[[str, bool], None],
                     gate: Callable[[], bool] = lambda: True, clock: Clock = REAL_CLOCK) -> None:
    """Probe forever; call ``report(kind, result)`` whenever the thresholded result flips.

    *gate* says whether to probe now (liveness and readiness wait for the startup probe).
    """
    await clock.sleep(float(probe.get("initialDelaySeconds", 0)))
    period = float(probe.get("periodSeconds", 10))
    need_ok = int(probe.get("successThreshold", 1))
    need_fail = int(probe.get("failureThreshold", 3))
    result: bool | None = None
    ok_run = fail_run = 0
    while True:
        if gate():
            good = await run_probe(probe, runtime=runtime, container_id=container_id,
                                   container=container, pod_ip=pod_ip)
            ok_run, fail_run = (ok_run + 1, 0) if good else (0, fail_run + 1)
            if result is not True and ok_run >= need_ok:
                result = True
                report(kind, True)
            elif result is not False and fail_run >= need_fail:
                result = False
                report(kind, False)
        await clock.sleep(period)
