"""How much work one request body may cost to decode: size, nesting depth, alias expansion.

The apiserver decodes on its single event loop, so a body that is cheap to send but expensive to
decode (a 512-byte YAML "billion laughs" document, 900 nested brackets) would stall every other
client, health checks included. Three bounds keep decoding proportional to what was sent:

- **size**: :data:`MAX_BODY` (3 MiB), upstream's limit for write requests;
- **depth**: :data:`MAX_DEPTH` levels of nested objects/arrays. Upstream's Go decoders allow 10,000;
  the handlers after decoding (validation, merges, encoding) recurse in Python, whose stack ends at
  ~1,000 frames, so kboot stops far earlier — deeper than any real manifest, shallower than the
  recursion limit divided by the frames a level costs downstream;
- **alias expansion**: go-yaml's rule, which sigs.k8s.io/yaml (and so kube-apiserver) inherits:
  once more than 100 nodes came from aliases and more than 1,000 were decoded, the share decoded
  through aliases may not exceed 99 % up to 400,000 nodes, falling linearly to 10 % at 4,000,000.
  A bomb is almost all alias, so it fails after a few thousand nodes, before any expansion;
  and the text aliases expand to may not exceed twice the body limit (few nodes, long strings).

:class:`ExpansionBudget` counts as the YAML composer goes (an alias counts the expanded size of
the node it names), so a bomb is refused without ever being expanded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kboot.controlplane.errors import ControlPlaneError

MAX_BODY = 3 * 1024 * 1024
MAX_DEPTH = 100
# go-yaml's rule counts nodes, not their size: 900 aliases of a 2 MiB string pass it. Text
# without aliases is at most the body's size; twice that is room for any honest reuse.
MAX_EXPANDED_CHARS = 2 * MAX_BODY

_ALIAS_RANGE_LOW = 400_000
_ALIAS_RANGE_HIGH = 4_000_000


class DecodeLimitError(ControlPlaneError, ValueError):
    """The body exceeds a decode bound; the message says which (it becomes a 400 Status)."""


def allowed_alias_ratio(decoded: int) -> float:
    """go-yaml's permitted share of alias-driven decodes for a document of ``decoded`` nodes."""
    if decoded <= _ALIAS_RANGE_LOW:
        return 0.99
    if decoded >= _ALIAS_RANGE_HIGH:
        return 0.10
    return 0.99 - 0.89 * (decoded - _ALIAS_RANGE_LOW) / (_ALIAS_RANGE_HIGH - _ALIAS_RANGE_LOW)


def depth_error() -> DecodeLimitError:
    return DecodeLimitError(f"the request body is nested too deeply: more than {MAX_DEPTH} "
                            "levels of objects and arrays")


@dataclass
class ExpansionBudget:
    """Running totals of one YAML document's decode work (nodes as if aliases were expanded)."""

    decoded: int = 0
    aliased: int = 0
    chars: int = 0  # scalar text, as expanded

    def node(self, depth: int, chars: int = 0) -> None:
        """Count one node composed at collection level ``depth`` (1 = the root collection)
        with ``chars`` characters of scalar text."""
        if depth > MAX_DEPTH:
            raise depth_error()
        self.decoded += 1
        self.chars += chars

    def alias(self, size: int, deepest: int, chars: int) -> None:
        """Count an alias expanding to ``size`` nodes (``chars`` characters of text) whose
        deepest collection lands at level ``deepest``."""
        if deepest > MAX_DEPTH:
            raise depth_error()
        self.decoded += size
        self.aliased += size
        self.chars += chars
        if (self.aliased > 100 and self.decoded > 1000
                and self.aliased / self.decoded > allowed_alias_ratio(self.decoded)):
            raise DecodeLimitError("document contains excessive aliasing")
        if self.chars > MAX_EXPANDED_CHARS:  # few nodes, each a long string: a text bomb
            raise DecodeLimitError(f"document contains excessive aliasing: it expands to more "
                                   f"than {MAX_EXPANDED_CHARS} characters of text")


def check_depth(value: Any) -> None:
    """Raise :class:`DecodeLimitError` when ``value`` nests objects/arrays deeper than the limit.

    Iterative (a recursive walk would itself overflow on the inputs it is meant to refuse).
    """
    if not isinstance(value, (dict, list)):
        return
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node
        for child in children:
            if isinstance(child, (dict, list)):
                if depth >= MAX_DEPTH:
                    raise depth_error()
                stack.append((child, depth + 1))


def may_be_too_deep(raw: bytes) -> bool:
    """Cheap pre-test: a JSON text with at most MAX_DEPTH brackets cannot nest deeper."""
    return raw.count(b"{") + raw.count(b"[") > MAX_DEPTH
