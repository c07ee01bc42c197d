"""``networking.k8s.io/v1`` NetworkPolicy: upstream's validation and ``kubectl get`` columns.

Validation follows upstream's ``pkg/apis/networking/validation`` (``ValidateNetworkPolicySpec``
and the port, peer and ipBlock rules below it), so a policy kboot accepts is one every
Kubernetes cluster accepts and the same mistakes are refused with the same field paths.
Enforcement lives in :mod:`kboot.controlplane.proxy.netpol`.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from kboot.controlplane.api import names
from kboot.controlplane.api.field_errors import (
    FieldError,
    check_enum,
    forbidden,
    in_range,
    invalid,
    required,
)
from kboot.controlplane.api.printers_base import AGE, NAME, Printer, age, column, selector_text
from kboot.controlplane.api.selectors import SelectorError, label_selector_from_dict

Obj = dict[str, Any]
PROTOCOLS = ("TCP", "UDP", "SCTP")
POLICY_TYPES = ("Ingress", "Egress")
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _selector(path: str, value: Any) -> list[FieldError]:
    if value is None:
        return []
    try:
        label_selector_from_dict(value)
    except SelectorError as exc:
        return [invalid(path, value, exc.message)]
    return []


def _port(port: Obj, path: str) -> list[FieldError]:
    errors = check_enum(f"{path}.protocol", port.get("protocol"), PROTOCOLS)
    value, end = port.get("port"), port.get("endPort")
    if value is None:
        if end is not None:
            errors.append(invalid(f"{path}.endPort", end,
                                  "may not be specified when `port` is not specified"))
        return errors
    if isinstance(value, str):
        errors += [invalid(f"{path}.port", value, e) for e in names.is_port_name(value)]
        if end is not None:
            errors.append(invalid(f"{path}.endPort", end,
                                  "may not be specified when `port` is non-numeric"))
        return errors
    errors += in_range(f"{path}.port", value, 1, 65535)
    if isinstance(end, int):
        errors += in_range(f"{path}.endPort", end, 1, 65535)
        if isinstance(value, int) and end < value:
            errors.append(invalid(f"{path}.endPort", end,
                                  "must be greater than or equal to `port`"))
    return errors


def parse_cidr(text: str) -> Network:
    """A CIDR as upstream's ``ParseCIDRSloppy`` takes it: host bits may be set."""
    return ipaddress.ip_network(text, strict=False)


def _ip_block(block: Obj, path: str) -> list[FieldError]:
    cidr_text = block.get("cidr") or ""
    if not cidr_text:
        return [required(f"{path}.cidr")]
    try:
        cidr = parse_cidr(str(cidr_text))
    except ValueError:
        return [invalid(f"{path}.cidr", cidr_text, "must be a valid CIDR value, (e.g. "
                                                    "10.9.8.0/24 or 2001:db8::/64)")]
    errors: list[FieldError] = []
    for i, text in enumerate(block.get("except") or []):
        epath = f"{path}.except[{i}]"
        try:
            excepted = parse_cidr(str(text))
        except ValueError:
            errors.append(invalid(epath, text, "must be a valid CIDR value, (e.g. 10.9.8.0/24 "
                                               "or 2001:db8::/64)"))
            continue
        if excepted.version != cidr.version or excepted.network_address not in cidr \
                or excepted.prefixlen <= cidr.prefixlen:
            errors.append(invalid(epath, text, "must be a strict subset of `cidr`"))
    return errors


def _peer(peer: Obj, path: str) -> list[FieldError]:
    errors: list[FieldError] = []
    count = 0
    for field in ("podSelector", "namespaceSelector"):
        if peer.get(field) is not None:
            count += 1
            errors += _selector(f"{path}.{field}", peer[field])
    block = peer.get("ipBlock")
    if block is not None:
        count += 1
        errors += _ip_block(block, f"{path}.ipBlock")
    if count == 0:
        errors.append(required(path, "must specify a peer"))
    elif block is not None and count > 1:
        errors.append(forbidden(path, "may not specify both ipBlock and another peer"))
    return errors


def _rules(spec: Obj, field: str, peers_field: str) -> list[FieldError]:
    errors: list[FieldError] = []
    for i, rule in enumerate(spec.get(field) or []):
        path = f"spec.{field}[{i}]"
        for j, port in enumerate((rule or {}).get("ports") or []):
            errors += _port(port or {}, f"{path}.ports[{j}]")
        for j, peer in enumerate((rule or {}).get(peers_field) or []):
            errors += _peer(peer or {}, f"{path}.{peers_field}[{j}]")
    return errors


def validate_network_policy(obj: Obj, old: Obj | None) -> list[FieldError]:
    """Upstream's ``ValidateNetworkPolicySpec`` (``spec.podSelector`` must be present, as the
    kind's schema requires; ``{}`` selects every pod of the namespace)."""
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return [required("spec")]
    errors: list[FieldError] = []
    if spec.get("podSelector") is None:
        errors.append(required("spec.podSelector"))
    else:
        errors += _selector("spec.podSelector", spec["podSelector"])
    errors += _rules(spec, "ingress", "from")
    errors += _rules(spec, "egress", "to")
    types = spec.get("policyTypes") or []
    for i, kind in enumerate(types):
        errors += check_enum(f"spec.policyTypes[{i}]", kind, POLICY_TYPES)
    if len(types) > len(POLICY_TYPES):
        errors.append(invalid("spec.policyTypes", types,
                              "may not specify more than two policyTypes"))
    return errors


def default_network_policy(obj: Obj) -> None:
    """Upstream's ``SetDefaults_NetworkPolicy``: ports default to TCP; no ``policyTypes`` means
    ``Ingress``, plus ``Egress`` when egress rules are given (so ``kubectl get -o yaml`` shows
    what the enforcement reads)."""
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    for field in ("ingress", "egress"):
        for rule in spec.get(field) or []:
            for port in (rule or {}).get("ports") or [] if isinstance(rule, dict) else []:
                if isinstance(port, dict):
                    port.setdefault("protocol", "TCP")
    if not spec.get("policyTypes"):
        spec["policyTypes"] = ["Ingress", *(["Egress"] if spec.get("egress") else [])]


NETWORK_POLICY_PRINTER = Printer(
    (NAME, column("Pod-Selector", description="Selects the pods to which this NetworkPolicy "
                                              "object applies."), AGE),
    lambda p, now: [selector_text((p.get("spec") or {}).get("podSelector")), age(p, now)],
)
