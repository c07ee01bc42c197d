"""A Service's traffic policies and ``healthCheckNodePort``: which Service shapes may carry them
(upstream's ``ExternallyAccessible`` and ``NeedsHealthCheck``), their validation, and the
fields a type change leaves behind (upstream's ``dropTypeDependentFields``).

``externalTrafficPolicy`` belongs to Services reachable from outside (NodePort, LoadBalancer,
or ClusterIP with externalIPs); ``healthCheckNodePort`` to ``type: LoadBalancer`` with
``externalTrafficPolicy: Local``, where the apiserver allocates it from the NodePort range
(``apiserver/allocators.py``) and kboot-proxy answers on it (``proxy/healthcheck.py``). An
update that makes a Service stop needing either field may leave it as it was: it is cleared,
and the port released, rather than rejected.
"""

from __future__ import annotations

from typing import Any

from kboot.controlplane.api.field_errors import FieldError, check_enum, forbidden, in_range, invalid

Obj = dict[str, Any]
POLICIES = ("Cluster", "Local")


def externally_accessible(spec: Obj) -> bool:
    kind = spec.get("type", "ClusterIP")
    return kind in ("NodePort", "LoadBalancer") or \
        (kind == "ClusterIP" and bool(spec.get("externalIPs")))


def needs_health_check(spec: Obj) -> bool:
    return spec.get("type") == "LoadBalancer" and spec.get("externalTrafficPolicy") == "Local"


def _left_behind(spec: Obj, old_spec: Obj | None, field: str, needed: bool) -> bool:
    """*field* is the unchanged leftover of an update that made the Service stop needing it."""
    return old_spec is not None and needed and spec.get(field) == old_spec.get(field)


def validate_traffic(spec: Obj, old_spec: Obj | None) -> list[FieldError]:
    """The traffic-policy rules of ``validateService`` (``old_spec``: None on create)."""
    etp, hcnp = spec.get("externalTrafficPolicy"), spec.get("healthCheckNodePort")
    errors = check_enum("spec.externalTrafficPolicy", etp or None, POLICIES)
    errors += check_enum("spec.internalTrafficPolicy", spec.get("internalTrafficPolicy"),
                         POLICIES)
    if etp and not externally_accessible(spec) and not _left_behind(
            spec, old_spec, "externalTrafficPolicy",
            old_spec is not None and externally_accessible(old_spec)):
        errors.append(invalid("spec.externalTrafficPolicy", etp,
                              "may only be set for externally-accessible services"))
    if hcnp and not needs_health_check(spec) and not _left_behind(
            spec, old_spec, "healthCheckNodePort",
            old_spec is not None and needs_health_check(old_spec)):
        errors.append(invalid("spec.healthCheckNodePort", hcnp,
                              "may only be set when `type` is 'LoadBalancer' and "
                              "`externalTrafficPolicy` is 'Local'"))
    elif hcnp:
        errors += in_range("spec.healthCheckNodePort", hcnp, 1, 65535)
    if old_spec is not None and hcnp and needs_health_check(spec) and \
            needs_health_check(old_spec) and old_spec.get("healthCheckNodePort") not in (None,
                                                                                       0, hcnp):
        errors.append(forbidden("spec.healthCheckNodePort", "field is immutable"))
    return errors


def drop_type_dependent(spec: Obj, old_spec: Obj) -> None:
    """Clear (in place) the fields an update left behind that the new shape does not take."""
    if spec.get("externalTrafficPolicy") and not externally_accessible(spec) and \
            _left_behind(spec, old_spec, "externalTrafficPolicy",
                         externally_accessible(old_spec)):
        del spec["externalTrafficPolicy"]
    if spec.get("healthCheckNodePort") and not needs_health_check(spec) and \
            _left_behind(spec, old_spec, "healthCheckNodePort", needs_health_check(old_spec)):
        del spec["healthCheckNodePort"]
