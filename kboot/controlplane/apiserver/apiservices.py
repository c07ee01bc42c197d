"""API aggregation, control side: the local APIServices, the availability controller, the
aggregated servers' discovery, and the ``extension-apiserver-authentication`` ConfigMap.

- **Local APIServices**: like kube-apiserver's ``autoregister`` controller, every built-in
  group-version gets ``<version>.<group>`` (``v1.`` for core) with ``service: null`` and
  ``Available=True`` (reason ``Local``), labelled
  ``kube-aggregator.kubernetes.io/automanaged: onstart``; automanaged ones kboot no longer serves
  are removed at startup, so the list follows what this apiserver serves.
- **Availability**: every few seconds each service-backed APIService is probed with
  ``GET /apis/<group>/<version>`` through the proxy transport. The answer (an APIResourceList)
  is kept for discovery; the ``Available`` condition says ``True/Passed``, or ``False`` with
  upstream's reasons (``ServiceNotFound``, ``ServicePortError``, ``MissingEndpoints``,
  ``FailedDiscoveryCheck``). A status write happens only when the condition changes.
- **extension-apiserver-authentication** (kube-system): the client CA and the requestheader
  settings (proxy client CA, allowed names, header names) an aggregated server reads to trust
  the identity headers the proxy sends.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID

from kboot.controlplane.api.registry import lookup
from kboot.controlplane.apiserver import aggregator
from kboot.controlplane.apiserver.admission import WriteOptions, admit_create
from kboot.controlplane.apiserver.errors import StatusError
from kboot.controlplane.apiserver.state import ServerState
from kboot.controlplane.apiserver.writes import guarded_update

log = logging.getLogger(__name__)
JsonObj = dict[str, Any]

AUTOMANAGED = "kube-aggregator.kubernetes.io/automanaged"
AUTH_CONFIGMAP = "extension-apiserver-authentication"
PROBE_INTERVAL = 5.0
PROBE_TIMEOUT = 5.0
# upstream's priorities of the built-in group-versions (group minimum, version priority)
_PRIORITIES: dict[str, tuple[int, int]] = {
    "": (18000, 1), "apps": (17800, 15), "autoscaling": (17500, 30), "batch": (17400, 15),
    "certificates.k8s.io": (17300, 15), "networking.k8s.io": (17200, 15),
    "policy": (17100, 15), "rbac.authorization.k8s.io": (17000, 15),
    "coordination.k8s.io": (16500, 15), "discovery.k8s.io": (16200, 15),
    "apiregistration.k8s.io": (18000, 15),
}


@dataclass
class Aggregation:
    """What the apiserver knows about aggregated servers (one per apiserver process)."""

    transport: aggregator.Transport
    discovery: dict[tuple[str, str], JsonObj] = field(default_factory=dict)


def local_name(group: str, version: str) -> str:
    return f"{version}.{group}"


def local_apiservice(group: str, version: str, now: str) -> JsonObj:
    group_min, version_prio = _PRIORITIES.get(group, (16000, 15))
    return {
        "apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
        "metadata": {"name": local_name(group, version), "labels": {AUTOMANAGED: "onstart"}},
        "spec": {"group": group, "version": version, "groupPriorityMinimum": group_min,
                 "versionPriority": version_prio, "service": None},
        "status": {"conditions": [available("True", "Local", "Local APIServices are always "
                                            "available", now)]},
    }


def available(status: str, reason: str, message: str, now: str) -> JsonObj:
    return {"type": "Available", "status": status, "lastTransitionTime": now,
            "reason": reason, "message": message}


def _now(state: ServerState) -> str:
    return state.clock.now().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def ensure_local(state: ServerState) -> None:
    """Create the local APIServices of every group-version this apiserver serves; remove
    automanaged ones for group-versions it no longer serves."""
    kind = lookup("apiregistration.k8s.io", "apiservices")
    assert kind is not None
    served = aggregator.served(state)
    existing = (await state.storage.list(kind, None)).items
    have = {o["metadata"]["name"]: o for o in existing}
    opts = WriteOptions(field_manager="kube-apiserver")
    for group, version in served:
        name = local_name(group, version)
        if name not in have:
            obj = admit_create(state.strategy(kind),
                               local_apiservice(group, version, _now(state)), namespace=None,
                               opts=opts, now=state.clock.now())
            with contextlib.suppress(StatusError):  # another apiserver made it first
                await state.storage.create(kind, obj)
        # status is not taken on create (a status subresource): set it as a status write
        await _set_available(state, name, "True", "Local",
                             "Local APIServices are always available")
    for name, obj in have.items():
        spec = obj.get("spec") or {}
        labels = obj["metadata"].get("labels") or {}
        if labels.get(AUTOMANAGED) == "onstart" and not spec.get("service") and \
                (spec.get("group", ""), spec.get("version", "")) not in served:
            with contextlib.suppress(StatusError):
                await state.storage.delete(kind, obj, expected=int(
                    obj["metadata"]["resourceVersion"]))
                log.info("removed local APIService %s (no longer served)", name)


def follow_kinds(state: ServerState) -> Callable[[], None]:
    """Keep the local APIServices in step with kinds registered or removed at run time
    (custom resources); returns the unsubscribe function."""
    pending: set[asyncio.Task[None]] = set()

    def changed(_change: str, _strategy: object) -> None:
        task = asyncio.get_running_loop().create_task(ensure_local(state))
        pending.add(task)
        task.add_done_callback(pending.discard)

    return state.kinds.subscribe(changed)


def _common_name(cert_file: str) -> str:
    cert = x509.load_pem_x509_certificate(Path(cert_file).read_bytes())
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else ""


async def publish_authentication(state: ServerState, proxy_cert: str, proxy_ca: str) -> None:
    """Write ``kube-system/extension-apiserver-authentication`` (create or refresh)."""
    cfg = state.config
    data: dict[str, str] = {}
    if cfg.client_ca_file:
        data["client-ca-file"] = Path(cfg.client_ca_file).read_text()
    if proxy_cert and proxy_ca:
        data.update({
            "requestheader-client-ca-file": Path(proxy_ca).read_text(),
            "requestheader-allowed-names": json.dumps([_common_name(proxy_cert)]),
            "requestheader-username-headers": json.dumps(["X-Remote-User"]),
            "requestheader-group-headers": json.dumps(["X-Remote-Group"]),
            "requestheader-extra-headers-prefix": json.dumps(["X-Remote-Extra-"]),
        })
    kind = lookup("", "configmaps")
    assert kind is not None
    try:
        await guarded_update(state.storage, kind, "kube-system", AUTH_CONFIGMAP,
                             lambda current: {**current, "data": data})
    except StatusError as err:
        if err.code != 404:
            raise
        obj = admit_create(state.strategy(kind), {
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": AUTH_CONFIGMAP, "namespace": "kube-system"}, "data": data},
            namespace="kube-system", opts=WriteOptions(field_manager="kube-apiserver"),
            now=state.clock.now())
        with contextlib.suppress(StatusError):
            await state.storage.create(kind, obj)


async def probe(state: ServerState, aggregation: Aggregation, backend: aggregator.Backend
                ) -> tuple[str, str, str]:
    """(status, reason, message) of one service-backed APIService; caches its discovery."""
    key = (backend.group, backend.version)
    path = f"/apis/{backend.group}/{backend.version}"
    try:
        reply = await aggregation.transport.open(
            state, backend, "GET", path, [("Accept", "application/json"),
                                          ("X-Remote-User", "system:kube-aggregator")],
            timeout=PROBE_TIMEOUT)
        async with reply:
            body = await reply.read()
            if reply.status != 200:
                raise aggregator.ServiceUnavailable(
                    "FailedDiscoveryCheck", f"failing or missing response from "
                    f"https://{backend.service}.{backend.namespace}.svc{path}: bad status "
                    f"from {path}: {reply.status}")
            doc = json.loads(body)
    except aggregator.ServiceUnavailable as err:
        aggregation.discovery.pop(key, None)
        return "False", err.condition_reason, err.message
    except ValueError as err:
        aggregation.discovery.pop(key, None)
        return "False", "FailedDiscoveryCheck", f"invalid discovery document from {path}: {err}"
    aggregation.discovery[key] = doc
    return "True", "Passed", "all checks passed"


async def check_all(state: ServerState, aggregation: Aggregation) -> None:
    """Probe every service-backed APIService once and record the outcome."""
    kind = lookup("apiregistration.k8s.io", "apiservices")
    assert kind is not None
    current = aggregator.backends(aggregator.apiservices(state), aggregator.served(state))
    for gone in set(aggregation.discovery) - set(current):
        aggregation.discovery.pop(gone, None)
    for backend in current.values():
        status, reason, message = await probe(state, aggregation, backend)
        await _set_available(state, backend.name, status, reason, message)


async def _set_available(state: ServerState, name: str, status: str, reason: str,
                         message: str) -> None:
    kind = lookup("apiregistration.k8s.io", "apiservices")
    assert kind is not None

    def change(obj: JsonObj) -> JsonObj:
        conditions = list((obj.get("status") or {}).get("conditions") or [])
        old = next((c for c in conditions if c.get("type") == "Available"), None)
        if old and (old.get("status"), old.get("reason"), old.get("message")) == \
                (status, reason, message):
            return obj
        when = (old["lastTransitionTime"] if old and old.get("status") == status
                else _now(state))
        new = available(status, reason, message, when)
        conditions = [new if c.get("type") == "Available" else c for c in conditions]
        if old is None:
            conditions.append(new)
        return {**obj, "status": {**(obj.get("status") or {}), "conditions": conditions}}

    with contextlib.suppress(StatusError):  # deleted meanwhile: the next round forgets it
        await guarded_update(state.storage, kind, None, name, change)


async def run(state: ServerState, aggregation: Aggregation,
              interval: float = PROBE_INTERVAL) -> None:
    """The availability loop (until cancelled); a failing round is logged, never fatal."""
    while True:
        try:
            await check_all(state, aggregation)
        except Exception:
            log.exception("APIService availability check failed")
        await state.clock.sleep(interval)
