"""``x-kubernetes-validations``: CEL rules compiled when a CRD is written, run on every write.

The evaluator is ``common-expression-language`` (Rust ``cel`` bindings, module ``cel``): it
compiles once, lists the functions a rule calls (so a rule needing a Kubernetes library kboot
lacks is refused at CRD time, naming the function — see :mod:`.celfuncs`) and evaluates about
ten times faster than the pure-Python candidate.

Semantics follow upstream (``pkg/apiserver/schema/cel``):

- a rule sees ``self`` (the value at the schema node carrying it) and, for *transition rules*
  (rules that mention ``oldSelf``), ``oldSelf``: the correlated old value, by object key and by
  ``x-kubernetes-list-type: map`` key.  Transition rules run only on updates where the old
  value exists; on create they are skipped.  ``optionalOldSelf`` needs CEL optionals, which the
  evaluator lacks: it is refused at CRD time;
- a false result fails with ``message``, else the evaluated ``messageExpression``, else
  ``failed rule: <rule>``; ``reason`` picks the error type (default ``FieldValueInvalid``,
  whose value is the schema type, e.g. ``Invalid value: "object": ...``); ``fieldPath``
  (``.spec.x``, relative to the node) moves the error;
- a rule whose evaluation errors (a missing key without ``has()``, a type mismatch) fails with
  ``<evaluator's message> evaluating rule: <message or rule>``.

Not implemented (documented in docs/apiserver.md): cost estimation and budgets, the
``url``/``ip``/``cidr``/``semver``/``format`` libraries (``quantity`` is
:mod:`.celquantity`).  Values are typed by the schema (:mod:`.celvalues`): formatted
strings are timestamps, durations and bytes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import cel

from kboot.controlplane.api.crd.celfuncs import EXTENSIONS, unsupported
from kboot.controlplane.api.crd.celquantity import FUNCTIONS as QUANTITY_FUNCTIONS
from kboot.controlplane.api.crd.celvalues import cel_value
from kboot.controlplane.api.crd.paths import child, field_of, index, key, list_of
from kboot.controlplane.api.field_errors import (
    DUPLICATE,
    FORBIDDEN,
    INVALID,
    REQUIRED,
    FieldError,
    invalid,
)

Schema = dict[str, Any]
FUNCTIONS = {**EXTENSIONS, **QUANTITY_FUNCTIONS}  # what expressions may call
_OLD_SELF = re.compile(r"\boldSelf\b")
_FIELD_PATH = re.compile(r"^(\.[A-Za-z_][A-Za-z0-9_-]*|\[['\"][^'\"]+['\"]\]|\[\d+\])+$")


@dataclass(frozen=True)
class Rule:
    """One compiled rule and what to answer when it fails."""

    text: str
    program: Any
    transition: bool
    message: str | None = None
    message_program: Any = None
    reason: str = INVALID
    field_path: str = ""


@dataclass
class RuleTree:
    """The compiled rules of a schema, shaped like it (only branches that hold rules)."""

    rules: list[Rule] = field(default_factory=list)
    properties: dict[str, RuleTree] = field(default_factory=dict)
    items: RuleTree | None = None
    additional: RuleTree | None = None

    def empty(self) -> bool:
        return not (self.rules or self.properties or self.items or self.additional)


def compile_rules(schema: Schema, path: str) -> tuple[RuleTree, list[FieldError]]:
    """Compile every rule under ``schema`` (at CRD ``path``); errors name the refused rules."""
    errors: list[FieldError] = []
    tree = _compile(schema, path, errors, correlatable=True)
    return tree, errors


def _compile(schema: Schema, path: str, errors: list[FieldError], *,
             correlatable: bool) -> RuleTree:
    tree = RuleTree()
    for i, spec in enumerate(list_of(schema, "x-kubernetes-validations")):
        if isinstance(spec, dict) and isinstance(spec.get("rule"), str):
            rule = _compile_rule(spec, index(child(path, "x-kubernetes-validations"), i),
                                 errors, correlatable=correlatable)
            if rule is not None:
                tree.rules.append(rule)
    for name, sub in field_of(schema, "properties").items():
        if isinstance(sub, dict):
            branch = _compile(sub, key(child(path, "properties"), name), errors,
                              correlatable=correlatable)
            if not branch.empty():
                tree.properties[name] = branch
    items = schema.get("items")
    if isinstance(items, dict):
        keyed = schema.get("x-kubernetes-list-type") == "map"
        branch = _compile(items, child(path, "items"), errors,
                          correlatable=correlatable and keyed)
        tree.items = None if branch.empty() else branch
    additional = schema.get("additionalProperties")
    if isinstance(additional, dict):
        branch = _compile(additional, child(path, "additionalProperties"), errors,
                          correlatable=correlatable)
        tree.additional = None if branch.empty() else branch
    return tree


def compile_expression(text: str) -> tuple[Any, str | None]:
    """A compiled CEL program, or None and why not (also for webhooks' matchConditions)."""
    try:
        program = cel.compile(text)
    except (ValueError, RuntimeError) as exc:
        return None, f"compilation failed: {exc}"
    missing = [f for f in unsupported(list(program.functions())) if f not in FUNCTIONS]
    if missing:
        return None, "compilation failed: " + ", ".join(
            f"function '{m}' is not supported by kboot's CEL evaluator" for m in missing)
    return program, None


def _program(text: str, where: str, spec: Any, errors: list[FieldError]) -> Any:
    program, problem = compile_expression(text)
    if problem:
        errors.append(invalid(where, spec, problem))
    return program


def _compile_rule(spec: dict[str, Any], path: str, errors: list[FieldError], *,
                  correlatable: bool) -> Rule | None:
    text = spec["rule"]
    program = _program(text, child(path, "rule"), spec, errors)
    transition = bool(_OLD_SELF.search(text))
    if spec.get("optionalOldSelf"):
        errors.append(invalid(child(path, "optionalOldSelf"), True, "optionalOldSelf needs CEL "
                              "optional types, which kboot's CEL evaluator does not support"))
        return None
    if transition and not correlatable:
        errors.append(invalid(child(path, "rule"), text, "oldSelf cannot be used on the "
                              "uncorrelatable portion of the schema within " + path))
        return None
    message_program = None
    if isinstance(spec.get("messageExpression"), str) and spec["messageExpression"].strip():
        message_program = _program(spec["messageExpression"], child(path, "messageExpression"),
                                   spec, errors)
    field_path = spec.get("fieldPath") or ""
    if field_path and not _FIELD_PATH.match(field_path):
        errors.append(invalid(child(path, "fieldPath"), field_path, "must be a valid path"))
    if program is None:
        return None
    return Rule(text=text, program=program, transition=transition,
                message=spec.get("message"), message_program=message_program,
                reason=spec.get("reason") or INVALID, field_path=field_path)


# ---------------------------------------------------------------------------- evaluation


def evaluate(tree: RuleTree, schema: Schema, value: Any, old: Any, *,
             path: str = "", has_old: bool = False,
             transition: bool | None = None) -> list[FieldError]:
    """Run the rules of ``tree`` over ``value`` (``old`` the correlated old value); with
    ``transition`` True/False only the transition/other rules."""
    errors: list[FieldError] = []
    if value is None:
        return errors
    contexts: dict[bool, Any] = {}
    for rule in tree.rules:
        if (rule.transition and not has_old) or transition not in (None, rule.transition):
            continue
        if rule.transition not in contexts:   # one context per node: converted once
            contexts[rule.transition] = _context(schema, value, old, transition=rule.transition)
        errors.extend(_run(rule, schema, value, path, contexts[rule.transition]))
    for name, branch, sub_schema, sub_value, sub_old, sub_has_old in _children(
            tree, schema, value, old, has_old):
        errors.extend(evaluate(branch, sub_schema, sub_value, sub_old,
                               path=name(path), has_old=sub_has_old, transition=transition))
    return errors


def _children(tree: RuleTree, schema: Schema, value: Any, old: Any,
              has_old: bool) -> Iterator[tuple[Any, RuleTree, Schema, Any, Any, bool]]:
    if isinstance(value, dict):
        properties = field_of(schema, "properties")
        old_map = old if has_old and isinstance(old, dict) else {}
        for name, sub in value.items():
            branch = tree.properties.get(name) if name in properties else tree.additional
            sub_schema = properties.get(name) or schema.get("additionalProperties")
            if branch is not None and isinstance(sub_schema, dict):
                yield ((lambda p, n=name: child(p, n)), branch, sub_schema, sub,
                       old_map.get(name), name in old_map)
    elif isinstance(value, list) and tree.items is not None:
        items = field_of(schema, "items")
        olds = _old_items(schema, old if has_old and isinstance(old, list) else [])
        for i, item in enumerate(value):
            old_item = olds.get(_map_key(schema, item)) if olds else None
            yield ((lambda p, i=i: index(p, i)), tree.items, items, item, old_item,
                   old_item is not None)


def _map_key(schema: Schema, item: Any) -> tuple[Any, ...] | None:
    keys = [k for k in list_of(schema, "x-kubernetes-list-map-keys") if isinstance(k, str)]
    if schema.get("x-kubernetes-list-type") != "map" or not isinstance(item, dict):
        return None
    return tuple(str(item.get(k)) for k in keys)


def _old_items(schema: Schema, olds: list[Any]) -> dict[Any, Any]:
    out: dict[Any, Any] = {}
    for item in olds:
        found = _map_key(schema, item)
        if found is not None:
            out[found] = item
    return out


def _context(schema: Schema, value: Any, old: Any, *, transition: bool) -> Any:
    variables = {"self": cel_value(value, schema)}
    if transition:
        variables["oldSelf"] = cel_value(old, schema)
    return cel.Context(variables=variables, functions=FUNCTIONS)


def _run(rule: Rule, schema: Schema, value: Any, path: str, context: Any) -> list[FieldError]:
    where = path + rule.field_path if rule.field_path else path
    where = where.lstrip(".")
    type_name = schema.get("type") or ("object" if isinstance(value, dict) else "")
    try:
        result = rule.program.execute(context)
    except Exception as exc:  # the evaluator raises many types: all are failures of the rule
        return [invalid(where, type_name,
                        f"{_describe(exc)} evaluating rule: {_rule_string(rule)}")]
    if result is True:
        return []
    if result is not False:
        return [invalid(where, type_name, f"rule returned a non-boolean value: {result!r}")]
    return [_failure(rule, where, type_name, context)]


def _rule_string(rule: Rule) -> str:
    """Upstream's ``ruleErrorString``: the message when there is one, else the rule."""
    return (rule.message or "").strip() or rule.text.strip()


def _describe(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        return f"no such key: {exc.args[0] if exc.args else ''}"
    return str(exc) or type(exc).__name__


def _failure(rule: Rule, where: str, type_name: str, context: Any) -> FieldError:
    message = (rule.message or "").strip() or f"failed rule: {rule.text.strip()}"
    if rule.message_program is not None:
        try:
            evaluated = rule.message_program.execute(context)
        except Exception:
            evaluated = None
        if isinstance(evaluated, str) and evaluated.strip() and "\n" not in evaluated:
            message = evaluated
    if rule.reason == REQUIRED:
        return FieldError(REQUIRED, where, message)
    if rule.reason == FORBIDDEN:
        return FieldError(FORBIDDEN, where, message)
    if rule.reason == DUPLICATE:
        return FieldError(DUPLICATE, where, "", type_name)
    return invalid(where, type_name, message)
