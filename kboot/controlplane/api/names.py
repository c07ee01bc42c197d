"""Syntax checks for names, label keys and values, with upstream's wording.

Each ``is_*`` function returns a list of problems (empty when valid), as upstream's
``k8s.io/apimachinery/pkg/util/validation`` does, so messages read the same as a real
apiserver's.  Shared by selectors and validation.
"""

from __future__ import annotations

import re

_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_SUBDOMAIN = rf"{_LABEL}(\.{_LABEL})*"
_QUALIFIED = r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_VALUE = r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?"
_IANA = r"[-a-z0-9]+"
_CONFIG_KEY = r"[-._a-zA-Z0-9]+"

LABEL_RE = re.compile(rf"^{_LABEL}$")
SUBDOMAIN_RE = re.compile(rf"^{_SUBDOMAIN}$")
QUALIFIED_RE = re.compile(rf"^{_QUALIFIED}$")
VALUE_RE = re.compile(rf"^{_VALUE}$")
CONFIG_KEY_RE = re.compile(rf"^{_CONFIG_KEY}$")


def _too_long(limit: int) -> str:
    return f"must be no more than {limit} characters"


def is_dns1123_label(value: str) -> list[str]:
    errs = [] if len(value) <= 63 else [_too_long(63)]
    if not LABEL_RE.match(value):
        errs.append(
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or "
            "'-', and must start and end with an alphanumeric character (e.g. 'my-name',  or "
            f"'123-abc', regex used for validation is '{_LABEL}')")
    return errs


def is_dns1123_subdomain(value: str) -> list[str]:
    errs = [] if len(value) <= 253 else [_too_long(253)]
    if not SUBDOMAIN_RE.match(value):
        errs.append(
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
            "'-' or '.', and must start and end with an alphanumeric character (e.g. "
            f"'example.com', regex used for validation is '{_SUBDOMAIN}')")
    return errs


def is_wildcard_dns1123_subdomain(value: str) -> list[str]:
    """``*.example.com``: a ``*.`` then a DNS-1123 subdomain (Ingress rule hosts)."""
    if value.startswith("*.") and not is_dns1123_subdomain(value[2:]) and len(value) <= 253:
        return []
    return ["a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS "
            "subdomain, which must consist of lower case alphanumeric characters, '-' or '.' "
            "and end with an alphanumeric character (e.g. '*.example.com', regex used for "
            rf"validation is '\*\.{_SUBDOMAIN}')"]


def ingress_host_errors(host: str) -> list[str]:
    """An Ingress rule ``host``: a DNS-1123 subdomain or a ``*.`` wildcard of one, never an IP
    address (upstream's ``validateIngressRules``)."""
    if host.startswith("*"):
        return is_wildcard_dns1123_subdomain(host)
    if re.fullmatch(r"[0-9.]+|[0-9a-fA-F:]*:[0-9a-fA-F:.]*", host):
        return ["must be a DNS name, not an IP address"]
    return is_dns1123_subdomain(host)


def is_path_segment_name(value: str) -> list[str]:
    """RBAC object names: anything usable as one URL path segment."""
    if value in (".", ".."):
        return [f"may not be '{value}'"]
    return [f"may not contain '{c}'" for c in "/%" if c in value]


def is_qualified_name(value: str) -> list[str]:
    """Label and annotation keys: ``[prefix/]name``."""
    prefix, slash, name = value.rpartition("/")
    errs: list[str] = []
    if slash and not prefix:
        errs.append("prefix part must be non-empty")
    elif prefix:
        errs.extend(f"prefix part {e}" for e in is_dns1123_subdomain(prefix))
    if not name:
        errs.append("name part must be non-empty")
        return errs
    if len(name) > 63:
        errs.append(f"name part {_too_long(63)}")
    if not QUALIFIED_RE.match(name):
        errs.append(
            "name part must consist of alphanumeric characters, '-', '_' or '.', and must start "
            "and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or "
            f"'123-abc', regex used for validation is '{_QUALIFIED}')")
    return errs


def is_label_value(value: str) -> list[str]:
    errs = [] if len(value) <= 63 else [_too_long(63)]
    if not VALUE_RE.match(value):
        errs.append(
            "a valid label must be an empty string or consist of alphanumeric characters, '-', "
            "'_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue', "
            f" or 'my_value',  or '12345', regex used for validation is '{_VALUE}')")
    return errs


def is_config_key(value: str) -> list[str]:
    """ConfigMap and Secret data keys."""
    errs = [] if len(value) <= 253 else [_too_long(253)]
    if not CONFIG_KEY_RE.match(value):
        errs.append("a valid config key must consist of alphanumeric characters, '-', '_' or "
                    f"'.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for "
                    f"validation is '{_CONFIG_KEY}')")
    elif value in (".", "..") or value.startswith(".."):
        errs.append("must not be '.' or '..' or start with '..'")
    return errs


def is_port_name(value: str) -> list[str]:
    """IANA service names: ports referred to by name."""
    errs = [] if len(value) <= 15 else [_too_long(15)]
    if not re.match(rf"^{_IANA}$", value):
        errs.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not re.search("[a-z]", value):
        errs.append("must contain at least one letter (a-z)")
    if "--" in value:
        errs.append("must not contain consecutive hyphens")
    if value.startswith("-") or value.endswith("-"):
        errs.append("must not begin or end with a hyphen")
    return errs


_DNS1035 = r"[a-z]([-a-z0-9]*[a-z0-9])?"


def is_dns1035_label(value: str) -> list[str]:
    """Service names: a DNS label that starts with a letter."""
    errs = [] if len(value) <= 63 else [_too_long(63)]
    if not re.match(rf"^{_DNS1035}$", value):
        errs.append(
            "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start "
            "with an alphabetic character, and end with an alphanumeric character (e.g. "
            f"'my-name',  or 'abc-123', regex used for validation is '{_DNS1035}')")
    return errs


def is_env_var_name(value: str) -> list[str]:
    """Environment variable names and ``envFrom`` prefixes: upstream's relaxed rule (on by
    default since 1.32), any printable ASCII character but ``=``."""
    if not value:
        return ["environment variable name must be non-empty"]
    if any(not " " <= ch <= "~" or ch == "=" for ch in value):
        return ["a valid environment variable name must consist only of printable ASCII "
                "characters other than '='"]
    return []
