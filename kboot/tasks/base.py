"""The task contract: a task declares the facts it needs and, from its arguments and those facts,
*returns* a :class:`Plan` (commands to run, a diff, a result) — it never executes anything.

So check mode costs nothing (don't run the plan), diff comes for free, and every task is tested
as data (args + facts → commands). The runner gathers facts, asks tasks for plans and sends the
commands of many tasks to a host in one batch.

A file's content is planned either as bytes (inline content, templates, workstation files up to
:data:`INLINE_LIMIT`) or, for a big workstation file, as a :class:`LocalFile` reference: its
sha256 is computed once per run by streaming it (:class:`SourceFiles`, shared by every host's
plans) and the upload streams it from disk, so memory never grows with file size times hosts.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

from kboot.errors import PlaybookError
from kboot.facts.base import Fact
from kboot.templating import Templar

T = TypeVar("T")

DATA_FN = "kb_data"
UMASK_VAR = "$U"  # the change script's umask, saved at its start when a command restores it
"""Commands that carry a file's bytes get them from the shell function ``kb_data`` (it prints
them); the runner defines it: base64 inline in the batch script for small files, reading an
SFTP upload for big ones."""
INLINE_LIMIT = 256 * 1024
"""Contents up to this size travel inside the change script; bigger ones are uploaded first.
Workstation files up to it are read whole when planned; bigger ones are referenced
(:class:`LocalFile`)."""


@dataclass(frozen=True)
class LocalFile:
    """A workstation file planned by reference: ``size``, ``mtime_ns`` and ``sha256`` are what
    the plan was made on; the upload streams it from disk (:meth:`open`)."""

    path: Path
    size: int
    mtime_ns: int
    sha256: str

    def open(self) -> BinaryIO:
        """The file for reading; refused when it changed since it was planned (the plan's
        *changed* verdict and predicted checksum would be wrong)."""
        fh = self.path.open("rb")
        try:
            _same_file(self, os.fstat(fh.fileno()))
        except BaseException:
            fh.close()
            raise
        return fh


def _same_file(planned: LocalFile, now: os.stat_result) -> None:
    if (now.st_size, now.st_mtime_ns) != (planned.size, planned.mtime_ns):
        raise PlaybookError(f"{planned.path} changed while kboot was using it; run again")


Content = bytes | LocalFile
"""A file's desired content as tasks plan it."""


class SourceFiles:
    """The workstation files a run's tasks put on hosts; one instance per run, shared by all
    its host threads. A file up to :data:`INLINE_LIMIT` is read (it travels inline); a bigger
    one is hashed once per (resolved path, size, mtime) by streaming it — not once per host —
    and becomes a :class:`LocalFile`. Hosts asking for a file being hashed wait for it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._hashing: dict[tuple[Path, int, int], threading.Lock] = {}
        self._digests: dict[tuple[Path, int, int], str] = {}

    def content(self, path: Path) -> Content:
        resolved = path.resolve()
        with resolved.open("rb") as fh:
            st = os.fstat(fh.fileno())
            if st.st_size <= INLINE_LIMIT:
                return fh.read()
            key = (resolved, st.st_size, st.st_mtime_ns)
            with self._lock:
                lock = self._hashing.setdefault(key, threading.Lock())
            with lock:
                digest = self._digests.get(key)
                if digest is None:
                    digest = hashlib.file_digest(fh, "sha256").hexdigest()
                    planned = LocalFile(resolved, st.st_size, st.st_mtime_ns, digest)
                    _same_file(planned, os.fstat(fh.fileno()))  # not written meanwhile
                    self._digests[key] = digest
        return LocalFile(resolved, st.st_size, st.st_mtime_ns, digest)


@dataclass(frozen=True)
class Command:
    """One shell command of a plan. ``data`` — or the workstation file ``source`` — is what
    ``kb_data`` prints while it runs."""

    script: str
    display: str = ""
    data: bytes | None = None
    source: LocalFile | None = None

    def __str__(self) -> str:
        return self.display or self.script


@dataclass(frozen=True)
class FileDiff:
    """Before/after text of one path, rendered as a unified diff by the CLI under ``--diff``."""

    path: str
    before: str
    after: str


@dataclass(frozen=True)
class Fetch:
    """Copy ``src`` on the host to ``dest`` on the workstation (the ``fetch`` task)."""

    src: str
    dest: str


@dataclass(frozen=True)
class Plan:
    """What a task would do on one host.

    ``commands`` run in order, stopping at the first failure; the task is *changed* when they ran
    (``changes=False`` for commands that only observe, like ``wait_for``). ``touches`` names the
    paths whose facts go stale once the commands ran (``/dir/**``: the whole tree);
    ``opaque`` says the commands may change anything (packages, arbitrary shell), so every
    later fact must be re-read. ``predicts`` pairs facts with the output their command will
    print once the commands ran (a written file's stat and content): later tasks plan on these
    instead of waiting for a fresh gathering, and re-check them on the host (a guard).
    """

    commands: tuple[Command, ...] = ()
    changes: bool = True
    diff: tuple[FileDiff, ...] = ()
    result: Mapping[str, Any] = field(default_factory=dict)
    touches: tuple[str, ...] = ()
    opaque: bool = False
    failed: str | None = None
    msg: str = ""
    set_vars: Mapping[str, Any] = field(default_factory=dict)
    fetch: tuple[Fetch, ...] = ()
    predicts: tuple[tuple[Fact[Any], str], ...] = ()

    @property
    def changed(self) -> bool:
        return (bool(self.commands) and self.changes) or bool(self.fetch)


class UndeclaredFact(LookupError):
    """A task's plan read a fact its ``needs`` does not declare: a bug in the task."""


@dataclass(frozen=True)
class TaskContext:
    """Everything a task may consult on one host: the gathered facts, the mode, the host's
    variables (for templates), where to look for ``src`` files on the workstation and the
    run's :class:`SourceFiles` (shared by all hosts)."""

    host: str
    facts: Mapping[str, Any] = field(default_factory=dict)
    check: bool = False
    diff: bool = False
    variables: Mapping[str, Any] = field(default_factory=dict)
    search_paths: tuple[Path, ...] = ()
    identity: tuple[str, str] | None = None  # user and group the commands run as, if known
    sources: SourceFiles = field(default_factory=SourceFiles)

    def fact(self, fact: Fact[T]) -> T:
        """The value of ``fact``, which the task's ``needs`` must declare: the runner gives a
        plan exactly the facts its task declares, so an undeclared read fails every time
        (and the library test over every task finds it before a user does)."""
        try:
            value: T = self.facts[fact.key]
        except KeyError:
            raise UndeclaredFact(f"fact {fact.key} was not declared by the task's needs") \
                from None
        return value

    @property
    def templar(self) -> Templar:
        return Templar(self.variables, search_paths=[str(p) for p in self.search_paths])

    def find_file(self, name: str, subdir: str) -> Path:
        """A workstation file named by a task's ``src``: absolute, or relative to each search
        path's ``subdir`` (``files``/``templates``) and then the search path itself."""
        path = Path(name).expanduser()
        if path.is_absolute():
            candidates = [path]
        else:
            candidates = [base / subdir / path for base in self.search_paths]
            candidates += [base / path for base in self.search_paths]
        for candidate in candidates:
            if candidate.is_file():
                return candidate
        raise PlaybookError(f"{subdir[:-1]} {name!r} not found (looked in "
                            f"{', '.join(str(c.parent) for c in candidates) or 'nowhere'})")


PlanFn = Callable[[Any, TaskContext], Plan]
NeedsFn = Callable[[Any, TaskContext], Sequence[Fact[Any]]]


def _no_facts(_args: Any, _ctx: TaskContext) -> Sequence[Fact[Any]]:
    return ()


@dataclass(frozen=True)
class TaskDef:
    """A registered task. ``args`` (a frozen dataclass) is its YAML argument schema; ``None``
    means free keys (``set_fact``). ``free_form`` names the field a bare string fills
    (``command: ls /``). ``local`` tasks never touch the host."""

    name: str
    plan: PlanFn
    args: type | None
    needs: NeedsFn = _no_facts
    aliases: tuple[str, ...] = ()
    free_form: str | None = None
    local: bool = False
    raw_fields: tuple[str, ...] = ()  # expressions rendered by the task itself (assert.that)

    @property
    def doc(self) -> str:
        return self.plan.__doc__ or ""


REGISTRY: dict[str, TaskDef] = {}


def task(
    name: str,
    *,
    args: type | None,
    needs: NeedsFn | None = None,
    aliases: tuple[str, ...] = (),
    free_form: str | None = None,
    local: bool = False,
    raw_fields: tuple[str, ...] = (),
) -> Callable[[PlanFn], PlanFn]:
    """Register a plan function as the task ``name`` (and ``aliases``)."""

    def register(fn: PlanFn) -> PlanFn:
        definition = TaskDef(name, fn, args, needs or _no_facts, aliases, free_form, local,
                             raw_fields)
        for key in (name, *aliases):
            REGISTRY[key] = definition
        return fn

    return register
