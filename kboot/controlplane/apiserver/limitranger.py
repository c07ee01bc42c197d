"""The LimitRanger admission step (upstream's ``LimitRanger`` plugin), with the store at hand.

A new pod gets the default requests/limits of its namespace's LimitRanges (``Container`` items)
on every container and init container; then the pod and a new PersistentVolumeClaim are held
to the ranges' ``min``/``max``/``maxLimitRequestRatio``: a breach is 403 with upstream's words
(``pods "x" is forbidden: maximum cpu usage per Container is 500m, but limit is 1``). The pure
rules are in :mod:`kboot.controlplane.api.limitranges`; the Pod and PersistentVolumeClaim
strategies call these from ``admit_create``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kboot.controlplane.api import limitranges
from kboot.controlplane.api.registry import lookup
from kboot.controlplane.apiserver.errors import JsonObj, forbidden

if TYPE_CHECKING:
    from kboot.controlplane.apiserver.strategy import Server

LIMIT_RANGES = lookup("", "limitranges")
assert LIMIT_RANGES is not None


async def _ranges(state: Server, namespace: str | None) -> list[JsonObj]:
    assert LIMIT_RANGES is not None
    if not namespace:
        return []
    return (await state.storage.list(LIMIT_RANGES, namespace)).items


def _refuse(plural: str, obj: JsonObj, messages: list[str]) -> None:
    if messages:
        name = (obj.get("metadata") or {}).get("name") or ""
        raise forbidden(plural, "", name,
                        f'{plural} "{name}" is forbidden: {limitranges.aggregate(messages)}')


async def admit_pod(state: Server, pod: JsonObj) -> JsonObj:
    """The pod with its namespace's defaults applied; 403 when it breaks a bound."""
    ranges = await _ranges(state, (pod.get("metadata") or {}).get("namespace"))
    if not ranges:
        return pod
    pod = limitranges.default_pod(pod, ranges)
    _refuse("pods", pod, limitranges.pod_violations(pod, ranges))
    return pod


async def admit_claim(state: Server, claim: JsonObj) -> JsonObj:
    """403 when the claim's storage request breaks a ``PersistentVolumeClaim`` bound."""
    ranges = await _ranges(state, (claim.get("metadata") or {}).get("namespace"))
    _refuse("persistentvolumeclaims", claim, limitranges.claim_violations(claim, ranges))
    return claim
