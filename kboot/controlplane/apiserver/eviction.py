"""``pods/eviction``: delete a pod only if no PodDisruptionBudget forbids it (upstream's
``pkg/registry/core/pod/storage/eviction.go``).

The budget is debited before the pod is deleted, through a guarded update of the budget's
status (its resourceVersion is the guard, as upstream): two concurrent evictions can never both
spend the last allowed disruption. The disruption controller recomputes the budget later and
forgets the pod once it is gone (``status.disruptedPods``).
"""

from __future__ import annotations

from typing import Any

from kboot.controlplane.api import disruption
from kboot.controlplane.api.registry import lookup
from kboot.controlplane.api.selectors import SelectorError, label_selector_from_dict
from kboot.controlplane.apiserver.admission import rfc3339
from kboot.controlplane.apiserver.crud import _check_preconditions as check_preconditions
from kboot.controlplane.apiserver.errors import StatusError, internal
from kboot.controlplane.apiserver.state import ServerState
from kboot.controlplane.apiserver.writes import guarded_update

JsonObj = dict[str, Any]
PDB = lookup("policy", "poddisruptionbudgets")
PODS = lookup("", "pods")
assert PDB is not None and PODS is not None


def _ignores_budgets(pod: JsonObj) -> bool:
    """Pods that are finished, not yet running or already going never count against a budget."""
    phase = (pod.get("status") or {}).get("phase")
    return phase in ("Succeeded", "Failed", "Pending") or bool(
        (pod.get("metadata") or {}).get("deletionTimestamp"))


def _selects(pdb: JsonObj, labels: dict[str, str]) -> bool:
    selector = (pdb.get("spec") or {}).get("selector")
    if selector is None:  # policy/v1: a nil selector selects nothing, an empty one everything
        return False
    try:
        return label_selector_from_dict(selector).matches(labels)
    except SelectorError:
        return False


async def check_budgets(state: ServerState, namespace: str, name: str,
                        options: JsonObj) -> None:
    """Raise a 429 (or 403/500) if evicting the pod would break its budget; otherwise debit the
    budget (when the pod is healthy) and return, and the caller deletes the pod. The delete
    options' preconditions are checked first, so a stale eviction never spends a disruption."""
    assert PDB is not None and PODS is not None
    pod = await state.storage.get(PODS, namespace, name)
    check_preconditions(PODS, pod, options)
    if _ignores_budgets(pod):
        return
    labels = (pod.get("metadata") or {}).get("labels") or {}
    page = await state.storage.list(PDB, namespace)
    budgets = [b for b in page.items if _selects(b, labels)]
    if not budgets:
        return
    if len(budgets) > 1:
        raise internal("This pod has more than one PodDisruptionBudget, which the eviction "
                       "subresource does not support.")
    pdb = budgets[0]
    if not disruption.pod_ready(pod):
        status, spec = pdb.get("status") or {}, pdb.get("spec") or {}
        if spec.get("unhealthyPodEvictionPolicy") == "AlwaysAllow" or (
                0 < status.get("desiredHealthy", 0) <= status.get("currentHealthy", 0)):
            return  # an unready pod never counted as healthy: evicting it costs nothing
    stamp = rfc3339(state.clock.now())

    def debit(current: JsonObj) -> JsonObj:
        try:
            return disruption.take_disruption(current, name, stamp)
        except disruption.EvictionRefused as refused:
            raise _refusal(refused) from None

    await guarded_update(state.storage, PDB, namespace, pdb["metadata"]["name"], debit)


def _refusal(refused: disruption.EvictionRefused) -> StatusError:
    if refused.code == 429:
        return StatusError(429, "TooManyRequests", refused.message, details={
            "causes": [{"reason": "DisruptionBudget", "message": refused.cause}]})
    return StatusError(403, "Forbidden", refused.message)
