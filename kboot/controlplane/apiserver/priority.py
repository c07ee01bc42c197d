"""The Priority admission step (upstream's ``Priority`` plugin), with the store at hand.

A new pod gets ``spec.priority`` and ``spec.preemptionPolicy`` from the PriorityClass it names
(or the ``globalDefault`` one); an unknown class is 403. A new PriorityClass marked
``globalDefault`` is refused while another default exists. The pure rules are in
:mod:`kboot.controlplane.api.priorities`; the Pod and PriorityClass strategies
(:mod:`.strategies`) call these from ``admit_create``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kboot.controlplane.api.priorities import PriorityRefused, resolve
from kboot.controlplane.api.registry import lookup
from kboot.controlplane.apiserver.errors import JsonObj, forbidden

if TYPE_CHECKING:
    from kboot.controlplane.apiserver.strategy import Server

PRIORITY_CLASSES = lookup("scheduling.k8s.io", "priorityclasses")
assert PRIORITY_CLASSES is not None


async def _classes(state: Server) -> list[JsonObj]:
    assert PRIORITY_CLASSES is not None
    return (await state.storage.list(PRIORITY_CLASSES, None)).items


async def admit_pod(state: Server, pod: JsonObj) -> None:
    """Fill in a new pod's priority from its class (in place); 403 for an unknown class."""
    spec = pod.get("spec")
    if not isinstance(spec, dict):
        return
    classes = await _classes(state)
    wanted = spec.get("priorityClassName") or ""
    named = next((c for c in classes if c["metadata"]["name"] == wanted), None)
    default = next((c for c in classes if c.get("globalDefault")), None)
    try:
        chosen = resolve(spec, named, default)
    except PriorityRefused as exc:
        name = (pod.get("metadata") or {}).get("name") or ""
        raise forbidden("pods", "", name, f'pods "{name}" is forbidden: {exc}') from None
    spec["priority"] = chosen.priority
    spec["preemptionPolicy"] = chosen.policy
    if chosen.name:
        spec["priorityClassName"] = chosen.name


async def one_default(state: Server, obj: JsonObj) -> None:
    """403 when ``obj`` is a second ``globalDefault`` class."""
    if not obj.get("globalDefault"):
        return
    name = obj["metadata"]["name"]
    for other in await _classes(state):
        if other.get("globalDefault") and other["metadata"]["name"] != name:
            raise forbidden("priorityclasses", "scheduling.k8s.io", name,
                            f'priorityclasses.scheduling.k8s.io "{name}" is forbidden: '
                            f"PriorityClass {other['metadata']['name']} is already marked as "
                            "default. Only one default can exist")
