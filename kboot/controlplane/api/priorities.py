"""Pod priority (``scheduling.k8s.io/v1`` PriorityClass): the built-in classes, validation, and
the Priority admission's pure core.

Upstream's rules and words: names beginning ``system-`` are reserved for the two built-ins
(``system-cluster-critical`` = 2000000000, ``system-node-critical`` = 2000001000, created at
bootstrap); user classes are at most 1000000000; ``value`` and ``preemptionPolicy`` are
immutable. At pod create, :func:`resolve` turns ``priorityClassName`` (or the one
``globalDefault`` class, or nothing: priority 0) into ``spec.priority`` and
``spec.preemptionPolicy``; a pod that names an unknown class, or sets a priority that disagrees
with its class, is refused (403, as upstream's admission plugin answers).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kboot.controlplane.api.errors import ApiRuleError
from kboot.controlplane.api.field_errors import FieldError, check_enum, forbidden

Obj = dict[str, Any]

SYSTEM_PREFIX = "system-"
HIGHEST_USER_PRIORITY = 1_000_000_000
PREEMPT = "PreemptLowerPriority"
NEVER = "Never"
POLICIES = (NEVER, PREEMPT)
BUILTIN: dict[str, tuple[int, str]] = {
    "system-node-critical": (2_000_001_000, "Used for system critical pods that must not be "
                                            "moved from their current node."),
    "system-cluster-critical": (2_000_000_000, "Used for system critical pods that must run in "
                                               "the cluster, but can be moved to another node "
                                               "if necessary."),
}


def builtin_classes() -> list[Obj]:
    """The PriorityClass objects bootstrap creates."""
    return [{"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
             "metadata": {"name": name}, "value": value, "description": text,
             "preemptionPolicy": PREEMPT} for name, (value, text) in BUILTIN.items()]


def validate_priority_class(obj: Obj, old: Obj | None) -> list[FieldError]:
    name = (obj.get("metadata") or {}).get("name") or ""
    value = obj.get("value")
    errors: list[FieldError] = []
    if name.startswith(SYSTEM_PREFIX):
        problem = _system_problem(name, value, bool(obj.get("globalDefault")))
        if problem:
            errors.append(forbidden("metadata.name", "priority class names with 'system-' "
                                    "prefix are reserved for system use only. error: "
                                    + problem))
    elif isinstance(value, int) and value > HIGHEST_USER_PRIORITY:
        errors.append(forbidden("value", "maximum allowed value of a user defined priority is "
                                f"{HIGHEST_USER_PRIORITY}"))
    errors += check_enum("preemptionPolicy", obj.get("preemptionPolicy"), POLICIES)
    if old is not None:
        if obj.get("value") != old.get("value"):
            errors.append(forbidden("value", "may not be changed in an update."))
        if (obj.get("preemptionPolicy") or PREEMPT) != (old.get("preemptionPolicy") or PREEMPT):
            errors.append(forbidden("preemptionPolicy", "may not be changed in an update."))
    return errors


def _system_problem(name: str, value: Any, global_default: bool) -> str:
    known = BUILTIN.get(name)
    if known is None:
        return f"{name} is not a known system priority class"
    if value != known[0]:
        return f"value of {name} PriorityClass must be {known[0]}"
    if global_default:
        return f"globalDefault of {name} PriorityClass must be false"
    return ""


def defaults(obj: Obj) -> None:
    obj.setdefault("preemptionPolicy", PREEMPT)


@dataclass(frozen=True)
class Resolved:
    name: str
    priority: int
    policy: str


class PriorityRefused(ApiRuleError):
    """A pod's priority fields cannot be admitted (403); the message is upstream's."""

    code = 403
    reason = "Forbidden"


def resolve(spec: Obj, cls: Obj | None, default: Obj | None) -> Resolved:
    """What the Priority admission writes into a new pod's spec.

    ``cls`` is the PriorityClass named by ``spec.priorityClassName`` (None if the pod names
    none or the class does not exist), ``default`` the ``globalDefault`` class if any.
    """
    name = spec.get("priorityClassName") or ""
    if name:
        if cls is None and name in BUILTIN:
            cls = builtin_classes()[list(BUILTIN).index(name)]
        if cls is None:
            raise PriorityRefused(f"no PriorityClass with name {name} was found")
        chosen = Resolved(name, int(cls.get("value") or 0), cls.get("preemptionPolicy") or PREEMPT)
    elif default is not None:
        chosen = Resolved(default["metadata"]["name"], int(default.get("value") or 0),
                          default.get("preemptionPolicy") or PREEMPT)
    else:
        chosen = Resolved("", 0, PREEMPT)
    given = spec.get("priority")
    if given is not None and given != chosen.priority:
        raise PriorityRefused(f"the integer value of priority ({given}) must not be provided "
                              "in pod spec; priority admission controller computed "
                              f"{chosen.priority} from the given PriorityClass name")
    policy = spec.get("preemptionPolicy")
    if policy is not None and policy != chosen.policy:
        raise PriorityRefused(f"the string value of PreemptionPolicy ({policy}) must not be "
                              "provided in pod spec; priority admission controller computed "
                              f"{chosen.policy} from the given PriorityClass name")
    return chosen


def pod_priority(pod: Obj) -> int:
    """A pod's priority as the scheduler reads it (0 when admission left none)."""
    value = (pod.get("spec") or {}).get("priority")
    return value if isinstance(value, int) else 0
