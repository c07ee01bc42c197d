"""One served version of a custom resource: its schema compiled once, applied to every write.

:class:`ResourceSchema` is what the CRD serving layer keeps per (CRD, version).  Its
:meth:`~ResourceSchema.admit` does upstream's write pipeline on a decoded body, in upstream's
order:

1. prune unknown fields (:mod:`.pruning`): the removed paths become ``unknown field "<path>"``
   — an error under ``fieldValidation=Strict``, warnings under ``Warn``;
2. default (:mod:`.defaulting`);
3. validate: ``metadata`` like any object's (name a DNS subdomain, namespace/labels/annotations,
   the schema's own ``metadata.name`` constraints), the schema (:mod:`.values`, list types),
   ``x-kubernetes-embedded-resource`` objects (``apiVersion``, ``kind``, ``metadata``), then
   the CEL rules (:mod:`.cel`, transition rules against ``old``) — only when the schema
   passed, so a rule never reports a type mismatch the schema already named.  On updates,
   errors on values the update did not change are dropped (:mod:`.ratcheting`, upstream's
   ``CRDValidationRatcheting``, on by default in 1.32).

:meth:`~ResourceSchema.read` prunes and defaults an object read from storage (upstream defaults
on read too, so a default added to a CRD shows on objects stored before).  Status and scale
subresource writes use the same :meth:`admit`: the caller decides which parts of the body it
keeps.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from kboot.controlplane.api.crd.cel import RuleTree, compile_rules, evaluate
from kboot.controlplane.api.crd.defaulting import apply_defaults
from kboot.controlplane.api.crd.embedded import embedded_errors
from kboot.controlplane.api.crd.paths import field_of
from kboot.controlplane.api.crd.pruning import prune
from kboot.controlplane.api.crd.ratcheting import ratchet
from kboot.controlplane.api.crd.scale import replica_path_errors
from kboot.controlplane.api.crd.values import validate_value
from kboot.controlplane.api.errors import ApiRuleError
from kboot.controlplane.api.field_errors import FieldError, invalid
from kboot.controlplane.api.validation import validate_metadata

Schema = dict[str, Any]
FIELD_VALIDATIONS = ("Ignore", "Warn", "Strict")


class SchemaCompileError(ApiRuleError):
    """The schema's CEL rules do not compile (the CRD write should have been refused)."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(str(e) for e in errors), code=422)
        self.errors = errors


@dataclass
class Admitted:
    """The outcome of a write: the object as it would be stored, and what to answer.

    ``errors`` non-empty means 422 (``field_errors.invalid_message``); ``strict_errors``
    non-empty means 400 ``strict decoding error: unknown field "spec.x", ...``; ``warnings``
    go to the ``Warning`` headers.
    """

    obj: dict[str, Any]
    errors: list[FieldError] = field(default_factory=list)
    strict_errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)


class ResourceSchema:
    """A version's ``openAPIV3Schema`` ready to prune, default and validate custom resources."""

    def __init__(self, schema: Schema | None, *, kind: str, namespaced: bool,
                 api_version: str | None = None, scale: Schema | None = None) -> None:
        """``api_version`` (``group/version``), when given, is required of bodies; ``scale``
        (the version's ``subresources.scale``) adds upstream's replica-path checks."""
        self.schema: Schema = copy.deepcopy(schema) if schema else {
            "type": "object", "x-kubernetes-preserve-unknown-fields": True}
        self.kind = kind
        self.namespaced = namespaced
        self.api_version = api_version
        self.scale = scale
        tree, errors = compile_rules(self.schema, "openAPIV3Schema")
        if errors:
            raise SchemaCompileError(errors)
        self.rules: RuleTree = tree
        self._value_schema = _without_metadata(self.schema)

    def read(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Prune and default an object read from storage (in place; returned for chaining)."""
        prune(obj, self.schema)
        apply_defaults(obj, self._value_schema)
        return obj

    def admit(self, obj: dict[str, Any], *, old: dict[str, Any] | None = None,
              field_validation: str = "Warn") -> Admitted:
        """Prune, default and validate a create (``old`` None) or update body, in place."""
        unknown = prune(obj, self.schema)
        messages = [f'unknown field "{p}"' for p in unknown]
        result = Admitted(obj=obj, unknown=unknown)
        if field_validation == "Strict":
            result.strict_errors = messages
        elif field_validation == "Warn":
            result.warnings = messages
        apply_defaults(obj, self._value_schema)
        result.errors = self.validate(obj, old=old)
        return result

    def validate(self, obj: dict[str, Any], *, old: dict[str, Any] | None = None
                 ) -> list[FieldError]:
        """Validation alone (the object is already pruned and defaulted)."""
        type_errors = self._type_meta(obj)
        if type_errors:
            return type_errors
        meta = field_of(obj, "metadata")
        errors = validate_metadata(meta, kind=self.kind, namespaced=self.namespaced)
        errors.extend(_schema_metadata(self.schema, meta))
        schema_errors = validate_value(self._value_schema, obj)
        schema_errors.extend(embedded_errors(self._value_schema, obj, ""))
        if old is not None:
            schema_errors = ratchet(schema_errors, self._value_schema, obj, old)
        errors.extend(schema_errors)
        if self.scale is not None:
            errors.extend(replica_path_errors(obj, self.scale))
        if not self.rules.empty() and not errors:
            errors.extend(self._rule_errors(obj, old))
        return errors

    def _type_meta(self, obj: dict[str, Any]) -> list[FieldError]:
        """Upstream's ``ValidateTypeMeta``: the body names this kind and version."""
        errors: list[FieldError] = []
        if obj.get("kind") != self.kind:
            errors.append(invalid("kind", obj.get("kind"), f"must be {self.kind}"))
        if self.api_version is not None and obj.get("apiVersion") != self.api_version:
            errors.append(invalid("apiVersion", obj.get("apiVersion"),
                                  f"must be {self.api_version}"))
        return errors

    def _rule_errors(self, obj: dict[str, Any], old: dict[str, Any] | None
                     ) -> list[FieldError]:
        if old is None:
            return evaluate(self.rules, self.schema, obj, None)
        # transition rules always apply; the others ratchet like the schema
        plain = evaluate(self.rules, self.schema, obj, old, has_old=True, transition=False)
        kept = ratchet(plain, self._value_schema, obj, old)
        return kept + evaluate(self.rules, self.schema, obj, old, has_old=True, transition=True)


def _without_metadata(schema: Schema) -> Schema:
    """The root schema with ``metadata`` validated as ObjectMeta, not by the schema."""
    out = dict(schema)
    props = dict(field_of(out, "properties"))
    props["metadata"] = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    out["properties"] = props
    return out


def _schema_metadata(schema: Schema, meta: dict[str, Any]) -> list[FieldError]:
    """The schema may constrain ``metadata.name``/``generateName`` (only those)."""
    props = field_of(field_of(field_of(schema, "properties"), "metadata"), "properties")
    errors: list[FieldError] = []
    for name in ("name", "generateName"):
        if isinstance(props.get(name), dict) and name in meta:
            errors.extend(validate_value(props[name], meta[name], f"metadata.{name}"))
    return errors
