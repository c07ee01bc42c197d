"""Validation of ``apiextensions.k8s.io/v1`` CustomResourceDefinition objects, as upstream.

Upstream's ``ValidateCustomResourceDefinition`` (``pkg/apis/apiextensions/validation``) checks,
and so does :func:`validate_crd`, with the same paths and messages:

- ``metadata.name`` is ``<spec.names.plural>.<spec.group>``; ``spec.group`` a DNS subdomain
  with a dot; ``spec.scope`` ``Cluster`` or ``Namespaced``;
- ``spec.names``: plural/singular/kind/listKind present and DNS-1035 shaped (kinds may have
  mixed case), shortNames and categories too, kind ≠ listKind;
- ``spec.versions``: unique DNS-1035 names, exactly one storage version, a schema for every
  version, per-version fields exclusive with the top-level ones and not all identical;
- every schema structural (:mod:`.structural`), its defaults valid and pruned-clean, its CEL
  rules compiling with the supported functions (:mod:`.cel`); root of the schema an object when
  the status subresource is on;
- subresources: scale paths (``.spec.…``, ``.status.…``), printer columns (type, format,
  jsonPath in dot notation);
- ``spec.conversion``: ``None`` or ``Webhook`` (with a client config and review versions).

:func:`validate_crd_update` adds what updates check: stored versions, scope and group immutable.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

from kboot.controlplane.api import names
from kboot.controlplane.api.crd.cel import compile_rules
from kboot.controlplane.api.crd.paths import child, field_of, index, key, list_of
from kboot.controlplane.api.crd.pruning import prune_value
from kboot.controlplane.api.crd.structural import schema_errors
from kboot.controlplane.api.crd.values import validate_value
from kboot.controlplane.api.field_errors import (
    FieldError,
    check_enum,
    forbidden,
    immutable,
    invalid,
    not_supported,
    required,
)

Obj = dict[str, Any]
COLUMN_TYPES = ("boolean", "date", "integer", "number", "string")
COLUMN_FORMATS = ("byte", "date", "date-time", "double", "float", "int32", "int64", "name",
                  "password")
_SIMPLE_PATH = re.compile(r"^(\.[A-Za-z0-9_-]+|\[['\"]?[^\]]+['\"]?\])+$")


def validate_crd(crd: Obj) -> list[FieldError]:
    """Every problem of a CRD body (create)."""
    spec, meta = field_of(crd, "spec"), field_of(crd, "metadata")
    errors = _metadata(meta, spec)
    errors.extend(_spec(spec))
    accepted = field_of(field_of(crd, "status"), "acceptedNames")
    errors.extend(names_errors(accepted, "status.acceptedNames"))
    return errors


def validate_crd_update(crd: Obj, old: Obj) -> list[FieldError]:
    """A CRD update: everything :func:`validate_crd` checks plus the immutable parts."""
    errors = validate_crd(crd)
    spec, old_spec = field_of(crd, "spec"), field_of(old, "spec")
    established = any(isinstance(c, dict) and c.get("type") == "Established"
                      and c.get("status") == "True"
                      for c in list_of(field_of(old, "status"), "conditions"))
    if established and spec.get("scope") != old_spec.get("scope"):
        errors.append(immutable("spec.scope", spec.get("scope")))
    if spec.get("group") != old_spec.get("group"):
        errors.append(immutable("spec.group", spec.get("group")))
    stored = list_of(field_of(crd, "status"), "storedVersions")
    declared = {v.get("name") for v in list_of(spec, "versions") if isinstance(v, dict)}
    for i, name in enumerate(stored):
        if name not in declared:
            errors.append(invalid(f"status.storedVersions[{i}]", name, f"missing from "
                                  f"spec.versions; {name} was previously a storage version, and "
                                  "must remain in spec.versions until a storage migration "
                                  "ensures no data remains persisted in "
                                  f"{name} and it is removed from status.storedVersions"))
    return errors


def _metadata(meta: Obj, spec: Obj) -> list[FieldError]:
    name = meta.get("name")
    if not name:
        return [required("metadata.name", "name or generateName is required")]
    if not isinstance(name, str):
        return [invalid("metadata.name", name, "must be a string")]
    errors = [invalid("metadata.name", name, e) for e in names.is_dns1123_subdomain(name)]
    names_ = field_of(spec, "names")
    if name != f"{names_.get('plural', '')}.{spec.get('group', '')}":
        errors.append(invalid("metadata.name", name, 'must be spec.names.plural+"."+spec.group'))
    return errors


def _spec(spec: Obj) -> list[FieldError]:
    errors: list[FieldError] = []
    group = spec.get("group")
    if not group:
        errors.append(required("spec.group"))
    elif problems := names.is_dns1123_subdomain(str(group)):
        errors.append(invalid("spec.group", group, ",".join(problems)))
    elif len(str(group).split(".")) < 2:
        errors.append(invalid("spec.group", group, "should be a domain with at least one dot"))
    scope = spec.get("scope")
    if not scope:
        errors.append(required("spec.scope"))
    else:
        errors.extend(check_enum("spec.scope", scope, ("Cluster", "Namespaced")))
    names_ = field_of(spec, "names")
    for field in ("plural", "singular", "kind", "listKind"):
        if not names_.get(field):
            errors.append(required(f"spec.names.{field}"))
    errors.extend(names_errors(names_, "spec.names"))
    if spec.get("preserveUnknownFields"):
        errors.append(invalid("spec.preserveUnknownFields", True, "cannot set to true, set "
                              "x-kubernetes-preserve-unknown-fields to true in "
                              "spec.versions[*].schema instead"))
    errors.extend(_versions(spec))
    errors.extend(_conversion(spec.get("conversion")))
    return errors


def names_errors(names_: Obj, path: str) -> list[FieldError]:
    """``spec.names`` / ``status.acceptedNames`` shape (presence is checked by the caller)."""
    errors: list[FieldError] = []
    for field in ("plural", "singular"):
        value = names_.get(field)
        if value and (problems := names.is_dns1035_label(str(value))):
            errors.append(invalid(f"{path}.{field}", value, ",".join(problems)))
    for field in ("kind", "listKind"):
        value = names_.get(field)
        if value and (problems := names.is_dns1035_label(str(value).lower())):
            errors.append(invalid(f"{path}.{field}", value, "may have mixed case, but should "
                                  "otherwise match: " + ",".join(problems)))
    for field in ("shortNames", "categories"):
        for i, value in enumerate(list_of(names_, field)):
            if problems := names.is_dns1035_label(str(value)):
                errors.append(invalid(f"{path}.{field}[{i}]", value, ",".join(problems)))
    if names_.get("kind") and names_.get("kind") == names_.get("listKind"):
        errors.append(invalid(f"{path}.listKind", names_["listKind"],
                              "kind and listKind may not be the same"))
    return errors


# -------------------------------------------------------------------------------- versions


def _versions(spec: Obj) -> list[FieldError]:
    errors: list[FieldError] = []
    listed = [v for v in list_of(spec, "versions") if isinstance(v, dict)]
    if not listed:
        return [required("spec.versions")]
    top_schema = field_of(spec, "validation").get("openAPIV3Schema")
    seen: set[str] = set()
    for i, version in enumerate(listed):
        base = f"spec.versions[{i}]"
        name = str(version.get("name") or "")
        if problems := names.is_dns1035_label(name):
            errors.append(invalid(f"{base}.name", name, ",".join(problems)))
        subresources = field_of(version, "subresources") or field_of(spec, "subresources")
        schema = field_of(version, "schema").get("openAPIV3Schema")
        if schema is None and top_schema is None:
            errors.append(required(f"{base}.schema.openAPIV3Schema"))
        elif schema is not None:
            errors.extend(check_schema(schema, f"{base}.schema.openAPIV3Schema",
                                       status=isinstance(subresources.get("status"), dict)))
        errors.extend(_subresources(version.get("subresources"), f"{base}.subresources"))
        for j, column in enumerate(list_of(version, "additionalPrinterColumns")):
            errors.extend(_column(column, f"{base}.additionalPrinterColumns[{j}]"))
        if name in seen:
            errors.append(invalid("spec.versions", _brief(listed),
                                  "must contain unique version names"))
        seen.add(name)
    if sum(1 for v in listed if v.get("storage")) != 1:
        errors.append(invalid("spec.versions", _brief(listed),
                              "must have exactly one version marked as storage version"))
    errors.extend(_exclusive(spec, listed))
    return errors


def _brief(listed: list[Obj]) -> list[str]:
    return [str(v.get("name")) for v in listed]


def _exclusive(spec: Obj, listed: list[Obj]) -> list[FieldError]:
    errors: list[FieldError] = []
    pairs = (("validation", "schema", "schemas", "validation"),
             ("subresources", "subresources", "subresources", "subresources"),
             ("additionalPrinterColumns", "additionalPrinterColumns", "additionalPrinterColumns",
              "additionalPrinterColumns"))
    for top, per, word, top_word in pairs:
        values = [v.get(per) for v in listed]
        if spec.get(top) and any(values):
            errors.append(forbidden(f"spec.{top}", f"top-level and per-version {word} are "
                                                   "mutually exclusive"))
        if len(values) > 1 and all(values) and all(v == values[0] for v in values):
            errors.append(invalid("spec.versions", _brief(listed), f"per-version {word} may not "
                                  f"all be set to identical values (top-level {top_word} should "
                                  "be used instead)"))
    return errors


def check_schema(schema: Any, path: str, *, status: bool = False) -> list[FieldError]:
    """A version schema: structural rules, then defaults, then CEL rules."""
    errors = schema_errors(schema, path, status_subresource=status)
    if errors or not isinstance(schema, dict):
        return errors
    errors.extend(_defaults(schema, path, root=True))
    errors.extend(compile_rules(schema, path)[1])
    return errors


def _defaults(schema: Obj, path: str, *, root: bool = False) -> list[FieldError]:
    """Defaults validate against their schema and survive pruning unchanged."""
    errors: list[FieldError] = []
    if "default" in schema:
        default = schema["default"]
        if root:
            errors.append(forbidden(child(path, "default"), "must not be set at the root"))
        problems = validate_value(schema, default, "")
        if problems:
            errors.append(invalid(child(path, "default"), default,
                                  "must validate: " + "; ".join(str(p) for p in problems)))
        pruned = copy.deepcopy(default)
        prune_value(pruned, schema)
        if json.dumps(pruned, sort_keys=True) != json.dumps(default, sort_keys=True):
            errors.append(invalid(child(path, "default"), default,
                                  "must not have unknown fields"))
    for name, sub in field_of(schema, "properties").items():
        if isinstance(sub, dict):
            if root and name == "metadata" and "default" in sub:
                errors.append(forbidden(child(key(child(path, "properties"), name), "default"),
                                        "must not be set for metadata"))
                continue
            errors.extend(_defaults(sub, key(child(path, "properties"), name)))
    for name in ("items", "additionalProperties"):
        if isinstance(schema.get(name), dict):
            errors.extend(_defaults(schema[name], child(path, name)))
    return errors


# ---------------------------------------------------------------- subresources and columns


def _subresources(sub: Any, path: str) -> list[FieldError]:
    if not isinstance(sub, dict) or not isinstance(sub.get("scale"), dict):
        return []
    scale = sub["scale"]
    errors: list[FieldError] = []
    for field, prefixes, where in (("specReplicasPath", (".spec.",), "under .spec"),
                                   ("statusReplicasPath", (".status.",), "under .status"),
                                   ("labelSelectorPath", (".spec.", ".status."),
                                    "under either .spec or .status")):
        value = scale.get(field)
        if value is None:
            if field != "labelSelectorPath":
                errors.append(required(f"{path}.scale.{field}"))
            continue
        problems = json_path_errors(str(value), f"{path}.scale.{field}")
        if problems:
            errors.extend(problems)
        elif not str(value).startswith(prefixes):
            errors.append(invalid(f"{path}.scale.{field}", value,
                                  f"should be a json path {where}"))
    return errors


def json_path_errors(value: str, path: str) -> list[FieldError]:
    """Upstream's ``validateSimpleJSONPath``: ``.a.b`` or ``.a['b']`` only."""
    if not value:
        return [invalid(path, value, "must not be empty")]
    if not value.startswith("."):
        return [invalid(path, value, "must be a simple json path starting with .")]
    if value != "." and not _SIMPLE_PATH.match(value):
        return [invalid(path, value, "must be a json path in the dot notation")]
    return []


def _column(column: Any, path: str) -> list[FieldError]:
    if not isinstance(column, dict):
        return [invalid(path, column, "must be an object")]
    errors: list[FieldError] = []
    if not column.get("name"):
        errors.append(required(f"{path}.name"))
    type_ = column.get("type")
    listed = ",".join(COLUMN_TYPES)
    if not type_:
        errors.append(required(f"{path}.type", f"must be one of {listed}"))
    elif type_ not in COLUMN_TYPES:
        errors.append(invalid(f"{path}.type", type_, f"must be one of {listed}"))
    fmt = column.get("format")
    if fmt and fmt not in COLUMN_FORMATS:
        errors.append(invalid(f"{path}.format", fmt,
                              f"must be one of {','.join(COLUMN_FORMATS)}"))
    json_path = column.get("jsonPath")
    if not json_path:
        errors.append(required(f"{path}.jsonPath"))
    else:
        errors.extend(json_path_errors(str(json_path), f"{path}.jsonPath"))
    return errors


# ------------------------------------------------------------------------------ conversion


def _conversion(conversion: Any) -> list[FieldError]:
    if not isinstance(conversion, dict):
        return []
    strategy = conversion.get("strategy")
    if not strategy:
        return [required("spec.conversion.strategy")]
    if strategy not in ("None", "Webhook"):
        return [not_supported("spec.conversion.strategy", strategy, ("None", "Webhook"))]
    webhook = conversion.get("webhook") if isinstance(conversion.get("webhook"), dict) else None
    path = "spec.conversion.webhook"
    if strategy == "None":
        if webhook is not None:
            return [forbidden(path, "should not be set when strategy is not set to Webhook")]
        return []
    if webhook is None:
        return [required(path, "required when strategy is set to Webhook")]
    errors: list[FieldError] = []
    config = webhook.get("clientConfig")
    if not isinstance(config, dict):
        errors.append(required(f"{path}.clientConfig", "required when strategy is set to "
                                                        "Webhook"))
    elif (config.get("url") is None) == (config.get("service") is None):
        errors.append(required(f"{path}.clientConfig", "exactly one of url or service is "
                                                        "required"))
    errors.extend(_review_versions(webhook.get("conversionReviewVersions"),
                                   f"{path}.conversionReviewVersions"))
    return errors


def _review_versions(listed: Any, path: str) -> list[FieldError]:
    if not listed:
        return [required(path)]
    errors: list[FieldError] = []
    seen: set[str] = set()
    if not isinstance(listed, list):
        return [invalid(path, listed, "must be a list of strings")]
    for i, version in enumerate(listed):
        if not isinstance(version, str):
            errors.append(invalid(index(path, i), version, "must be a string"))
            continue
        if version in seen:
            errors.append(invalid(index(path, i), version, "duplicate version"))
            continue
        seen.add(version)
        errors.extend(invalid(index(path, i), version, e)
                      for e in names.is_dns1035_label(str(version)))
    if not seen & {"v1", "v1beta1"}:
        errors.append(invalid(path, listed, "must include at least one of v1, v1beta1"))
    return errors
