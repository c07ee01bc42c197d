"""The ServiceAccount admission step for registry credentials: a pod created without
``imagePullSecrets`` gets its ServiceAccount's (upstream's ServiceAccount admission plugin does
the same), so the kubelet only ever reads the pod spec. It runs after :mod:`.saadmission`, which
has already defaulted the ServiceAccount and refused a missing named one."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kboot.controlplane.api.registry import lookup
from kboot.controlplane.apiserver.errors import JsonObj

if TYPE_CHECKING:
    from kboot.controlplane.apiserver.strategy import Server

SERVICE_ACCOUNTS = lookup("", "serviceaccounts")
assert SERVICE_ACCOUNTS is not None


async def add_pull_secrets(state: Server, pod: JsonObj) -> None:
    spec = pod.get("spec")
    if not isinstance(spec, dict) or spec.get("imagePullSecrets"):
        return
    assert SERVICE_ACCOUNTS is not None
    namespace = pod["metadata"].get("namespace")
    name = spec.get("serviceAccountName") or "default"
    key = SERVICE_ACCOUNTS.key(namespace, name)
    account = state.caches.peek(SERVICE_ACCOUNTS).objects.get(key)
    if account is None:
        kv = await state.storage.store.get(key)
        account = state.storage.decode(kv) if kv is not None else None
    refs = [{"name": s["name"]} for s in (account or {}).get("imagePullSecrets") or []
            if isinstance(s, dict) and s.get("name")]
    if refs:
        spec["imagePullSecrets"] = refs
