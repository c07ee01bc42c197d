"""The string ``format`` values Kubernetes checks on custom resources.

Upstream (``apiextensions-apiserver/pkg/apiserver/validation/formats.go``) keeps a fixed list of
formats it validates and strips every other format before validating, so an unknown format is
documentation only.  Each check here answers whether a string is valid for the format; a failing
value is reported as upstream does, ``<path> in body must be of type <format>: "<value>"``.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Callable

_UUID = r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?{v}[0-9a-fA-F]{3}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"
_HOST = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9]{0,62})?(\.[A-Za-z0-9]([-A-Za-z0-9]{0,62})?)*\.?$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?"
                        r"([Zz]|[+-]\d{2}:?\d{2})?$")
_DURATION = re.compile(r"^(-?\d+(\.\d+)?\s*(ns|us|µs|ms|s|m|h|d|w)\s*)+$")
_GO_DURATION = re.compile(r"^[-+]?((\d+(\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h))+$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
_MAC = re.compile(r"^([0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}$|^([0-9A-Fa-f]{2}[:-]){7}"
                  r"[0-9A-Fa-f]{2}$|^([0-9A-Fa-f]{4}\.){2}[0-9A-Fa-f]{4}$")
_HEX_COLOR = re.compile(r"^#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
_RGB_COLOR = re.compile(r"^rgb\(\s*(\d{1,3})\s*,\s*(\d{1,3})\s*,\s*(\d{1,3})\s*\)$")
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:[^\s]*$|^/[^\s]*$")
_BSON = re.compile(r"^[0-9a-fA-F]{24}$")


def _regex(pattern: re.Pattern[str]) -> Callable[[str], bool]:
    return lambda value: pattern.match(value) is not None


def _uuid(version: str) -> Callable[[str], bool]:
    pattern = re.compile("^" + _UUID.replace("{v}", version) + "$")
    return _regex(pattern)


def _ip(version: int) -> Callable[[str], bool]:
    def check(value: str) -> bool:
        try:
            return ipaddress.ip_address(value).version == version
        except ValueError:
            return False
    return check


def _cidr(value: str) -> bool:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False
    return "/" in value


def _byte(value: str) -> bool:
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def _date(value: str) -> bool:
    if not _DATE.match(value):
        return False
    year, month, day = (int(p) for p in value.split("-"))
    return 1 <= month <= 12 and 1 <= day <= 31 and year >= 0


def _hostname(value: str) -> bool:
    return len(value) <= 255 and _HOST.match(value) is not None


def _rgb(value: str) -> bool:
    found = _RGB_COLOR.match(value)
    return found is not None and all(int(g) <= 255 for g in found.groups())


CHECKS: dict[str, Callable[[str], bool]] = {
    "bsonobjectid": _regex(_BSON),
    "uri": _regex(_URI),
    "email": _regex(_EMAIL),
    "hostname": _hostname,
    "ipv4": _ip(4),
    "ipv6": _ip(6),
    "cidr": _cidr,
    "mac": _regex(_MAC),
    "uuid": _uuid("[0-9a-fA-F]"),
    "uuid3": _uuid("3"),
    "uuid4": _uuid("4"),
    "uuid5": _uuid("5"),
    "hexcolor": _regex(_HEX_COLOR),
    "rgbcolor": _rgb,
    "byte": _byte,
    "date": _date,
    "date-time": _regex(_DATE_TIME),
    "datetime": _regex(_DATE_TIME),
    "duration": lambda v: _DURATION.match(v) is not None or _GO_DURATION.match(v) is not None,
}
"""Formats Kubernetes validates (others, e.g. ``password``, ``int32`` on strings, are ignored)."""


def format_ok(fmt: str, value: str) -> bool:
    """Whether ``value`` is valid for ``fmt``; unknown formats accept everything."""
    check = CHECKS.get(fmt)
    return check is None or check(value)
