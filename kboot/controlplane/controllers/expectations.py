"""Expectations: how many creates/deletes a controller has issued for a key and not yet seen
in its informer. Until they are observed (or expire), the controller must not act on the key's
counts again, or a lagging cache makes it create or delete twice (client-go's
ControllerExpectations)."""

from __future__ import annotations

from dataclasses import dataclass

from kboot.controlplane.client.clock import Clock


@dataclass
class _Pending:
    adds: int
    deletes: int
    at: float


class Expectations:
    def __init__(self, clock: Clock, ttl: float = 30.0) -> None:
        self.clock, self.ttl = clock, ttl
        self._pending: dict[str, _Pending] = {}

    def expect(self, key: str, *, adds: int = 0, deletes: int = 0) -> None:
        self._pending[key] = _Pending(adds, deletes, self.clock.monotonic())

    def observed_add(self, key: str) -> None:
        p = self._pending.get(key)
        if p is not None:
            p.adds -= 1

    def observed_delete(self, key: str) -> None:
        p = self._pending.get(key)
        if p is not None:
            p.deletes -= 1

    def lower(self, key: str, *, adds: int = 0, deletes: int = 0) -> None:
        """Requests that failed will never be observed."""
        p = self._pending.get(key)
        if p is not None:
            p.adds -= adds
            p.deletes -= deletes

    def satisfied(self, key: str) -> bool:
        p = self._pending.get(key)
        if p is None:
            return True
        if (p.adds <= 0 and p.deletes <= 0) or self.clock.monotonic() - p.at > self.ttl:
            del self._pending[key]
            return True
        return False

    def forget(self, key: str) -> None:
        self._pending.pop(key, None)
