"""The ServiceAccount admission plugin (upstream ``plugin/pkg/admission/serviceaccount``) for
pod create: the pod runs as a ServiceAccount (``default`` unless named) that must exist, and,
unless it opts out, gets the ``kube-api-access-*`` projected volume (bound token, cluster CA,
namespace) mounted where every in-cluster client looks for it. The kubelet already resolves the
projected sources, so the pod spec is all it needs.

Mirror pods are exempt (the kubelet owns them and has no ServiceAccount to act for), as
upstream. Pure helpers (:func:`inject`) are separate from the lookup so they are testable alone.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

from kboot.controlplane.api.registry import lookup
from kboot.controlplane.apiserver.errors import JsonObj, forbidden

if TYPE_CHECKING:
    from kboot.controlplane.apiserver.strategy import Server

SERVICE_ACCOUNTS = lookup("", "serviceaccounts")
assert SERVICE_ACCOUNTS is not None

MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
VOLUME_PREFIX = "kube-api-access-"
MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
TOKEN_EXPIRATION_SECONDS = 3607  # upstream's: an hour plus a skew the kubelet can tell apart
_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # upstream's utilrand alphabet (no vowels)


def is_mirror_pod(pod: JsonObj) -> bool:
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    return isinstance(annotations, dict) and MIRROR_ANNOTATION in annotations


def api_access_volume(name: str) -> JsonObj:
    """The projected volume upstream's plugin adds: bound token, root CA, namespace."""
    return {
        "name": name,
        "projected": {
            "defaultMode": 420,
            "sources": [
                {"serviceAccountToken": {"expirationSeconds": TOKEN_EXPIRATION_SECONDS,
                                         "path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt",
                               "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {
                    "apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
            ],
        },
    }


def should_automount(pod_spec: JsonObj, account: JsonObj | None) -> bool:
    """The pod's ``automountServiceAccountToken`` wins over the ServiceAccount's; default on."""
    own = pod_spec.get("automountServiceAccountToken")
    if own is not None:
        return bool(own)
    theirs = (account or {}).get("automountServiceAccountToken")
    return True if theirs is None else bool(theirs)


def _random_suffix() -> str:
    return "".join(secrets.choice(_SUFFIX_ALPHABET) for _ in range(5))


def _has_mount_at(container: Any, path: str) -> bool:
    mounts = container.get("volumeMounts") or [] if isinstance(container, dict) else []
    return any(isinstance(m, dict) and m.get("mountPath") == path for m in mounts)


def inject(spec: JsonObj, suffix: str | None = None) -> None:
    """Add the API-access volume and mount it read-only in every container and init container
    that has nothing mounted at :data:`MOUNT_PATH` (ephemeral containers are left alone, as
    upstream). Nothing is added when every container already has its own mount there."""
    containers = [c for key in ("initContainers", "containers")
                  for c in spec.get(key) or [] if isinstance(c, dict)]
    needing = [c for c in containers if not _has_mount_at(c, MOUNT_PATH)]
    if not needing:
        return
    taken = {v.get("name") for v in spec.get("volumes") or [] if isinstance(v, dict)}
    name = VOLUME_PREFIX + (suffix or _random_suffix())
    while name in taken:
        name = VOLUME_PREFIX + _random_suffix()
    spec["volumes"] = [*(spec.get("volumes") or []), api_access_volume(name)]
    for container in needing:
        container["volumeMounts"] = [*(container.get("volumeMounts") or []),
                                     {"name": name, "readOnly": True, "mountPath": MOUNT_PATH}]


async def _service_account(state: Server, namespace: str, name: str) -> JsonObj | None:
    assert SERVICE_ACCOUNTS is not None
    key = SERVICE_ACCOUNTS.key(namespace, name)
    account = state.caches.peek(SERVICE_ACCOUNTS).objects.get(key)
    if account is None:  # the cache may lag a just-created ServiceAccount: ask the store
        kv = await state.storage.store.get(key)
        account = state.storage.decode(kv) if kv is not None else None
    return account


async def admit_pod(state: Server, pod: JsonObj) -> None:
    """Default the ServiceAccount, refuse a missing one (403, upstream's words) and inject the
    API-access volume unless the pod or its ServiceAccount opts out.

    A missing ``default`` ServiceAccount is not refused (a deviation): upstream's controller
    creates it within moments of the namespace and upstream clients retry the refusal; kboot's
    namespace controller does the same, and the kubelet retries the TokenRequest until it is
    there, so refusing would only fail pods created right after their namespace."""
    spec = pod.get("spec")
    if not isinstance(spec, dict) or is_mirror_pod(pod):
        return
    metadata = pod.get("metadata") or {}
    namespace = str(metadata.get("namespace") or "default")
    name = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
    spec["serviceAccountName"] = name
    spec["serviceAccount"] = name
    account = await _service_account(state, namespace, name)
    if account is None and name != "default":
        pod_name = str(metadata.get("name") or metadata.get("generateName") or "")
        raise forbidden("pods", "", pod_name,
                        f'pods "{pod_name}" is forbidden: error looking up service account '
                        f'{namespace}/{name}: serviceaccount "{name}" not found')
    if should_automount(spec, account):
        inject(spec)
