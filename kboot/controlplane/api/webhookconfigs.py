"""``admissionregistration.k8s.io/v1`` Validating/MutatingWebhookConfiguration: pure rules.

Defaults, validation and kubectl's columns, as upstream's ``admissionregistration`` package
has them for v1. The apiserver's dispatcher (:mod:`kboot.controlplane.apiserver.webhooks`)
reads only configurations that passed these rules, so it never guesses what a field meant.

``matchConditions`` are compiled here (:mod:`.matchconditions`; one using ``authorizer`` is
refused). One deliberate difference, a refusal rather than a silent gap:
``admissionReviewVersions`` must contain ``v1``, the only ``AdmissionReview`` version this
apiserver sends (upstream also accepts a list naming only ``v1beta1``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from kboot.controlplane.api import names
from kboot.controlplane.api.field_errors import (
    FieldError,
    check_enum,
    duplicate,
    in_range,
    invalid,
    required,
)
from kboot.controlplane.api.matchconditions import condition_errors
from kboot.controlplane.api.printers_base import AGE, NAME, Printer, age, column
from kboot.controlplane.api.selectors import SelectorError, label_selector_from_dict

Obj = dict[str, Any]

OPERATIONS = ("*", "CREATE", "UPDATE", "DELETE", "CONNECT")
SCOPES = ("*", "Cluster", "Namespaced")
FAILURE_POLICIES = ("Ignore", "Fail")
MATCH_POLICIES = ("Exact", "Equivalent")
SIDE_EFFECTS_V1 = ("None", "NoneOnDryRun")
REINVOCATION_POLICIES = ("Never", "IfNeeded")
DEFAULT_TIMEOUT = 10


def default_configuration(obj: Obj, *, mutating: bool) -> None:
    """Upstream's v1 defaults, in place: Fail, Equivalent, timeout 10 s, empty selectors (match
    everything), rule scope ``*``, service port 443, and reinvocation Never (mutating)."""
    for hook in obj.get("webhooks") or ():
        if not isinstance(hook, dict):
            continue
        hook.setdefault("failurePolicy", "Fail")
        hook.setdefault("matchPolicy", "Equivalent")
        hook.setdefault("namespaceSelector", {})
        hook.setdefault("objectSelector", {})
        hook.setdefault("timeoutSeconds", DEFAULT_TIMEOUT)
        if mutating:
            hook.setdefault("reinvocationPolicy", "Never")
        for rule in hook.get("rules") or ():
            if isinstance(rule, dict):
                rule.setdefault("scope", "*")
        service = (hook.get("clientConfig") or {}).get("service")
        if isinstance(service, dict):
            service.setdefault("port", 443)


def validate_configuration(obj: Obj, old: Obj | None) -> list[FieldError]:
    """Every webhook of a Validating- or MutatingWebhookConfiguration (``webhooks[i]...``)."""
    mutating = obj.get("kind") == "MutatingWebhookConfiguration"
    errors: list[FieldError] = []
    seen: set[str] = set()
    for i, hook in enumerate(obj.get("webhooks") or ()):
        path = f"webhooks[{i}]"
        if not isinstance(hook, dict):
            errors.append(invalid(path, hook, "must be an object"))
            continue
        name = hook.get("name") or ""
        if name in seen:
            errors.append(duplicate(f"{path}.name", name))
        seen.add(name)
        errors += _webhook(hook, path, mutating=mutating)
    return errors


def _webhook(hook: Mapping[str, Any], path: str, *, mutating: bool) -> list[FieldError]:
    errors = _name(hook.get("name"), f"{path}.name")
    for j, rule in enumerate(hook.get("rules") or ()):
        errors += _rule(rule, f"{path}.rules[{j}]")
    errors += check_enum(f"{path}.failurePolicy", hook.get("failurePolicy"), FAILURE_POLICIES)
    errors += check_enum(f"{path}.matchPolicy", hook.get("matchPolicy"), MATCH_POLICIES)
    side = hook.get("sideEffects")
    if side is None:
        errors.append(required(f"{path}.sideEffects", "must specify one of None, NoneOnDryRun"))
    else:
        errors += check_enum(f"{path}.sideEffects", side, SIDE_EFFECTS_V1)
    versions = hook.get("admissionReviewVersions")
    if not versions:
        errors.append(required(f"{path}.admissionReviewVersions",
                               "must specify one of v1, v1beta1"))
    elif "v1" not in versions:
        errors.append(invalid(f"{path}.admissionReviewVersions", versions,
                              "must include v1 (the only AdmissionReview version kboot sends)"))
    timeout = hook.get("timeoutSeconds")
    if isinstance(timeout, int) and not 1 <= timeout <= 30:
        errors.append(invalid(f"{path}.timeoutSeconds", timeout,
                              "the timeout value must be between 1 and 30 seconds"))
    if mutating:
        errors += check_enum(f"{path}.reinvocationPolicy", hook.get("reinvocationPolicy"),
                             REINVOCATION_POLICIES)
    for field in ("namespaceSelector", "objectSelector"):
        errors += _selector(hook.get(field), f"{path}.{field}")
    errors += condition_errors(hook.get("matchConditions"), f"{path}.matchConditions")
    errors += client_config_errors(hook.get("clientConfig"), f"{path}.clientConfig")
    return errors


def _name(name: Any, path: str) -> list[FieldError]:
    if not name:
        return [required(path)]
    problems = names.is_dns1123_subdomain(str(name))
    if problems:
        return [invalid(path, name, p) for p in problems]
    if len(str(name).split(".")) < 3:
        return [invalid(path, name, "should be a domain with at least three segments "
                                    "separated by dots")]
    return []


def _exclusive_star(values: list[Any], path: str, what: str) -> list[FieldError]:
    if "*" in values and len(values) > 1:
        return [invalid(path, values, f"if '*' is present, must not specify other {what}")]
    return []


def _rule(rule: Any, path: str) -> list[FieldError]:
    if not isinstance(rule, dict):
        return [invalid(path, rule, "must be an object")]
    errors: list[FieldError] = []
    operations = list(rule.get("operations") or ())
    if not operations:
        errors.append(required(f"{path}.operations"))
    for k, op in enumerate(operations):
        errors += check_enum(f"{path}.operations[{k}]", op, OPERATIONS)
    errors += _exclusive_star(operations, f"{path}.operations", "operations")
    groups = list(rule.get("apiGroups") or ())
    if not groups:
        errors.append(required(f"{path}.apiGroups", "must contain at least one group"))
    errors += _exclusive_star(groups, f"{path}.apiGroups", "groups")
    versions = list(rule.get("apiVersions") or ())
    if not versions:
        errors.append(required(f"{path}.apiVersions", "must contain at least one version"))
    for k, version in enumerate(versions):
        if not version:
            errors.append(required(f"{path}.apiVersions[{k}]", "version must not be empty"))
    errors += _exclusive_star(versions, f"{path}.apiVersions", "versions")
    errors += _resources(list(rule.get("resources") or ()), f"{path}.resources")
    errors += check_enum(f"{path}.scope", rule.get("scope"), SCOPES)
    return errors


def _resources(resources: list[Any], path: str) -> list[FieldError]:
    """Upstream's ``validateResources``: ``*``, ``*/*``, ``r``, ``r/sub``, ``*/sub``, ``r/*``,
    with the overlaps upstream refuses (``r/*`` with ``r/sub``, ``*/*`` with anything)."""
    if not resources:
        return [required(path)]
    errors: list[FieldError] = []
    any_sub: set[str] = set()  # r/*
    any_res: set[str] = set()  # */sub
    single = plain = False
    for k, res in enumerate(resources):
        if not isinstance(res, str) or not res:
            errors.append(required(f"{path}[{k}]", "resource must not be empty"))
            continue
        if "/" not in res:
            single = single or res == "*"
            plain = plain or res != "*"
            continue
        base, subres = res.split("/", 1)
        if base in any_sub:
            errors.append(invalid(f"{path}[{k}]", res, f"if '{base}/*' is present, must not "
                                                        f"specify {res}"))
        if subres in any_res:
            errors.append(invalid(f"{path}[{k}]", res, f"if '*/{subres}' is present, must not "
                                                        f"specify {res}"))
        if subres == "*":
            any_sub.add(base)
        if base == "*":
            any_res.add(subres)
    if len(resources) > 1 and "*/*" in resources:
        errors.append(invalid(path, resources, "if '*/*' is present, must not specify other "
                                               "resources"))
    if single and plain:
        errors.append(invalid(path, resources, "if '*' is present, must not specify other "
                                               "resources without subresources"))
    return errors


def _selector(selector: Any, path: str) -> list[FieldError]:
    if selector is None:
        return []
    if not isinstance(selector, dict):
        return [invalid(path, selector, "must be a label selector")]
    try:
        label_selector_from_dict(selector)
    except SelectorError as err:
        return [invalid(path, selector, str(err))]
    return []


def client_config_errors(config: Any, path: str) -> list[FieldError]:
    """Exactly one of ``url``/``service``; an https URL with a host and no user, query or
    fragment; a service with namespace, name, an absolute path and a valid port."""
    if not isinstance(config, dict):
        return [required(path)]
    url, service = config.get("url"), config.get("service")
    if (url is None) == (service is None):
        return [required(path, "exactly one of url or service is required")]
    if url is not None:
        return _url_errors(str(url), f"{path}.url")
    spath = f"{path}.service"
    if not isinstance(service, dict):
        return [invalid(spath, service, "must be a service reference")]
    errors: list[FieldError] = []
    for field in ("namespace", "name"):
        if not service.get(field):
            errors.append(required(f"{spath}.{field}", f"service {field} is required"))
    svc_path = service.get("path")
    if svc_path is not None and not str(svc_path).startswith("/"):
        errors.append(invalid(f"{spath}.path", svc_path, "must start with a '/'"))
    errors += in_range(f"{spath}.port", service.get("port"), 1, 65535)
    return errors


def _url_errors(url: str, path: str) -> list[FieldError]:
    try:
        parts = urlsplit(url)
    except ValueError as err:
        return [invalid(path, url, f"url must be a valid URL: {err}")]
    if parts.scheme != "https":
        return [invalid(path, url, "'https' is the only allowed URL scheme")]
    if not parts.hostname:
        return [invalid(path, url, "host must be specified")]
    if parts.username or parts.password:
        return [invalid(path, url, "user information is not permitted in the URL")]
    if parts.fragment or url.endswith("#"):
        return [invalid(path, url, "fragments are not permitted in the URL")]
    if parts.query or "?" in url:
        return [invalid(path, url, "query parameters are not permitted in the URL")]
    return []


def _cells(obj: Mapping[str, Any], now: datetime) -> list[Any]:
    hooks = obj.get("webhooks")
    return [len(hooks) if isinstance(hooks, list) else 0, age(obj, now)]


WEBHOOK_CONFIGURATION_PRINTER = Printer(
    (NAME, column("Webhooks", "integer", "Webhooks indicates the number of webhooks "
                                         "registered in this configuration."), AGE),
    _cells,
)
