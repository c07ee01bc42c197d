"""The :class:`Fact` shape: a cache key, a shell command, and a parser of that command's output."""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")

ABSENT = "ABSENT"
"""What a fact's command prints when the thing it describes is not there."""


class FactError(ValueError):
    """A fact's output could not be parsed (the host answered something unexpected)."""


def quote(value: str) -> str:
    """Shell-quote one word for the scripts facts and tasks generate."""
    return shlex.quote(value)


def _under(path: str, base: str) -> bool:
    base = base.rstrip("/") or "/"
    return path == base or path.startswith(base.rstrip("/") + "/")


def _parent(path: str) -> str:
    return path.rstrip("/").rpartition("/")[0] or "/"


@dataclass(frozen=True)
class Fact(Generic[T]):
    """One piece of host state.

    ``key`` identifies the fact in a host's cache (``"file:/etc/hosts"``); ``command`` is a POSIX
    shell snippet whose stdout ``parse`` turns into the value. Commands must not fail the whole
    gathering script: they report absence in their output instead (:data:`ABSENT`).
    ``path`` names the file the fact describes (``listing``: a directory whose entries it
    lists) and ``depends`` trees it derives from. A task's *touched* path makes the fact stale
    when it is the fact's path, lies under one of its ``depends``, is an entry of its listed
    directory, or is a recursive touch (``/dir/**``) above its path. ``absent_test`` is a shell
    condition of builtins only that holds exactly when ``command`` would print :data:`ABSENT`:
    a guard expecting absence checks it without a subshell.
    """

    key: str
    command: str
    parse: Callable[[str], T] = field(compare=False, hash=False)
    path: str | None = None
    depends: tuple[str, ...] = ()
    listing: bool = False
    bulk: str = ""  # gathered together with facts of the same kind (see kboot.facts.bulk)
    absent_test: str = ""

    def stale_after(self, touched: str) -> bool:
        """Whether changing ``touched`` may change this fact."""
        recursive = touched.endswith("/**")
        base = touched[:-3] if recursive else touched.rstrip("/") or "/"
        if any(_under(base, dep) for dep in self.depends):
            return True
        if self.path is None:
            return False
        path = self.path.rstrip("/") or "/"
        if path == base or (recursive and _under(path, base)):
            return True
        return self.listing and _parent(base) == path

    def value(self, output: str) -> T:
        try:
            return self.parse(output)
        except (ValueError, IndexError, KeyError) as exc:
            raise FactError(f"fact {self.key}: cannot parse {output[:200]!r}: {exc}") from exc


AnyFact = Fact[Any]
