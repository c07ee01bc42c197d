"""Taints and tolerations: whether a toleration tolerates a taint, written once.

The scheduler (TaintToleration, NodeUnschedulable), the DaemonSet controller (which nodes get a
daemon pod) and the node lifecycle controller (which pods a NoExecute taint evicts, and when)
all ask the same question, so they all call this module. The rule is upstream's
``Toleration.ToleratesTaint`` (k8s.io/api core/v1), for the operators kboot's validation
accepts:

1. a non-empty toleration ``effect`` must equal the taint's; empty matches every effect;
2. a non-empty toleration ``key`` must equal the taint's; empty matches every key (validation
   only allows that with ``Exists``, which then tolerates everything);
3. ``Exists`` matches every value; ``Equal`` (or no operator) compares values exactly, an
   absent value being the empty string as in Go; any other operator tolerates nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from kboot.controlplane.api.shapes import Taint, Toleration

#: The effects that keep a pod off a node (PreferNoSchedule only scores).
HARD_EFFECTS = ("NoSchedule", "NoExecute")


def tolerates(toleration: Toleration, taint: Taint) -> bool:
    """Whether one toleration tolerates one taint (upstream ``ToleratesTaint``)."""
    effect = toleration.get("effect") or ""
    if effect and effect != (taint.get("effect") or ""):
        return False
    key = toleration.get("key") or ""
    if key and key != (taint.get("key") or ""):
        return False
    operator = toleration.get("operator") or "Equal"
    if operator == "Exists":
        return True
    if operator == "Equal":
        return (toleration.get("value") or "") == (taint.get("value") or "")
    return False


def tolerated(taint: Taint, tolerations: Iterable[Toleration]) -> bool:
    """Whether any of ``tolerations`` tolerates ``taint``."""
    return any(tolerates(t, taint) for t in tolerations)


def matching(tolerations: Iterable[Toleration], taint: Taint) -> list[Toleration]:
    """The tolerations that tolerate ``taint``, in order."""
    return [t for t in tolerations if tolerates(t, taint)]


def first_untolerated(taints: Iterable[Taint], tolerations: Sequence[Toleration], *,
                      effects: Sequence[str] = HARD_EFFECTS) -> Taint | None:
    """The first taint with one of ``effects`` that no toleration tolerates, or None
    (upstream ``FindMatchingUntoleratedTaint``)."""
    for taint in taints:
        if taint.get("effect") in effects and not tolerated(taint, tolerations):
            return taint
    return None


def toleration_seconds(tolerations: Iterable[Toleration]) -> float | None:
    """How long the given (matching) tolerations let a pod stay under a NoExecute taint:
    the smallest ``tolerationSeconds`` among them, negative values counting as 0, or None
    (forever) when none sets it — upstream's taint manager rule. Callers pass only matching
    tolerations and handle "none match" themselves."""
    seconds = [t["tolerationSeconds"] for t in tolerations if t.get("tolerationSeconds")
               is not None]
    return float(max(0, min(seconds))) if seconds else None
