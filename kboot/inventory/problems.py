"""Collecting inventory mistakes so that one run reports all of them, each with file:line, the
field and what was expected."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from kboot.errors import InventoryError, Location

Where = int | Location | None  # a line of the inventory file, or a place in another file


def suggest(name: str, known: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest known name, or ``""``."""
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _order(err: InventoryError) -> tuple[str, int]:
    loc = err.location
    return (loc.file, loc.line or 0) if loc is not None else ("", 0)


class Problems:
    """An ordered list of :class:`InventoryError` for one file."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.items: list[InventoryError] = []

    def add(self, line: Where, field: str | None, message: str) -> None:
        where = line if isinstance(line, Location) else Location(self.source, line)
        self.items.append(InventoryError(message, location=where, field=field or None))

    def unknown_key(self, line: Where, field: str, key: str, known: Iterable[str]) -> None:
        known = sorted(known)
        self.add(line, field, f"unknown key {key!r}{suggest(key, known)}; "
                 f"expected one of: {', '.join(known)}")

    def raise_if_any(self) -> None:
        if not self.items:
            return
        if len(self.items) == 1:
            raise self.items[0]
        ordered = sorted(self.items, key=_order)
        text = f"{len(ordered)} problems in the inventory:\n" + "\n".join(
            f"  {e}" for e in ordered
        )
        err = InventoryError(text, location=Location(self.source))
        err.problems = ordered  # type: ignore[attr-defined]
        raise err
