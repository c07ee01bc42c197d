"""YAML request bodies decoded the way kube-apiserver sees them, within bounded work.

kube-apiserver turns YAML into JSON with sigs.k8s.io/yaml (go-yaml underneath), so the value a
handler gets must be the JSON that conversion yields, or a 400:

- map keys become strings as upstream converts them (``1`` → ``"1"``, ``true`` → ``"true"``,
  ``1.5`` → ``"1.5"``); a null or collection key is refused;
- timestamps stay the strings they were written as (go-yaml keeps them as strings when decoding
  into an untyped value), so ``name: 2024-01-01`` is the name ``"2024-01-01"``;
- ``.inf``/``.nan`` and the ``!!binary``/``!!set``/``!!omap``/``!!pairs`` types have no JSON form:
  400 naming the value;
- aliases and nesting are bounded by :mod:`.decodelimits`, counted while composing (an alias is
  charged the expanded size of its node, so a bomb is refused before anything expands); an
  alias whose node is still open (a recursive structure) is refused; objects shared through
  aliases are copied apart so later mutation of one place cannot change another.

libyaml's C parser produces the events when available (ten times faster than PyYAML's pure
Python scanner); composing stays in Python so the bounds can be counted node by node.
"""

from __future__ import annotations

import json
import math
import re
import struct
from dataclasses import dataclass, field
from typing import Any

from yaml.composer import Composer
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.error import YAMLError
from yaml.events import AliasEvent, CollectionStartEvent, ScalarEvent
from yaml.nodes import MappingNode, Node, ScalarNode
from yaml.resolver import Resolver

from kboot.controlplane.apiserver.decodelimits import DecodeLimitError, ExpansionBudget

try:
    from yaml._yaml import CParser as _EventSource
except ImportError:  # pragma: no cover - libyaml is part of the bundled wheels
    from yaml.parser import Parser
    from yaml.reader import Reader
    from yaml.scanner import Scanner

    class _EventSource(Reader, Scanner, Parser):  # type: ignore[no-redef]
        def __init__(self, stream: str) -> None:
            Reader.__init__(self, stream)
            Scanner.__init__(self)
            Parser.__init__(self)


class _Loader(_EventSource, Composer, SafeConstructor, Resolver):
    """Events from libyaml; composition counted against an :class:`ExpansionBudget`."""

    get_single_node = Composer.get_single_node
    compose_document = Composer.compose_document

    def __init__(self, text: str) -> None:
        _EventSource.__init__(self, text)
        Composer.__init__(self)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)
        self.budget = ExpansionBudget()
        self.duplicates: list[str] = []
        # id(anchored node) → (nodes, collection levels, characters) of its expansion
        self._sizes: dict[int, tuple[int, int, int]] = {}
        self._depth = 0
        self._deepest = 0  # the deepest collection level seen in the node being composed

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        event = self.peek_event()
        if isinstance(event, AliasEvent):
            target = self.anchors.get(event.anchor)
            if target is not None:
                size = self._sizes.get(id(target))
                if size is None:
                    raise DecodeLimitError(f"recursive alias *{event.anchor} (a node may not "
                                           "contain itself)")
                nodes, height, chars = size
                deepest = self._depth + height
                self.budget.alias(nodes, deepest, chars)
                self._deepest = max(self._deepest, deepest)
            return Composer.compose_node(self, parent, index)
        self._depth += 1  # nodes on the path, this one included; all ancestors are collections
        level = self._depth if isinstance(event, CollectionStartEvent) else self._depth - 1
        start, start_chars, outer_deepest = self.budget.decoded, self.budget.chars, self._deepest
        self.budget.node(level, len(event.value) if isinstance(event, ScalarEvent) else 0)
        self._deepest = level
        node = Composer.compose_node(self, parent, index)
        if getattr(event, "anchor", None):  # what an alias of it will cost
            self._sizes[id(node)] = (self.budget.decoded - start,
                                     self._deepest - (self._depth - 1),
                                     self.budget.chars - start_chars)
        self._deepest = max(outer_deepest, self._deepest)
        self._depth -= 1
        return node


def _float32_text(value: float) -> str:
    """Go's ``strconv.FormatFloat(v, 'g', -1, 32)``, the text sigs.k8s.io/yaml gives float keys."""
    if math.isnan(value):
        return ".nan"
    try:
        single = struct.unpack("f", struct.pack("f", value))[0]
    except OverflowError:
        single = math.copysign(math.inf, value)
    if math.isinf(single):
        return ".inf" if single > 0 else "-.inf"
    for digits in range(1, 10):
        text = f"{single:.{digits - 1}e}"
        if struct.unpack("f", struct.pack("f", float(text)))[0] == single:
            break
    exponent = int(text.split("e")[1])
    if exponent < -4 or exponent >= 6:
        return text
    return f"{single:.{max(digits - 1 - exponent, 0)}f}"


def _key_text(loader: _Loader, node: Node, key: Any) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, int):
        return str(key)
    if isinstance(key, float):
        return _float32_text(key)
    kind = "null" if key is None else type(key).__name__
    raise ConstructorError(None, None, f"unsupported map key of type {kind}: object keys must "
                           "be strings, numbers or booleans", node.start_mark)


def _construct_mapping(loader: _Loader, node: MappingNode) -> dict[str, Any]:
    loader.flatten_mapping(node)
    out: dict[str, Any] = {}
    for key_node, value_node in node.value:
        key = _key_text(loader, key_node, loader.construct_object(key_node, deep=True))
        if key in out:
            loader.duplicates.append(key)
        out[key] = loader.construct_object(value_node, deep=True)
    return out


def _construct_timestamp(loader: _Loader, node: Node) -> str:
    assert isinstance(node, ScalarNode)
    return str(loader.construct_scalar(node))


def _construct_float(loader: _Loader, node: Node) -> float:
    assert isinstance(node, ScalarNode)
    value = SafeConstructor.construct_yaml_float(loader, node)
    if math.isinf(value) or math.isnan(value):
        raise ConstructorError(None, None, f"the number {node.value!r} cannot be represented "
                               "in JSON", node.start_mark)
    return value


def _unsupported(loader: _Loader, node: Node) -> None:
    raise ConstructorError(None, None, f"the YAML type {node.tag} has no JSON form and is not "
                           "supported", node.start_mark)


# go-yaml reads 1e3 and 1E-5 as numbers; PyYAML's YAML 1.1 resolver wants a dot in them
_Loader.add_implicit_resolver("tag:yaml.org,2002:float",
                              re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$"),
                              list("-+0123456789."))
_Loader.yaml_constructors = {
    **SafeConstructor.yaml_constructors,
    Resolver.DEFAULT_MAPPING_TAG: _construct_mapping,
    "tag:yaml.org,2002:timestamp": _construct_timestamp,
    "tag:yaml.org,2002:float": _construct_float,
    **{f"tag:yaml.org,2002:{tag}": _unsupported for tag in ("binary", "set", "omap", "pairs")},
}


def load(raw: bytes) -> tuple[Any, list[str]]:
    """One YAML document → (JSON-compatible value, duplicate keys). Raises yaml.YAMLError or
    :class:`~.decodelimits.DecodeLimitError` (both ValueError-free of tracebacks for callers)."""
    loader = _Loader(raw.decode("utf-8"))  # bodies are UTF-8 (libyaml would guess UTF-16 too)
    try:
        value = loader.get_single_data()
        if loader.budget.aliased:
            value = json.loads(json.dumps(value))  # one tree: no object reachable twice
        return value, loader.duplicates
    finally:
        loader.dispose()


@dataclass(frozen=True)
class Outcome:
    """What :func:`load_as_json` sends back across a process boundary (plain, picklable)."""

    json: bytes = b""
    duplicates: list[str] = field(default_factory=list)
    error: str = ""


def load_as_json(raw: bytes) -> Outcome:
    """:func:`load` for a worker process: the value as JSON bytes, or the error's message.

    The parent pays only ``json.loads`` (C) for the result; the Python-level parse, its garbage
    collections and its peak memory stay in the worker.
    """
    try:
        value, duplicates = load(raw)
        return Outcome(json.dumps(value, separators=(",", ":"), allow_nan=False).encode(),
                       duplicates)
    except (YAMLError, ValueError, TypeError, RecursionError) as err:
        return Outcome(error=str(err).splitlines()[0][:300] if str(err) else type(err).__name__)
