"""The metrics server as it runs in the controller-manager's leader (``--metrics-bind-address``):
register behind the aggregation layer, scrape every kubelet, serve ``metrics.k8s.io``.

Why inside the controller-manager rather than as a Deployment: kboot clusters pull no images
from the internet, the controller-manager already runs on every control-plane host with the
cluster CA (to issue its own serving and scrape certificates), and leader election gives
exactly one active instance. It is still a separate server on its own port behind an
``APIService`` — the apiserver reaches it only through aggregation, as it would reach
metrics-server.

Registration (server-side apply, field manager ``kboot-metrics-server``): Service
``kube-system/metrics-server`` (no selector, port 443 → the bind port), its Endpoints (this
host's address: a new leader takes them over), and APIService ``v1beta1.metrics.k8s.io`` with
the cluster CA as ``caBundle``.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import json
import logging
import ssl
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from aiohttp import web

from kboot.controlplane.client.api import ApiClient, Obj
from kboot.controlplane.client.errors import ApiError
from kboot.controlplane.controllers.certificates import Ca
from kboot.controlplane.metricsserver import certs
from kboot.controlplane.metricsserver.server import MetricsApi, serving_context
from kboot.controlplane.metricsserver.usage import UsageStore, parse

log = logging.getLogger(__name__)
MANAGER = "kboot-metrics-server"
NAMESPACE, SERVICE = "kube-system", "metrics-server"
APISERVICE = "v1beta1.metrics.k8s.io"
DEFAULT_KUBELET_PORT = 10250


@dataclass(frozen=True)
class MetricsOptions:
    address: str  # this host's address, where the aggregator reaches the server
    port: int
    ca_cert_file: str
    ca_key_file: str
    resolution: float = 10.0  # seconds between scrapes (metrics-server: --metric-resolution)


def registration(address: str, port: int, ca_pem: bytes) -> list[Obj]:
    """The Service, Endpoints and APIService that route ``metrics.k8s.io`` here."""
    meta = {"name": SERVICE, "namespace": NAMESPACE, "labels": {"k8s-app": "metrics-server"}}
    return [
        {"apiVersion": "v1", "kind": "Service", "metadata": meta,
         "spec": {"ports": [{"name": "https", "port": 443, "protocol": "TCP",
                             "targetPort": port}]}},
        {"apiVersion": "v1", "kind": "Endpoints", "metadata": meta,
         "subsets": [{"addresses": [{"ip": address}],
                      "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}]},
        {"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
         "metadata": {"name": APISERVICE, "labels": {"k8s-app": "metrics-server"}},
         "spec": {"group": "metrics.k8s.io", "version": "v1beta1",
                  "groupPriorityMinimum": 100, "versionPriority": 100,
                  "service": {"namespace": NAMESPACE, "name": SERVICE, "port": 443},
                  "caBundle": base64.b64encode(ca_pem).decode()}},
    ]


async def requestheader_settings(client: ApiClient) -> tuple[str, list[str]]:
    """(requestheader CA PEM, allowed proxy names) from extension-apiserver-authentication."""
    cm = await client.get("configmaps", "extension-apiserver-authentication",
                          namespace="kube-system")
    data = cm.get("data") or {}
    ca = data.get("requestheader-client-ca-file") or data.get("client-ca-file") or ""
    names = json.loads(data.get("requestheader-allowed-names") or "[]")
    return ca, [str(n) for n in names]


def kubelet_endpoint(node: Obj) -> tuple[str, int] | None:
    status = node.get("status") or {}
    ip = next((a.get("address") for a in status.get("addresses") or []
               if a.get("type") == "InternalIP"), None)
    if not ip:
        return None
    port = ((status.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}).get(
        "Port", DEFAULT_KUBELET_PORT)
    return str(ip), int(port)


async def scrape_once(client: ApiClient, session: aiohttp.ClientSession, store: UsageStore,
                      ctx: ssl.SSLContext) -> None:
    """Scrape every node's kubelet; a node that fails keeps its last data out of the next
    answer only once it is gone from the cluster."""
    nodes = [n async for n in client.list_all("nodes")]
    store.forget_except({n["metadata"]["name"] for n in nodes})

    async def one(node: Obj) -> None:
        where = kubelet_endpoint(node)
        if where is None:
            return
        host = f"[{where[0]}]" if ":" in where[0] else where[0]
        url = f"https://{host}:{where[1]}/metrics/resource"
        try:
            async with session.get(url, ssl=ctx, timeout=aiohttp.ClientTimeout(total=10)) as r:
                if r.status != 200:
                    log.warning("scrape %s: HTTP %d", url, r.status)
                    return
                text = await r.text()
        except (aiohttp.ClientError, OSError, TimeoutError) as err:
            log.warning("scrape %s failed: %s", url, err)
            return
        store.record(node["metadata"]["name"], parse(text, int(time.time() * 1000)))

    await asyncio.gather(*(one(n) for n in nodes))


def _client_context(ca_pem: bytes, pair: certs.Pair, workdir: str) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cadata=ca_pem.decode())
    ctx.check_hostname = False  # kubelet serving certificates name the node, not its address
    with tempfile.NamedTemporaryFile(dir=workdir, suffix=".pem") as f:
        f.write(pair.cert_pem + pair.key_pem)
        f.flush()
        ctx.load_cert_chain(f.name)
    return ctx


async def run(client: ApiClient, options: MetricsOptions) -> None:
    """Serve and scrape until cancelled."""
    ca = Ca(options.ca_cert_file, options.ca_key_file)
    ca_pem = Path(options.ca_cert_file).read_bytes()
    now = datetime.datetime.now(datetime.UTC)
    requestheader_ca, allowed = await requestheader_settings(client)
    store = UsageStore(resolution=options.resolution)

    async def select_pods(namespace: str | None, selector: str) -> set[tuple[str, str]]:
        return {(p["metadata"]["namespace"], p["metadata"]["name"])
                async for p in client.list_all("pods", namespace=namespace,
                                               label_selector=selector)}

    with tempfile.TemporaryDirectory(prefix="kboot-metrics-") as workdir:
        serving = certs.serving_pair(ca, options.address, now)
        server_ctx = serving_context(serving.cert_pem, serving.key_pem, requestheader_ca,
                                     workdir)
        scrape_ctx = _client_context(ca_pem, certs.scrape_pair(ca, now), workdir)
        runner = web.AppRunner(MetricsApi(store, allowed, select_pods).app(), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, options.address, options.port, ssl_context=server_ctx).start()
        log.info("metrics server serving metrics.k8s.io on %s:%d", options.address,
                 options.port)
        try:
            for obj in registration(options.address, options.port, ca_pem):
                await client.apply(obj, field_manager=MANAGER)
            async with aiohttp.ClientSession() as session:
                while True:
                    try:
                        await scrape_once(client, session, store, scrape_ctx)
                    except ApiError as err:
                        log.warning("listing nodes failed: %s", err)
                    await asyncio.sleep(options.resolution)
        finally:
            await runner.cleanup()
