"""Typed shapes of the JSON the control plane passes around, declared once.

Objects travel as decoded JSON (``dict``) from the store through the apiserver to clients and
back, so a kind is not a class here: :data:`Obj` is the one alias every module uses for "an API
object". The parts that many modules read field by field have a ``TypedDict`` (all keys
optional, as on the wire), so a typo in a field name or a wrong value type is a mypy error
rather than a silent ``None``:

- :class:`ObjectMeta` and :class:`OwnerReference` (``metadata``, ``metadata.ownerReferences``);
- :class:`Taint` and :class:`Toleration` (``Node.spec.taints``, ``PodSpec.tolerations``).

The accessors (:func:`metadata`, :func:`taints_of`, :func:`tolerations_of`) replace the
``(obj.get("metadata") or {}).get(...)`` chains: a missing or ``null`` part reads as empty.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypedDict, cast

Obj = dict[str, Any]
"""An API object (or any JSON object) as decoded: the one alias for it in the control plane."""


class OwnerReference(TypedDict, total=False):
    apiVersion: str
    kind: str
    name: str
    uid: str
    controller: bool
    blockOwnerDeletion: bool


class ObjectMeta(TypedDict, total=False):
    name: str
    generateName: str
    namespace: str
    uid: str
    resourceVersion: str
    generation: int
    creationTimestamp: str
    deletionTimestamp: str
    deletionGracePeriodSeconds: int
    labels: dict[str, str]
    annotations: dict[str, str]
    ownerReferences: list[OwnerReference]
    finalizers: list[str]
    managedFields: list[Obj]


class Taint(TypedDict, total=False):
    key: str
    value: str
    effect: str  # NoSchedule | PreferNoSchedule | NoExecute
    timeAdded: str


class Toleration(TypedDict, total=False):
    key: str
    operator: str  # Equal (the default when empty) | Exists
    value: str
    effect: str  # empty: every effect
    tolerationSeconds: int


def metadata(obj: Mapping[str, Any]) -> ObjectMeta:
    """``obj.metadata`` (empty when absent or null); read it, do not mutate through it."""
    return cast(ObjectMeta, obj.get("metadata") or {})


def taints_of(node: Mapping[str, Any]) -> list[Taint]:
    """``node.spec.taints`` (empty when absent or null)."""
    return cast(list[Taint], (node.get("spec") or {}).get("taints") or [])


def tolerations_of(pod_spec: Mapping[str, Any]) -> list[Toleration]:
    """``tolerations`` of a PodSpec (a pod's ``spec`` or a template's ``spec``)."""
    return cast(list[Toleration], pod_spec.get("tolerations") or [])
