"""Service health check listeners (upstream's service_health.go): 200 with upstream's JSON when
the node has a ready endpoint of the Service, 503 when not; listeners follow the Services."""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

from kboot.controlplane.proxy.healthcheck import (
    HealthCheck,
    HealthServers,
    health_checks,
    local_ready_counts,
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _get(port: int) -> tuple[int, dict[str, object], str]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    raw = await reader.read()
    writer.close()
    head, _, body = raw.decode().partition("\r\n\r\n")
    return int(head.split()[1]), json.loads(body), head


def test_which_services_and_how_many_local_endpoints() -> None:
    services: list[dict[str, Any]] = [{"metadata": {"name": "a", "namespace": "x"},
                 "spec": {"healthCheckNodePort": 31000}},
                {"metadata": {"name": "b", "namespace": "x"}, "spec": {}}]
    assert health_checks(services) == [HealthCheck("x", "a", 31000)]
    eps = {"metadata": {"name": "a", "namespace": "x"},
           "subsets": [{"addresses": [{"ip": "10.0.0.1", "nodeName": "n1"},
                                      {"ip": "10.0.0.2", "nodeName": "n2"}],
                        "notReadyAddresses": [{"ip": "10.0.0.3", "nodeName": "n1"}],
                        "ports": [{"port": 80}]},
                       {"addresses": [{"ip": "10.0.0.1", "nodeName": "n1"}],
                        "ports": [{"port": 81}]}]}
    assert local_ready_counts([eps], "n1") == {("x", "a"): 1}  # distinct ready IPs only
    assert local_ready_counts([eps], "n3") == {("x", "a"): 0}


def test_listeners_answer_and_follow_the_services() -> None:
    port = _free_port()
    check = HealthCheck("shop", "web", port)

    async def go() -> None:
        servers = HealthServers()
        await servers.sync([check], {("shop", "web"): 2})
        status, body, head = await _get(port)
        assert status == 200 and "X-Load-Balancing-Endpoint-Weight: 2" in head
        assert body == {"service": {"namespace": "shop", "name": "web"}, "localEndpoints": 2,
                        "serviceProxyHealthy": True}
        await servers.sync([check], {})
        status, body, _ = await _get(port)
        assert status == 503 and body["localEndpoints"] == 0
        await servers.sync([], {})
        try:
            await _get(port)
        except OSError:
            pass
        else:
            raise AssertionError("the listener outlived its Service")
        await servers.close()

    asyncio.run(go())
