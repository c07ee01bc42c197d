"""The :class:`Fact` shape: a cache key, a shell command, and a parser of that command's output."""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class FactError(ValueError):
    """A fact's output could not be parsed (the host answered something unexpected)."""


def quote(value: str) -> str:
    """Shell-quote one word for the scripts facts and tasks generate."""
    return shlex.quote(value)


def _related(a: str, b: str) -> bool:
    a, b = a.rstrip("/") or "/", b.rstrip("/") or "/"
    return a == b or a.startswith(b + "/") or b.startswith(a + "/") or "/" in (a, b)


@dataclass(frozen=True)
class Fact(Generic[T]):
    """One piece of host state.

    ``key`` identifies the fact in a host's cache (``"file:/etc/hosts"``); ``command`` is a POSIX
    shell snippet whose stdout ``parse`` turns into the value. Commands must not fail the whole
    gathering script: they report absence in their output instead (e.g. ``ABSENT``).
    ``path`` names the file the fact describes and ``depends`` other paths it derives from: a
    task changing one of them, or a path above or below them, makes the fact stale.
    """

    key: str
    command: str
    parse: Callable[[str], T] = field(compare=False, hash=False)
    path: str | None = None
    depends: tuple[str, ...] = ()

    def stale_after(self, touched: str) -> bool:
        """Whether changing ``touched`` may change this fact."""
        paths = (self.path, *self.depends) if self.path else self.depends
        return any(_related(p, touched) for p in paths)

    def value(self, output: str) -> T:
        try:
            return self.parse(output)
        except (ValueError, IndexError, KeyError) as exc:
            raise FactError(f"fact {self.key}: cannot parse {output[:200]!r}: {exc}") from exc


AnyFact = Fact[Any]
