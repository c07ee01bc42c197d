"""The kinds this apiserver serves, each with its strategy; it grows and shrinks at run time.

:class:`KindRegistry` starts from the built-in registry (:data:`kboot.controlplane.api.registry.
KINDS`, plain data) and :func:`~.strategies.builtin_strategy`. :meth:`KindRegistry.register`
and :meth:`KindRegistry.unregister` change what is served while the server runs (custom
resources); whoever keeps per-kind state follows by :meth:`KindRegistry.subscribe`: the watch
caches start and stop a cache, discovery and OpenAPI rebuild their documents (memoised per
registry generation with :meth:`KindRegistry.memo`), routing and storage look kinds up here on
every request. One registry belongs to one :class:`~.storage.ObjectStorage` — no module-level
state, so tests and several in-process servers never share kinds.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Literal, TypeVar

from kboot.controlplane.api.registry import KINDS, ResourceKind
from kboot.controlplane.api.status import StatusError
from kboot.controlplane.apiserver.strategies import builtin_strategy
from kboot.controlplane.apiserver.strategy import StorageOptions, Strategy
from kboot.controlplane.errors import ControlPlaneError

log = logging.getLogger(__name__)

Change = Literal["added", "removed"]
Listener = Callable[[Change, Strategy], None]
T = TypeVar("T")


class KindConflict(ControlPlaneError):
    """A kind registered twice (same group and plural, or same group and kind)."""


class KindRegistry:
    """Served kinds by (group, plural) and (group, kind), in registration order."""

    def __init__(self, strategies: Iterable[Strategy] = ()) -> None:
        self._by_plural: dict[tuple[str, str], Strategy] = {}
        self._by_kind: dict[tuple[str, str], Strategy] = {}
        self._listeners: list[Listener] = []
        self._memo: dict[object, object] = {}
        self.generation = 0  # bumped on every change; documents are memoised per generation
        for strategy in strategies:
            self._add(strategy)

    @classmethod
    def builtin(cls) -> KindRegistry:
        """A registry of every built-in kind with its strategy."""
        return cls(builtin_strategy(k) for k in KINDS)

    # ------------------------------------------------------------------------------- changes

    def _add(self, strategy: Strategy) -> None:
        kind = strategy.kind
        plural_key, kind_key = (kind.group, kind.plural), (kind.group, kind.kind)
        taken = self._by_plural.get(plural_key) or self._by_kind.get(kind_key)
        if taken is not None:
            raise KindConflict(f"{kind.plural}.{kind.group or 'core'} ({kind.kind}) is already "
                               f"served as {taken.kind.plural} ({taken.kind.kind})")
        self._by_plural[plural_key] = strategy
        self._by_kind[kind_key] = strategy

    def register(self, strategy: Strategy) -> None:
        """Serve ``strategy.kind`` from now on (KindConflict if its names are taken)."""
        self._add(strategy)
        self._changed("added", strategy)

    def unregister(self, group: str, plural: str) -> Strategy:
        """Stop serving a kind (its stored objects stay); KeyError if it is not served."""
        strategy = self._by_plural.pop((group, plural))
        del self._by_kind[(group, strategy.kind.kind)]
        self._changed("removed", strategy)
        return strategy

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(change, strategy)`` after every register/unregister; returns the
        function that unsubscribes it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def _changed(self, change: Change, strategy: Strategy) -> None:
        self.generation += 1
        self._memo.clear()
        log.info("kind %s %s.%s", change, strategy.kind.plural, strategy.kind.group or "core")
        for listener in list(self._listeners):
            listener(change, strategy)

    def memo(self, key: object, build: Callable[[], T]) -> T:
        """``build()`` once per registry generation (discovery and OpenAPI documents)."""
        if key not in self._memo:
            self._memo[key] = build()
        return self._memo[key]  # type: ignore[return-value]

    # ------------------------------------------------------------------------------- lookups

    def kinds(self) -> tuple[ResourceKind, ...]:
        """Every served kind, in registration order (built-ins first)."""
        return tuple(s.kind for s in self._by_plural.values())

    def served_kinds(self) -> tuple[ResourceKind, ...]:
        """Every served kind in every served version (a CRD's other versions after its
        preferred one): what discovery and OpenAPI list."""
        return tuple(k for s in self._by_plural.values() for k in s.served_kinds())

    def strategies(self) -> tuple[Strategy, ...]:
        return tuple(self._by_plural.values())

    def lookup(self, group: str, plural: str) -> ResourceKind | None:
        found = self._by_plural.get((group, plural))
        return found.kind if found is not None else None

    def for_kind(self, group: str, kind: str) -> ResourceKind | None:
        found = self._by_kind.get((group, kind))
        return found.kind if found is not None else None

    def strategy(self, kind: ResourceKind) -> Strategy:
        """The strategy of a served kind (404 once it is unregistered: a request that was
        routed just before)."""
        found = self._by_plural.get((kind.group, kind.plural))
        if found is None or found.kind != kind:
            raise StatusError(404, "NotFound", "the server could not find the requested "
                              "resource")
        return found

    def storage_options(self, kind: ResourceKind) -> StorageOptions:
        """How ``kind``'s objects are stored (defaults for a kind no longer served)."""
        found = self._by_plural.get((kind.group, kind.plural))
        return found.storage if found is not None else StorageOptions()
