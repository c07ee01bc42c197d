"""``kboot-apiserver``: flags, TLS, startup (store, watch caches, default objects), serving
until SIGTERM, and a clean shutdown.

TLS is always on (there is no insecure port): the serving certificate comes from
``--tls-cert-file``/``--tls-private-key-file``, and client certificates are verified against
``--client-ca-file`` when presented.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import itertools
import logging
import ssl
import time
from pathlib import Path
from typing import Any

from aiohttp import web

from kboot.controlplane.api.registry import lookup
from kboot.controlplane.apiserver import apiservices, crdcontroller
from kboot.controlplane.apiserver.aggregator import Transport
from kboot.controlplane.apiserver.allocators import ServiceAllocators
from kboot.controlplane.apiserver.apiservices import Aggregation
from kboot.controlplane.apiserver.app import build_app
from kboot.controlplane.apiserver.auth import Authenticator, load_token_file
from kboot.controlplane.apiserver.authz import Authorizer
from kboot.controlplane.apiserver.bootstrap import ensure_defaults
from kboot.controlplane.apiserver.compaction import Compactor
from kboot.controlplane.apiserver.config import ServerConfig
from kboot.controlplane.apiserver.encryption import Encryptor
from kboot.controlplane.apiserver.endpointleases import EndpointReconciler
from kboot.controlplane.apiserver.httpserver import StatusRunner
from kboot.controlplane.apiserver.migrations import apply_migrations
from kboot.controlplane.apiserver.offload import DECODERS
from kboot.controlplane.apiserver.satokens import ObjectLookup, TokenPolicy
from kboot.controlplane.apiserver.state import ServerState
from kboot.controlplane.apiserver.storage import ObjectStorage
from kboot.controlplane.apiserver.tokens import PrivateKey, load_private_key, load_public_keys
from kboot.controlplane.apiserver.watchcache import WatchCaches
from kboot.controlplane.apiserver.webhooks.dispatcher import WebhookDispatcher
from kboot.controlplane.client.clock import Clock, LoopClock
from kboot.controlplane.client.component import add_log_flags, log_level, run_process
from kboot.controlplane.store import open_store

log = logging.getLogger(__name__)


def parse_args(argv: list[str]) -> tuple[ServerConfig, str]:
    """The server's configuration and the log level from the command line."""
    p = argparse.ArgumentParser(prog="kboot-apiserver")
    d = ServerConfig()
    p.add_argument("--bind-address", default=d.bind_address)
    p.add_argument("--secure-port", type=int, default=d.secure_port)
    p.add_argument("--tls-cert-file", required=True)
    p.add_argument("--tls-private-key-file", required=True)
    p.add_argument("--client-ca-file", default="")
    p.add_argument("--storage", default=d.storage)
    p.add_argument("--encryption-provider-config", default="")
    p.add_argument("--service-account-key-file", action="append", default=[],
                   help="PEM file of keys that verify ServiceAccount tokens (repeatable; "
                   "private keys, public keys or certificates, several per file)")
    p.add_argument("--service-account-signing-key-file", default="",
                   help="private key new ServiceAccount tokens are signed with (default: the "
                   "first private key of --service-account-key-file)")
    p.add_argument("--token-auth-file", default="")
    p.add_argument("--service-account-issuer", default=d.service_account_issuer)
    p.add_argument("--api-audiences", default=d.api_audiences,
                   help="comma-separated audiences a token must carry one of (default: the "
                   "issuer)")
    p.add_argument("--kubelet-client-certificate", default="")
    p.add_argument("--kubelet-client-key", default="")
    p.add_argument("--kubelet-certificate-authority", default="")
    p.add_argument("--proxy-client-cert-file", default="")
    p.add_argument("--proxy-client-key-file", default="")
    p.add_argument("--requestheader-client-ca-file", default="")
    p.add_argument("--apiservice-probe-interval", type=float,
                   default=d.apiservice_probe_interval,
                   help="seconds between availability checks of service-backed APIServices")
    p.add_argument("--advertise-address", default=d.advertise_address)
    p.add_argument("--service-cluster-ip-range", default=d.service_cluster_ip_range)
    p.add_argument("--service-node-port-range", default=d.service_node_port_range)
    p.add_argument("--compaction-interval", type=float, default=d.compaction_interval)
    p.add_argument("--bookmark-interval", type=float, default=d.bookmark_interval)
    p.add_argument("--min-request-timeout", type=int, default=d.min_request_timeout)
    p.add_argument("--shutdown-delay-seconds", type=float, default=d.shutdown_delay_seconds,
                   help="on SIGTERM, seconds to keep serving (not ready, out of the "
                   "kubernetes endpoints) before the listener closes; skipped when this is "
                   "the only apiserver")
    p.add_argument("--endpoint-lease-duration", type=int, default=d.endpoint_lease_duration,
                   help="seconds an apiserver stays in the kubernetes endpoints without "
                   "renewing its lease")
    p.add_argument("--endpoint-reconcile-interval", type=float,
                   default=d.endpoint_reconcile_interval,
                   help="seconds between endpoint lease renewals (and endpoint reconciles)")
    add_log_flags(p)
    ns = p.parse_args(argv)
    fields = {k: v for k, v in vars(ns).items() if k != "log_level"}
    fields["service_account_key_file"] = tuple(ns.service_account_key_file)
    return ServerConfig(**fields), log_level(ns)


def serving_context(cfg: ServerConfig) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cfg.tls_cert_file, cfg.tls_private_key_file)
    ctx.set_alpn_protocols(["http/1.1"])
    if cfg.client_ca_file:
        ctx.load_verify_locations(cfg.client_ca_file)
        ctx.verify_mode = ssl.CERT_OPTIONAL
    return ctx


def kubelet_context(cfg: ServerConfig) -> ssl.SSLContext | None:
    """TLS for apiserver → kubelet: our client cert, the cluster CA for the kubelet's cert."""
    ca = cfg.kubelet_certificate_authority or cfg.client_ca_file
    if not ca:
        return None
    ctx = ssl.create_default_context(cafile=ca)
    ctx.check_hostname = False  # kubelets are addressed by IP; the CA vouches for them
    if cfg.kubelet_client_certificate:
        ctx.load_cert_chain(cfg.kubelet_client_certificate, cfg.kubelet_client_key)
    return ctx


def build_state(cfg: ServerConfig) -> ServerState:
    encryptor = (Encryptor.from_file(cfg.encryption_provider_config)
                 if cfg.encryption_provider_config else None)
    storage = ObjectStorage(open_store(cfg.storage), encryptor=encryptor)
    caches = WatchCaches(storage)
    clock = LoopClock()
    authenticator = Authenticator(clock=clock,
        static_tokens=load_token_file(cfg.token_auth_file) if cfg.token_auth_file else None,
        sa_keys=[key for f in cfg.service_account_key_file
                 for key in load_public_keys(Path(f).read_bytes())],
        objects=cache_lookup(caches), token_policy=token_policy(cfg))
    state = assemble(cfg, storage, caches, authenticator, clock=clock)
    state.sa_signing_key = signing_key(cfg)
    return state


def signing_key(cfg: ServerConfig) -> PrivateKey | None:
    """The key new ServiceAccount tokens are signed with (upstream's
    ``--service-account-signing-key-file``, else the first private key file)."""
    files = ((cfg.service_account_signing_key_file,) if cfg.service_account_signing_key_file
             else cfg.service_account_key_file)
    for f in files:
        key = load_private_key(Path(f).read_bytes())
        if key is not None:
            return key
    return None


def cache_lookup(caches: WatchCaches) -> ObjectLookup:
    """Core objects by (plural, namespace, name) from the watch cache (authentication reads
    bootstrap-token Secrets, ServiceAccounts and the objects tokens are bound to)."""
    def find(plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        kind = lookup("", plural)
        if kind is None:
            return None
        return caches.peek(kind).objects.get(kind.key(namespace or None, name))
    return find


def token_policy(cfg: ServerConfig) -> TokenPolicy:
    """The issuer of bound ServiceAccount tokens and the audiences this apiserver accepts."""
    audiences = tuple(a.strip() for a in cfg.api_audiences.split(",") if a.strip())
    return TokenPolicy(issuer=cfg.service_account_issuer, audiences=audiences)


def assemble(cfg: ServerConfig, storage: ObjectStorage, caches: WatchCaches,
             authenticator: Authenticator, *, clock: Clock | None = None) -> ServerState:
    """The server state from its parts (tests build the parts in memory); ``clock`` is the
    one every handler reads time from (the authenticator should share it)."""
    state = ServerState(clock=clock or LoopClock(),
        config=cfg, storage=storage, caches=caches, authenticator=authenticator,
        authorizer=Authorizer(caches),
        allocators=ServiceAllocators(caches, cidr=cfg.service_cluster_ip_range,
                                     node_ports=cfg.service_node_port_range),
        kubelet_ssl=kubelet_context(cfg), webhooks=WebhookDispatcher(caches),
        aggregation=aggregation_of(cfg))
    caches.lag.bind(state.metrics.cache_lag, state.clock.monotonic)
    return state


def aggregation_of(cfg: ServerConfig) -> Aggregation:
    """Proxying to aggregated servers with the proxy client certificate (upstream's
    ``--proxy-client-cert-file``; kboot defaults to the kubelet client certificate)."""
    cert = cfg.proxy_client_cert_file or cfg.kubelet_client_certificate
    key = cfg.proxy_client_key_file or cfg.kubelet_client_key
    return Aggregation(Transport(cert, key))


async def start_background(state: ServerState) -> EndpointReconciler:
    """Start the watch caches and create the default objects; wait for the caches auth needs.
    Returns this apiserver's endpoint reconciler: the caller joins once it serves (an endpoint
    must not be published before its listener is open) and runs it."""
    cfg = state.config
    await apply_migrations(state.storage)  # objects of an older release's shape, rewritten
    crdcontroller.install(state)
    state.caches.start()
    state.crd_controller = crdcontroller.CRDController(state)
    state.crd_controller.start()
    await ensure_defaults(state.storage, service_ip=state.allocators.first_ip,
                          advertise_address=cfg.advertise_address, port=cfg.secure_port,
                          clock=state.clock)
    endpoints = EndpointReconciler(state.storage, state.clock,
                                   address=cfg.advertise_address,
                                   duration=cfg.endpoint_lease_duration,
                                   interval=cfg.endpoint_reconcile_interval)
    await apiservices.ensure_local(state)
    apiservices.follow_kinds(state)
    await apiservices.publish_authentication(
        state, cfg.proxy_client_cert_file or cfg.kubelet_client_certificate,
        cfg.requestheader_client_ca_file or cfg.client_ca_file)
    for group, plural in (("", "namespaces"), ("", "services"), ("", "pods"), ("", "secrets"),
                          ("", "serviceaccounts"), ("", "nodes"),
                          ("rbac.authorization.k8s.io", "roles"),
                          ("rbac.authorization.k8s.io", "rolebindings"),
                          ("rbac.authorization.k8s.io", "clusterroles"),
                          ("rbac.authorization.k8s.io", "clusterrolebindings")):
        await state.caches.caches[(group, plural)].ready.wait()
    return endpoints


async def stop_background(state: ServerState) -> None:
    """Stop what :func:`start_background` started (the CRD controller, the watch caches)."""
    if state.crd_controller is not None:
        await state.crd_controller.stop()
    await state.caches.stop()


async def serve(cfg: ServerConfig, stop: asyncio.Event) -> None:
    """Serve until ``stop`` is set or the task is cancelled (SIGTERM through
    :func:`~kboot.controlplane.client.component.run_process`); either way the ``finally``
    drains: not ready, watch streams ended, connections closed, caches and store stopped."""
    state = build_state(cfg)
    endpoints = await start_background(state)
    compactor = asyncio.create_task(Compactor(state.storage.store,
                                              cfg.compaction_interval).run())
    assert state.aggregation is not None
    availability = asyncio.create_task(apiservices.run(state, state.aggregation,
                                                       cfg.apiservice_probe_interval))
    app = build_app(state)
    runner = StatusRunner(app, access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    host = cfg.bind_address
    with contextlib.suppress(ValueError):
        host = str(ipaddress.ip_address(host))
    site = web.TCPSite(runner, host, cfg.secure_port, ssl_context=serving_context(cfg),
                       backlog=1024)
    await site.start()
    app[DECODERS].start()  # ended and reaped by runner.cleanup() (app.on_cleanup) below
    state.ready = True
    log.info("kboot-apiserver serving on https://%s:%d (storage %s)", host, cfg.secure_port,
             cfg.storage.split("?")[0])
    stop_renewing = asyncio.Event()
    renewing: asyncio.Task[None] | None = None
    try:
        await endpoints.join()  # serving: now kube-proxies may send it connections
        renewing = asyncio.create_task(endpoints.run(stop_renewing))
        await stop.wait()
    finally:
        log.info("shutting down")
        steps = [("start", time.monotonic())]
        state.ready = False  # /readyz fails: load balancers' health checks take it out
        state.stopping = True  # each response closes its connection: the next one goes anew
        compactor.cancel()
        availability.cancel()
        await _leave_endpoints(endpoints, renewing, stop_renewing, cfg.shutdown_delay_seconds)
        steps.append(("endpoints and delay", time.monotonic()))
        await site.stop()  # no new connections; clients reconnect to another apiserver
        await state.aggregation.transport.close()
        state.caches.end_watches()
        await asyncio.sleep(0.2)  # let watch handlers finish their streams
        steps.append(("watches", time.monotonic()))
        await runner.cleanup()  # in-flight requests (up to 2 s), then the decode worker
        steps.append(("requests and worker", time.monotonic()))
        await stop_background(state)
        if state.webhooks is not None:
            await state.webhooks.close()
        steps.append(("caches", time.monotonic()))
        await state.storage.store.close()
        steps.append(("store", time.monotonic()))
        log.info("shut down in %.2f s (%s)", steps[-1][1] - steps[0][1],
                 ", ".join(f"{name} {t - before:.2f} s"
                           for (_, before), (name, t) in itertools.pairwise(steps)))


async def _leave_endpoints(endpoints: EndpointReconciler, renewing: asyncio.Task[None] | None,
                           stop_renewing: asyncio.Event, delay: float) -> None:
    """Stop renewing, take this address out of the ``kubernetes`` endpoints and keep serving
    ``delay`` seconds while kube-proxies and load balancers move new connections to the other
    apiservers (skipped when this is the only one: nobody to move to). Meanwhile new
    connections are still answered, and every response closes its connection, so a
    kept-alive client's next request opens a new one (routed elsewhere) instead of meeting
    the close after the delay."""
    stop_renewing.set()
    if renewing is not None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(renewing), 3.0)  # a round under way finishes
        renewing.cancel()
    try:
        others = await asyncio.wait_for(endpoints.leave(), 3.0)
    except Exception:  # the store is gone: peers drop this address when its lease expires
        log.warning("could not leave the kubernetes endpoints", exc_info=True)
        others = ["?"]
    if not others:
        log.info("the only apiserver of the kubernetes endpoints: no shutdown delay")
        return
    log.info("left the kubernetes endpoints (%s remain); serving %.1f s more",
             ", ".join(others), delay)
    # a peer whose reconcile round read the leases just before this one was deleted writes
    # this address back moments later: look again each second of the delay and take it out
    # again (kube-proxies follow within a fraction of a second, well before the listener closes)
    loop = asyncio.get_running_loop()
    end = loop.time() + delay
    while (left := end - loop.time()) > 0:
        await asyncio.sleep(min(1.0, left))
        if end - loop.time() > 0.5:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(endpoints.leave(), 1.0)


def main(argv: list[str]) -> int:
    cfg, level = parse_args(argv)
    return run_process("kboot-apiserver", level, lambda: serve(cfg, asyncio.Event()))
