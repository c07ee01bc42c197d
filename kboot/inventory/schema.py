"""The inventory's field types: one checker per connection and cluster setting, shared by the
kboot and Ansible readers. A checker returns the normalised value or raises :class:`Bad` with
what was expected."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Any

from kboot.inventory.yamlsrc import LList, LMap

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


class Bad(Exception):
    """A value of the wrong type or range; the message says what was expected."""


def _shown(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"


def text(value: Any) -> str:
    if isinstance(value, str) and value.strip():
        return value
    raise Bad(f"expected a non-empty string, got {_shown(value)}")


def boolean(value: Any) -> bool:
    """Booleans; also the strings Ansible INI files use (``true``/``yes``/``1``/…)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str | int) and str(value).lower() in _TRUE | _FALSE:
        return str(value).lower() in _TRUE
    raise Bad(f"expected true or false, got {_shown(value)}")


def _integer(value: Any) -> int:
    if isinstance(value, bool):
        raise Bad("")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    raise Bad("")


def port(value: Any) -> int:
    try:
        number = _integer(value)
    except Bad:
        number = -1
    if 1 <= number <= 65535:
        return number
    raise Bad(f"expected a port number 1-65535, got {_shown(value)}")


def count(value: Any) -> int:
    try:
        number = _integer(value)
    except Bad:
        number = -1
    if number >= 0:
        return number
    raise Bad(f"expected a whole number >= 0, got {_shown(value)}")


def seconds(value: Any) -> float:
    try:
        number = float(value) if not isinstance(value, bool) else -1.0
    except (TypeError, ValueError):
        number = -1.0
    if number > 0:
        return number
    raise Bad(f"expected a number of seconds > 0, got {_shown(value)}")


def env_name(value: Any) -> str:
    if isinstance(value, str) and _ENV_NAME.match(value):
        return value
    # The value is not echoed: it may be a password written where its variable's name belongs.
    raise Bad("expected the NAME of an environment variable (letters, digits, _); passwords "
              "themselves are never written in inventories")


def one_of(*choices: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if value in choices:
            return str(value)
        raise Bad(f"expected one of {', '.join(choices)}, got {_shown(value)}")

    return check


def ssh_config(value: Any) -> str | None:
    """A path, or ``true`` for ``~/.ssh/config`` and ``false``/null for none."""
    if value is True:
        return "~/.ssh/config"
    if value is False or value is None:
        return None
    return text(value)


def jump(value: Any) -> list[Any]:
    """Kept raw here (strings or mappings); resolved once every host is known."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, list):
        for item in value:
            if not isinstance(item, str | dict):
                raise Bad(f"expected jump entries as 'user@host:port' strings, host names or "
                          f"mappings, got {_shown(item)}")
        return list(value)
    raise Bad(f"expected a list of jump hosts ('user@host:port', inventory host names or "
              f"mappings), got {_shown(value)}")


def cidr(value: Any) -> str:
    try:
        return str(ipaddress.ip_network(str(value), strict=True))
    except ValueError as exc:
        raise Bad(f"expected a CIDR network like 10.244.0.0/16, got {value!r} ({exc})") from None


def ip(value: Any) -> str:
    try:
        return str(ipaddress.ip_address(str(value)))
    except ValueError:
        raise Bad(f"expected an IP address, got {value!r}") from None


# Every setting of kboot.inventory.model.Connection except ``address``.
CONNECTION: dict[str, Callable[[Any], Any]] = {
    "port": port,
    "user": text,
    "key_file": text,
    "password_env": env_name,
    "password_prompt": boolean,
    "become": boolean,
    "become_password_env": env_name,
    "become_password_prompt": boolean,
    "host_key_policy": one_of("accept-new", "strict"),
    "known_hosts": text,
    "ssh_config": ssh_config,
    "jump": jump,
    "connect_timeout": seconds,
    "connect_retries": count,
    "transport": one_of("ssh", "local"),
}

# Known ``cluster:`` keys are type-checked; other keys pass through untouched.
CLUSTER: dict[str, Callable[[Any], Any]] = {
    "name": text,
    "api_vip": ip,
    "api_port": port,
    "pod_cidr": cidr,
    "service_cidr": cidr,
    "dns_domain": text,
    "kubernetes_version": text,
    "datastore": one_of("etcd", "sqlite"),
    "package_source": one_of("bundle", "host"),
}

TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")


def taint(value: Any) -> str:
    """``key[=value]:Effect`` or a mapping {key, value, effect}; normalised to the string form."""
    if isinstance(value, dict):
        key, val, effect = value.get("key"), value.get("value"), value.get("effect")
        extra = set(value) - {"key", "value", "effect"}
        if extra or not isinstance(key, str):
            raise Bad(f"expected a taint mapping with key, value, effect, got {dict(value)!r}")
        value = f"{key}={val}:{effect}" if val is not None else f"{key}:{effect}"
    if isinstance(value, str):
        head, _, effect = value.rpartition(":")
        if head and effect in TAINT_EFFECTS:
            return value
    raise Bad(f"expected a taint 'key=value:Effect' with Effect one of "
              f"{', '.join(TAINT_EFFECTS)}, got {value!r}")


def plain(value: Any) -> Any:
    """Drop line bookkeeping: LMap/LList become dict/list, recursively."""
    if isinstance(value, LMap):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, LList):
        return [plain(v) for v in value]
    return value
