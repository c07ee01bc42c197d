"""Jump hosts (bastions, ProxyJump chains): each entry is ``[user@]host[:port]``, a mapping
{address, port, user, key_file}, or the name of another inventory host — whose own jump chain
is then prepended, so chains compose."""

from __future__ import annotations

from typing import Any

from kboot.inventory.model import JumpHost
from kboot.inventory.problems import Problems, Where
from kboot.inventory.schema import Bad, port, text

JUMP_KEYS = ("address", "port", "user", "key_file")
MAX_DEPTH = 8


def parse_jump_string(value: str) -> JumpHost:
    user, _, rest = value.strip().rpartition("@")
    address, port_text = rest, ""
    if rest.startswith("["):
        address, _, tail = rest[1:].partition("]")
        port_text = tail[1:] if tail.startswith(":") else ""
    elif rest.count(":") == 1:
        address, _, port_text = rest.partition(":")
    if not address:
        raise Bad(f"expected '[user@]host[:port]', got {value!r}")
    return JumpHost(address=address, port=port(port_text) if port_text else 22,
                    user=user or None)


def _from_mapping(value: dict[str, Any]) -> JumpHost:
    unknown = sorted(set(value) - set(JUMP_KEYS))
    if unknown or "address" not in value:
        raise Bad(f"expected a jump mapping with address and optionally port, user, key_file; "
                  f"got keys {sorted(value)}")
    return JumpHost(
        address=text(value["address"]),
        port=port(value.get("port", 22)),
        user=text(value["user"]) if value.get("user") is not None else None,
        key_file=text(value["key_file"]) if value.get("key_file") is not None else None,
    )


class JumpResolver:
    """Turns every host's raw ``jump`` list into JumpHost chains."""

    def __init__(self, settings: dict[str, dict[str, Any]], problems: Problems) -> None:
        self.settings = settings
        self.problems = problems

    def chain(self, host: str, line: Where, depth: int = 0) -> tuple[JumpHost, ...]:
        items = self.settings[host].get("jump") or []
        result: tuple[JumpHost, ...] = ()
        for item in items:
            try:
                result += self._entry(host, item, line, depth)
            except Bad as exc:
                self.problems.add(line, f"{host}.jump", str(exc))
        return result

    def _entry(self, host: str, item: Any, line: Where, depth: int,
               ) -> tuple[JumpHost, ...]:
        if isinstance(item, dict):
            return (_from_mapping(item),)
        if item in self.settings:
            if item == host or depth >= MAX_DEPTH:
                raise Bad(f"jump chain through {item!r} loops back; expected a chain of "
                          "distinct hosts")
            other = self.settings[item]
            via = self.chain(item, line, depth + 1)
            return (*via, JumpHost(address=other["address"], port=other.get("port", 22),
                                   user=other.get("user"), key_file=other.get("key_file")))
        return (parse_jump_string(str(item)),)
