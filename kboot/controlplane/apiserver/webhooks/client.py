"""One HTTPS round trip to a webhook: where to connect, what to trust, how long to wait.

``clientConfig.url`` is used as given. ``clientConfig.service`` is resolved to one ready
endpoint of the Service (its Endpoints object, from the watch cache): every kboot host with a
role runs a kubelet, whose host-gw routes reach every node's pod CIDR, so the apiserver
connects to the pod IP directly and depends on neither kboot-proxy nor DNS. The server
certificate is verified against ``caBundle`` (else the host's trust store) for the name
upstream uses, ``<service>.<namespace>.svc``.

Every call is bounded by the webhook's ``timeoutSeconds`` (connect included); failures raise
:class:`CallError` with upstream's wording, and the dispatcher applies ``failurePolicy``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import random
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from kboot.controlplane.apiserver.webhooks.matching import JsonObj, Webhook
from kboot.controlplane.errors import ControlPlaneError


class CallError(ControlPlaneError):
    """The webhook could not be called, or answered outside the protocol."""


@dataclass(frozen=True)
class Destination:
    url: str  # what is connected to
    server_name: str | None  # the name verified in the certificate (services), else the URL's


# (namespace, name, port) -> one ready (ip, targetPort) of the Service, or a CallError
ServiceResolver = Callable[[str, str, int], tuple[str, int]]


def resolve_from_objects(service: Mapping[str, Any] | None, endpoints: Mapping[str, Any] | None,
                         *, port: int, pick: Callable[[list[str]], str] = random.choice
                         ) -> tuple[str, int]:
    """A ready address and target port of ``service`` for its ``port`` (pure)."""
    if service is None:
        raise CallError("service not found")
    ports = (service.get("spec") or {}).get("ports") or []
    wanted = next((p for p in ports if p.get("port") == port), None)
    if wanted is None:
        raise CallError(f"service has no port {port}")
    for subset in (endpoints or {}).get("subsets") or ():
        ips = [a.get("ip") for a in subset.get("addresses") or () if a.get("ip")]
        for ep_port in subset.get("ports") or ():
            if ips and (len(ports) == 1 or ep_port.get("name") == wanted.get("name")):
                return pick(ips), int(ep_port["port"])
    raise CallError("service has no ready endpoints")


def destination(hook: Webhook, resolve: ServiceResolver) -> Destination:
    config = hook.client_config
    timeout = f"timeout={hook.timeout}s"
    if config.get("url"):
        return Destination(f"{config['url']}?{timeout}", None)
    service = config.get("service") or {}
    ns, name = str(service.get("namespace")), str(service.get("name"))
    port = int(service.get("port") or 443)
    path = str(service.get("path") or "/")
    try:
        ip, target = resolve(ns, name, port)
    except CallError as err:
        raise CallError(f'failed to call webhook: service "{ns}/{name}:{port}": {err}'
                        ) from None
    host = f"[{ip}]" if ":" in ip else ip
    return Destination(f"https://{host}:{target}{path}?{timeout}", f"{name}.{ns}.svc")


class WebhookClient:
    """HTTPS calls to webhooks over one connection pool; TLS contexts cached per caBundle."""

    def __init__(self, resolve: ServiceResolver) -> None:
        self.resolve = resolve
        self._session: aiohttp.ClientSession | None = None
        self._contexts: dict[str, ssl.SSLContext] = {}

    def _ssl(self, bundle: str) -> ssl.SSLContext:
        ctx = self._contexts.get(bundle)
        if ctx is None:
            ctx = ssl.create_default_context()
            if bundle:
                try:
                    pem = base64.b64decode(bundle, validate=True).decode()
                    ctx.load_verify_locations(cadata=pem)
                except (binascii.Error, UnicodeDecodeError, ssl.SSLError) as err:
                    raise CallError(f"invalid caBundle: {err}") from None
            if len(self._contexts) > 256:
                self._contexts.clear()
            self._contexts[bundle] = ctx
        return ctx

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=256, limit_per_host=64),
                json_serialize=lambda o: json.dumps(o, separators=(",", ":")))
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def call(self, hook: Webhook, review: JsonObj) -> Any:
        """POST ``review``; the decoded JSON reply. Raises :class:`CallError`."""
        where = destination(hook, self.resolve)
        ctx = self._ssl(str(hook.client_config.get("caBundle") or ""))
        url = where.url
        try:
            async with asyncio.timeout(hook.timeout):
                async with self.session().post(
                        url, json=review, ssl=ctx, server_hostname=where.server_name,
                        headers={"Accept": "application/json"}) as resp:
                    if resp.status != 200:
                        text = (await resp.text())[:200]
                        raise CallError(f'failed to call webhook: Post "{url}": the server '
                                        f"responded {resp.status}: {text}")
                    return await resp.json(content_type=None)
        except TimeoutError:
            raise CallError(f'failed to call webhook: Post "{url}": context deadline '
                            "exceeded") from None
        except (aiohttp.ClientError, OSError, ValueError) as err:
            raise CallError(f'failed to call webhook: Post "{url}": {err}') from None
