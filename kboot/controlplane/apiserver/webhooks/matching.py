"""Which webhooks a write reaches: upstream's rule, scope and selector matching, pure.

A webhook is parsed once per configuration revision into a :class:`Webhook`; a write is
described by :class:`Attributes`. :func:`matches` answers for one pair, given the labels of the
namespace the write is in (the dispatcher reads them from the watch cache).

``matchPolicy: Equivalent`` matches a rule naming the same group and resource in another
version: kboot serves every resource in exactly one version, so such a rule can only mean the
resource kboot serves, and the object is sent in the served version (no conversion exists to
perform). Cross-group equivalences (``extensions/v1beta1`` deployments) are not served by kboot
and do not match.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kboot.controlplane.api.matchconditions import Condition, compile_conditions
from kboot.controlplane.api.registry import ResourceKind
from kboot.controlplane.api.selectors import (
    LabelSelector,
    SelectorError,
    label_selector_from_dict,
)

JsonObj = dict[str, Any]

# upstream never sends these to webhooks: a bad webhook could otherwise lock itself in
EXEMPT_GROUPS = frozenset({"admissionregistration.k8s.io"})


@dataclass(frozen=True)
class Attributes:
    """One write as admission sees it (upstream's ``admission.Attributes``)."""

    operation: str  # CREATE | UPDATE | DELETE | CONNECT
    kind: ResourceKind
    subresource: str  # "" for the main resource
    namespace: str | None
    name: str
    obj: JsonObj | None
    old: JsonObj | None
    dry_run: bool = False
    # (group, version, kind) of a subresource's own body (autoscaling/v1 Scale, v1 Binding,
    # policy/v1 Eviction): the review's ``kind``; None when the body is the resource's kind
    body_kind: tuple[str, str, str] | None = None


@dataclass(frozen=True)
class Webhook:
    """One entry of ``webhooks[]``, defaulted and validated on write."""

    configuration: str
    name: str
    mutating: bool
    rules: tuple[JsonObj, ...]
    failure_policy: str
    match_policy: str
    side_effects: str
    timeout: int
    reinvocation: str
    namespace_selector: LabelSelector
    object_selector: LabelSelector
    client_config: JsonObj
    match_conditions: tuple[Condition, ...] = ()

    @property
    def key(self) -> tuple[str, str]:
        return self.configuration, self.name


def webhooks_of(config: Mapping[str, Any], *, mutating: bool) -> list[Webhook]:
    """The webhooks of a stored configuration; an entry whose selector no longer parses (it was
    validated on write) is skipped rather than failing every write."""
    out = []
    name = str((config.get("metadata") or {}).get("name", ""))
    for raw in config.get("webhooks") or ():
        try:
            out.append(Webhook(
                configuration=name, name=str(raw.get("name", "")), mutating=mutating,
                rules=tuple(raw.get("rules") or ()),
                failure_policy=raw.get("failurePolicy") or "Fail",
                match_policy=raw.get("matchPolicy") or "Equivalent",
                side_effects=raw.get("sideEffects") or "Unknown",
                timeout=int(raw.get("timeoutSeconds") or 10),
                reinvocation=raw.get("reinvocationPolicy") or "Never",
                namespace_selector=label_selector_from_dict(raw.get("namespaceSelector") or {}),
                object_selector=label_selector_from_dict(raw.get("objectSelector") or {}),
                client_config=dict(raw.get("clientConfig") or {}),
                match_conditions=compile_conditions(raw.get("matchConditions"))))
        except (SelectorError, TypeError, ValueError, AttributeError):
            continue
    return out


def _resource_matches(patterns: list[str], resource: str, subresource: str) -> bool:
    for pattern in patterns:
        if pattern == "*/*" or (pattern == "*" and not subresource):
            return True
        base, slash, sub = pattern.partition("/")
        if not slash:
            if base == resource and not subresource:
                return True
            continue
        if base in ("*", resource) and sub in ("*", subresource):
            return True
    return False


def rule_matches(rule: Mapping[str, Any], attrs: Attributes, *, equivalent: bool) -> bool:
    """One ``RuleWithOperations`` against the write. ``equivalent`` (matchPolicy Equivalent)
    accepts any version of the write's group and resource (see the module docstring)."""
    operations = rule.get("operations") or ()
    if "*" not in operations and attrs.operation not in operations:
        return False
    groups = rule.get("apiGroups") or ()
    if "*" not in groups and attrs.kind.group not in groups:
        return False
    versions = rule.get("apiVersions") or ()
    if not equivalent and "*" not in versions and attrs.kind.version not in versions:
        return False
    scope = rule.get("scope") or "*"
    if scope == "Cluster" and attrs.kind.namespaced:
        return False
    if scope == "Namespaced" and not attrs.kind.namespaced:
        return False
    return _resource_matches(list(rule.get("resources") or ()), attrs.kind.plural,
                             attrs.subresource)


def _labels(obj: Mapping[str, Any] | None) -> Mapping[str, str]:
    if not obj:
        return {}
    return (obj.get("metadata") or {}).get("labels") or {}


def object_selected(hook: Webhook, attrs: Attributes) -> bool:
    """Upstream: the selector matches the new object's labels or the old object's."""
    selector = hook.object_selector
    if selector.empty:
        return True
    return any(obj is not None and selector.matches(_labels(obj))
               for obj in (attrs.obj, attrs.old))


def namespace_selected(hook: Webhook, attrs: Attributes,
                       namespace_labels: Mapping[str, str] | None) -> bool:
    """Cluster-scoped writes match (except Namespaces themselves, matched by their own labels);
    a namespaced write matches by its namespace's labels (an unknown namespace has none)."""
    selector = hook.namespace_selector
    if selector.empty:
        return True
    if attrs.kind.group == "" and attrs.kind.plural == "namespaces":
        return any(obj is not None and selector.matches(_labels(obj))
                   for obj in (attrs.obj, attrs.old))
    if not attrs.kind.namespaced:
        return True
    return selector.matches(namespace_labels or {})


def matches(hook: Webhook, attrs: Attributes,
            namespace_labels: Mapping[str, str] | None) -> bool:
    """Whether ``hook`` is called for the write ``attrs``."""
    if attrs.kind.group in EXEMPT_GROUPS:
        return False
    equivalent = hook.match_policy == "Equivalent"
    if not any(rule_matches(rule, attrs, equivalent=equivalent) for rule in hook.rules):
        return False
    return object_selected(hook, attrs) and namespace_selected(hook, attrs, namespace_labels)
