"""Loading a playbook file (or data) into :class:`Playbook`: plays, their keywords, vars files,
tasks and handlers, with every unsupported keyword rejected before anything runs."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kboot.errors import Location, PlaybookError
from kboot.playbook.model import Play, Playbook, TaskSpec
from kboot.playbook.taskparse import Inherited, as_bool, as_list, as_tags, flatten, parse_task
from kboot.playbook.yamlload import LineDict, line_of, load_yaml

PLAY_KEYWORDS = frozenset({
    "name", "hosts", "vars", "vars_files", "gather_facts", "become", "become_user",
    "become_method", "serial", "max_fail_percentage", "any_errors_fatal", "tasks", "pre_tasks",
    "post_tasks", "handlers", "tags", "environment", "strategy", "collections", "check_mode",
})
FLUSH = "flush_handlers"


def load_playbook(source: str | Path | list[Any], *, basedir: Path | None = None) -> Playbook:
    """Parse a playbook from a path, or from already-loaded data (``basedir`` then anchors
    relative files, default the current directory)."""
    if isinstance(source, str | Path):
        path = Path(source)
        data = load_yaml(path)
        name, base = str(path), basedir or path.parent
    else:
        data, name, base = source, "<playbook>", basedir or Path.cwd()
    plays = _plays(data, name, base, depth=0)
    return Playbook(source=name, plays=tuple(plays), basedir=base)


def _plays(data: Any, source: str, basedir: Path, *, depth: int) -> list[Play]:
    if not isinstance(data, list):
        raise PlaybookError("a playbook must be a list of plays", location=Location(source, 1))
    plays: list[Play] = []
    for raw in data:
        if isinstance(raw, Mapping) and "import_playbook" in raw:
            if depth > 10:
                raise PlaybookError("import_playbook nested too deeply",
                                    location=Location(source, line_of(raw)))
            path = basedir / str(raw["import_playbook"])
            plays += _plays(load_yaml(path), str(path), path.parent, depth=depth + 1)
        else:
            plays.append(parse_play(raw, source, basedir))
    return plays


def _check_keywords(raw: LineDict, source: str) -> None:
    for key in raw:
        if key not in PLAY_KEYWORDS:
            hint = " (roles are not supported; use import_tasks)" if key == "roles" else ""
            raise PlaybookError(f"play keyword {key!r} is not supported{hint}",
                                location=Location(source, raw.line_of(key)))
    if raw.get("become_user") not in (None, "root"):
        raise PlaybookError("become_user other than root is not supported",
                            location=Location(source, raw.line_of("become_user")))
    if raw.get("strategy") not in (None, "linear", "free"):
        raise PlaybookError("only the linear and free strategies are supported",
                            location=Location(source, raw.line_of("strategy")))


def _vars_files(raw: LineDict, source: str, basedir: Path) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for name in as_list(raw.get("vars_files")):
        if not isinstance(name, str) or "{{" in name:
            raise PlaybookError("vars_files entries must be plain file names",
                                location=Location(source, raw.line_of("vars_files")))
        path = Path(name) if Path(name).is_absolute() else basedir / name
        data = load_yaml(path)
        if data is None:
            continue
        if not isinstance(data, Mapping):
            raise PlaybookError("a vars file must be a mapping", location=Location(str(path), 1))
        merged.update(data)
    return merged


def _serial(value: Any, loc: Location) -> tuple[int | str, ...]:
    items = as_list(value)
    for item in items:
        ok = (isinstance(item, int) and item > 0) or (isinstance(item, str) and (
            item.rstrip("%").isdigit()))
        if not ok:
            raise PlaybookError(f"serial: expected a count or a percentage, got {item!r}",
                                location=loc)
    return tuple(items)


def _task_list(raw: LineDict, key: str, source: str, basedir: Path,
               inherited: Inherited) -> list[TaskSpec]:
    items = raw.get(key) or []
    if not isinstance(items, list):
        raise PlaybookError(f"{key}: expected a list of tasks",
                            location=Location(source, raw.line_of(key)))
    tasks: list[TaskSpec] = []
    for item in items:
        tasks.extend(parse_task(item, source, basedir, inherited))
    return tasks


def _flush(source: str, line: int | None) -> TaskSpec:
    return TaskSpec(name="flush handlers", action="meta", args={"_raw": FLUSH},
                    location=Location(source, line), named=False, tags=frozenset({"always"}))


def parse_play(raw: Any, source: str, basedir: Path) -> Play:
    if not isinstance(raw, LineDict):
        raise PlaybookError("a play must be a mapping", location=Location(source, line_of(raw)))
    loc = Location(source, raw.line)
    _check_keywords(raw, source)
    if "hosts" not in raw:
        raise PlaybookError("play has no hosts", location=loc, field="hosts")
    become = as_bool(raw.get("become", False), "become", loc)
    inherited = Inherited(tags=as_tags(raw.get("tags")))
    tasks = _task_list(raw, "pre_tasks", source, basedir, inherited)
    if tasks:
        tasks.append(_flush(source, raw.line_of("pre_tasks")))
    tasks += _task_list(raw, "tasks", source, basedir, inherited)
    post = _task_list(raw, "post_tasks", source, basedir, inherited)
    if post:
        tasks += [_flush(source, raw.line_of("post_tasks")), *post]
    handlers = _task_list(raw, "handlers", source, basedir, Inherited())
    _check_notify(flatten(tasks + handlers), handlers)
    hosts = raw["hosts"]
    max_fail = raw.get("max_fail_percentage")
    return Play(
        name=str(raw.get("name") or hosts),
        hosts=",".join(map(str, hosts)) if isinstance(hosts, list) else str(hosts),
        location=loc,
        tasks=tuple(tasks),
        handlers=tuple(handlers),
        vars=dict(raw.get("vars") or {}),
        vars_files=_vars_files(raw, source, basedir),
        gather_facts=as_bool(raw.get("gather_facts", True), "gather_facts", loc),
        become=become,
        serial=_serial(raw.get("serial"), Location(source, raw.line_of("serial"))),
        max_fail_percentage=None if max_fail is None else float(max_fail),
        any_errors_fatal=as_bool(raw.get("any_errors_fatal", False), "any_errors_fatal", loc),
        environment=dict(raw.get("environment") or {}),
        basedir=basedir,
    )


def _check_notify(tasks: list[TaskSpec], handlers: list[TaskSpec]) -> None:
    known = {h.name for h in handlers} | {name for h in handlers for name in h.listen}
    for task in tasks:
        for name in task.notify:
            if name not in known:
                raise PlaybookError(f"notify: no handler named {name!r}",
                                    location=task.location)
