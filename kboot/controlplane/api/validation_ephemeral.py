"""Ephemeral containers (``pods/ephemeralcontainers``): upstream's rules and messages.

An ephemeral container is a debugging aid added to a running pod: it may not reserve anything
or be probed (no ports, probes, lifecycle hooks, resources, resize or restart policy, no
``subPath`` mounts), its name is unique across all of the pod's containers, its
``targetContainerName`` names a regular or init container, and once added it is immutable:
an update may only append (``existing ephemeral containers "x" may not be changed``).
"""

from __future__ import annotations

from typing import Any

from kboot.controlplane.api.field_errors import (
    FieldError,
    duplicate,
    forbidden,
    not_found,
)
from kboot.controlplane.api.validation_containers import dicts, validate_container

Obj = dict[str, Any]
FIELD = "spec.ephemeralContainers"
# container fields an ephemeral container may not set (upstream's allow list, inverted)
DISALLOWED = ("ports", "livenessProbe", "readinessProbe", "startupProbe", "lifecycle",
              "resources", "resizePolicy", "restartPolicy")
_ONLY = "cannot be set for an Ephemeral Container"


def _volume_names(spec: Obj) -> set[str]:
    return {str(v.get("name", "")) for v in dicts(spec.get("volumes"))}


def _one(ec: Obj, path: str, spec: Obj, taken: set[str]) -> list[FieldError]:
    errors = validate_container(ec, path, _volume_names(spec))
    errors += [forbidden(f"{path}.{f}", _ONLY) for f in DISALLOWED if ec.get(f)]
    for i, mount in enumerate(dicts(ec.get("volumeMounts"))):
        if mount.get("subPath") or mount.get("subPathExpr"):
            errors.append(forbidden(f"{path}.volumeMounts[{i}].subPath", _ONLY))
    name = ec.get("name")
    if name in taken:
        errors.append(duplicate(f"{path}.name", name))
    taken.add(str(name))
    target = ec.get("targetContainerName")
    regular = {c.get("name") for f in ("containers", "initContainers")
               for c in dicts(spec.get(f))}
    if target and target not in regular:
        errors.append(not_found(f"{path}.targetContainerName", target))
    return errors


def validate_update(spec: Obj, old_spec: Obj) -> list[FieldError]:
    """The rules of a write to the subresource: *spec* is the pod's spec with the new list."""
    errors: list[FieldError] = []
    new = dicts(spec.get("ephemeralContainers"))
    by_name = {str(ec.get("name")): (i, ec) for i, ec in enumerate(new)}
    for old in dicts(old_spec.get("ephemeralContainers")):
        name = str(old.get("name"))
        if name not in by_name:
            errors.append(forbidden(FIELD, f'existing ephemeral containers "{name}" may not '
                                           "be removed"))
        elif by_name[name][1] != old:
            errors.append(forbidden(f"{FIELD}[{by_name[name][0]}]",
                                    f'existing ephemeral containers "{name}" may not be '
                                    "changed"))
    old_names = {str(ec.get("name")) for ec in dicts(old_spec.get("ephemeralContainers"))}
    taken = {str(c.get("name")) for f in ("containers", "initContainers")
             for c in dicts(spec.get(f))}
    for i, ec in enumerate(new):
        if str(ec.get("name")) in old_names:
            taken.add(str(ec.get("name")))
            continue
        errors += _one(ec, f"{FIELD}[{i}]", spec, taken)
    return errors
