"""The parsed playbook: plays and tasks as frozen data, arguments still unrendered.

Everything here was validated at load time (keywords, task names, argument names and literal
types); templates inside values are rendered per host at run time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kboot.errors import Location


@dataclass(frozen=True)
class TaskSpec:
    """One task (or handler) of a play, as written."""

    name: str
    action: str  # the registered task name (``file``, ``command`` …) or ``meta``
    args: Mapping[str, Any]
    location: Location
    when: tuple[Any, ...] = ()
    loop: Any = None
    loop_var: str = "item"
    index_var: str | None = None
    label: Any = None
    register: str | None = None
    notify: tuple[str, ...] = ()
    listen: tuple[str, ...] = ()
    tags: frozenset[str] = frozenset()
    become: bool | None = None
    ignore_errors: bool = False
    changed_when: tuple[Any, ...] | None = None
    failed_when: tuple[Any, ...] | None = None
    until: tuple[Any, ...] | None = None  # retry until these hold (``retries``, ``delay`` s)
    retries: int = 3
    delay: int = 5
    environment: Mapping[str, Any] = field(default_factory=dict)
    vars: Mapping[str, Any] = field(default_factory=dict)
    check_mode: bool | None = None
    no_log: bool = False
    named: bool = True  # whether ``name`` was given (else derived from the action)
    refs: frozenset[str] = frozenset()  # variable names it reads ("*": unknown, assume all)
    arg_refs: frozenset[str] = frozenset()  # … in its arguments, when, loop (what its facts need)
    basedir: Path = Path(".")  # where relative ``src`` files are looked up first


@dataclass(frozen=True)
class Play:
    name: str
    hosts: str
    location: Location
    tasks: tuple[TaskSpec, ...] = ()
    handlers: tuple[TaskSpec, ...] = ()
    vars: Mapping[str, Any] = field(default_factory=dict)
    vars_files: Mapping[str, Any] = field(default_factory=dict)  # merged, loaded at parse time
    gather_facts: bool = True
    become: bool = False
    serial: tuple[int | str, ...] = ()
    max_fail_percentage: float | None = None
    any_errors_fatal: bool = False
    environment: Mapping[str, Any] = field(default_factory=dict)
    basedir: Path = Path(".")


@dataclass(frozen=True)
class Playbook:
    source: str
    plays: tuple[Play, ...]
    basedir: Path = Path(".")
