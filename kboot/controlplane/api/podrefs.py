"""The objects a pod refers to by name: Secrets, ConfigMaps and PersistentVolumeClaims.

Two components walk a pod for them: the Node authorizer in the apiserver (a kubelet may read
only what a pod bound to its node references) and the kubelet (it prefetches the data the pod's
env and volumes read before building container configs). Upstream has one walk for this,
``podutil.VisitPodSecretNames`` / ``VisitPodConfigmapNames``; this is kboot's, so the two
callers cannot disagree about which fields count.

A pod refers to:

- Secrets: ``imagePullSecrets``, ``secret`` and projected ``secret`` volumes, and in each
  container ``env[].valueFrom.secretKeyRef`` and ``envFrom[].secretRef``;
- ConfigMaps: ``configMap`` and projected ``configMap`` volumes, ``configMapKeyRef`` and
  ``configMapRef`` in each container;
- PersistentVolumeClaims: ``persistentVolumeClaim`` volumes;

where "each container" is the init, regular and ephemeral containers unless the caller
narrows it with ``containers=``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, NamedTuple

SECRETS = "secrets"
CONFIGMAPS = "configmaps"
CLAIMS = "persistentvolumeclaims"

INIT_CONTAINERS = "initContainers"
CONTAINERS = "containers"
EPHEMERAL_CONTAINERS = "ephemeralContainers"
ALL_CONTAINERS = (INIT_CONTAINERS, CONTAINERS, EPHEMERAL_CONTAINERS)


class PodReference(NamedTuple):
    """One referenced object: its resource (``secrets``, ``configmaps``,
    ``persistentvolumeclaims``) and its name, in the pod's namespace."""

    resource: str
    name: str


def pod_references(pod: Mapping[str, Any], *, containers: Sequence[str] = ALL_CONTAINERS,
                   image_pull_secrets: bool = True) -> set[PodReference]:
    """Every object ``pod`` references; ``containers`` names the container lists whose env
    counts, ``image_pull_secrets=False`` leaves those Secrets out."""
    spec = pod.get("spec") or {}
    refs: set[PodReference] = set()
    if image_pull_secrets:
        refs.update(PodReference(SECRETS, s.get("name") or "")
                    for s in spec.get("imagePullSecrets") or [])
    refs.update(_volume_references(spec.get("volumes") or []))
    for field in containers:
        for container in spec.get(field) or []:
            refs.update(_env_references(container))
    refs.discard(PodReference(SECRETS, ""))
    refs.discard(PodReference(CONFIGMAPS, ""))
    refs.discard(PodReference(CLAIMS, ""))
    return refs


def _volume_references(volumes: list[Mapping[str, Any]]) -> Iterator[PodReference]:
    for vol in volumes:
        if "secret" in vol:
            yield PodReference(SECRETS, (vol["secret"] or {}).get("secretName") or "")
        if "configMap" in vol:
            yield PodReference(CONFIGMAPS, (vol["configMap"] or {}).get("name") or "")
        if "persistentVolumeClaim" in vol:
            yield PodReference(CLAIMS, (vol["persistentVolumeClaim"] or {}).get("claimName")
                               or "")
        for src in (vol.get("projected") or {}).get("sources") or []:
            if "secret" in src:
                yield PodReference(SECRETS, (src["secret"] or {}).get("name") or "")
            if "configMap" in src:
                yield PodReference(CONFIGMAPS, (src["configMap"] or {}).get("name") or "")


def _env_references(container: Mapping[str, Any]) -> Iterator[PodReference]:
    for src in container.get("envFrom") or []:
        if "secretRef" in src:
            yield PodReference(SECRETS, (src["secretRef"] or {}).get("name") or "")
        if "configMapRef" in src:
            yield PodReference(CONFIGMAPS, (src["configMapRef"] or {}).get("name") or "")
    for var in container.get("env") or []:
        source = var.get("valueFrom") or {}
        if "secretKeyRef" in source:
            yield PodReference(SECRETS, (source["secretKeyRef"] or {}).get("name") or "")
        if "configMapKeyRef" in source:
            yield PodReference(CONFIGMAPS, (source["configMapKeyRef"] or {}).get("name") or "")
