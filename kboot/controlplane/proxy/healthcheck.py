"""Service health checks (upstream's ``pkg/proxy/healthcheck`` service servers): for each
``type: LoadBalancer`` Service with ``externalTrafficPolicy: Local`` the apiserver allocates a
``healthCheckNodePort``; kboot-proxy listens on it on every node and answers whether this node
has a ready endpoint of the Service, so an external load balancer sends traffic only to nodes
that will not drop it.

Any request gets ``200`` when the node has local endpoints, else ``503``, with upstream's JSON
body and ``X-Load-Balancing-Endpoint-Weight`` header. Listeners open and close as Services come
and go (:meth:`HealthServers.sync`, called after each rules sync); with ``--netns`` they are
created inside that network namespace (the node's), like the rules.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from kboot.controlplane.api.shapes import Obj
from kboot.controlplane.portforward.dial import socket_in

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HealthCheck:
    namespace: str
    name: str
    port: int


def health_checks(services: Iterable[Obj]) -> list[HealthCheck]:
    """The Services that want a health check listener (a ``healthCheckNodePort`` set)."""
    out = []
    for svc in services:
        port = (svc.get("spec") or {}).get("healthCheckNodePort")
        if port:
            meta = svc["metadata"]
            out.append(HealthCheck(meta.get("namespace", "default"), meta["name"], int(port)))
    return out


def local_ready_counts(endpoints: Iterable[Obj], node_name: str) -> dict[tuple[str, str], int]:
    """(namespace, name) → distinct ready endpoint IPs on *node_name* (upstream counts the
    same: ready and local, over all the Service's ports)."""
    out: dict[tuple[str, str], int] = {}
    for eps in endpoints:
        meta = eps["metadata"]
        ips = {a["ip"] for subset in eps.get("subsets") or []
               for a in subset.get("addresses") or [] if a.get("nodeName") == node_name}
        out[(meta.get("namespace", "default"), meta["name"])] = len(ips)
    return out


def response(check: HealthCheck, local_endpoints: int) -> bytes:
    """The HTTP response for one request (status, upstream's headers and JSON body)."""
    body = json.dumps({"service": {"namespace": check.namespace, "name": check.name},
                       "localEndpoints": local_endpoints, "serviceProxyHealthy": True},
                      indent=2).encode()
    status = "200 OK" if local_endpoints else "503 Service Unavailable"
    head = (f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
            f"X-Content-Type-Options: nosniff\r\n"
            f"X-Load-Balancing-Endpoint-Weight: {local_endpoints}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n")
    return head.encode() + body


class HealthServers:
    """One listener per health check port, kept equal to the wanted set."""

    def __init__(self, *, netns: str = "") -> None:
        self.netns = netns
        self.servers: dict[int, asyncio.Server] = {}
        self.checks: dict[int, HealthCheck] = {}
        self.counts: dict[tuple[str, str], int] = {}

    async def sync(self, checks: Iterable[HealthCheck],
                   counts: Mapping[tuple[str, str], int]) -> None:
        """Open the listeners newly wanted, close the others; counts take effect at once."""
        self.checks = {c.port: c for c in checks}
        self.counts = dict(counts)
        for port in sorted(set(self.servers) - set(self.checks)):
            server = self.servers.pop(port)
            server.close()
            await server.wait_closed()
            log.info("closed the health check listener on port %d", port)
        for port in sorted(set(self.checks) - set(self.servers)):
            try:
                self.servers[port] = await self._listen(port)
            except OSError as exc:  # retried on the next sync
                log.error("health check port %d for %s/%s: %s", port,
                          self.checks[port].namespace, self.checks[port].name, exc)
            else:
                log.info("health check listener on port %d", port)

    async def _listen(self, port: int) -> asyncio.Server:
        sock = await socket_in(self.netns, socket.AF_INET)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("0.0.0.0", port))  # a node port: every address
            sock.listen(64)
            sock.setblocking(False)
            return await asyncio.start_server(
                lambda r, w: self._serve(port, r, w), sock=sock)
        except BaseException:
            sock.close()
            raise

    async def _serve(self, port: int, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> None:
        try:
            await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=10)
            check = self.checks.get(port)
            if check is not None:
                count = self.counts.get((check.namespace, check.name), 0)
                writer.write(response(check, count))
                await writer.drain()
        except (TimeoutError, OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass  # a client that went away or sent no request: nothing to answer
        finally:
            writer.close()

    async def close(self) -> None:
        await self.sync((), {})
