"""One host's fact cache: what kboot knows of the host's state, and how far it trusts it.

A fact is cached with its value, its :class:`~kboot.facts.base.Fact` (to decide which touched
paths make it stale) and the digest of the output it was read from (what a *guard* expects the
host to print again). A cached fact is either *verified* (read on the host since the last change
that could affect it) or *unverified*: predicted from a task's write, or cached before an opaque
command. Tasks plan on both; steps planned on unverified facts carry a guard (see
:mod:`kboot.playbook.batching`).

One object owns all of it, so the four views can never disagree: every change goes through a
method that updates them together. The cache lives across the plays of a run (on the host's
:class:`~kboot.playbook.state.HostState`) and is touched only by that host's thread.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kboot.facts.base import Fact
from kboot.facts.batch import expectation


@dataclass
class _Entry:
    fact: Fact[Any]
    value: Any
    digest: str


@dataclass
class FactCache:
    """Values, their facts and output digests, and which of them are unverified, by fact key."""

    _entries: dict[str, _Entry] = field(default_factory=dict)
    _unverified: set[str] = field(default_factory=set)

    # -- reading -----------------------------------------------------------------------------
    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def value(self, key: str, default: Any = None) -> Any:
        entry = self._entries.get(key)
        return default if entry is None else entry.value

    def values(self, keys: Iterable[str]) -> dict[str, Any]:
        """The cached values of ``keys`` (those cached)."""
        entries = self._entries
        return {k: entries[k].value for k in keys if k in entries}

    def digest(self, key: str) -> str:
        """The digest a guard expects the fact's command to print again."""
        return self._entries[key].digest

    def verified(self, key: str) -> bool:
        return key in self._entries and key not in self._unverified

    def doubtful(self, facts: Iterable[Fact[Any]]) -> bool:
        """Whether any of ``facts`` is cached but unverified."""
        unverified = self._unverified
        return bool(unverified) and any(f.key in unverified for f in facts)

    def missing(self, facts: Iterable[Fact[Any]]) -> list[Fact[Any]]:
        """``facts`` not cached, once each, in order."""
        found: dict[str, Fact[Any]] = {}
        for fact in facts:
            if fact.key not in self._entries:
                found.setdefault(fact.key, fact)
        return list(found.values())

    # -- learning ----------------------------------------------------------------------------
    def gathered(self, facts: Sequence[Fact[Any]], outputs: Mapping[str, str], *,
                 cache: Collection[str] | None = None) -> dict[str, Any]:
        """Parse what the host printed for ``facts`` (:class:`~kboot.facts.base.FactError` if
        it cannot be parsed) and cache the values as verified — only the keys in ``cache`` if
        given (``gather_facts`` results are variables, not cached facts). Returns every
        parsed value."""
        values = {fact.key: fact.value(outputs[fact.key]) for fact in facts}
        for fact in facts:
            if cache is None or fact.key in cache:
                self._put(fact, values[fact.key], outputs[fact.key], verified=True)
        return values

    def remember(self, fact: Fact[Any], output: str, *, verified: bool) -> None:
        """Cache ``fact`` as its command printed (``verified``) or will print ``output``."""
        self._put(fact, fact.value(output), output, verified=verified)

    def learn(self, facts: Sequence[Fact[Any]], outputs: Mapping[str, str]) -> None:
        """Facts as a failed guard just read them on the host: fresh."""
        for fact in facts:
            if fact.key in outputs:
                self.remember(fact, outputs[fact.key], verified=True)

    def _put(self, fact: Fact[Any], value: Any, output: str, *, verified: bool) -> None:
        self._entries[fact.key] = _Entry(fact, value, expectation(output))
        if verified:
            self._unverified.discard(fact.key)
        else:
            self._unverified.add(fact.key)

    # -- forgetting --------------------------------------------------------------------------
    def touched(self, path: str) -> None:
        """A command changed ``path``: drop every fact it may have made stale."""
        candidates = maybe_stale(path, [entry.fact for entry in self._entries.values()])
        for fact in candidates:
            if fact.stale_after(path):
                del self._entries[fact.key]
                self._unverified.discard(fact.key)

    def doubt_all(self) -> None:
        """Keep every cached fact, but re-check it on the host before relying on it (after an
        opaque command, or a guard that found a difference). Whom the commands run as
        (identities) no command changes: they stay verified."""
        self._unverified.update(k for k in self._entries if not k.startswith("identity:"))

    def forget_all(self) -> None:
        """Drop every fact (an ``until`` retry re-reads what it plans on)."""
        self._entries.clear()
        self._unverified.clear()


def maybe_stale(touched: str, facts: Iterable[Fact[Any]]) -> list[Fact[Any]]:
    """The ``facts`` that ``touched`` may make stale, for :meth:`Fact.stale_after` to decide:
    for a plain path only the facts of that path or of its directory's listing, and those
    derived from trees (``depends``) — not every cached fact for every touched path."""
    if touched.endswith("/**"):
        return list(facts)
    base = touched.rstrip("/") or "/"
    parent = base.rpartition("/")[0] or "/"
    out = []
    for fact in facts:
        path = fact.path.rstrip("/") or "/" if fact.path is not None else None
        if fact.depends or path in (base, parent):
            out.append(fact)
    return out
