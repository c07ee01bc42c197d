"""Collecting inventory mistakes so that one run reports all of them, each with file:line, the
field and what was expected."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from kboot.errors import InventoryError, Location


def suggest(name: str, known: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest known name, or ``""``."""
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


class Problems:
    """An ordered list of :class:`InventoryError` for one file."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.items: list[InventoryError] = []

    def add(self, line: int | None, field: str | None, message: str) -> None:
        self.items.append(
            InventoryError(message, location=Location(self.source, line), field=field or None)
        )

    def unknown_key(self, line: int | None, field: str, key: str, known: Iterable[str]) -> None:
        known = sorted(known)
        self.add(line, field, f"unknown key {key!r}{suggest(key, known)}; "
                 f"expected one of: {', '.join(known)}")

    def raise_if_any(self) -> None:
        if not self.items:
            return
        if len(self.items) == 1:
            raise self.items[0]
        ordered = sorted(self.items, key=lambda e: (e.location.line or 0) if e.location else 0)
        text = f"{len(ordered)} problems in the inventory:\n" + "\n".join(
            f"  {e}" for e in ordered
        )
        err = InventoryError(text, location=Location(self.source))
        err.problems = ordered  # type: ignore[attr-defined]
        raise err
